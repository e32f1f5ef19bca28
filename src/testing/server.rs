//! [`TestServer`]: a server fed through in-memory streams, and the
//! [`MemoryConnector`] that lets a real [`Client`](crate::client::Client)
//! dial it. No ports, no sockets: each connection is a `tokio::io::duplex`
//! pair handed to [`ServerHandle::serve_stream`].

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::client::{Client, ClientBuilder};
use crate::handler::BoxFuture;
use crate::server::{Server, ServerHandle, Stats};
use crate::transport::{Connector, Stream};
use crate::wire::Profile;

use super::{TestError, TestPeer};

/// Bytes each direction of an in-memory connection buffers before the
/// writer waits: as much as a loopback socket's buffer, so flow control
/// and slow consumers behave as they would over TCP.
const DUPLEX_BUFFER: usize = 256 * 1024;

/// The kit's default for every wait (see [`TestServer::timeout`]).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A server built by your own [`ServerBuilder`](crate::server::ServerBuilder)
/// (same routes, plugins, limits), served over in-memory connections.
///
/// Open raw connections with [`peer`](Self::peer) to play a (hostile) peer
/// byte by byte, or real clients with [`client`](Self::client). It works
/// on any tokio runtime, and under `tokio::time::pause()` every deadline
/// (frame, idle, auth, keepalive, request timeouts) passes in virtual time:
/// a test of a 5-minute idle timeout takes no real time.
///
/// ```
/// use framewire::server::Server;
/// use framewire::testing::TestServer;
/// use framewire::{Message, MessageType};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let server = TestServer::new(
///     Server::builder()
///         .on(MessageType::REQUEST_URI, |m: Message| async move {
///             Message::respond("echo", m.content().clone())
///         })
///         .build(),
/// );
/// let client = server.client().connect().await.unwrap();
/// let reply = client.request("echo", "hi").await.unwrap();
/// assert_eq!(&reply.content()[..], b"hi");
/// assert_eq!(server.stats().accepted, 1);
/// # }
/// ```
#[derive(Clone)]
pub struct TestServer {
    handle: ServerHandle,
    profile: Profile,
    ports: Arc<AtomicU16>,
    timeout: Duration,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("profile", &self.profile)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Takes `server` (built as your service builds it) and serves it in
    /// memory. Must be called inside a tokio runtime.
    pub fn new(server: Server) -> Self {
        let handle = server.handle();
        TestServer {
            profile: handle.profile(),
            handle,
            // Peers get distinct loopback ports (from 40 000), as accepted
            // sockets would.
            ports: Arc::new(AtomicU16::new(0)),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// How long each wait of the kit may take before it fails with
    /// [`TestError::Timeout`] (default 10 s; virtual time under
    /// `tokio::time::pause()`). Peers opened afterwards use it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// let server = framewire::testing::TestServer::new(framewire::server::Server::builder().build())
    ///     .timeout(Duration::from_secs(1));
    /// # drop(server);
    /// # }
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// The server's handle: notify, broadcast, connections, shutdown.
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// A raw connection from a fresh `127.0.0.1` port. Fails with
    /// [`TestError::Refused`] if the server is at a connection limit or
    /// stopping.
    ///
    /// ```
    /// use framewire::server::Server;
    /// use framewire::testing::TestServer;
    /// use framewire::{Message, MessageType};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = TestServer::new(Server::builder().build());
    /// let mut peer = server.peer().unwrap();
    /// // No route for this: the default handler answers NOT_FOUND.
    /// let reply = peer.call(Message::new(MessageType::REQUEST_URI, "nowhere", "")).await.unwrap();
    /// assert_eq!(reply.message_type, MessageType::NOT_FOUND);
    /// # }
    /// ```
    pub fn peer(&self) -> Result<TestPeer, TestError> {
        self.peer_from(self.next_addr(IpAddr::V4(Ipv4Addr::LOCALHOST)))
    }

    /// A raw connection that handlers and routes see as coming from
    /// `addr` (for per-peer routes and per-address limits).
    pub fn peer_from(&self, addr: SocketAddr) -> Result<TestPeer, TestError> {
        let (ours, theirs) = tokio::io::duplex(DUPLEX_BUFFER);
        if !self.handle.serve_stream(theirs, addr) {
            return Err(TestError::Refused);
        }
        Ok(TestPeer::new(ours, addr, self.profile, self.timeout))
    }

    /// A client builder for this server: the real [`Client`] with the
    /// server's profile, dialling through a [`MemoryConnector`]. Add your
    /// plugins, handlers and timeouts, then `connect()`. When the server
    /// stops, the client's reconnect attempts are refused like a closed
    /// port's.
    pub fn client(&self) -> ClientBuilder {
        Client::builder("memory")
            .profile(self.profile)
            .connector(self.connector())
    }

    /// The connector [`client`](Self::client) uses, for a builder of your
    /// own (`Client::builder(..).connector(server.connector())`).
    pub fn connector(&self) -> MemoryConnector {
        MemoryConnector {
            server: self.clone(),
        }
    }

    /// The server's counters now. Frame and byte counts are added when a
    /// connection's reader waits for more input, a moment after a reply
    /// is on its way: to assert on them, use [`stats_when`](Self::stats_when).
    pub fn stats(&self) -> Stats {
        self.handle.stats()
    }

    /// Waits (checking every millisecond, bounded by the kit's timeout)
    /// until the server's counters satisfy `cond`, and returns them.
    ///
    /// ```
    /// use framewire::server::Server;
    /// use framewire::testing::TestServer;
    /// use framewire::{Message, MessageType};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = TestServer::new(Server::builder().build());
    /// let before = server.stats();
    /// let mut peer = server.peer().unwrap();
    /// peer.call(Message::new(MessageType::REQUEST_URI, "a", "")).await.unwrap();
    /// // The reply is out; the frame count follows when the reader waits.
    /// let after = server.stats_when(|s| s.since(&before).frames_in == 1).await.unwrap();
    /// assert_eq!(after.since(&before).frames_out, 1);
    /// # }
    /// ```
    pub async fn stats_when(
        &self,
        mut cond: impl FnMut(&Stats) -> bool,
    ) -> Result<Stats, TestError> {
        let wait = async {
            loop {
                let stats = self.stats();
                if cond(&stats) {
                    return stats;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::time::timeout(self.timeout, wait)
            .await
            .map_err(|_| TestError::Timeout(self.timeout))
    }

    /// Shuts the server down gracefully ([`ServerHandle::stop`]) and
    /// returns when it is done.
    pub async fn stop(&self) {
        self.handle.stop().await;
    }

    fn next_addr(&self, ip: IpAddr) -> SocketAddr {
        // Wraps within the dynamic range after 25 000 peers; a port is
        // only a label here.
        let n = self.ports.fetch_add(1, Relaxed);
        SocketAddr::new(ip, 40_000 + n % 25_000)
    }
}

/// Dials a [`TestServer`] in memory, whatever address the client asks
/// for: each connection attempt is a fresh duplex pair served by it.
///
/// ```
/// use framewire::client::Client;
/// use framewire::server::Server;
/// use framewire::testing::TestServer;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let server = TestServer::new(Server::builder().build());
/// let client = Client::builder("anything:1").connector(server.connector()).connect().await.unwrap();
/// assert!(client.is_connected());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct MemoryConnector {
    server: TestServer,
}

impl Connector for MemoryConnector {
    fn connect(&self, _addr: &str) -> BoxFuture<io::Result<Stream>> {
        let server = &self.server;
        let addr = server.next_addr(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let (ours, theirs) = tokio::io::duplex(DUPLEX_BUFFER);
        let served = server.handle.serve_stream(theirs, addr);
        Box::pin(async move {
            if !served {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    "the test server refused the connection",
                ));
            }
            Ok(Stream::new(ours, addr))
        })
    }
}
