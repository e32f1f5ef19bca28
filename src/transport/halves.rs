//! The byte-stream impls of a [`Stream`](super::Stream) and of its read
//! and write halves: TCP's own lock-free halves, or tokio's generic split
//! for anything boxed. One `match` per poll instead of a boxed trait
//! object per half.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::{Inner, Io, Stream};

pub(crate) enum ReadHalf {
    Tcp(OwnedReadHalf),
    Boxed(tokio::io::ReadHalf<Box<dyn Io>>),
}

pub(crate) enum WriteHalf {
    Tcp(OwnedWriteHalf),
    Boxed(tokio::io::WriteHalf<Box<dyn Io>>),
}

pub(super) fn split(inner: Inner) -> (ReadHalf, WriteHalf) {
    match inner {
        Inner::Tcp(s) => {
            let (r, w) = s.into_split();
            (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
        }
        Inner::Boxed(s) => {
            let (r, w) = tokio::io::split(s);
            (ReadHalf::Boxed(r), WriteHalf::Boxed(w))
        }
    }
}

/// Forwards one call to whichever stream a `Tcp`/`Boxed` enum holds.
macro_rules! either {
    ($enum:ident, $value:expr, $s:ident => $call:expr) => {
        match $value {
            $enum::Tcp($s) => $call,
            $enum::Boxed($s) => $call,
        }
    };
}

/// `AsyncRead` by forwarding; `$field` reaches the enum from `self`.
macro_rules! forward_read {
    ($ty:ty, $enum:ident, |$this:ident| $field:expr) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let $this = self.get_mut();
                either!($enum, $field, s => Pin::new(s).poll_read(cx, buf))
            }
        }
    };
}

/// `AsyncWrite` by forwarding (vectored writes included: the batching
/// writer depends on them).
macro_rules! forward_write {
    ($ty:ty, $enum:ident, |$this:ident| $field:expr, |$r:ident| $ref_field:expr) => {
        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let $this = self.get_mut();
                either!($enum, $field, s => Pin::new(s).poll_write(cx, buf))
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let $this = self.get_mut();
                either!($enum, $field, s => Pin::new(s).poll_write_vectored(cx, bufs))
            }

            fn is_write_vectored(&self) -> bool {
                let $r = self;
                either!($enum, $ref_field, s => s.is_write_vectored())
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $this = self.get_mut();
                either!($enum, $field, s => Pin::new(s).poll_flush(cx))
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $this = self.get_mut();
                either!($enum, $field, s => Pin::new(s).poll_shutdown(cx))
            }
        }
    };
}

forward_read!(ReadHalf, ReadHalf, |this| this);
forward_write!(WriteHalf, WriteHalf, |this| this, |r| r);
forward_read!(Stream, Inner, |this| &mut this.inner);
forward_write!(Stream, Inner, |this| &mut this.inner, |r| &r.inner);
