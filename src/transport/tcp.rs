//! [`TcpConnector`]: plain TCP, the client's default transport.

use std::io;
use std::time::Duration;

use tokio::net::TcpStream;

use super::{Connector, Stream};
use crate::handler::BoxFuture;

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
}
