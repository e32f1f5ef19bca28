//! The server's side of the seam: an [`Acceptor`] yields [`Incoming`]
//! connections; each is either ready or has a handshake to finish (TLS),
//! which the server runs on the connection's own task, under its slot.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use crate::handler::BoxFuture;

use super::Stream;

/// What [`Acceptor::accept`] returns: a boxed future borrowing the
/// acceptor.
pub type AcceptFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Incoming, AcceptError>> + Send + 'a>>;

/// Where a server's connections come from: TCP ([`TcpAcceptor`](super::TcpAcceptor)),
/// TLS over any acceptor ([`TlsAcceptor`](crate::tls::TlsAcceptor),
/// feature `tls`), in-memory streams ([`MemoryAcceptor`](super::MemoryAcceptor)),
/// or your own (a Unix socket, a simulated network). Given to
/// [`Server::serve`](crate::server::Server::serve).
///
/// `accept` must be cancel safe: the server drops its future when it
/// stops accepting, and that must not lose a connection already taken.
/// It should not wait for a handshake either (one slow peer would hold up
/// every other): return an [`Incoming`] with the handshake still to run.
///
/// ```
/// use framewire::transport::{AcceptError, AcceptFuture, Acceptor, Incoming, Stream};
/// use tokio::sync::mpsc;
///
/// /// Serves the streams sent down a channel; ends when every sender is gone.
/// struct Channel(mpsc::Receiver<Stream>);
///
/// impl Acceptor for Channel {
///     fn accept(&mut self) -> AcceptFuture<'_> {
///         Box::pin(async move {
///             // `recv` is cancel safe: a stream is never lost half way.
///             let stream = self.0.recv().await.ok_or(AcceptError::Closed)?;
///             Ok(Incoming::new(stream))
///         })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let (tx, rx) = mpsc::channel(8);
/// let (ours, theirs) = tokio::io::duplex(1024);
/// tx.send(Stream::new(theirs, "127.0.0.1:9".parse().unwrap())).await.unwrap();
/// drop(tx);
/// // Serves the one stream, then stops gracefully when the channel closes.
/// framewire::server::Server::builder().build().serve(Channel(rx), std::future::pending()).await?;
/// # drop(ours); Ok(()) }
/// ```
pub trait Acceptor: Send + 'static {
    /// Waits for the next connection.
    fn accept(&mut self) -> AcceptFuture<'_>;

    /// The address connections arrive at, if there is one (logged when
    /// the server starts).
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
}

impl<A: Acceptor + ?Sized> Acceptor for Box<A> {
    fn accept(&mut self) -> AcceptFuture<'_> {
        (**self).accept()
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        (**self).local_addr()
    }
}

/// One accepted connection: its peer's address now (what the server's
/// connection limits are checked against before anything else is spent on
/// it), its [`Stream`] once its handshake, if any, is done.
pub struct Incoming {
    peer: SocketAddr,
    stream: Pending,
}

enum Pending {
    Ready(Stream),
    Handshake(BoxFuture<Result<Stream, HandshakeError>>),
}

impl Incoming {
    /// A connection ready to use, from its stream's peer.
    pub fn new(stream: Stream) -> Self {
        Incoming {
            peer: stream.peer(),
            stream: Pending::Ready(stream),
        }
    }

    /// A connection from `peer` whose stream `handshake` makes. The
    /// server runs it on the connection's task, holding the connection's
    /// slot, and drops it if the server shuts down first; bound it with
    /// its own deadline (as [`TlsAcceptor`](crate::tls::TlsAcceptor) does).
    pub fn handshake(
        peer: SocketAddr,
        handshake: impl Future<Output = Result<Stream, HandshakeError>> + Send + 'static,
    ) -> Self {
        Incoming {
            peer,
            stream: Pending::Handshake(Box::pin(handshake)),
        }
    }

    /// The other end's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Whether a handshake must run before the stream is ready.
    pub fn has_handshake(&self) -> bool {
        matches!(self.stream, Pending::Handshake(_))
    }

    /// Runs the handshake (if any) and returns the stream.
    pub async fn establish(self) -> Result<Stream, HandshakeError> {
        match self.stream {
            Pending::Ready(stream) => Ok(stream),
            Pending::Handshake(handshake) => handshake.await,
        }
    }

    /// The stream, if no handshake is left to run, else the connection
    /// back: the server's path for TCP, which spawns no extra task.
    pub(crate) fn ready(self) -> Ready {
        match self.stream {
            Pending::Ready(stream) => Ready::Now(stream),
            handshake => Ready::Later(Incoming {
                peer: self.peer,
                stream: handshake,
            }),
        }
    }
}

/// What [`Incoming::ready`] finds.
pub(crate) enum Ready {
    /// No handshake: the stream.
    Now(Stream),
    /// A handshake to run first.
    Later(Incoming),
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("peer", &self.peer)
            .field("handshake", &self.has_handshake())
            .finish()
    }
}

/// Why an [`Acceptor`] gave no connection; what the server does next
/// depends on which.
///
/// ```
/// use framewire::transport::AcceptError;
///
/// let emfile = std::io::Error::from_raw_os_error(24);
/// assert!(AcceptError::Transient(emfile).is_transient());
/// assert!(AcceptError::Closed.is_closed());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
    /// This accept failed, later ones may not (out of file descriptors,
    /// a connection reset before it was taken): the server logs it and
    /// retries after a pause that doubles up to a second.
    #[error("accept failed: {0}")]
    Transient(#[source] io::Error),
    /// The acceptor cannot accept again: the server stops gracefully
    /// and `serve` returns this error.
    #[error("acceptor failed: {0}")]
    Fatal(#[source] io::Error),
    /// No connection will come any more (every in-memory dialer dropped):
    /// the server stops gracefully and `serve` returns `Ok`.
    #[error("acceptor closed")]
    Closed,
}

crate::predicates::predicates!(AcceptError {
    /// Whether a later accept may succeed.
    is_transient => AcceptError::Transient(_),
    /// Whether the acceptor failed for good.
    is_fatal => AcceptError::Fatal(_),
    /// Whether no connection will come any more.
    is_closed => AcceptError::Closed,
});

/// Why an [`Incoming`] connection's handshake gave no stream. The peer is
/// told nothing more than the transport itself says (a TLS alert).
///
/// ```
/// use std::time::Duration;
/// use framewire::transport::HandshakeError;
///
/// let e = HandshakeError::Timeout(Duration::from_secs(10));
/// assert!(e.is_timeout());
/// assert_eq!(e.to_string(), "no handshake within 10s");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The handshake did not finish within its deadline.
    #[error("no handshake within {0:?}")]
    Timeout(Duration),
    /// The handshake failed (for TLS, an I/O error carrying the
    /// `rustls::Error`: see [`tls::handshake_error`](crate::tls::handshake_error)).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The handshake succeeded but what it proved is refused: a verified
    /// client certificate that names nobody, or several.
    #[error("client certificate refused: {0}")]
    Refused(#[source] Box<dyn std::error::Error + Send + Sync>),
}

crate::predicates::predicates!(HandshakeError {
    /// Whether the deadline passed.
    is_timeout => HandshakeError::Timeout(_),
    /// Whether the handshake failed.
    is_io => HandshakeError::Io(_),
    /// Whether what the handshake proved was refused.
    is_refused => HandshakeError::Refused(_),
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::MemoryAcceptor;

    #[tokio::test]
    async fn a_boxed_acceptor_is_the_acceptor_and_incoming_shows_its_peer() {
        let (memory, dialer) = MemoryAcceptor::new();
        let mut boxed: Box<dyn Acceptor> = Box::new(memory);
        assert_eq!(boxed.local_addr(), Some("127.0.0.1:1".parse().unwrap()));
        let _ours = dialer.dial_from("10.0.0.9:7".parse().unwrap()).unwrap();
        let incoming = boxed.accept().await.unwrap();
        assert_eq!(
            format!("{incoming:?}"),
            "Incoming { peer: 10.0.0.9:7, handshake: false }"
        );
    }
}

#[cfg(test)]
mod predicate_tests {
    use super::*;

    #[test]
    fn each_accept_error_predicate_holds_for_its_variants_only() {
        crate::predicates::check(
            AcceptError::PREDICATES,
            &[
                (
                    AcceptError::Transient(io::ErrorKind::Other.into()),
                    &["is_transient"],
                ),
                (
                    AcceptError::Fatal(io::ErrorKind::Other.into()),
                    &["is_fatal"],
                ),
                (AcceptError::Closed, &["is_closed"]),
            ],
        );
    }

    #[test]
    fn each_handshake_error_predicate_holds_for_its_variants_only() {
        crate::predicates::check(
            HandshakeError::PREDICATES,
            &[
                (
                    HandshakeError::Timeout(Duration::from_secs(1)),
                    &["is_timeout"],
                ),
                (HandshakeError::Io(io::ErrorKind::Other.into()), &["is_io"]),
                (HandshakeError::Refused("no".into()), &["is_refused"]),
            ],
        );
    }
}
