//! The transport seam: what turns an address into a byte stream (the
//! client's [`Connector`]), and where a server's byte streams come from
//! (its [`Acceptor`]).
//!
//! A [`Client`](crate::client::Client) dials through a [`Connector`]: plain
//! TCP ([`TcpConnector`], the default), TLS
//! ([`TlsConnector`](crate::tls::TlsConnector), feature `tls`), or anything
//! of your own that yields a [`Stream`] (a Unix socket, an in-memory duplex
//! in tests, a simulated network). Reconnection, keepalive and everything
//! above the bytes are the same over each.
//!
//! ```
//! use framewire::client::Client;
//! use framewire::handler::BoxFuture;
//! use framewire::transport::{Connector, Stream};
//!
//! /// Dials TCP, but always to one fixed address, whatever the client asks.
//! struct Pinned(std::net::SocketAddr);
//!
//! impl Connector for Pinned {
//!     fn connect(&self, _addr: &str) -> BoxFuture<std::io::Result<Stream>> {
//!         let to = self.0;
//!         Box::pin(async move { Stream::tcp(tokio::net::TcpStream::connect(to).await?) })
//!     }
//! }
//!
//! let builder = Client::builder("anything").connector(Pinned("127.0.0.1:8888".parse().unwrap()));
//! # drop(builder);
//! ```
//!
//! A [`Server`](crate::server::Server) serves what an [`Acceptor`] yields:
//! TCP ([`TcpAcceptor`]; a bare `TcpListener` works too), TLS over any
//! acceptor ([`TlsAcceptor`](crate::tls::TlsAcceptor), feature `tls`),
//! in-memory streams ([`MemoryAcceptor`]), or your own. An acceptor hands
//! over each connection as an [`Incoming`] before any handshake, so the
//! server checks its limits first and runs the handshake on the
//! connection's own task.

mod accept;
mod halves;
mod memory;
mod tcp;

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::auth::Identity;
use crate::handler::BoxFuture;

pub(crate) use accept::Ready;
pub use accept::{AcceptError, AcceptFuture, Acceptor, HandshakeError, Incoming};
pub(crate) use halves::{ReadHalf, WriteHalf};
pub use memory::{MemoryAcceptor, MemoryDialer};
pub use tcp::{TcpAcceptor, TcpConnector, TcpKeepalive};

/// Anything that carries bytes both ways: what a [`Stream`] can wrap.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A connected byte stream and the address of its other end; itself an
/// `AsyncRead + AsyncWrite`, so it can also be used directly (in a
/// `tokio_util::codec::Framed`, say).
///
/// TCP is kept as it is (its halves need no lock between them); any other
/// stream is boxed.
pub struct Stream {
    inner: Inner,
    peer: SocketAddr,
    /// Who the transport proved the other end to be (a verified client
    /// certificate), if anything.
    identity: Option<Identity>,
}

pub(crate) enum Inner {
    Tcp(TcpStream),
    Boxed(Box<dyn Io>),
}

impl Stream {
    /// A TCP stream; its peer address is read from the socket.
    pub fn tcp(stream: TcpStream) -> io::Result<Self> {
        let peer = stream.peer_addr()?;
        Ok(Stream::tcp_from(stream, peer))
    }

    /// A TCP stream whose peer is known already (from `accept`: no
    /// system call to ask again).
    pub(crate) fn tcp_from(stream: TcpStream, peer: SocketAddr) -> Self {
        Stream {
            inner: Inner::Tcp(stream),
            peer,
            identity: None,
        }
    }

    /// Any other stream, with the address handlers and routes will see as
    /// its peer.
    ///
    /// ```
    /// use framewire::transport::Stream;
    ///
    /// let (ours, _theirs) = tokio::io::duplex(1024);
    /// let stream = Stream::new(ours, "127.0.0.1:9".parse().unwrap());
    /// assert_eq!(stream.peer().port(), 9);
    /// ```
    pub fn new(io: impl Io, peer: SocketAddr) -> Self {
        Stream {
            inner: Inner::Boxed(Box::new(io)),
            peer,
            identity: None,
        }
    }

    /// The other end's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Marks the other end as proven to be `identity` by the transport
    /// (a verified client certificate, a Unix socket's peer credentials):
    /// a server connection starts with it as its
    /// [`Identity`], before any frame.
    ///
    /// ```
    /// use framewire::transport::Stream;
    /// use framewire::{Identity, IdentitySource};
    ///
    /// let (ours, _theirs) = tokio::io::duplex(64);
    /// let stream = Stream::new(ours, "127.0.0.1:9".parse().unwrap())
    ///     .with_identity(Identity::new("alice", IdentitySource::Certificate));
    /// assert_eq!(stream.identity().map(|i| i.name()), Some("alice"));
    /// ```
    pub fn with_identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Who the transport proved the other end to be, if anything.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    pub(crate) fn split(self) -> (ReadHalf, WriteHalf) {
        halves::split(self.inner)
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            Inner::Tcp(_) => "tcp",
            Inner::Boxed(_) => "boxed",
        };
        let mut d = f.debug_struct("Stream");
        d.field("kind", &kind).field("peer", &self.peer);
        if let Some(identity) = &self.identity {
            d.field("identity", &identity.name());
        }
        d.finish()
    }
}

/// Turns an address into a connected [`Stream`]; see the [module
/// docs](self). Called once per connection attempt, under the client's
/// connect timeout (which bounds a TLS handshake too).
pub trait Connector: Send + Sync + 'static {
    /// Connects to `addr` (as given to
    /// [`Client::builder`](crate::client::Client::builder)).
    fn connect(&self, addr: &str) -> BoxFuture<io::Result<Stream>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stream_debugs_its_kind_and_peer() {
        let (ours, _theirs) = tokio::io::duplex(64);
        let boxed = Stream::new(ours, "127.0.0.1:9".parse().unwrap());
        assert_eq!(
            format!("{boxed:?}"),
            "Stream { kind: \"boxed\", peer: 127.0.0.1:9 }"
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tcp = Stream::tcp(tokio::net::TcpStream::connect(addr).await.unwrap()).unwrap();
        assert_eq!(tcp.peer(), addr);
        assert_eq!(
            format!("{tcp:?}"),
            format!("Stream {{ kind: \"tcp\", peer: {addr} }}")
        );
    }
}
