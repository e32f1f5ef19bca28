//! What every connection of one server shares ([`Shared`]): the
//! registry, routes, pipeline, limits, counters, hooks, the backplane and
//! shutdown tokens, with the fan-out every send goes through; and the
//! [`ServerHandle`] over it (its methods are `handle.rs`'s).

use std::sync::Arc;

use tracing::warn;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::PluginLayer;
use crate::io::outbound::{Backpressure, PushError};
use crate::proto::pipeline::Pipeline;
use crate::router::Router;
use crate::wire::Message;

use super::backplane::{Arrival, Directory, Inbound, Instance, Relay, Target};
use super::registry::{Conn, Registry};
use super::stats::Counters;
use super::{ConnectionInfo, Limits, Route, SendError, SlowConsumerPolicy};

pub(crate) type Hook = Arc<dyn Fn(&ConnectionInfo, &ServerHandle) + Send + Sync>;

/// Which of a topic's queue groups this instance delivers one
/// notification to (one member each).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Serve<'a> {
    /// Every group it has: no other instance has a say (no backplane, or
    /// a send that stays on this instance).
    Every,
    /// The groups assigned to this instance (incarnation `me`), and the
    /// plain subscribers.
    Assigned { me: u64, groups: &'a [(Bytes, u64)] },
}

impl Serve<'_> {
    fn serves(&self, group: &[u8]) -> bool {
        match self {
            Serve::Every => true,
            Serve::Assigned { me, groups } => groups.iter().any(|(g, o)| g == group && o == me),
        }
    }
}

pub(crate) struct Shared {
    pub(crate) registry: Registry,
    pub(crate) router: Router<Route>,
    pub(crate) default: Route,
    pub(crate) pipeline: Pipeline,
    pub(crate) limits: Limits,
    pub(crate) counters: Counters,
    pub(crate) on_join: Option<Hook>,
    pub(crate) on_leave: Option<Hook>,
    /// Cancelled when shutdown is asked for: stop accepting, drain.
    pub(crate) stopping: CancellationToken,
    /// Cancelled when the drain is over: stop reading.
    pub(crate) shutdown: CancellationToken,
    /// Set by the first [`ServerHandle::stop`]; later calls wait for
    /// `finished`.
    pub(crate) finishing: std::sync::atomic::AtomicBool,
    pub(crate) finished: CancellationToken,
    /// Cancelled when the grace period is over: abort what is left.
    pub(crate) abort: CancellationToken,
    pub(crate) tracker: TaskTracker,
    /// The login gate, if connections must log in first.
    pub(crate) login: Option<Arc<dyn super::LoginGate>>,
    /// The oldest protocol version a login may announce.
    pub(crate) min_version: Option<u64>,
    /// The backplane to other instances, if there is one.
    pub(crate) relay: Option<Relay>,
    /// The other instances' queue groups (empty without a backplane).
    pub(crate) groups: Directory,
    /// netaio peer management, if enabled.
    pub(crate) peers: Option<Arc<super::peers::Peers>>,
    /// Whether handler calls are timed (see `ServerBuilder::handler_timing`).
    pub(crate) timed: bool,
    /// What `ServerBuilder::state` was given.
    pub(crate) states: super::extract::States,
    /// What `ServerBuilder::layer` wraps every route in (routes added
    /// while serving too).
    pub(crate) layers: super::layers::Layers,
    /// Topic histories, if subscriptions are resumable.
    pub(crate) history: Option<super::history::Histories>,
    /// TLS for accepted connections, if the builder was given it: the
    /// configuration (`reload_tls` swaps it) and what names a client
    /// certificate's connection. `serve` wraps its acceptor in it.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<(crate::tls::TlsReloader, crate::tls::CertificateName)>,
}

impl Shared {
    /// Queues a frame for `conn` without waiting, applying the
    /// slow-consumer policy when its queue is full.
    #[inline(always)]
    pub(crate) fn deliver(&self, conn: &Conn, frame: Bytes) -> Result<(), SendError> {
        let policy = match self.limits.slow_consumer {
            SlowConsumerPolicy::Disconnect => Backpressure::Disconnect,
            SlowConsumerPolicy::DropNewest => Backpressure::Drop,
        };
        match conn.outbound.push(frame, policy) {
            Ok(()) => Ok(()),
            Err(PushError::Closed) => Err(SendError::Closed),
            Err(_full) => {
                self.counters.slow_consumer(conn, self.limits.slow_consumer);
                Err(SendError::QueueFull)
            }
        }
    }

    /// Hands `msg` to the backplane for the other instances (`target` is
    /// only built when there is one); returns it as this instance delivers
    /// it (stamped with its notification id when relayed).
    pub(super) fn relay_out(&self, target: impl FnOnce() -> Target, msg: Message) -> Message {
        match &self.relay {
            Some(relay) => relay.publish(target(), msg, &self.counters),
            None => msg,
        }
    }

    /// Delivers what another instance relayed to this one's connections.
    pub(super) fn deliver_relayed(&self, bytes: Bytes) {
        let Some(relay) = &self.relay else { return };
        let envelope = match relay.arrive(bytes, &self.counters) {
            Arrival::Deliver(e) => e,
            Arrival::Own => return,
            Arrival::Repeat => return self.counters.backplane_duplicate(),
            // Counted and logged (rate-limited) by the relay.
            Arrival::Refused => return,
        };
        // Another instance's queue-group table: bookkeeping, not a
        // message for anyone here.
        if let Target::Members(table) = &envelope.target {
            return self.heard_groups(&envelope.origin, envelope.incarnation, table.clone());
        }
        self.counters.backplane_received();
        let conns: Arc<[Arc<Conn>]> = match &envelope.target {
            Target::All => self.registry.all().into(),
            Target::Topic(key) => {
                let serve = Serve::Assigned {
                    me: self.groups.me(),
                    groups: &[],
                };
                if let Err(e) = self.notify_topic(key, envelope.msg, |m| m, None, serve) {
                    warn!(error = %e, "relayed message cannot be sent here");
                }
                return;
            }
            Target::Grouped(key, groups) => {
                self.hand_on(key, groups, &envelope.msg, true);
                let serve = Serve::Assigned {
                    me: self.groups.me(),
                    groups,
                };
                if let Err(e) = self.notify_topic(key, envelope.msg, |m| m, None, serve) {
                    warn!(error = %e, "relayed message cannot be sent here");
                }
                return;
            }
            // Groups only, and outside the history: plain subscribers had
            // it (and a resumed one must not be sent it twice).
            Target::Handoff(key, groups) => {
                self.hand_on(key, groups, &envelope.msg, false);
                let me = self.groups.me();
                let serves = |g: &[u8]| groups.iter().any(|(n, o)| n == g && *o == me);
                self.registry.audience(key, false, serves)
            }
            Target::Members(_) => return,
            Target::Tag(tag) => match std::str::from_utf8(tag) {
                Ok(tag) => self.registry.with_tag(tag).into(),
                Err(_) => Arc::new([]),
            },
        };
        if let Err(e) = self.fan_out(&conns, envelope.msg, None) {
            warn!(error = %e, "relayed message cannot be sent here");
        }
    }

    /// The lame-duck phase of a shutdown: asks the framewire clients to
    /// move, then keeps serving until they have gone (or the drain time is
    /// up). Accepting has stopped already.
    pub(crate) async fn drain(&self) {
        let limit = self.limits.drain_timeout;
        let movers: Vec<Arc<Conn>> = self
            .registry
            .all()
            .into_iter()
            .filter(|c| c.speaks_framewire())
            .collect();
        if limit.is_zero() || movers.is_empty() {
            return;
        }
        let asked = self
            .fan_out(&movers, crate::protocol::drain_notice(), None)
            .unwrap_or(0);
        tracing::info!(clients = asked, "draining: asked framewire clients to move");
        let deadline = tokio::time::Instant::now() + limit;
        while movers.iter().any(|c| self.registry.get(c.id).is_some()) {
            if tokio::time::Instant::now() >= deadline {
                tracing::info!("drain time over");
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Starts the backplane (once), when the server starts serving, and
    /// the announcements of this instance's queue groups.
    pub(crate) fn start_backplane(self: &Arc<Self>) {
        if let Some(relay) = &self.relay {
            if relay.first_start() {
                let shared: Arc<dyn Instance> = self.clone();
                relay.backplane().start(Inbound {
                    shared: Arc::downgrade(&shared),
                });
                self.tracker.spawn(announce_groups(Arc::downgrade(self)));
            }
        }
    }

    /// Which instance delivers a notification on `key` to each of its
    /// queue groups (this one for all of them without a backplane).
    pub(super) fn assign_groups(&self, key: &[u8]) -> Vec<(Bytes, u64)> {
        let local = self.registry.local_groups(key);
        self.groups
            .assign(key, local, super::backplane::clock_now())
    }

    /// Of the queue groups on `key` assigned to this instance, those with
    /// no member here any more (the last one left since the publisher
    /// chose): handed on to another instance that has members (when
    /// `may_hand_on`: a handoff is not handed on again), or counted as
    /// undelivered.
    fn hand_on(&self, key: &[u8], groups: &[(Bytes, u64)], msg: &Message, may_hand_on: bool) {
        let me = self.groups.me();
        let mut mine = groups.iter().filter(|(_, o)| *o == me).peekable();
        if mine.peek().is_none() {
            return;
        }
        let here = self.registry.local_groups(key);
        let now = super::backplane::clock_now();
        let mut onward = Vec::new();
        for (g, _) in mine.filter(|(g, _)| !here.iter().any(|(h, _)| h == g)) {
            match self.groups.reassign(key, g, now).filter(|_| may_hand_on) {
                Some(owner) => onward.push((g.clone(), owner)),
                None => self.counters.queue_group_undelivered(),
            }
        }
        if onward.is_empty() {
            return;
        }
        if let Some(relay) = &self.relay {
            for _ in &onward {
                self.counters.queue_group_handoff();
            }
            let target = Target::Handoff(Bytes::copy_from_slice(key), onward);
            relay.publish(target, msg.clone(), &self.counters);
        }
    }

    /// Takes another instance's queue-group table; a malformed one is
    /// refused (counted as invalid), one past the instance bound ignored.
    fn heard_groups(&self, name: &Bytes, origin: u64, table: Bytes) {
        let Some(relay) = &self.relay else { return };
        let kept = match super::backplane::decode_table(table) {
            Ok(table) => self
                .groups
                .heard(name, origin, table, super::backplane::clock_now()),
            Err(e) => {
                let _ = relay.refuse(&self.counters, &e);
                return;
            }
        };
        if !kept {
            let why = "queue-group table from one instance too many";
            let _ = relay.refuse(&self.counters, &why);
        }
    }

    /// Announces this instance's queue-group table to the others.
    fn announce_groups_now(&self) {
        if let Some(relay) = &self.relay {
            let table = super::backplane::encode_table(&self.registry.group_table());
            let note = Message::new(crate::wire::MessageType::NOTIFY_URI, Bytes::new(), "");
            relay.publish(Target::Members(table), note, &self.counters);
        }
    }

    /// Sends one sealed frame to each connection (with `layer` inside the
    /// instance one, if given); returns how many accepted it.
    /// Sends `msg` to `key`'s subscribers, after `prepare` (relaying it)
    /// and, if there is a history, numbered in the topic: all three with
    /// the topic locked, so its relayed, numbered and delivered orders
    /// are one.
    /// Of `key`'s queue groups, only those `serve` names get it (one
    /// member each).
    pub(super) fn notify_topic(
        &self,
        key: &[u8],
        msg: Message,
        prepare: impl FnOnce(Message) -> Message,
        layer: Option<&PluginLayer>,
        serve: Serve<'_>,
    ) -> Result<usize, SendError> {
        let send = |msg| {
            let audience = self.registry.audience(key, true, |g| serve.serves(g));
            self.fan_out(&audience, msg, layer)
        };
        match &self.history {
            Some(h) => h.publish(key, msg, prepare, send),
            None => send(prepare(msg)),
        }
    }

    pub(super) fn fan_out(
        &self,
        conns: &[Arc<Conn>],
        msg: Message,
        layer: Option<&PluginLayer>,
    ) -> Result<usize, SendError> {
        if conns.is_empty() {
            return Ok(0);
        }
        let mut delivered = 0;
        let pipeline = &self.pipeline;
        if pipeline.instance().is_peer_specific()
            || layer.is_some_and(PluginLayer::is_peer_specific)
        {
            for conn in conns {
                let frame = pipeline.seal_with(msg.clone(), layer, &conn.link(pipeline.tag()))?;
                delivered += usize::from(self.deliver(conn, frame).is_ok());
            }
        } else {
            // Sealed and encoded once; every receiver shares the same bytes.
            let frame = pipeline.seal_with(msg, layer, &pipeline.link())?;
            for conn in conns {
                delivered += usize::from(self.deliver(conn, frame.clone()).is_ok());
            }
        }
        Ok(delivered)
    }
}

/// Announces the server's queue groups when they change and every
/// [`ANNOUNCE_EVERY`](super::backplane::ANNOUNCE_EVERY) while it has any
/// (so other instances keep choosing it), until it shuts down.
async fn announce_groups(shared: std::sync::Weak<Shared>) {
    let tick = std::time::Duration::from_millis(50);
    let (mut version, mut last) = (0, tokio::time::Instant::now());
    loop {
        let stop = match shared.upgrade() {
            Some(s) => s.shutdown.clone(),
            None => return,
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(tick) => {}
        }
        let Some(s) = shared.upgrade() else { return };
        s.groups.expire(super::backplane::clock_now());
        let now = tokio::time::Instant::now();
        let changed = s.registry.groups_version() != version;
        let due = s.registry.has_groups() && now >= last + super::backplane::ANNOUNCE_EVERY;
        if changed || due {
            version = s.registry.groups_version();
            last = now;
            s.announce_groups_now();
        }
    }
}

impl Instance for Shared {
    fn receive_relayed(&self, envelope: Bytes) {
        self.deliver_relayed(envelope);
    }

    #[cfg(feature = "redis")]
    fn refuse_unauthenticated(&self, why: super::backplane::MacError) {
        if let Some(relay) = &self.relay {
            relay.refuse_unauthenticated(&self.counters, why);
        }
    }

    fn publish_failed(&self, envelopes: u64) {
        self.counters.backplane_publish_failed(envelopes);
    }

    fn set_connected(&self, up: bool) {
        if let Some(relay) = &self.relay {
            relay.set_connected(up);
            self.counters.backplane_connected(up);
        }
    }
}

/// A cloneable handle to a running (or not yet started) server, usable from
/// handlers and other tasks.
///
/// ```
/// use framewire::server::Server;
/// use framewire::{Message, MessageType};
///
/// let server = Server::builder().build();
/// let handle = server.handle();
/// assert_eq!(handle.connection_count(), 0);
/// let note = Message::new(MessageType::NOTIFY_URI, "news", "hi");
/// assert_eq!(handle.broadcast(note).unwrap(), 0); // nobody to tell yet
/// ```
#[derive(Clone)]
pub struct ServerHandle {
    pub(crate) shared: Arc<Shared>,
}
