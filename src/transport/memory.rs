//! [`MemoryAcceptor`] and its [`MemoryDialer`]: a server's connections as
//! in-memory duplex pairs, no ports, no sockets (tests, simulations, a
//! server and its clients in one process).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering::Relaxed};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{AcceptError, AcceptFuture, Acceptor, Connector, Incoming, Stream};
use crate::handler::BoxFuture;

/// Connections dialled but not yet accepted, as a listen backlog: past
/// it, dialling is refused like a full TCP backlog.
const BACKLOG: usize = 1024;

/// Bytes each direction of a connection buffers before the writer waits:
/// as much as a loopback socket's buffer, so flow control and slow
/// consumers behave as they would over TCP.
const BUFFER: usize = 256 * 1024;

/// Accepts the connections its [`MemoryDialer`]s make; ends
/// ([`AcceptError::Closed`]) once every dialer is dropped.
///
/// ```
/// use framewire::client::Client;
/// use framewire::server::Server;
/// use framewire::transport::MemoryAcceptor;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (acceptor, dialer) = MemoryAcceptor::new();
/// let server = Server::builder().build();
/// let handle = server.handle();
/// tokio::spawn(server.serve(acceptor, std::future::pending()));
/// let client = Client::builder("memory").connector(dialer).connect().await.unwrap();
/// assert!(client.is_connected());
/// handle.stop().await;
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryAcceptor {
    rx: mpsc::Receiver<Stream>,
    local: SocketAddr,
}

/// Opens connections to a [`MemoryAcceptor`]; cheap to clone, and a
/// [`Connector`] for a [`Client`](crate::client::Client). Each connection
/// comes from a fresh `127.0.0.1` port (from 40 000), as accepted sockets
/// would.
#[derive(Debug, Clone)]
pub struct MemoryDialer {
    tx: mpsc::Sender<Stream>,
    local: SocketAddr,
    ports: Arc<AtomicU16>,
}

impl MemoryAcceptor {
    /// An acceptor at `127.0.0.1:1` (an address only: nothing is bound),
    /// and the dialer that reaches it.
    pub fn new() -> (MemoryAcceptor, MemoryDialer) {
        let (tx, rx) = mpsc::channel(BACKLOG);
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1);
        let dialer = MemoryDialer {
            tx,
            local,
            ports: Arc::new(AtomicU16::new(0)),
        };
        (MemoryAcceptor { rx, local }, dialer)
    }
}

impl Acceptor for MemoryAcceptor {
    fn accept(&mut self) -> AcceptFuture<'_> {
        Box::pin(async move {
            // `recv` is cancel safe: a dialled stream stays queued.
            let stream = self.rx.recv().await.ok_or(AcceptError::Closed)?;
            Ok(Incoming::new(stream))
        })
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        Some(self.local)
    }
}

impl MemoryDialer {
    /// A connection from the next `127.0.0.1` port.
    pub fn dial(&self) -> io::Result<Stream> {
        // Wraps within the dynamic range after 25 000 connections; a port
        // is only a label here.
        let n = self.ports.fetch_add(1, Relaxed);
        let port = 40_000 + n % 25_000;
        self.dial_from(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
    }

    /// A connection the server sees as coming from `peer` (for per-peer
    /// routes and per-address limits). Refused if the acceptor is gone
    /// or its backlog is full.
    pub fn dial_from(&self, peer: SocketAddr) -> io::Result<Stream> {
        let (ours, theirs) = tokio::io::duplex(BUFFER);
        self.tx
            .try_send(Stream::new(theirs, peer))
            .map_err(|_| io::Error::new(io::ErrorKind::ConnectionRefused, "not accepting"))?;
        Ok(Stream::new(ours, self.local))
    }
}

impl Connector for MemoryDialer {
    fn connect(&self, _addr: &str) -> BoxFuture<io::Result<Stream>> {
        let dialled = self.dial();
        Box::pin(std::future::ready(dialled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// What one end writes the other reads, the acceptor sees the
    /// dialer's address, and it closes once every dialer is gone.
    #[tokio::test]
    async fn memory_acceptor_yields_the_other_end_then_closes() {
        let (mut acceptor, dialer) = MemoryAcceptor::new();
        let peer: SocketAddr = "10.0.0.7:5555".parse().unwrap();
        let mut ours = dialer.dial_from(peer).unwrap();
        assert_eq!(ours.peer(), acceptor.local_addr().unwrap());
        let incoming = acceptor.accept().await.unwrap();
        assert_eq!(incoming.peer(), peer);
        assert!(!incoming.has_handshake());
        let mut theirs = incoming.establish().await.unwrap();
        ours.write_all(b"hi").await.unwrap();
        let mut got = [0; 2];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hi");
        let second = dialer.dial().unwrap();
        assert_eq!(acceptor.accept().await.unwrap().peer().port(), 40_000);
        drop((dialer, second));
        assert!(acceptor.accept().await.unwrap_err().is_closed());
    }

    /// A dialer whose acceptor is gone is refused, like a closed port.
    #[tokio::test]
    async fn dialling_a_dropped_acceptor_is_refused() {
        let (acceptor, dialer) = MemoryAcceptor::new();
        drop(acceptor);
        let e = dialer.dial().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }

    /// Ports count up from 40 000 and wrap after 25 000 connections.
    #[tokio::test]
    async fn dialled_ports_wrap_within_the_dynamic_range() {
        let (mut acceptor, dialer) = MemoryAcceptor::new();
        dialer.ports.store(24_999, Relaxed);
        let _a = dialer.dial().unwrap();
        let _b = dialer.dial().unwrap();
        assert_eq!(acceptor.accept().await.unwrap().peer().port(), 64_999);
        assert_eq!(acceptor.accept().await.unwrap().peer().port(), 40_000);
    }

    /// Each direction buffers 256 KiB (as a loopback socket would) before
    /// the writer waits.
    #[tokio::test]
    async fn a_connection_buffers_256_kib_each_way() {
        let (mut acceptor, dialer) = MemoryAcceptor::new();
        let mut ours = dialer.dial().unwrap();
        let _theirs = acceptor.accept().await.unwrap();
        let full = vec![0u8; 256 * 1024];
        let wrote = tokio::time::timeout(std::time::Duration::from_secs(5), ours.write_all(&full));
        assert!(wrote.await.is_ok(), "256 KiB fit without a reader");
        let more = tokio::time::timeout(std::time::Duration::from_millis(50), ours.write_all(b"x"));
        assert!(more.await.is_err(), "one byte more waits for the reader");
    }
}
