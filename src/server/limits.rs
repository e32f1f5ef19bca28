//! Every server limit in one place, each default with the reason for it.

use std::time::Duration;

use crate::auth::AuthFailurePolicy;
use crate::transport::TcpKeepalive;

/// What happens to a connection whose outbound queue is full (it is not
/// reading fast enough).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SlowConsumerPolicy {
    /// Close the connection (default). A peer that cannot keep up would
    /// otherwise miss messages silently.
    #[default]
    Disconnect,
    /// Drop the frame that did not fit and keep the connection; counted in
    /// [`Stats::slow_consumer_drops`](crate::server::Stats).
    DropNewest,
}

/// Server limits. Every field has a default chosen for a service exposed to
/// untrusted clients; change them with the builder-style methods.
///
/// ```
/// use std::time::Duration;
/// use framewire::server::Limits;
///
/// let limits = Limits::default()
///     .max_connections(100)
///     .idle_timeout(Duration::from_secs(30));
/// assert_eq!(limits.max_connections, 100);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// Connections served at once; more are accepted and closed at once.
    /// Default 10 000: well under a default `ulimit -n` raised for servers,
    /// and about 120 MB when all are idle (12 KB each, measured in
    /// BENCHMARKS.md: mostly the 8 KiB read buffer) plus what their queues
    /// hold.
    pub max_connections: usize,
    /// Connections served at once from one source address; more are
    /// closed at once. Default 256: room for a large NAT, while one host
    /// cannot take every slot.
    pub max_connections_per_address: usize,
    /// Largest frame accepted, once a connection has authenticated (or
    /// always, without an auth plugin). Default: the profile's
    /// ([`Profile::default_max_frame_len`](crate::Profile::default_max_frame_len)).
    pub max_frame_len: Option<usize>,
    /// Largest frame accepted before the first frame that passes the
    /// instance auth plugin, so an unauthenticated peer cannot make the
    /// server buffer large frames. Only applies with an auth plugin.
    /// Default 66 560 bytes: any netaio frame with a full-size body and
    /// up to 1 KiB of auth fields.
    pub pre_auth_max_frame_len: usize,
    /// Time allowed to finish a frame once its first byte arrived
    /// (slowloris). Default 10 s: a full 16 MiB frame still needs only
    /// ~1.7 MB/s.
    pub frame_timeout: Duration,
    /// A connection with no subscriptions that sends nothing accepted for
    /// this long is closed (refused and damaged frames do not count as
    /// activity). Subscribers are exempt: netaio clients listen silently
    /// for notifications; TCP keepalive finds their dead peers. Default
    /// 300 s.
    pub idle_timeout: Duration,
    /// TCP keepalive on accepted sockets, to close half-open connections.
    /// Default [`TcpKeepalive::default`]: a vanished peer is closed after
    /// 2 minutes. `None` leaves the OS defaults (usually no keepalive).
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// A write to a peer that makes no progress for this long closes the
    /// connection (a peer that stopped reading). Default 30 s.
    pub write_timeout: Duration,
    /// Frames queued for one connection. Default 1 024.
    pub max_queued_frames: usize,
    /// Bytes queued for one connection (one frame larger than this is still
    /// accepted into an empty queue). Default 4 MiB: 32 netaio frames of
    /// maximal size.
    pub max_queued_bytes: usize,
    /// What to do when a connection's queue is full. Default: disconnect.
    pub slow_consumer: SlowConsumerPolicy,
    /// Subscriptions one connection may hold. Default 1 024.
    pub max_subscriptions_per_connection: usize,
    /// Longest topic a connection may subscribe to (the bytes of the
    /// SUBSCRIBE uri, kept as long as the subscription); a longer one is
    /// refused with [`SubscribeError::TopicTooLong`](super::SubscribeError::TopicTooLong).
    /// Publishing to longer uris is unaffected: nothing of them is kept.
    /// Default 1 KiB: a topic is a name (`sensors/hall/temperature`), and
    /// netaio's 65 535-byte uri limit would let one connection's 1 024
    /// subscriptions pin 64 MiB.
    pub max_topic_len: usize,
    /// Bytes of subscriptions one connection may hold, each counted as
    /// its topic's length plus [`Limits::SUBSCRIPTION_OVERHEAD`]; past it a
    /// subscription is refused with
    /// [`SubscribeError::TooManyBytes`](super::SubscribeError::TooManyBytes).
    /// Default 512 KiB: all 1 024 subscriptions with topics up to 128
    /// bytes, or 372 of the longest; 256 connections from one address
    /// (its connection cap) pin at most 128 MiB.
    pub max_subscription_bytes_per_connection: usize,
    /// Bytes of subscriptions the whole server holds, counted as for
    /// [`max_subscription_bytes_per_connection`](Self::max_subscription_bytes_per_connection);
    /// past it a subscription is refused with
    /// [`SubscribeError::ServerFull`](super::SubscribeError::ServerFull),
    /// whoever asks. Default 256 MiB: 10 000 connections with 50
    /// subscriptions each to 100-byte topics fit, and no number of
    /// connections can make the subscription tables outgrow it.
    pub max_subscription_bytes: usize,
    /// Queue groups (a topic and a group name with at least one member
    /// here) the server holds; past it a grouped subscription that would
    /// start a new one is refused with
    /// [`SubscribeError::TooManyGroups`](super::SubscribeError::TooManyGroups).
    /// Their names together are also bounded (256 KiB), since each
    /// instance announces the table to the others. Default 1 024.
    pub max_queue_groups: usize,
    /// Bytes of peer ids and data the peer table keeps in all (with
    /// [`ServerBuilder::peers`](super::ServerBuilder::peers)); an
    /// announcement past it is refused. Each connection holds at most one
    /// peer, so this bounds what many connections can pin. Default 16 MiB:
    /// room for 10 000 peers (the default count bound) of 1.6 KiB, or
    /// 4 096 at the entry cap; one address at its connection cap pins at
    /// most 1 MiB of it.
    pub max_peer_bytes: usize,
    /// Bytes of one peer's id and data; a larger announcement is refused.
    /// Default 4 KiB: netaio's peers announce a 16-byte id and a small
    /// dict (a name, a 32-byte X25519 key).
    pub max_peer_entry_bytes: usize,
    /// Checksum mismatches tolerated on one connection before it is closed
    /// (each one is answered with ERROR `invalid message`, as netaio does).
    /// Default 16: line noise is rare on TCP; many mismatches mean a broken
    /// or hostile peer.
    pub max_checksum_errors: u32,
    /// Auth failures tolerated on one connection before it is closed (each
    /// is answered with the plugin's AUTH_ERROR, as netaio does). Refusals
    /// by a full replay cache are answered the same way but not counted:
    /// they are the server's capacity limit, not the peer's fault. Default
    /// 16.
    pub max_auth_failures: u32,
    /// What a frame that fails the auth check gets. Default
    /// [`AuthFailurePolicy::Reply`]: netaio's AUTH_ERROR.
    pub auth_failure: AuthFailurePolicy,
    /// Lame-duck time: on the shutdown signal the server stops accepting
    /// and asks its framewire clients to move to another instance (a
    /// [`DRAIN_URI`](crate::protocol::DRAIN_URI) notice), then keeps
    /// serving every connection — replies in flight finish — until those
    /// clients have left or this much time has passed. Then the shutdown
    /// proceeds (netaio clients, which get no notice, are closed then).
    /// Default 5 s; zero skips the notice.
    pub drain_timeout: Duration,
    /// After the drain, time given to in-flight handlers and
    /// queued frames before the remaining connections are aborted. Default
    /// 10 s.
    pub shutdown_grace: Duration,
    /// Time allowed for a TLS handshake once the TCP connection is
    /// accepted (with [`ServerBuilder::tls`](super::ServerBuilder::tls)).
    /// A connection mid-handshake holds a connection slot, so, as with
    /// [`frame_timeout`](Self::frame_timeout), a silent or slow client
    /// must not hold it for long. Default 10 s: a handshake is a few
    /// kilobytes in two round trips.
    pub tls_handshake_timeout: Duration,
    /// With an instance auth plugin (a plain `--secret` included) or a
    /// login gate: a connection that has not sent a frame passing it (and
    /// logged in) within this long of being accepted is closed. Default 10 s: a client authenticates with
    /// its first frame, so only a connection that came to hold a slot
    /// waits this long.
    pub auth_timeout: Duration,
    /// Without an auth plugin: a connection that has not sent one complete
    /// frame within this long of being accepted is closed. Default 30 s:
    /// otherwise a connect-and-say-nothing connection holds its slot for
    /// the whole [`idle_timeout`](Self::idle_timeout), and 34 new ones a
    /// second keep 10 000 slots busy. Connections the server subscribed
    /// through its handle are exempt, as from the idle timeout.
    pub first_frame_timeout: Duration,
}

impl Limits {
    /// What a subscription counts for besides its topic's bytes, in
    /// [`max_subscription_bytes_per_connection`](Self::max_subscription_bytes_per_connection)
    /// and [`max_subscription_bytes`](Self::max_subscription_bytes): the
    /// table entries that hold it (the connection's set, the topic's
    /// subscriber map and, for a new topic, the topic map's entry), so
    /// that subscriptions to short topics are not free. Measured (heap
    /// bytes, 1 000 subscriptions): about 390 for one that makes a new
    /// topic, about 70 for one that joins an existing topic; 384 charges
    /// the costlier case, the one an attacker picks.
    ///
    /// ```
    /// use framewire::server::Limits;
    ///
    /// // Room for 1 000 subscriptions to 64-byte topics per connection:
    /// let per_conn = 1_000 * (64 + Limits::SUBSCRIPTION_OVERHEAD);
    /// let limits = Limits::default().max_subscription_bytes_per_connection(per_conn);
    /// assert_eq!(limits.max_subscription_bytes_per_connection, per_conn);
    /// ```
    pub const SUBSCRIPTION_OVERHEAD: usize = 384;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_connections_per_address: 256,
            max_frame_len: None,
            pre_auth_max_frame_len: 66_560,
            frame_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            tcp_keepalive: Some(TcpKeepalive::default()),
            write_timeout: Duration::from_secs(30),
            max_queued_frames: 1024,
            max_queued_bytes: 4 * 1024 * 1024,
            slow_consumer: SlowConsumerPolicy::Disconnect,
            max_subscriptions_per_connection: 1024,
            max_topic_len: 1024,
            max_subscription_bytes_per_connection: 512 * 1024,
            max_subscription_bytes: 256 * 1024 * 1024,
            max_queue_groups: 1024,
            max_peer_bytes: 16 * 1024 * 1024,
            max_peer_entry_bytes: 4096,
            max_checksum_errors: 16,
            max_auth_failures: 16,
            auth_failure: AuthFailurePolicy::Reply,
            drain_timeout: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            auth_timeout: Duration::from_secs(10),
            first_frame_timeout: Duration::from_secs(30),
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        impl Limits {
            $(
                $(#[$doc])*
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

setters! {
    /// Sets [`Limits::max_connections`].
    max_connections: usize,
    /// Sets [`Limits::max_connections_per_address`].
    max_connections_per_address: usize,
    /// Sets [`Limits::max_frame_len`].
    max_frame_len: Option<usize>,
    /// Sets [`Limits::pre_auth_max_frame_len`].
    pre_auth_max_frame_len: usize,
    /// Sets [`Limits::frame_timeout`].
    frame_timeout: Duration,
    /// Sets [`Limits::idle_timeout`].
    idle_timeout: Duration,
    /// Sets [`Limits::tcp_keepalive`].
    tcp_keepalive: Option<TcpKeepalive>,
    /// Sets [`Limits::write_timeout`].
    write_timeout: Duration,
    /// Sets [`Limits::max_queued_frames`].
    max_queued_frames: usize,
    /// Sets [`Limits::max_queued_bytes`].
    max_queued_bytes: usize,
    /// Sets [`Limits::slow_consumer`].
    slow_consumer: SlowConsumerPolicy,
    /// Sets [`Limits::max_subscriptions_per_connection`].
    max_subscriptions_per_connection: usize,
    /// Sets [`Limits::max_topic_len`].
    max_topic_len: usize,
    /// Sets [`Limits::max_subscription_bytes_per_connection`].
    max_subscription_bytes_per_connection: usize,
    /// Sets [`Limits::max_subscription_bytes`].
    max_subscription_bytes: usize,
    /// Sets [`Limits::max_queue_groups`].
    max_queue_groups: usize,
    /// Sets [`Limits::max_peer_bytes`].
    max_peer_bytes: usize,
    /// Sets [`Limits::max_peer_entry_bytes`].
    max_peer_entry_bytes: usize,
    /// Sets [`Limits::max_checksum_errors`].
    max_checksum_errors: u32,
    /// Sets [`Limits::max_auth_failures`].
    max_auth_failures: u32,
    /// Sets [`Limits::auth_failure`].
    auth_failure: AuthFailurePolicy,
    /// Sets [`Limits::drain_timeout`].
    drain_timeout: Duration,
    /// Sets [`Limits::shutdown_grace`].
    shutdown_grace: Duration,
    /// Sets [`Limits::tls_handshake_timeout`].
    tls_handshake_timeout: Duration,
    /// Sets [`Limits::auth_timeout`].
    auth_timeout: Duration,
    /// Sets [`Limits::first_frame_timeout`].
    first_frame_timeout: Duration,
}
