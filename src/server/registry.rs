//! Live connections, their tags and subscriptions: who is connected and
//! who gets what is published. Sending is `shared.rs`'s.

use std::collections::BTreeSet;

use crate::random::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::auth::Identity;
use crate::auth::{Link, NonceTag, Role};
use crate::io::outbound::Outbound;
use crate::protocol::SessionId;
use crate::sync::{lock, read, write};

use super::SubscribeError;

mod topics;

pub(crate) use topics::SubscriptionCaps;
use topics::{cost, Held, Subscribers};

/// A connection's id, unique for the life of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub(crate) u64);

impl ConnectionId {
    /// The number behind the id.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A snapshot of one connection, from
/// [`ServerHandle::connections`](crate::server::ServerHandle::connections).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// Its id.
    pub id: ConnectionId,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Tags set by handlers, sorted.
    pub tags: Vec<String>,
    /// Topics it is subscribed to.
    pub subscriptions: usize,
    /// Frames and bytes waiting in its outbound queue.
    pub queued: (usize, usize),
    /// Time since it was accepted.
    pub age: Duration,
    /// Who the peer proved to be (a verified client certificate), if
    /// anyone.
    pub identity: Option<Identity>,
}

pub(crate) struct Conn {
    pub(crate) id: ConnectionId,
    pub(crate) peer: SocketAddr,
    pub(crate) outbound: Outbound,
    /// Cancelled to close this connection (disconnect, slow consumer,
    /// shutdown).
    pub(crate) cancel: CancellationToken,
    tags: Mutex<BTreeSet<String>>,
    subscriptions: Mutex<Held>,
    since: Instant,
    /// The session of the peer, once its first frame was accepted (what
    /// strict-mode frames to it are bound to).
    session: OnceLock<SessionId>,
    /// What the TLS handshake proved (a client certificate), before any
    /// frame; what the connection is known as until `identity` is set.
    certificate: OnceLock<Identity>,
    /// Set once, when the peer is admitted (its first verified frame, or
    /// its login), from what the pipeline settled on: the certificate's,
    /// a user's (with its permissions) or the login gate's. Never changes
    /// afterwards.
    identity: OnceLock<Identity>,
    /// Whether the peer showed it speaks framewire (gets drain notices).
    framewire: std::sync::atomic::AtomicBool,
}

impl Conn {
    pub(crate) fn set_framewire(&self) {
        self.framewire
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn speaks_framewire(&self) -> bool {
        self.framewire.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn tags(&self) -> Vec<String> {
        lock(&self.tags).iter().cloned().collect()
    }

    pub(crate) fn has_tag(&self, tag: &str) -> bool {
        lock(&self.tags).contains(tag)
    }

    pub(crate) fn add_tag(&self, tag: String) -> bool {
        lock(&self.tags).insert(tag)
    }

    pub(crate) fn remove_tag(&self, tag: &str) -> bool {
        lock(&self.tags).remove(tag)
    }

    pub(crate) fn subscription_count(&self) -> usize {
        lock(&self.subscriptions).keys.len()
    }

    pub(crate) fn is_subscribed(&self, key: &[u8]) -> bool {
        lock(&self.subscriptions).keys.contains_key(key)
    }

    /// What plugins see of this connection, as the server's end marking
    /// its nonces with `tag`.
    pub(crate) fn link<'a>(&'a self, tag: &'a NonceTag) -> Link<'a> {
        Link::new(Role::Server)
            .peer(Some(self.peer))
            .connection(Some(self.id.0))
            .session(self.session.get())
            .tag(Some(tag))
            .identity(self.identity())
    }

    pub(crate) fn set_session(&self, session: SessionId) {
        let _ = self.session.set(session);
    }

    pub(crate) fn set_identity(&self, identity: Identity) {
        let _ = self.identity.set(identity);
    }

    /// Fixes what the transport's handshake proved (a TLS client
    /// certificate), before the first frame.
    pub(crate) fn set_certificate(&self, identity: Identity) {
        let _ = self.certificate.set(identity);
    }

    /// What the TLS handshake proved, if anything.
    pub(crate) fn certificate(&self) -> Option<&Identity> {
        self.certificate.get()
    }

    /// Whether the admitted peer's identity is fixed.
    pub(crate) fn has_identity(&self) -> bool {
        self.identity.get().is_some()
    }

    /// Who the peer is: what the pipeline settled on once it was admitted,
    /// before that what its certificate proved.
    pub(crate) fn identity(&self) -> Option<&Identity> {
        self.identity.get().or_else(|| self.certificate.get())
    }

    pub(crate) fn has_session(&self) -> bool {
        self.session.get().is_some()
    }

    pub(crate) fn info(&self) -> ConnectionInfo {
        ConnectionInfo {
            id: self.id,
            peer: self.peer,
            tags: self.tags(),
            subscriptions: self.subscription_count(),
            queued: self.outbound.len(),
            age: self.since.elapsed(),
            identity: self.identity().cloned(),
        }
    }
}

pub(crate) struct Registry {
    conns: RwLock<HashMap<ConnectionId, Arc<Conn>>>,
    /// Open connections per source address.
    per_address: Mutex<HashMap<IpAddr, usize>>,
    subs: RwLock<HashMap<Bytes, Subscribers>>,
    /// What every connection's subscriptions count for together; changed
    /// only under the `subs` write lock, so a check and its update cannot
    /// interleave with another's.
    subscription_bytes: AtomicUsize,
    next_id: AtomicU64,
    caps: SubscriptionCaps,
    /// Queue groups held here (a topic and a group with members), their
    /// names' bytes (see [`GROUP_TABLE_MAX_BYTES`]) and the topics that
    /// have any; changed only under the `subs` write lock.
    queue_groups: AtomicUsize,
    group_bytes: AtomicUsize,
    grouped: Mutex<crate::random::HashSet<Bytes>>,
    /// Bumped at every change of the queue-group table (a new member, one
    /// gone): the server announces the table to other instances then.
    groups_version: AtomicU64,
}

/// What the names of the queue groups one server holds may add up to
/// (each counted as its topic, its group and 16 bytes): the table each
/// instance announces to the others stays one reasonable message.
pub(crate) const GROUP_TABLE_MAX_BYTES: usize = 256 * 1024;

/// What a queue group counts for in [`GROUP_TABLE_MAX_BYTES`].
fn group_cost(topic: &[u8], group: &[u8]) -> usize {
    topic.len() + group.len() + 16
}

impl Registry {
    pub(crate) fn new(caps: SubscriptionCaps) -> Self {
        Registry {
            conns: RwLock::new(HashMap::default()),
            per_address: Mutex::new(HashMap::default()),
            subs: RwLock::new(HashMap::default()),
            subscription_bytes: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            caps,
            queue_groups: AtomicUsize::new(0),
            group_bytes: AtomicUsize::new(0),
            grouped: Mutex::new(Default::default()),
            groups_version: AtomicU64::new(0),
        }
    }

    /// Takes `conn` out of every topic it subscribed to (the caller holds
    /// the topics' write lock); how many it left.
    fn drain(&self, subs: &mut HashMap<Bytes, Subscribers>, conn: &Conn) -> usize {
        let held = std::mem::take(&mut *lock(&conn.subscriptions));
        for (key, group) in &held.keys {
            self.take_out(subs, key, group.as_ref(), conn.id);
        }
        self.release(held.bytes);
        held.keys.len()
    }

    /// Takes connection `id` out of topic `key` (plainly or as a member
    /// of `group`), dropping what is left empty (under the `subs` write
    /// lock). Returns the connection if it was there.
    fn take_out(
        &self,
        subs: &mut HashMap<Bytes, Subscribers>,
        key: &[u8],
        group: Option<&Bytes>,
        id: ConnectionId,
    ) -> Option<Arc<Conn>> {
        let set = subs.get_mut(key)?;
        let conn = match group {
            None => set.remove(&id)?,
            Some(group) => {
                let (conn, emptied) = set.leave(group, id)?;
                if emptied {
                    self.group_gone(key, group, set.groups.is_empty());
                }
                self.groups_version.fetch_add(1, Ordering::Relaxed);
                conn
            }
        };
        if set.is_empty() {
            subs.remove(key);
        }
        Some(conn)
    }

    /// Accounts for a queue group with no member left here.
    fn group_gone(&self, key: &[u8], group: &[u8], last_of_topic: bool) {
        self.queue_groups.fetch_sub(1, Ordering::Relaxed);
        let bytes = self.group_bytes.load(Ordering::Relaxed);
        self.group_bytes.store(
            bytes.saturating_sub(group_cost(key, group)),
            Ordering::Relaxed,
        );
        if last_of_topic {
            lock(&self.grouped).remove(key);
        }
    }

    /// Gives `bytes` back to the server's budget (under the `subs` write
    /// lock).
    fn release(&self, bytes: usize) {
        let total = self.subscription_bytes.load(Ordering::Relaxed);
        self.subscription_bytes
            .store(total.saturating_sub(bytes), Ordering::Relaxed);
    }

    /// What every subscription counts for now, in the server's budget.
    pub(crate) fn subscription_bytes(&self) -> usize {
        self.subscription_bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn len(&self) -> usize {
        read(&self.conns).len()
    }

    pub(crate) fn add(
        &self,
        peer: SocketAddr,
        outbound: Outbound,
        cancel: CancellationToken,
    ) -> Arc<Conn> {
        let id = ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let conn = Arc::new(Conn {
            id,
            peer,
            outbound,
            cancel,
            tags: Mutex::new(BTreeSet::new()),
            subscriptions: Mutex::new(Held::default()),
            since: Instant::now(),
            session: OnceLock::new(),
            framewire: Default::default(),
            certificate: OnceLock::new(),
            identity: OnceLock::new(),
        });
        write(&self.conns).insert(id, conn.clone());
        *lock(&self.per_address).entry(peer.ip()).or_insert(0) += 1;
        conn
    }

    /// Connections open now from `ip`.
    pub(crate) fn count_from(&self, ip: IpAddr) -> usize {
        lock(&self.per_address).get(&ip).copied().unwrap_or(0)
    }

    /// Drops every subscription connection `id` holds; how many.
    pub(crate) fn unsubscribe_all(&self, id: ConnectionId) -> usize {
        let Some(conn) = self.get(id) else { return 0 };
        self.drain(&mut write(&self.subs), &conn)
    }

    /// Forgets a connection and every subscription it held.
    pub(crate) fn remove(&self, id: ConnectionId) -> Option<Arc<Conn>> {
        let conn = write(&self.conns).remove(&id)?;
        {
            let mut per = lock(&self.per_address);
            if let Some(n) = per.get_mut(&conn.peer.ip()) {
                *n -= 1;
                if *n == 0 {
                    per.remove(&conn.peer.ip());
                }
            }
        }
        // Drained under the subs lock: a concurrent `subscribe` either
        // sees the connection gone or finishes before this drain.
        self.drain(&mut write(&self.subs), &conn);
        Some(conn)
    }

    pub(crate) fn get(&self, id: ConnectionId) -> Option<Arc<Conn>> {
        read(&self.conns).get(&id).cloned()
    }

    pub(crate) fn all(&self) -> Vec<Arc<Conn>> {
        read(&self.conns).values().cloned().collect()
    }

    pub(crate) fn with_tag(&self, tag: &str) -> Vec<Arc<Conn>> {
        read(&self.conns)
            .values()
            .filter(|c| c.has_tag(tag))
            .cloned()
            .collect()
    }

    /// Subscribes; already subscribed is fine. Refused past any of the
    /// [`SubscriptionCaps`]: the topic's length, the connection's count
    /// and bytes, the server's bytes.
    pub(crate) fn subscribe(&self, key: Bytes, id: ConnectionId) -> Result<(), SubscribeError> {
        self.subscribe_in(key, None, id)
    }

    /// Subscribes, plainly or (with `group`) as a member of a queue
    /// group; subscribing again in another way replaces the first. Refused
    /// past any of the [`SubscriptionCaps`], and for a group past the
    /// server's queue-group bounds.
    pub(crate) fn subscribe_in(
        &self,
        key: Bytes,
        group: Option<Bytes>,
        id: ConnectionId,
    ) -> Result<(), SubscribeError> {
        let caps = self.caps;
        if group
            .as_ref()
            .is_some_and(|g| !crate::protocol::is_group_name(g))
        {
            return Err(SubscribeError::BadGroup);
        }
        if key.len() > caps.topic_len {
            return Err(SubscribeError::TopicTooLong {
                len: key.len(),
                max: caps.topic_len,
            });
        }
        let conn = self.get(id).ok_or(SubscribeError::NoSuchConnection(id))?;
        // Lock order everywhere: registry maps first, then a connection's set.
        let mut subs = write(&self.subs);
        if !read(&self.conns).contains_key(&id) {
            return Err(SubscribeError::NoSuchConnection(id));
        }
        // Kept as long as the subscription: the topic's bytes shared with
        // its other subscribers, or a copy of its own, never a slice that
        // pins the read buffer it arrived in.
        let key = match subs.get_key_value(&key[..]) {
            Some((shared, _)) => shared.clone(),
            None => Bytes::copy_from_slice(&key),
        };
        let needed = cost(&key, group.as_ref());
        let mut mine = lock(&conn.subscriptions);
        // Held another way: that subscription is replaced, once the new
        // one is known to fit (a refusal leaves the old one as it was).
        let replacing = match mine.keys.get(&key) {
            Some(held) if *held == group => return Ok(()),
            Some(held) => Some(held.clone()),
            None => None,
        };
        let freed = replacing
            .as_ref()
            .map_or(0, |held| cost(&key, held.as_ref()));
        if mine.keys.len() - usize::from(replacing.is_some()) >= caps.count {
            return Err(SubscribeError::TooMany { max: caps.count });
        }
        let held = mine
            .bytes
            .saturating_sub(freed)
            .checked_add(needed)
            .filter(|&b| b <= caps.connection_bytes)
            .ok_or(SubscribeError::TooManyBytes {
                max: caps.connection_bytes,
            })?;
        let total = self
            .subscription_bytes()
            .saturating_sub(freed)
            .checked_add(needed)
            .filter(|&b| b <= caps.total_bytes)
            .ok_or(SubscribeError::ServerFull {
                max: caps.total_bytes,
            })?;
        let new_group = group.as_ref().filter(|g| {
            let set = subs.get(&key);
            !set.is_some_and(|set| set.groups.iter().any(|m| m.name == **g))
        });
        if let Some(g) = new_group {
            self.group_room(&key, g, caps.groups)?;
        }
        if let Some(old) = replacing {
            self.take_out(&mut subs, &key, old.as_ref(), id);
        }
        if let Some(g) = new_group {
            self.new_group(&key, g);
        }
        let set = subs.entry(key.clone()).or_default();
        match &group {
            None => set.insert(id, conn.clone()),
            Some(g) => {
                set.join(g, conn.clone());
                self.groups_version.fetch_add(1, Ordering::Relaxed);
            }
        }
        mine.keys.insert(key, group);
        mine.bytes = held;
        self.subscription_bytes.store(total, Ordering::Relaxed);
        Ok(())
    }

    /// Whether a new queue group on `key` fits the bounds.
    fn group_room(&self, key: &[u8], group: &[u8], max: usize) -> Result<(), SubscribeError> {
        let count = self.queue_groups.load(Ordering::Relaxed);
        let bytes = self.group_bytes.load(Ordering::Relaxed);
        if count >= max || bytes.saturating_add(group_cost(key, group)) > GROUP_TABLE_MAX_BYTES {
            return Err(SubscribeError::TooManyGroups { max });
        }
        Ok(())
    }

    /// Accounts for a new queue group on `key` (under the `subs` write
    /// lock, after [`group_room`](Self::group_room)).
    fn new_group(&self, key: &Bytes, group: &[u8]) {
        self.queue_groups.fetch_add(1, Ordering::Relaxed);
        self.group_bytes
            .fetch_add(group_cost(key, group), Ordering::Relaxed);
        lock(&self.grouped).insert(key.clone());
    }

    /// Unsubscribes; not subscribed is fine. Returns whether it was.
    pub(crate) fn unsubscribe(&self, key: &[u8], id: ConnectionId) -> bool {
        let mut subs = write(&self.subs);
        let Some(conn) = self.get(id) else {
            return false;
        };
        let mut mine = lock(&conn.subscriptions);
        let Some(group) = mine.keys.remove(key) else {
            return false;
        };
        self.take_out(&mut subs, key, group.as_ref(), id);
        let freed = cost(key, group.as_ref());
        mine.bytes = mine.bytes.saturating_sub(freed);
        self.release(freed);
        true
    }

    #[cfg(test)]
    pub(crate) fn subscribers(&self, key: &[u8]) -> Arc<[Arc<Conn>]> {
        read(&self.subs)
            .get(key)
            .map_or_else(|| Arc::new([]), Subscribers::list)
    }

    /// Who gets one notification on `key`: every plain subscriber (if
    /// `plain`), and the next member of each queue group `serve` says is
    /// this server's to serve.
    pub(crate) fn audience(
        &self,
        key: &[u8],
        plain: bool,
        serve: impl Fn(&[u8]) -> bool,
    ) -> Arc<[Arc<Conn>]> {
        let subs = read(&self.subs);
        let Some(set) = subs.get(key) else {
            return Arc::new([]);
        };
        let everyone = set.list();
        if set.groups.is_empty() && plain {
            return everyone;
        }
        let mut all = Vec::with_capacity(everyone.len() + set.groups.len());
        if plain {
            all.extend(everyone.iter().cloned());
        }
        for g in set.groups.iter().filter(|g| serve(&g.name)) {
            all.extend(g.pick().cloned());
        }
        all.into()
    }

    /// The queue groups on `key` here and how many members each has.
    pub(crate) fn local_groups(&self, key: &[u8]) -> Vec<(Bytes, u32)> {
        if self.queue_groups.load(Ordering::Relaxed) == 0 {
            return Vec::new();
        }
        read(&self.subs).get(key).map_or_else(Vec::new, |set| {
            set.groups
                .iter()
                .map(|g| {
                    (
                        g.name.clone(),
                        u32::try_from(g.conns.len()).unwrap_or(u32::MAX),
                    )
                })
                .collect()
        })
    }

    /// Every queue group here: (topic, group, members).
    pub(crate) fn group_table(&self) -> Vec<(Bytes, Bytes, u32)> {
        let subs = read(&self.subs);
        let topics: Vec<Bytes> = lock(&self.grouped).iter().cloned().collect();
        let mut table = Vec::new();
        for topic in topics {
            if let Some(set) = subs.get(&topic) {
                for g in &set.groups {
                    let n = u32::try_from(g.conns.len()).unwrap_or(u32::MAX);
                    table.push((topic.clone(), g.name.clone(), n));
                }
            }
        }
        table
    }

    /// Whether any queue group has members here.
    pub(crate) fn has_groups(&self) -> bool {
        self.queue_groups.load(Ordering::Relaxed) > 0
    }

    /// Changes so far to the queue-group table.
    pub(crate) fn groups_version(&self) -> u64 {
        self.groups_version.load(Ordering::Relaxed)
    }

    pub(crate) fn topics(&self) -> usize {
        read(&self.subs).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Limits;

    fn caps(count: usize) -> SubscriptionCaps {
        SubscriptionCaps::new(&Limits::default().max_subscriptions_per_connection(count))
    }

    fn conn(r: &Registry) -> Arc<Conn> {
        let cancel = CancellationToken::new();
        r.add(
            "127.0.0.1:1".parse().unwrap(),
            Outbound::new(8, 1024, cancel.clone()),
            cancel,
        )
    }

    #[test]
    fn subscriptions_follow_connections() {
        let r = Registry::new(caps(2));
        let a = conn(&r);
        let b = conn(&r);
        assert_ne!(a.id, b.id);
        r.subscribe(Bytes::from_static(b"t"), a.id).unwrap();
        r.subscribe(Bytes::from_static(b"t"), a.id).unwrap(); // idempotent
        r.subscribe(Bytes::from_static(b"t"), b.id).unwrap();
        r.subscribe(Bytes::from_static(b"u"), a.id).unwrap();
        assert_eq!(
            r.subscribe(Bytes::from_static(b"v"), a.id),
            Err(SubscribeError::TooMany { max: 2 })
        );
        assert_eq!(r.subscribers(b"t").len(), 2);
        assert!(!r.unsubscribe(b"nope", a.id));
        assert!(r.unsubscribe(b"t", b.id));
        assert_eq!(r.subscribers(b"t").len(), 1);
        // The shared list is rebuilt after every kind of change.
        r.subscribe(Bytes::from_static(b"t"), b.id).unwrap();
        assert_eq!(r.subscribers(b"t").len(), 2);
        r.unsubscribe_all(b.id);
        assert_eq!(r.subscribers(b"t").len(), 1);
        r.remove(a.id);
        assert_eq!(r.subscribers(b"t").len(), 0);
        assert_eq!(r.topics(), 0);
        assert_eq!(r.len(), 1);
        assert_eq!(
            r.subscribe(Bytes::from_static(b"t"), a.id),
            Err(SubscribeError::NoSuchConnection(a.id))
        );
    }

    #[test]
    fn subscriptions_are_bounded_by_bytes() {
        let o = Limits::SUBSCRIPTION_OVERHEAD;
        let r = Registry::new(SubscriptionCaps {
            count: 100,
            topic_len: 10,
            connection_bytes: 3 * (10 + o),
            total_bytes: 5 * (10 + o),
            groups: 4,
        });
        let (a, b) = (conn(&r), conn(&r));
        let topic = |i: u8| Bytes::from(vec![b'a' + i; 10]);
        assert_eq!(
            r.subscribe(Bytes::from(vec![b'x'; 11]), a.id),
            Err(SubscribeError::TopicTooLong { len: 11, max: 10 })
        );
        for i in 0..3 {
            r.subscribe(topic(i), a.id).unwrap();
        }
        // Already held: no new bytes, fine.
        r.subscribe(topic(0), a.id).unwrap();
        assert!(r.subscribe(topic(3), a.id).unwrap_err().is_too_many_bytes());
        assert_eq!(r.subscription_bytes(), 3 * (10 + o));
        // b shares a's topics' bytes but counts for them all the same.
        r.subscribe(topic(0), b.id).unwrap();
        let held = |c: &Conn| {
            lock(&c.subscriptions)
                .keys
                .get_key_value(&topic(0)[..])
                .unwrap()
                .0
                .as_ptr()
        };
        assert_eq!(held(&a), held(&b), "one copy of the topic");
        r.subscribe(topic(4), b.id).unwrap();
        assert!(r.subscribe(topic(5), b.id).unwrap_err().is_server_full());
        // Every way out gives the bytes back.
        assert!(r.unsubscribe(&topic(0), a.id));
        r.subscribe(topic(5), b.id).unwrap();
        r.unsubscribe_all(b.id);
        assert_eq!(r.subscription_bytes(), 2 * (10 + o));
        r.remove(a.id);
        assert_eq!(r.subscription_bytes(), 0);
        assert_eq!(r.topics(), 0);
    }

    #[test]
    fn queue_groups_take_turns_and_leave_cleanly() {
        let r = Registry::new(caps(4));
        // A lone member subscribing again changes nothing: not the
        // accounting, not the version others are told of.
        let lone = conn(&r);
        let u = || Bytes::from_static(b"u");
        r.subscribe_in(u(), Some(Bytes::from_static(b"x")), lone.id)
            .unwrap();
        let (version, bytes) = (r.groups_version(), r.subscription_bytes());
        r.subscribe_in(u(), Some(Bytes::from_static(b"x")), lone.id)
            .unwrap();
        assert_eq!(
            (r.groups_version(), r.subscription_bytes()),
            (version, bytes)
        );
        assert_eq!(r.local_groups(b"u"), [(Bytes::from_static(b"x"), 1)]);
        r.remove(lone.id);
        assert!(!r.has_groups());
        let (a, b, c) = (conn(&r), conn(&r), conn(&r));
        let w = || Some(Bytes::from_static(b"w"));
        let t = || Bytes::from_static(b"t");
        assert_eq!(
            r.subscribe_in(t(), Some(Bytes::from_static(b"a b")), a.id),
            Err(SubscribeError::BadGroup)
        );
        r.subscribe_in(t(), w(), a.id).unwrap();
        r.subscribe_in(t(), w(), a.id).unwrap(); // idempotent
        r.subscribe_in(t(), w(), b.id).unwrap();
        r.subscribe(t(), c.id).unwrap();
        assert!(r.has_groups());
        assert_eq!(r.local_groups(b"t"), [(Bytes::from_static(b"w"), 2)]);
        assert_eq!(r.group_table(), [(t(), Bytes::from_static(b"w"), 2)]);
        // Each notification: the plain subscriber and one member in turn.
        let ids = |serve: bool| {
            let mut v: Vec<u64> = r
                .audience(b"t", true, |_| serve)
                .iter()
                .map(|c| c.id.0)
                .collect();
            v.sort_unstable();
            v
        };
        let (one, two) = (ids(true), ids(true));
        assert_eq!(one.len(), 2);
        assert_ne!(one, two, "members take turns");
        assert!(one.contains(&c.id.0) && two.contains(&c.id.0));
        assert_eq!(ids(false), [c.id.0], "not this server's turn: plain only");
        assert_eq!(
            r.audience(b"t", false, |_| true).len(),
            1,
            "the member only"
        );
        assert!(r.audience(b"t", false, |_| false).is_empty());
        // Switching ways replaces; leaving empties the group.
        let v0 = r.groups_version();
        r.subscribe(t(), a.id).unwrap();
        assert_eq!(r.local_groups(b"t"), [(Bytes::from_static(b"w"), 1)]);
        assert!(r.groups_version() > v0);
        assert!(r.unsubscribe(b"t", b.id));
        assert!(!r.has_groups());
        assert!(r.group_table().is_empty() && r.local_groups(b"t").is_empty());
        assert_eq!(ids(true).len(), 2, "a and c, plainly");
        // Bytes of a grouped subscription come back as it goes.
        r.subscribe_in(t(), w(), b.id).unwrap();
        r.remove(b.id);
        r.remove(a.id);
        r.remove(c.id);
        assert_eq!((r.subscription_bytes(), r.topics()), (0, 0));
        assert!(!r.has_groups());
    }

    #[test]
    fn a_connection_at_its_cap_may_switch_how_it_holds_a_topic() {
        let r = Registry::new(caps(2));
        let a = conn(&r);
        r.subscribe(Bytes::from_static(b"t1"), a.id).unwrap();
        r.subscribe(Bytes::from_static(b"t2"), a.id).unwrap();
        let w = Some(Bytes::from_static(b"w"));
        r.subscribe_in(Bytes::from_static(b"t2"), w, a.id).unwrap();
        assert_eq!(a.subscription_count(), 2);
        assert_eq!(r.local_groups(b"t2"), [(Bytes::from_static(b"w"), 1)]);
    }

    #[test]
    fn queue_groups_are_bounded_in_count_and_names() {
        let o = Limits::SUBSCRIPTION_OVERHEAD;
        let r = Registry::new(SubscriptionCaps {
            groups: 2,
            ..caps(100)
        });
        let a = conn(&r);
        let g = |s: &'static str| Some(Bytes::from_static(s.as_bytes()));
        r.subscribe_in(Bytes::from_static(b"t1"), g("w"), a.id)
            .unwrap();
        r.subscribe_in(Bytes::from_static(b"t2"), g("w"), a.id)
            .unwrap();
        let refused = r.subscribe_in(Bytes::from_static(b"t3"), g("w"), a.id);
        assert_eq!(refused, Err(SubscribeError::TooManyGroups { max: 2 }));
        assert_eq!(r.topics(), 2, "the refused topic left nothing behind");
        assert!(!a.is_subscribed(b"t3"));
        // A plain subscription is not a group.
        r.subscribe(Bytes::from_static(b"t3"), a.id).unwrap();
        // A switch that does not fit leaves the old subscription as it was.
        let refused = r.subscribe_in(Bytes::from_static(b"t3"), g("v"), a.id);
        assert_eq!(refused, Err(SubscribeError::TooManyGroups { max: 2 }));
        assert_eq!(r.audience(b"t3", true, |_| true).len(), 1, "still plain");
        let bytes = r.subscription_bytes();
        // One that fits replaces it, and its bytes are the new ones.
        r.subscribe_in(Bytes::from_static(b"t3"), g("w"), a.id)
            .unwrap_err();
        r.unsubscribe(b"t2", a.id);
        r.subscribe_in(Bytes::from_static(b"t3"), g("w"), a.id)
            .unwrap();
        assert_eq!(r.audience(b"t3", false, |_| true).len(), 1, "a member now");
        // t2 (in "w": 2 + o + 1) gone, t3 gained the group's name (1).
        assert_eq!(r.subscription_bytes(), bytes - (2 + o + 1) + 1);
        // Names add up too: one past GROUP_TABLE_MAX_BYTES is refused.
        let r = Registry::new(SubscriptionCaps {
            topic_len: 300_000,
            connection_bytes: usize::MAX,
            ..caps(100)
        });
        let a = conn(&r);
        // The documented bound: 256 KiB of names, so a 100 KB topic fits.
        let big = Bytes::from(vec![b'y'; 100_000]);
        r.subscribe_in(big, g("w"), a.id).unwrap();
        r.unsubscribe(&[b'y'; 100_000], a.id);
        let long = Bytes::from(vec![b'x'; GROUP_TABLE_MAX_BYTES - 16]);
        let refused = r.subscribe_in(long.clone(), g("w"), a.id);
        assert_eq!(refused, Err(SubscribeError::TooManyGroups { max: 1024 }));
        let fits = long.slice(..long.len() - 1);
        r.subscribe_in(fits, g("w"), a.id).unwrap();
    }

    #[test]
    fn tags() {
        let r = Registry::new(caps(2));
        let a = conn(&r);
        let b = conn(&r);
        assert!(a.add_tag("group:x".into()));
        assert!(!a.add_tag("group:x".into()));
        b.add_tag("group:y".into());
        assert_eq!(r.with_tag("group:x").len(), 1);
        assert!(a.remove_tag("group:x"));
        assert!(r.with_tag("group:x").is_empty());
        assert_eq!(b.info().tags, ["group:y"]);
    }
}
