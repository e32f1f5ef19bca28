//! The client's settings: [`Keepalive`] and what the builder gathers.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::PluginLayer;
use crate::transport::{Connector, TcpConnector};
use crate::wire::{FrameConfig, Profile};

use super::offline::OfflineBuffer;
use super::servers::Servers;
use super::Reconnect;

/// Application-level keepalive: when nothing has arrived, or nothing has
/// answered the client, for `interval`, the client sends a ping (which
/// framewire servers answer, and netaio servers answer with NOT_FOUND —
/// any answer will do); if no answer (a reply, confirmation or error)
/// arrives within `timeout` after it, the server is declared dead and the
/// client reconnects. Notifications are not answers: a server that keeps
/// notifying but no longer reads what the client sends (a stalled reader,
/// a one-way broken path) is found as a silent one is. A dead or half-open
/// server is detected within `interval + timeout`.
///
/// ```
/// use std::time::Duration;
/// use framewire::client::Keepalive;
///
/// let k = Keepalive::default().interval(Duration::from_secs(5));
/// assert_eq!(k.timeout, Duration::from_secs(10));
/// assert_eq!(k.detection_time(), Duration::from_secs(15));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Keepalive {
    /// Quiet time before a ping.
    pub interval: Duration,
    /// Time to wait for an answer after the ping.
    pub timeout: Duration,
}

impl Keepalive {
    /// Pings after `interval` of quiet and waits `timeout` for an answer.
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        Keepalive { interval, timeout }
    }

    /// Sets [`Keepalive::interval`].
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets [`Keepalive::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long after the server's last sign of life it is declared dead.
    pub fn detection_time(&self) -> Duration {
        self.interval.saturating_add(self.timeout)
    }

    /// The TCP keepalive set under it, as a second line behind the ping:
    /// probes after `interval` of quiet, then every `timeout`.
    pub(crate) fn tcp(&self) -> (Duration, Duration) {
        (self.interval, self.timeout)
    }
}

impl Default for Keepalive {
    /// 15 s quiet, then 10 s to answer: a dead server is found within 25 s.
    fn default() -> Self {
        Keepalive::new(Duration::from_secs(15), Duration::from_secs(10))
    }
}

/// Requests one client keeps waiting at once by default. Each costs about
/// [`BYTES_PER_PENDING_REQUEST`] while it waits (its table entries and its
/// reply channel), so the default bounds the table near 10 MiB.
pub const DEFAULT_MAX_PENDING_REQUESTS: usize = 65_536;

/// Upper estimate of the memory one waiting request holds: two map
/// entries (by send order and by id, with their slack), the waiter, and its
/// one-shot reply channel.
pub const BYTES_PER_PENDING_REQUEST: usize = 512;

/// Settings shared by the client's tasks.
pub(crate) struct Config {
    pub(crate) servers: Servers,
    pub(crate) offline: Option<OfflineBuffer>,
    /// Whether the first connect follows the reconnect policy instead of
    /// failing after one round of the server list.
    pub(crate) retry_first_connect: bool,
    /// How long a connection being left keeps its subscriptions after the
    /// new one has them.
    pub(crate) handover: Duration,
    pub(crate) frame: FrameConfig,
    pub(crate) layer: PluginLayer,
    pub(crate) request_timeout: Duration,
    pub(crate) reconnect: Reconnect,
    pub(crate) keepalive: Option<Keepalive>,
    pub(crate) connect_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) max_queued_frames: usize,
    pub(crate) max_queued_bytes: usize,
    pub(crate) subscription_buffer: usize,
    pub(crate) max_pending_requests: usize,
    /// What dials each connection (TCP unless the builder was told
    /// otherwise).
    pub(crate) connector: Arc<dyn Connector>,
    /// The login message's content, sent first on every connection.
    pub(crate) login: Option<bytes::Bytes>,
    /// netaio peer management: advertised on every connection.
    pub(crate) peers: Option<Arc<super::peers::Peers>>,
}

impl Config {
    pub(crate) fn new(servers: Vec<String>) -> Self {
        Config {
            servers: Servers::new(servers),
            offline: Some(OfflineBuffer::default()),
            retry_first_connect: false,
            handover: Duration::from_millis(250),
            frame: FrameConfig::new(Profile::Netaio),
            layer: PluginLayer::new(),
            request_timeout: Duration::from_secs(10),
            reconnect: Reconnect::default(),
            keepalive: Some(Keepalive::default()),
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            max_queued_frames: 4096,
            max_queued_bytes: 16 * 1024 * 1024,
            subscription_buffer: 1024,
            max_pending_requests: DEFAULT_MAX_PENDING_REQUESTS,
            connector: Arc::new(TcpConnector::new()),
            login: None,
            peers: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_setters_and_what_follows_from_them() {
        let k = Keepalive::new(Duration::from_secs(1), Duration::from_secs(2))
            .interval(Duration::from_secs(3))
            .timeout(Duration::from_secs(4));
        assert_eq!(k.detection_time(), Duration::from_secs(7));
        assert_eq!(k.tcp(), (Duration::from_secs(3), Duration::from_secs(4)));
        let huge = Keepalive::new(Duration::MAX, Duration::from_secs(1));
        assert_eq!(huge.detection_time(), Duration::MAX, "saturates");
    }
}
