//! What a node accepts and keeps ([`NodeLimits`]).

use std::time::Duration;

/// A node's bounds. Defaults are in each field's doc, with their reason.
///
/// ```
/// use std::time::Duration;
/// use framewire::node::NodeLimits;
///
/// let limits = NodeLimits::default()
///     .replies_per_second(20)
///     .amplification(3)
///     .subscription_ttl(Duration::from_secs(60));
/// assert_eq!(limits.reply_burst, 200);
/// assert_eq!(limits.max_unverified_fanout, 1024 * 1024);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeLimits {
    /// Largest datagram accepted or sent: 65 507, the largest IPv4 UDP
    /// payload. Larger ones are dropped (`oversized`); a larger setting
    /// reads as 65 535, the most a UDP payload can be.
    pub max_datagram: usize,
    /// Handler calls running at once: 256. A datagram that finds none free
    /// is dropped (`overloaded`), so a flood cannot spawn without bound.
    pub max_in_flight: usize,
    /// Replies per second to one unverified source IP: 100, far above what
    /// a peer needs and far below what makes a useful flood.
    pub replies_per_second: u32,
    /// Replies an unverified source IP may get at once: 200.
    pub reply_burst: u32,
    /// Source IPs the rate limiter tracks: 4 096 (about 100 KiB). A new
    /// source finding it full (after idle sources are dropped) gets no
    /// reply.
    pub max_sources: usize,
    /// How many times the size of a datagram a reply to an unverified
    /// source may be, and how many bytes each byte received from it earns
    /// ([`unverified_credit`](Self::unverified_credit)): 1, so the node
    /// never amplifies a spoofed request.
    pub amplification: usize,
    /// Requests waiting for replies: 1 024.
    pub max_pending_requests: usize,
    /// Subscriptions (key, address) in all: 10 000.
    pub max_subscriptions: usize,
    /// Bytes of topics the subscriptions keep in all (each subscription
    /// counts its topic): 4 MiB, 10 000 subscriptions of 400-byte topics.
    pub max_subscription_bytes: usize,
    /// Subscriptions that datagrams from one source IP may make: 256,
    /// room for a host's subscribers (several behind one NAT), while one
    /// source cannot take the whole table from everyone else.
    pub max_source_subscriptions: usize,
    /// Bytes of topics one source IP's datagram-made subscriptions may
    /// keep: 64 KiB, 256 topics of 256 bytes.
    pub max_source_subscription_bytes: usize,
    /// How long a subscription a datagram made lives unless a new
    /// SUBSCRIBE renews it: 300 s. One whose address is a peer in the
    /// table lives as long as the peer (netaio's rule: a peer's
    /// subscriptions go when it leaves or times out); the application's
    /// own ([`NodeHandle::subscribe`](super::NodeHandle::subscribe)) never
    /// expire. netaio's `UDPNode` keeps a subscription until it is
    /// withdrawn or its peer leaves; a netaio subscriber that manages no
    /// peers must send SUBSCRIBE again within this time to keep getting
    /// notifications. Zero: they expire at once.
    pub subscription_ttl: Duration,
    /// Bytes an unverified address may be owed at most: 64 KiB, one
    /// largest datagram. Each datagram from an unverified source IP earns
    /// it [`amplification`](Self::amplification) times its size; every
    /// byte sent there (replies, notifications, broadcasts) spends it, so
    /// an unverified address never gets more than it sent. The cap bounds
    /// what a trickle of spoofed datagrams can save up for one burst.
    pub unverified_credit: usize,
    /// Bytes one [`notify`](super::NodeHandle::notify) or
    /// [`broadcast`](super::NodeHandle::broadcast) may send to unverified
    /// addresses in all, whatever they earned: 1 MiB (sixteen largest
    /// datagrams). Past it the rest are skipped (`fanout_capped`): one
    /// publish, itself perhaps spoofed, cannot become a burst larger than
    /// this toward addresses nobody verified.
    pub max_unverified_fanout: usize,
    /// Bytes of peer ids and data the peer table keeps: 4 MiB; past it the
    /// peer heard from least recently is evicted.
    pub max_peer_bytes: usize,
    /// Bytes of one peer's id and data: 4 KiB, ample for netaio's 16-byte
    /// id and small dict; a larger announcement is ignored.
    pub max_peer_entry_bytes: usize,
    /// Whether loopback sources count as verified: true. A datagram from
    /// the network with a loopback source is dropped by the kernel (a
    /// martian), so only this host can send one; turn it off when
    /// untrusted users share the host (or to exercise the guard on
    /// loopback, as the tests do).
    pub trust_loopback: bool,
    /// How long a request waits for its reply: 10 s, netaio's default.
    pub request_timeout: Duration,
    /// How often the node advertises itself (with peer management):
    /// 20 s, netaio's default.
    pub advertise_every: Duration,
    /// Peers silent for longer are dropped: 60 s, netaio's default.
    pub peer_timeout: Duration,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_datagram: 65_507,
            max_in_flight: 256,
            replies_per_second: 100,
            reply_burst: 200,
            max_sources: 4096,
            amplification: 1,
            max_pending_requests: 1024,
            max_subscriptions: 10_000,
            max_subscription_bytes: 4 * 1024 * 1024,
            max_source_subscriptions: 256,
            max_source_subscription_bytes: 64 * 1024,
            subscription_ttl: Duration::from_secs(300),
            unverified_credit: 64 * 1024,
            max_unverified_fanout: 1024 * 1024,
            max_peer_bytes: 4 * 1024 * 1024,
            max_peer_entry_bytes: 4096,
            trust_loopback: true,
            request_timeout: Duration::from_secs(10),
            advertise_every: Duration::from_secs(20),
            peer_timeout: Duration::from_secs(60),
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        impl NodeLimits {
            $(
                $(#[$doc])*
                pub fn $name(mut self, v: $ty) -> Self {
                    self.$name = v;
                    self
                }
            )*
        }
    };
}

setters! {
    /// Sets [`NodeLimits::max_datagram`].
    max_datagram: usize,
    /// Sets [`NodeLimits::max_in_flight`].
    max_in_flight: usize,
    /// Sets [`NodeLimits::replies_per_second`].
    replies_per_second: u32,
    /// Sets [`NodeLimits::reply_burst`].
    reply_burst: u32,
    /// Sets [`NodeLimits::max_sources`].
    max_sources: usize,
    /// Sets [`NodeLimits::amplification`].
    amplification: usize,
    /// Sets [`NodeLimits::max_pending_requests`].
    max_pending_requests: usize,
    /// Sets [`NodeLimits::max_subscriptions`].
    max_subscriptions: usize,
    /// Sets [`NodeLimits::max_subscription_bytes`].
    max_subscription_bytes: usize,
    /// Sets [`NodeLimits::max_source_subscriptions`].
    max_source_subscriptions: usize,
    /// Sets [`NodeLimits::max_source_subscription_bytes`].
    max_source_subscription_bytes: usize,
    /// Sets [`NodeLimits::subscription_ttl`].
    subscription_ttl: Duration,
    /// Sets [`NodeLimits::unverified_credit`].
    unverified_credit: usize,
    /// Sets [`NodeLimits::max_unverified_fanout`].
    max_unverified_fanout: usize,
    /// Sets [`NodeLimits::max_peer_bytes`].
    max_peer_bytes: usize,
    /// Sets [`NodeLimits::max_peer_entry_bytes`].
    max_peer_entry_bytes: usize,
    /// Sets [`NodeLimits::trust_loopback`].
    trust_loopback: bool,
    /// Sets [`NodeLimits::request_timeout`].
    request_timeout: Duration,
    /// Sets [`NodeLimits::advertise_every`].
    advertise_every: Duration,
    /// Sets [`NodeLimits::peer_timeout`].
    peer_timeout: Duration,
}
