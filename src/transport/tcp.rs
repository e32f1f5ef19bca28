//! Plain TCP both ways: [`TcpConnector`] (the client's default
//! transport), [`TcpAcceptor`] (the server's), and the socket tuning they
//! share ([`TcpKeepalive`], `TCP_NODELAY`).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use super::{AcceptError, AcceptFuture, Acceptor, Connector, Incoming, Stream};
use crate::handler::BoxFuture;

/// TCP keepalive for accepted sockets: how a server finds peers that
/// vanished without closing (host crashed, cable cut, NAT entry expired), a
/// half-open connection that would otherwise hold its slot and
/// subscriptions forever.
///
/// After `time` with nothing received, the kernel sends a probe every
/// `interval`; `retries` unanswered probes close the connection. On Linux
/// the same total (`time + interval × retries`) is also set as
/// `TCP_USER_TIMEOUT`, so a dead peer that the server keeps *sending* to
/// (a subscriber receiving notifications, where keepalive probes do not
/// run) is found just as fast instead of after ~15 minutes of
/// retransmissions. The user timeout also ends a connection whose peer
/// keeps its receive window closed that long (it stopped reading);
/// [`Limits::write_timeout`](crate::server::Limits::write_timeout) normally cuts such a peer off first.
///
/// ```
/// use std::time::Duration;
/// use framewire::server::{Limits, TcpKeepalive};
///
/// let ka = TcpKeepalive::new(Duration::from_secs(30));
/// assert_eq!(ka.interval, Duration::from_secs(7) + Duration::from_millis(500));
/// assert_eq!(ka.detection_time(), Duration::from_secs(60));
/// let limits = Limits::default().tcp_keepalive(Some(ka.retries(3)));
/// # let _ = limits;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpKeepalive {
    /// Quiet time before the first probe.
    pub time: Duration,
    /// Time between probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is closed.
    pub retries: u32,
}

impl TcpKeepalive {
    /// Probes after `time` of quiet, then every `time / 4`, 4 times: a dead
    /// peer is found `2 × time` after it went silent.
    pub fn new(time: Duration) -> Self {
        TcpKeepalive {
            time,
            interval: time / 4,
            retries: 4,
        }
    }

    /// Sets the time between probes.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets the number of unanswered probes that close the connection.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// How long after the last sign of life a dead peer is closed:
    /// `time + interval × retries`.
    pub fn detection_time(&self) -> Duration {
        self.time
            .saturating_add(self.interval.saturating_mul(self.retries))
    }
}

impl Default for TcpKeepalive {
    /// 60 s, then 15 s × 4: a vanished peer is closed after 2 minutes,
    /// without a probe on any connection that carried traffic in the last
    /// minute.
    fn default() -> Self {
        TcpKeepalive::new(Duration::from_secs(60))
    }
}

/// Dials TCP with `TCP_NODELAY` (frames are written whole, in batches, so
/// Nagle's delay only adds latency) and, if set, TCP keepalive probes.
///
/// ```
/// use std::time::Duration;
/// use framewire::transport::TcpConnector;
///
/// let tcp = TcpConnector::new().keepalive(Some((Duration::from_secs(15), Duration::from_secs(5))));
/// # drop(tcp);
/// ```
#[derive(Debug, Clone, Default)]
pub struct TcpConnector {
    keepalive: Option<(Duration, Duration)>,
}

impl TcpConnector {
    /// No TCP keepalive; `TCP_NODELAY` on.
    pub fn new() -> Self {
        TcpConnector::default()
    }

    /// TCP keepalive: first probe after `.0` of quiet, then every `.1`.
    /// The client's own [`Keepalive`](crate::client::Keepalive) sets this
    /// on the connectors it builds, as a second line behind its ping.
    pub fn keepalive(mut self, keepalive: Option<(Duration, Duration)>) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// Dials `addr` and tunes the socket; what [`Connector::connect`] does,
    /// for connectors that wrap TCP (as TLS does).
    pub async fn dial(&self, addr: &str) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(addr).await?;
        // Failing to tune the socket leaves it working, only slower or
        // slower to notice a dead peer.
        let _ = stream.set_nodelay(true);
        if let Some((time, interval)) = self.keepalive {
            let ka = socket2::TcpKeepalive::new()
                .with_time(time)
                .with_interval(interval);
            let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&ka);
        }
        Ok(stream)
    }
}

impl Connector for TcpConnector {
    fn connect(&self, addr: &str) -> BoxFuture<io::Result<Stream>> {
        let (this, addr) = (self.clone(), addr.to_owned());
        Box::pin(async move { Stream::tcp(this.dial(&addr).await?) })
    }
}

/// Accepts TCP connections from a bound [`TcpListener`], with
/// `TCP_NODELAY` (replies are written whole, in batches) and, if set, TCP
/// keepalive on every accepted socket. A TCP stream needs no handshake:
/// each [`Incoming`] is ready at once, and its halves need no lock between
/// them.
///
/// Every accept error is [transient](AcceptError::Transient): running
/// out of file descriptors (`EMFILE`), or a connection reset before it was
/// accepted, passes, and the server retries after a growing pause.
///
/// ```no_run
/// use std::time::Duration;
/// use framewire::server::Server;
/// use framewire::transport::{TcpAcceptor, TcpKeepalive};
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8888").await?;
/// let tcp = TcpAcceptor::new(listener).keepalive(Some(TcpKeepalive::new(Duration::from_secs(20))));
/// Server::builder().build().serve(tcp, async { tokio::signal::ctrl_c().await.ok(); }).await
/// # }
/// ```
#[derive(Debug)]
pub struct TcpAcceptor {
    listener: TcpListener,
    keepalive: Option<TcpKeepalive>,
}

impl TcpAcceptor {
    /// Accepts from `listener`, with the default [`TcpKeepalive`] (as
    /// [`Limits::tcp_keepalive`](crate::server::Limits::tcp_keepalive)).
    pub fn new(listener: TcpListener) -> Self {
        TcpAcceptor {
            listener,
            keepalive: Some(TcpKeepalive::default()),
        }
    }

    /// TCP keepalive on accepted sockets; `None` leaves the OS defaults
    /// (usually none). A server given a bare `TcpListener` sets
    /// [`Limits::tcp_keepalive`](crate::server::Limits::tcp_keepalive)
    /// here.
    pub fn keepalive(mut self, keepalive: Option<TcpKeepalive>) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// `TCP_NODELAY` and the configured keepalive on an accepted socket.
    /// Failures are logged, not fatal: the connection still works, only
    /// slower, or a vanished peer is found later.
    fn tune(&self, stream: &TcpStream) {
        let _ = stream.set_nodelay(true);
        if let Some(ka) = self.keepalive {
            set_keepalive(stream, ka);
        }
    }
}

fn set_keepalive(stream: &TcpStream, ka: TcpKeepalive) {
    let sock = socket2::SockRef::from(stream);
    let probes = socket2::TcpKeepalive::new()
        .with_time(ka.time)
        .with_interval(ka.interval);
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "windows"
    ))]
    let probes = probes.with_retries(ka.retries);
    if let Err(e) = sock.set_tcp_keepalive(&probes) {
        debug!(error = %e, "TCP keepalive not set");
    }
    // Keepalive probes only run while nothing is unacknowledged; a dead
    // subscriber that is being sent notifications needs the user timeout.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = sock.set_tcp_user_timeout(Some(ka.detection_time())) {
        debug!(error = %e, "TCP_USER_TIMEOUT not set");
    }
}

impl Acceptor for TcpAcceptor {
    fn accept(&mut self) -> AcceptFuture<'_> {
        Box::pin(async move {
            // `TcpListener::accept` is cancel safe: a connection is never
            // taken and then lost when the server stops waiting.
            let (stream, peer) = self
                .listener
                .accept()
                .await
                .map_err(AcceptError::Transient)?;
            self.tune(&stream);
            Ok(Incoming::new(Stream::tcp_from(stream, peer)))
        })
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `dial` sets on the socket: no delay always, keepalive with the
    /// times asked for (and none when not asked).
    #[tokio::test]
    async fn dial_tunes_nodelay_and_the_keepalive_asked_for() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let plain = TcpConnector::new().dial(&addr).await.unwrap();
        assert!(plain.nodelay().unwrap());
        assert!(!socket2::SockRef::from(&plain).keepalive().unwrap());
        let (time, interval) = (Duration::from_secs(17), Duration::from_secs(3));
        let tuned = TcpConnector::new()
            .keepalive(Some((time, interval)))
            .dial(&addr)
            .await
            .unwrap();
        let sock = socket2::SockRef::from(&tuned);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), time);
        assert_eq!(sock.tcp_keepalive_interval().unwrap(), interval);
    }

    /// An accepted socket is ready at once, tuned like the server's were
    /// (no delay, the keepalive asked for), kept as TCP, with its peer.
    #[tokio::test]
    async fn tcp_acceptor_yields_tuned_ready_tcp_streams() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ka = TcpKeepalive::new(Duration::from_secs(40)).retries(2);
        let mut acceptor = TcpAcceptor::new(listener).keepalive(Some(ka));
        assert_eq!(acceptor.local_addr(), Some(addr));
        let client = TcpStream::connect(addr).await.unwrap();
        let incoming = acceptor.accept().await.unwrap();
        assert_eq!(incoming.peer(), client.local_addr().unwrap());
        assert!(!incoming.has_handshake());
        let stream = incoming.establish().await.unwrap();
        assert_eq!(
            format!("{stream:?}"),
            format!(
                "Stream {{ kind: \"tcp\", peer: {} }}",
                client.local_addr().unwrap()
            )
        );
        let super::super::Inner::Tcp(tcp) = &stream.inner else {
            unreachable!("checked by Debug above")
        };
        assert!(tcp.nodelay().unwrap());
        let sock = socket2::SockRef::from(tcp);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), ka.time);
        assert_eq!(sock.tcp_keepalive_interval().unwrap(), ka.interval);
    }
}
