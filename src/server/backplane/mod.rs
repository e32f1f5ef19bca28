//! Several server instances as one service: a [`Backplane`] carries
//! `notify`, `broadcast` and `send_to_tag` from the instance that made
//! them to every other instance, each of which delivers to its own
//! connections.
//!
//! - `envelope.rs`: the bytes of one relayed message (pure).
//! - `relay.rs`: the server's side — origin and sequence numbers out,
//!   own-echo filtering, the message-kind filter, gap and duplicate
//!   accounting in.
//! - `groups.rs`: queue groups across instances — the tables instances
//!   announce and the [`Directory`] a publisher assigns each group's
//!   delivery with (pure).
//! - `sequence.rs`: per-origin sequence state with a bounded window, so
//!   one odd envelope cannot silence an origin (pure).
//! - `memory.rs`: [`MemoryBackplane`], instances in one process (tests).
//! - `redis.rs`: [`RedisBackplane`] over Redis pub/sub (feature `redis`);
//!   its publishing and subscribing loops in `redis/task.rs`.
//!
//! # Semantics
//!
//! - **Local first.** An instance delivers to its own connections before
//!   (and whatever happens to) the relay; [`Backplane::publish`] never
//!   waits, so a slow or absent Redis delays nothing local.
//! - **Across instances, at most once over pub/sub; within bounds, nothing
//!   lost over a stream.** Redis pub/sub keeps nothing: what is published
//!   while an instance's subscription is down never reaches it, and what
//!   cannot be published while Redis is down is dropped. With
//!   [`RedisBackplane::stream`] an instance reads on from the last entry
//!   it delivered and a publisher keeps what Redis could not take (its
//!   queue) and sends it when Redis is back; only what overflows the
//!   queue or the stream's length is lost. Losses are counted, not hidden: the publisher counts
//!   [`Stats::backplane_publish_failures`](super::Stats::backplane_publish_failures),
//!   and every receiver counts the gaps in each origin's sequence numbers
//!   as [`Stats::backplane_lost`](super::Stats::backplane_lost) (so a
//!   receiver's missing deliveries equal its counter once anything later
//!   from the same origin arrives). Losses are logged at most once a
//!   second.
//! - **Never twice, in order.** Each instance numbers what it relays; a
//!   receiver drops anything at or below the last number it delivered
//!   from that origin (counted as
//!   [`Stats::backplane_duplicates`](super::Stats::backplane_duplicates)),
//!   and an instance ignores its own messages coming back. One origin's
//!   messages arrive in the order it made them (one Redis connection
//!   publishes them, one delivers them).
//! - **Encoded once per instance.** The publisher encodes one envelope for
//!   all instances; each receiving instance seals and encodes the message
//!   once for all its receivers (per receiver when its plugins are
//!   peer-specific), exactly as a local `notify`.
//! - **Only what instances produce.** Only the message kinds in
//!   [`Backplane::relayed_kinds`] (NOTIFY by default: what `notify`,
//!   `broadcast` and `send_to_tag` send) are relayed; anything else in an
//!   envelope is refused and counted as
//!   [`Stats::backplane_invalid`](super::Stats::backplane_invalid).
//! - **Authenticated, with a cluster key.** [`RedisBackplane::secret`]
//!   adds an HMAC-SHA256 to every envelope; a payload without a valid one
//!   is refused and counted as
//!   [`Stats::backplane_unauthenticated`](super::Stats::backplane_unauthenticated).
//!   Refusals are logged at most once every 10 s, with how many were not.
//!   Without a key, anyone who can PUBLISH on the channel can make every
//!   instance deliver anything relayable as genuine server frames.
//! - Per-call plugin layers (`notify_with` and friends) and
//!   [`send_to`](super::ServerHandle::send_to) stay local: a layer is code
//!   and keys, not something to put on the wire.
//!
//! - **Queue groups across instances** (`groups.rs`): the publishing
//!   instance assigns each group of the topic to one instance (members
//!   take turns cluster-wide) and the assignment travels in the envelope,
//!   so a group gets each message once; instances announce their group
//!   tables on the backplane.
//!
//! The stream is one per channel, not per topic, and instances read it
//! from where they started, never from its beginning: a stream replayed to
//! subscribers that were not subscribed when a message was sent would be
//! wrong for framewire's subscriptions, which live as long as a
//! connection; what a client missed while away is the topic history's
//! job (`history.rs`), filled by a backplane that itself loses nothing.

mod envelope;
mod groups;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod relay;
mod sequence;

use std::sync::Weak;

use bytes::Bytes;

use crate::handler::BoxFuture;
use crate::wire::MessageType;

// The cluster key (`auth/cluster_key.rs`): what the Redis transport seals
// and opens with; the Redis store seals its values with it too.
#[cfg(feature = "redis")]
pub use crate::auth::cluster_key::{BackplaneSecretError, MIN_BACKPLANE_SECRET_LEN};
pub use memory::MemoryBackplane;
#[cfg(feature = "redis")]
pub use redis::{RedisBackplane, RedisUrlError};

#[cfg(feature = "redis")]
pub(crate) use crate::auth::cluster_key::{ClusterKey, MacError};

#[cfg(test)]
pub(crate) use envelope::Envelope;
pub(crate) use envelope::Target;
pub(crate) use groups::{decode_table, encode_table, Directory, ANNOUNCE_EVERY};
pub(crate) use relay::{random_name, Arrival, Relay};

/// Now, on Tokio's clock: the queue-group directory ages instances by
/// it, so a simulation's virtual time (or a paused test clock) is what
/// counts, not the machine's.
pub(crate) fn clock_now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// What an [`Inbound`] reaches of its server: implemented by the server's
/// shared state (`shared.rs`), so the backplane knows nothing of it and
/// the server depends on the backplane, not both ways.
pub(crate) trait Instance: Send + Sync {
    /// Delivers a relayed envelope to this instance's connections.
    fn receive_relayed(&self, envelope: Bytes);
    /// Counts (and logs) a payload refused for its cluster-key MAC.
    #[cfg(feature = "redis")]
    fn refuse_unauthenticated(&self, why: MacError);
    /// Counts envelopes the backplane took but could not pass on.
    fn publish_failed(&self, envelopes: u64);
    /// Records whether the backplane can receive and publish.
    fn set_connected(&self, up: bool);
}

/// Carries relayed messages between server instances. framewire ships
/// [`MemoryBackplane`] and (feature `redis`) [`RedisBackplane`]; any
/// other transport implements these three calls.
///
/// ```
/// use bytes::Bytes;
/// use framewire::server::{Backplane, Inbound};
/// use std::sync::Mutex;
///
/// /// Publishes nothing, receives nothing: one instance on its own.
/// #[derive(Default)]
/// struct Alone(Mutex<Option<Inbound>>);
///
/// impl Backplane for Alone {
///     fn start(&self, inbound: Inbound) {
///         inbound.set_connected(true);
///         *self.0.lock().unwrap() = Some(inbound);
///     }
///     fn publish(&self, _envelope: Bytes) -> bool {
///         true
///     }
/// }
///
/// let server = framewire::server::Server::builder().backplane(Alone::default()).build();
/// # drop(server);
/// ```
pub trait Backplane: Send + Sync + 'static {
    /// Starts carrying what the other instances publish to `inbound`
    /// (and keeps doing so across reconnections). Called once, inside the
    /// Tokio runtime, when the server starts serving.
    fn start(&self, inbound: Inbound);

    /// Hands one encoded envelope to every other instance. Must not wait:
    /// queue it or drop it. Returns false if it was dropped (the server
    /// counts it as a publish failure); an envelope taken and lost later
    /// is reported through [`Inbound::publish_failed`].
    fn publish(&self, envelope: Bytes) -> bool;

    /// Resolves once what was handed to [`publish`](Self::publish) has
    /// gone out (or could not); the server waits for it, at most 2 s, when
    /// it shuts down, so its last messages are not lost with it.
    fn flush(&self) -> BoxFuture<()> {
        Box::pin(std::future::ready(()))
    }

    /// Stops the backplane's tasks; called once the server has shut down
    /// (after [`flush`](Self::flush)).
    fn stop(&self) {}

    /// The message kinds relayed (default: NOTIFY only, what `notify`,
    /// `broadcast` and `send_to_tag` send in framewire's own server). A
    /// message of another kind stays on the instance that made it, and an
    /// envelope carrying one is refused: whoever can write to the
    /// transport cannot make instances send their clients replies, errors
    /// or DISCONNECTs that look like their own. Read once, when the server
    /// is built.
    fn relayed_kinds(&self) -> &[MessageType] {
        &[MessageType::NOTIFY_URI]
    }
}

/// The server's side of a [`Backplane`]: where envelopes from other
/// instances go, and where the backplane reports its state. Cheap to
/// clone; does nothing once the server is gone.
#[derive(Clone)]
pub struct Inbound {
    pub(crate) shared: Weak<dyn Instance>,
}

impl Inbound {
    /// Delivers one envelope another instance published to this
    /// instance's connections. Envelopes this instance sent itself, repeats
    /// and undecodable bytes are dropped (and counted).
    pub fn deliver(&self, envelope: &[u8]) {
        if let Some(shared) = self.shared.upgrade() {
            shared.receive_relayed(Bytes::copy_from_slice(envelope));
        }
    }

    /// Counts (and logs, rate-limited) one payload refused because its
    /// cluster-key MAC is missing or wrong.
    #[cfg(feature = "redis")]
    pub(crate) fn refuse_unauthenticated(&self, why: MacError) {
        if let Some(shared) = self.shared.upgrade() {
            shared.refuse_unauthenticated(why);
        }
    }

    /// Counts `envelopes` the backplane took but could not pass on (a
    /// batch that failed when the connection to Redis broke, say).
    pub fn publish_failed(&self, envelopes: u64) {
        if let Some(shared) = self.shared.upgrade() {
            shared.publish_failed(envelopes);
        }
    }

    /// Reports whether the backplane can currently receive and publish
    /// ([`Stats::backplane_connected`](super::Stats::backplane_connected)).
    pub fn set_connected(&self, up: bool) {
        if let Some(shared) = self.shared.upgrade() {
            shared.set_connected(up);
        }
    }

    /// Whether the server this feeds is gone (the backplane may stop).
    pub fn is_closed(&self) -> bool {
        self.shared.strong_count() == 0
    }
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbound")
            .field("closed", &self.is_closed())
            .finish()
    }
}
