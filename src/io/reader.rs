//! The read side of a connection's driver: reads what the socket has into
//! a [`proto::inbound::Inbound`](crate::proto::inbound::Inbound), which
//! decodes it. It knows nothing of deadlines, plugins or what a frame
//! means: the drivers race [`read_into`] against their timers.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::proto::inbound::{Decoded, Inbound, ReadError};
use crate::wire::FrameConfig;

/// Bytes an idle connection's first read takes, into the poll's stack
/// frame (not the task: nothing is held while the read waits).
const IDLE_READ: usize = 4 * 1024;

/// Reads what `rd` has into `inbound`. `Ok(false)`: the peer closed
/// cleanly between frames. Cancel-safe (bytes are either read into the
/// buffer or left in the socket), so it can race timers.
///
/// Adaptive, for memory: when the socket has nothing to read and no frame
/// is half-read, the buffer is released, and the read that waits for the
/// peer holds no buffer at all; its first bytes are read into the stack
/// and copied into a new buffer (a copy of at most [`IDLE_READ`] bytes
/// per wake-up, no extra system call). A busy connection keeps its buffer
/// and reads straight into it.
pub(crate) async fn read_into<R: AsyncRead + Unpin>(
    rd: &mut R,
    inbound: &mut Inbound,
) -> Result<bool, ReadError> {
    let n = std::future::poll_fn(|cx| poll_read_into(Pin::new(&mut *rd), inbound, cx))
        .await
        .map_err(ReadError::Io)?;
    inbound.handle_read(n)
}

fn poll_read_into<R: AsyncRead>(
    mut rd: Pin<&mut R>,
    inbound: &mut Inbound,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if inbound.holds_buffer() {
        let read = tokio_util::io::poll_read_buf(rd, cx, inbound.read_buf());
        if read.is_pending() {
            inbound.release();
        }
        return read;
    }
    let mut stack = [MaybeUninit::<u8>::uninit(); IDLE_READ];
    let mut first = ReadBuf::uninit(&mut stack);
    ready!(rd.as_mut().poll_read(cx, &mut first))?;
    let n = first.filled().len();
    // At the end of the stream (0 bytes) this takes a buffer too: the
    // connection is closing, and one branch fewer on the path of every
    // wake-up.
    inbound.read_buf().extend_from_slice(first.filled());
    if n < IDLE_READ {
        return Poll::Ready(Ok(n));
    }
    // The stack read was filled: more is likely waiting. Read it now, as
    // a busy connection would, so the frames (and the replies written
    // for them) come in one batch, not a small one first: over TLS each
    // write is a record of its own.
    match tokio_util::io::poll_read_buf(rd, cx, inbound.read_buf()) {
        Poll::Ready(Ok(more)) => Poll::Ready(Ok(n + more)),
        // What was read is kept; the next read meets the error (or the
        // end) again.
        Poll::Ready(Err(_)) | Poll::Pending => Poll::Ready(Ok(n)),
    }
}

/// A read half and its [`Inbound`] (the client's reader).
pub(crate) struct FrameReader<R> {
    rd: R,
    inbound: Inbound,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(crate) fn new(rd: R) -> Self {
        FrameReader {
            rd,
            inbound: Inbound::default(),
        }
    }

    /// The next frame already in the buffer (see [`Inbound::buffered`]).
    pub(crate) fn buffered(&mut self, cfg: &FrameConfig) -> Result<Option<Decoded>, ReadError> {
        self.inbound.buffered(cfg)
    }

    /// [`read_into`] this reader's buffer.
    pub(crate) async fn fill(&mut self) -> Result<bool, ReadError> {
        read_into(&mut self.rd, &mut self.inbound).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Message, MessageType, Profile};
    use std::time::Duration;

    #[tokio::test]
    async fn frames_split_anywhere_come_out_whole_then_a_clean_close() {
        let frame = Message::new(MessageType::REQUEST_URI, "echo", "hello")
            .to_bytes(Profile::Netaio)
            .unwrap();
        let (mut tx, rx) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for chunk in frame.chunks(3) {
                tx.write_all(chunk).await.unwrap();
            }
            tx.write_all(&frame).await.unwrap();
        });
        let cfg = FrameConfig::new(Profile::Netaio);
        let mut r = FrameReader::new(rx);
        let mut got = 0;
        loop {
            while let Some(d) = r.buffered(&cfg).unwrap() {
                assert!(matches!(d, Decoded::Frame(ref m) if &m.content()[..] == b"hello"));
                got += 1;
            }
            if !r.fill().await.unwrap() {
                break;
            }
        }
        assert_eq!(got, 2);
        writer.await.unwrap();
    }

    /// A connection waiting for its peer holds no read buffer: let go
    /// when the socket has nothing more, taken again with the next bytes
    /// (the first read goes through the stack, the rest straight in).
    #[tokio::test]
    async fn an_idle_reader_holds_no_buffer() {
        use tokio::io::AsyncWriteExt;
        let cfg = FrameConfig::new(Profile::Netaio);
        let frame = Message::new(MessageType::REQUEST_URI, "echo", vec![7u8; 10_000])
            .to_bytes(Profile::Netaio)
            .unwrap();
        let (mut tx, rx) = tokio::io::duplex(64 * 1024);
        let mut r = FrameReader::new(rx);
        assert!(!r.inbound.holds_buffer(), "nothing before the first bytes");
        let waiting = tokio::time::timeout(Duration::ZERO, r.fill()).await;
        assert!(waiting.is_err(), "nothing to read yet");
        assert!(!r.inbound.holds_buffer(), "waiting holds none");
        for _ in 0..2 {
            tx.write_all(&frame).await.unwrap();
            // The stack's read was full: the same read went on into the
            // new buffer (one batch, as a busy connection reads).
            assert!(r.fill().await.unwrap());
            assert!(r.inbound.take_bytes_read() > IDLE_READ as u64);
            let mut got = None;
            for _ in 0..100 {
                if let Some(d) = r.buffered(&cfg).unwrap() {
                    got = Some(d);
                    break;
                }
                assert!(r.fill().await.unwrap());
                assert!(r.inbound.holds_buffer(), "reading holds one");
            }
            assert!(
                matches!(got, Some(Decoded::Frame(ref m)) if m.content().len() == 10_000),
                "a whole frame, more than the first read took"
            );
            let waiting = tokio::time::timeout(Duration::ZERO, r.fill()).await;
            assert!(waiting.is_err(), "nothing more to read");
            assert!(!r.inbound.holds_buffer(), "let go once drained");
        }
        // Half a frame and nothing more: the buffer stays.
        tx.write_all(&frame[..100]).await.unwrap();
        assert!(r.fill().await.unwrap());
        assert!(r.buffered(&cfg).unwrap().is_none());
        let waiting = tokio::time::timeout(Duration::ZERO, r.fill()).await;
        assert!(waiting.is_err());
        assert!(r.inbound.holds_buffer(), "mid-frame: kept");
    }

    #[tokio::test]
    async fn close_inside_a_frame_is_an_error() {
        let (mut tx, rx) = tokio::io::duplex(64);
        use tokio::io::AsyncWriteExt;
        tx.write_all(&[0, 0, 3]).await.unwrap();
        drop(tx);
        let mut r = FrameReader::new(rx);
        assert!(r.fill().await.unwrap());
        let e = r.fill().await.unwrap_err();
        assert!(matches!(e, ReadError::ClosedInFrame { pending: 3 }), "{e}");
    }
}
