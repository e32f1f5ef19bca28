//! Handler registry shared by the server and the client: most-specific-first
//! lookup by (type, uri, peer) → (type, uri) → (type, pattern) → type, and
//! one-shot handlers. It stores route values without knowing what they are (each
//! side's handler plus what it needs), and never calls them.

use std::borrow::{Borrow, Cow};
use std::collections::HashMap as StdHashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;

use crate::auth::{Pattern, PatternError};
use crate::sync::{lock, read, write};
use crate::wire::{Message, MessageType};

/// What a handler is registered for. Lookup tries, in order,
/// `TypeUriPeer`, `TypeUri` (exact uris, as netaio's `keys_extractor` does,
/// one hash lookup each), then `TypePattern` routes most specific first
/// (see [`Pattern`]: a literal segment before `{name}` or `*`, those before
/// `>`), then `Type`; the first key with a handler wins.
///
/// ```
/// use framewire::{MessageType, RouteKey};
///
/// let any_request: RouteKey = MessageType::REQUEST_URI.into();
/// let echo: RouteKey = (MessageType::REQUEST_URI, "echo").into();
/// let from_one_peer: RouteKey =
///     (MessageType::REQUEST_URI, "echo", "127.0.0.1:9000".parse().unwrap()).into();
/// assert_ne!(any_request, echo);
/// assert_ne!(echo, from_one_peer);
///
/// // A parameter: `post/lobby`, `post/kitchen`, ... (the handler reads
/// // `room`); `*` is one segment, `>` the rest.
/// let posts = RouteKey::pattern(MessageType::PUBLISH_URI, "post/{room}").unwrap();
/// assert!(matches!(posts, RouteKey::TypePattern(..)));
/// // Without a wildcard it is an exact route.
/// let exact = RouteKey::pattern(MessageType::PUBLISH_URI, "post/lobby").unwrap();
/// assert_eq!(exact, (MessageType::PUBLISH_URI, "post/lobby").into());
/// assert!(RouteKey::pattern(MessageType::PUBLISH_URI, "post/{room").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteKey {
    /// Every message of a type.
    Type(MessageType),
    /// A type and an exact uri.
    TypeUri(MessageType, Bytes),
    /// A type, an exact uri, and one peer address (on a server the
    /// connection's remote address; on a client the server's address).
    TypeUriPeer(MessageType, Bytes, SocketAddr),
    /// A type and a uri pattern with `{name}`, `*` or `>` (a pattern
    /// without them is made `TypeUri` by [`RouteKey::pattern`]).
    TypePattern(MessageType, Pattern),
}

impl RouteKey {
    /// A route for the uris `pattern` matches: `TypePattern`, or
    /// `TypeUri` when it has no wildcard or parameter (exact routes are
    /// found first, by one hash lookup).
    pub fn pattern(t: MessageType, pattern: &str) -> Result<RouteKey, PatternError> {
        Ok((t, pattern.parse::<Pattern>()?).into())
    }

    /// The pattern of a `TypePattern` route.
    pub fn as_pattern(&self) -> Option<&Pattern> {
        match self {
            RouteKey::TypePattern(_, p) => Some(p),
            _ => None,
        }
    }
}

impl From<(MessageType, Pattern)> for RouteKey {
    fn from((t, pattern): (MessageType, Pattern)) -> Self {
        if pattern.is_literal() {
            RouteKey::TypeUri(t, Bytes::copy_from_slice(pattern.as_str().as_bytes()))
        } else {
            RouteKey::TypePattern(t, pattern)
        }
    }
}

impl From<MessageType> for RouteKey {
    fn from(t: MessageType) -> Self {
        RouteKey::Type(t)
    }
}

impl From<(MessageType, &'static str)> for RouteKey {
    fn from((t, uri): (MessageType, &'static str)) -> Self {
        RouteKey::TypeUri(t, Bytes::from_static(uri.as_bytes()))
    }
}

impl From<(MessageType, Bytes)> for RouteKey {
    fn from((t, uri): (MessageType, Bytes)) -> Self {
        RouteKey::TypeUri(t, uri)
    }
}

impl From<(MessageType, String)> for RouteKey {
    fn from((t, uri): (MessageType, String)) -> Self {
        RouteKey::TypeUri(t, Bytes::from(uri))
    }
}

impl From<(MessageType, &'static str, SocketAddr)> for RouteKey {
    fn from((t, uri, peer): (MessageType, &'static str, SocketAddr)) -> Self {
        RouteKey::TypeUriPeer(t, Bytes::from_static(uri.as_bytes()), peer)
    }
}

impl From<(MessageType, Bytes, SocketAddr)> for RouteKey {
    fn from((t, uri, peer): (MessageType, Bytes, SocketAddr)) -> Self {
        RouteKey::TypeUriPeer(t, uri, peer)
    }
}

/// A [`RouteKey`] as a lookup sees it: borrowed from the message, so a
/// lookup neither clones the uri (an atomic reference-count update, and
/// another to drop it) nor allocates. Keys hash and compare through their
/// view, so both forms find the same entries.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum KeyView<'a> {
    Type(MessageType),
    TypeUri(MessageType, &'a [u8]),
    TypeUriPeer(MessageType, &'a [u8], SocketAddr),
    /// Only for hashing and comparing pattern keys among themselves (the
    /// one-shot map): a message's view is never one.
    TypePattern(MessageType, &'a str),
}

trait AsKeyView {
    fn view(&self) -> KeyView<'_>;
}

impl AsKeyView for RouteKey {
    fn view(&self) -> KeyView<'_> {
        match self {
            RouteKey::Type(t) => KeyView::Type(*t),
            RouteKey::TypeUri(t, uri) => KeyView::TypeUri(*t, uri),
            RouteKey::TypeUriPeer(t, uri, peer) => KeyView::TypeUriPeer(*t, uri, *peer),
            RouteKey::TypePattern(t, p) => KeyView::TypePattern(*t, p.as_str()),
        }
    }
}

impl AsKeyView for KeyView<'_> {
    fn view(&self) -> KeyView<'_> {
        *self
    }
}

impl KeyView<'_> {
    fn to_owned(self) -> RouteKey {
        match self {
            KeyView::Type(t) => RouteKey::Type(t),
            KeyView::TypeUri(t, uri) => RouteKey::TypeUri(t, Bytes::copy_from_slice(uri)),
            KeyView::TypeUriPeer(t, uri, peer) => {
                RouteKey::TypeUriPeer(t, Bytes::copy_from_slice(uri), peer)
            }
            KeyView::TypePattern(..) => unreachable!("a message's view is never a pattern"),
        }
    }
}

impl Hash for RouteKey {
    fn hash<S: Hasher>(&self, state: &mut S) {
        self.view().hash(state);
    }
}

impl<'a> Borrow<dyn AsKeyView + 'a> for RouteKey {
    fn borrow(&self) -> &(dyn AsKeyView + 'a) {
        self
    }
}

impl Hash for dyn AsKeyView + '_ {
    fn hash<S: Hasher>(&self, state: &mut S) {
        self.view().hash(state);
    }
}

impl PartialEq for dyn AsKeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.view() == other.view()
    }
}

impl Eq for dyn AsKeyView + '_ {}

/// FNV-1a: route keys are hashed once per message, and SipHash's defence
/// against collision floods buys nothing here — peers only look keys up,
/// they never insert any, so they cannot grow a bucket.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

type HashMap<K, V> = StdHashMap<K, V, BuildHasherDefault<Fnv>>;

/// The persistent routes, immutable once published: a lookup reads a
/// snapshot without any lock or shared write.
struct Snapshot<H> {
    handlers: HashMap<RouteKey, H>,
    /// Which key kinds exist at all, so lookups skip hashing the others.
    kinds: [bool; 3],
    /// `TypePattern` routes, most specific first (registration order
    /// among equals): tried after the exact ones, before `Type`.
    patterns: Vec<(MessageType, Pattern, H)>,
}

fn kind(key: &RouteKey) -> usize {
    match key {
        RouteKey::TypeUriPeer(..) => 0,
        RouteKey::TypeUri(..) => 1,
        RouteKey::Type(_) => 2,
        RouteKey::TypePattern(..) => unreachable!("patterns are kept apart"),
    }
}

/// What a registration edits: the hashed routes and the ordered patterns.
#[derive(Clone)]
struct Routes<H> {
    handlers: HashMap<RouteKey, H>,
    patterns: Vec<(MessageType, Pattern, H)>,
}

impl<H> Routes<H> {
    fn insert(&mut self, key: RouteKey, handler: H) {
        match key {
            RouteKey::TypePattern(t, p) => {
                if let Some(entry) = self
                    .patterns
                    .iter_mut()
                    .find(|(t2, p2, _)| *t2 == t && *p2 == p)
                {
                    entry.2 = handler;
                    return;
                }
                // After every pattern at least as specific: stable order.
                let at = self
                    .patterns
                    .partition_point(|(_, q, _)| q.specificity_cmp(&p).is_le());
                self.patterns.insert(at, (t, p, handler));
            }
            key => {
                self.handlers.insert(key, handler);
            }
        }
    }

    fn remove(&mut self, key: &RouteKey) -> bool {
        match key {
            RouteKey::TypePattern(t, p) => {
                let before = self.patterns.len();
                self.patterns.retain(|(t2, p2, _)| !(t2 == t && p2 == p));
                self.patterns.len() != before
            }
            key => self.handlers.remove(key).is_some(),
        }
    }
}

impl<H> Snapshot<H> {
    fn new(routes: Routes<H>) -> Self {
        let mut kinds = [false; 3];
        for k in routes.handlers.keys() {
            kinds[kind(k)] = true;
        }
        Snapshot {
            handlers: routes.handlers,
            kinds,
            patterns: routes.patterns,
        }
    }

    fn pattern_for(&self, t: MessageType, uri: &[u8]) -> Option<&H> {
        self.patterns
            .iter()
            .find(|(t2, p, _)| *t2 == t && p.matches(uri))
            .map(|(_, _, h)| h)
    }
}

/// A caller's copy of the current routes (e.g. one per connection), so the
/// hot path neither locks nor writes shared memory: only a version number
/// is read, and the copy is refreshed when it changed.
pub(crate) struct RouteCache<H> {
    version: u64,
    snapshot: Arc<Snapshot<H>>,
    /// The key of the one-shot handler the last lookup consumed, so it can
    /// be given back if its message is refused before the call.
    last_once: Option<RouteKey>,
}

/// A concurrent handler registry. Persistent routes are published as
/// immutable snapshots (copy on write: registration is rare, lookups are
/// per message); one-shot handlers live in a small locked map that lookups
/// only touch while it is non-empty.
pub(crate) struct Router<H> {
    current: RwLock<Arc<Snapshot<H>>>,
    version: AtomicU64,
    once: Mutex<HashMap<RouteKey, Vec<H>>>,
    once_len: AtomicUsize,
}

impl<H: Clone> Router<H> {
    pub(crate) fn new() -> Self {
        Router {
            current: RwLock::new(Arc::new(Snapshot::new(Routes {
                handlers: HashMap::default(),
                patterns: Vec::new(),
            }))),
            version: AtomicU64::new(0),
            once: Mutex::new(HashMap::default()),
            once_len: AtomicUsize::new(0),
        }
    }

    fn snapshot(&self) -> Arc<Snapshot<H>> {
        // Updates replace the Arc in one step, so poison cannot expose a
        // half-made snapshot.
        read(&self.current).clone()
    }

    fn update(&self, f: impl FnOnce(&mut Routes<H>) -> bool) -> bool {
        let mut current = write(&self.current);
        let mut routes = Routes {
            handlers: current.handlers.clone(),
            patterns: current.patterns.clone(),
        };
        let changed = f(&mut routes);
        *current = Arc::new(Snapshot::new(routes));
        self.version.fetch_add(1, Ordering::Release);
        changed
    }

    fn once_map(&self) -> MutexGuard<'_, HashMap<RouteKey, Vec<H>>> {
        lock(&self.once)
    }

    /// A cache for [`lookup_cached`](Self::lookup_cached).
    pub(crate) fn cache(&self) -> RouteCache<H> {
        let version = self.version.load(Ordering::Acquire);
        RouteCache {
            version,
            snapshot: self.snapshot(),
            last_once: None,
        }
    }

    /// Registers `handler` for `key`, replacing an earlier one.
    pub(crate) fn on(&self, key: RouteKey, handler: H) {
        self.update(|h| {
            h.insert(key, handler);
            true
        });
    }

    /// Replaces every handler (persistent and one-shot) by `f` of it.
    pub(crate) fn map(&self, f: impl Fn(&H) -> H) {
        self.update(|r| {
            for h in r.handlers.values_mut() {
                *h = f(h);
            }
            for (_, _, h) in &mut r.patterns {
                *h = f(h);
            }
            true
        });
        for list in self.once_map().values_mut() {
            for h in list.iter_mut() {
                *h = f(h);
            }
        }
    }

    /// Every pattern route registered, most specific first (for the
    /// server's route listing and tests).
    #[cfg(test)]
    pub(crate) fn patterns(&self) -> Vec<String> {
        self.snapshot()
            .patterns
            .iter()
            .map(|(t, p, _)| format!("{t} {p}"))
            .collect()
    }

    /// Registers a one-shot handler: used for the next matching message,
    /// then removed. Several one-shots on one key are used in order.
    pub(crate) fn once(&self, key: RouteKey, handler: H) {
        let mut once = self.once_map();
        once.entry(key).or_default().push(handler);
        self.once_len.fetch_add(1, Ordering::Release);
    }

    /// Puts back, first in line, the one-shot handler the last lookup on
    /// `cache` consumed: its message was refused (by the handler's plugin
    /// layer) before the handler ran, and must not use it up.
    pub(crate) fn give_back(&self, cache: &mut RouteCache<H>, handler: H) {
        if let Some(key) = cache.last_once.take() {
            self.once_map().entry(key).or_default().insert(0, handler);
            self.once_len.fetch_add(1, Ordering::Release);
        }
    }

    /// Removes the handler and one-shots registered for `key`.
    pub(crate) fn remove(&self, key: &RouteKey) -> bool {
        let removed_once = {
            let mut once = self.once_map();
            match once.remove(key) {
                Some(list) => {
                    self.once_len.fetch_sub(list.len(), Ordering::Release);
                    true
                }
                None => false,
            }
        };
        let removed = self.update(|h| h.remove(key));
        removed || removed_once
    }

    /// The handler for `msg` from `peer` (see [`lookup_cached`]).
    #[cfg(test)]
    pub(crate) fn lookup(&self, msg: &Message, peer: SocketAddr) -> Option<H> {
        let mut cache = self.cache();
        self.lookup_cached(&mut cache, msg, peer)
            .map(Cow::into_owned)
    }

    /// The handler for `msg` from `peer`: for each key, most specific
    /// first, a one-shot (consumed) wins over a persistent handler.
    /// Persistent handlers are lent from the cache rather than cloned: a
    /// clone would bump a reference count every connection shares.
    pub(crate) fn lookup_cached<'c>(
        &self,
        cache: &'c mut RouteCache<H>,
        msg: &Message,
        peer: SocketAddr,
    ) -> Option<Cow<'c, H>> {
        let version = self.version.load(Ordering::Acquire);
        if version != cache.version {
            *cache = RouteCache {
                version,
                snapshot: self.snapshot(),
                last_once: None,
            };
        }
        let snap: &'c Snapshot<H> = &cache.snapshot;
        let t = msg.message_type;
        let uri = &msg.body.uri[..];
        let key = |k: usize| match k {
            0 => KeyView::TypeUriPeer(t, uri, peer),
            1 => KeyView::TypeUri(t, uri),
            _ => KeyView::Type(t),
        };
        if self.once_len.load(Ordering::Acquire) == 0 {
            let exact = |k: usize| {
                if snap.kinds[k] {
                    snap.handlers.get(&key(k) as &dyn AsKeyView)
                } else {
                    None
                }
            };
            return exact(0)
                .or_else(|| exact(1))
                .or_else(|| snap.pattern_for(t, uri))
                .or_else(|| exact(2))
                .map(Cow::Borrowed);
        }
        let mut once = self.once_map();
        for k in 0..3 {
            if k == 2 {
                // Patterns, between the exact keys and the type: a one-shot
                // on a matching pattern, then a persistent one.
                let found = once.iter().find_map(|(rk, list)| match rk {
                    RouteKey::TypePattern(t2, p)
                        if *t2 == t && p.matches(uri) && !list.is_empty() =>
                    {
                        Some(rk.clone())
                    }
                    _ => None,
                });
                if let Some(rk) = found {
                    let list = once.get_mut(&rk as &dyn AsKeyView).expect("found above");
                    let h = list.remove(0);
                    if list.is_empty() {
                        once.remove(&rk as &dyn AsKeyView);
                    }
                    self.once_len.fetch_sub(1, Ordering::Release);
                    cache.last_once = Some(rk);
                    return Some(Cow::Owned(h));
                }
                if let Some(h) = snap.pattern_for(t, uri) {
                    return Some(Cow::Borrowed(h));
                }
            }
            let key = key(k);
            let view = &key as &dyn AsKeyView;
            if let Some(list) = once.get_mut(view) {
                if !list.is_empty() {
                    let h = list.remove(0);
                    if list.is_empty() {
                        once.remove(view);
                    }
                    self.once_len.fetch_sub(1, Ordering::Release);
                    // Its own copy: a key kept past the call must not pin
                    // the read buffer the uri arrived in.
                    cache.last_once = Some(key.to_owned());
                    return Some(Cow::Owned(h));
                }
            }
            if snap.kinds[k] {
                if let Some(h) = snap.handlers.get(view) {
                    return Some(Cow::Borrowed(h));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:5000".parse().unwrap()
    }

    #[test]
    fn a_one_shot_given_back_is_first_in_line_again() {
        let r = Router::new();
        let msg = Message::new(MessageType::DELETE_URI, "k", "");
        r.once(RouteKey::Type(MessageType::DELETE_URI), 1);
        r.once(RouteKey::TypeUri(MessageType::DELETE_URI, "k".into()), 2);
        r.once(RouteKey::TypeUri(MessageType::DELETE_URI, "k".into()), 3);
        let mut cache = r.cache();
        let first = r
            .lookup_cached(&mut cache, &msg, peer())
            .unwrap()
            .into_owned();
        assert_eq!(first, 2, "most specific first");
        r.give_back(&mut cache, first);
        r.give_back(&mut cache, 99); // nothing was taken since: ignored
        let order: Vec<i32> = (0..4).filter_map(|_| r.lookup(&msg, peer())).collect();
        assert_eq!(order, [2, 3, 1]);
    }

    #[test]
    fn a_cache_follows_registrations_made_after_it() {
        let r = Router::new();
        let msg = Message::new(MessageType::REQUEST_URI, "echo", "");
        let mut cache = r.cache();
        assert!(r.lookup_cached(&mut cache, &msg, peer()).is_none());
        r.on(MessageType::REQUEST_URI.into(), "late");
        let found = r
            .lookup_cached(&mut cache, &msg, peer())
            .map(Cow::into_owned);
        assert_eq!(found, Some("late"));
        assert!(r.remove(&RouteKey::Type(MessageType::REQUEST_URI)));
        assert!(r.lookup_cached(&mut cache, &msg, peer()).is_none());
    }

    #[test]
    fn most_specific_first() {
        let r = Router::new();
        let msg = Message::new(MessageType::REQUEST_URI, "echo", "");
        assert_eq!(r.lookup(&msg, peer()), None);
        r.on(MessageType::REQUEST_URI.into(), "type");
        assert_eq!(r.lookup(&msg, peer()), Some("type"));
        r.on((MessageType::REQUEST_URI, "echo").into(), "type+uri");
        assert_eq!(r.lookup(&msg, peer()), Some("type+uri"));
        r.on((MessageType::REQUEST_URI, "echo", peer()).into(), "peer");
        assert_eq!(r.lookup(&msg, peer()), Some("peer"));
        let other: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        assert_eq!(r.lookup(&msg, other), Some("type+uri"));
        let other_uri = Message::new(MessageType::REQUEST_URI, "x", "");
        assert_eq!(r.lookup(&other_uri, peer()), Some("type"));
        assert!(r.remove(&RouteKey::Type(MessageType::REQUEST_URI)));
        assert_eq!(r.lookup(&other_uri, peer()), None);
    }

    fn pat(t: MessageType, p: &str) -> RouteKey {
        RouteKey::pattern(t, p).unwrap()
    }

    #[test]
    fn patterns_come_after_exact_routes_and_before_the_type() {
        let r = Router::new();
        let t = MessageType::PUBLISH_URI;
        let msg = |uri: &'static str| Message::new(t, uri, "");
        r.on(t.into(), "type");
        r.on(pat(t, "post/>"), "rest");
        r.on(pat(t, "post/{room}"), "room");
        r.on(pat(t, "post/{room}/pin"), "pin");
        r.on(pat(t, "post/*/pin"), "star pin (same rank, later)");
        r.on((t, "post/lobby").into(), "exact");
        r.on(pat(MessageType::REQUEST_URI, "post/{room}"), "other type");
        assert_eq!(r.lookup(&msg("post/lobby"), peer()), Some("exact"));
        assert_eq!(r.lookup(&msg("post/kitchen"), peer()), Some("room"));
        assert_eq!(r.lookup(&msg("post/kitchen/pin"), peer()), Some("pin"));
        assert_eq!(r.lookup(&msg("post/a/b"), peer()), Some("rest"));
        assert_eq!(r.lookup(&msg("other"), peer()), Some("type"));
        assert_eq!(
            r.patterns(),
            [
                "PUBLISH_URI post/{room}/pin",
                "PUBLISH_URI post/*/pin",
                "PUBLISH_URI post/{room}",
                "REQUEST_URI post/{room}",
                "PUBLISH_URI post/>"
            ]
        );
        // Registering an equal pattern replaces it in place.
        r.on(pat(t, "post/{room}"), "room 2");
        assert_eq!(r.lookup(&msg("post/kitchen"), peer()), Some("room 2"));
        assert!(r.remove(&pat(t, "post/{room}")));
        assert!(!r.remove(&pat(t, "post/{room}")));
        assert_eq!(r.lookup(&msg("post/kitchen"), peer()), Some("rest"));
        assert!(r.remove(&pat(t, "post/>")));
        assert_eq!(r.lookup(&msg("post/kitchen"), peer()), Some("type"));
    }

    #[test]
    fn a_one_shot_pattern_is_used_once_before_the_persistent_one() {
        let r = Router::new();
        let t = MessageType::NOTIFY_URI;
        let msg = Message::new(t, "room/a", "");
        r.on(pat(t, "room/*"), "persistent");
        r.once(pat(t, "room/{id}"), "once");
        r.once(MessageType::OK.into(), "unrelated");
        r.on(t.into(), "type");
        let mut cache = r.cache();
        let first = r
            .lookup_cached(&mut cache, &msg, peer())
            .unwrap()
            .into_owned();
        assert_eq!(first, "once");
        r.give_back(&mut cache, first);
        assert_eq!(r.lookup(&msg, peer()), Some("once"));
        assert_eq!(r.lookup(&msg, peer()), Some("persistent"));
        // With a one-shot pending elsewhere, the persistent pattern is
        // still found before the type.
        let other = Message::new(t, "elsewhere", "");
        assert_eq!(r.lookup(&other, peer()), Some("type"));
        assert_eq!(r.lookup(&msg, peer()), Some("persistent"));
        r.once(pat(t, "room/{id}"), "again");
        assert!(r.remove(&pat(t, "room/{id}")));
        assert_eq!(r.lookup(&msg, peer()), Some("persistent"));
    }

    #[test]
    fn a_pending_one_shot_pattern_takes_only_its_type_and_uris() {
        let r = Router::new();
        let t = MessageType::PUBLISH_URI;
        r.once(pat(t, "post/{room}"), "once");
        r.on(pat(t, "post/>"), "rest");
        r.on(t.into(), "type");
        r.on((t, "exact").into(), "exact");
        r.on((t, "post/lobby").into(), "exact lobby");
        // An exact route beats even a one-shot pattern that matches.
        assert_eq!(
            r.lookup(&Message::new(t, "post/lobby", ""), peer()),
            Some("exact lobby")
        );
        // Another type, another uri, an exact route: not the one-shot's.
        let other_type = Message::new(MessageType::REQUEST_URI, "post/a", "");
        assert_eq!(r.lookup(&other_type, peer()), None);
        assert_eq!(
            r.lookup(&Message::new(t, "post/a/b", ""), peer()),
            Some("rest")
        );
        assert_eq!(r.lookup(&Message::new(t, "x", ""), peer()), Some("type"));
        assert_eq!(
            r.lookup(&Message::new(t, "exact", ""), peer()),
            Some("exact")
        );
        assert_eq!(
            r.lookup(&Message::new(t, "post/a", ""), peer()),
            Some("once")
        );
        assert_eq!(
            r.lookup(&Message::new(t, "post/a", ""), peer()),
            Some("rest")
        );
    }

    #[test]
    fn map_replaces_every_handler_persistent_and_one_shot() {
        let r = Router::new();
        let t = MessageType::REQUEST_URI;
        r.on((t, "a").into(), 1);
        r.on(pat(t, "p/{x}"), 2);
        r.once(t.into(), 3);
        r.map(|h| h * 10);
        assert_eq!(r.lookup(&Message::new(t, "a", ""), peer()), Some(10));
        assert_eq!(r.lookup(&Message::new(t, "p/q", ""), peer()), Some(20));
        assert_eq!(r.lookup(&Message::new(t, "z", ""), peer()), Some(30));
    }

    #[test]
    fn a_pattern_key_knows_its_pattern() {
        let key = pat(MessageType::OK, "a/{b}");
        assert_eq!(key.as_pattern().map(Pattern::as_str), Some("a/{b}"));
        assert!(RouteKey::from(MessageType::OK).as_pattern().is_none());
        assert!(
            pat(MessageType::OK, "a/b").as_pattern().is_none(),
            "literal: exact"
        );
    }

    #[test]
    fn one_shot_is_used_once_and_wins_on_its_key_only() {
        let r = Router::new();
        let msg = Message::new(MessageType::OK, "k", "");
        r.on((MessageType::OK, "k").into(), "persistent");
        r.once(MessageType::OK.into(), "less specific once");
        // A persistent handler on a more specific key beats a one-shot on a
        // less specific one, as in netaio.
        assert_eq!(r.lookup(&msg, peer()), Some("persistent"));
        r.once((MessageType::OK, "k").into(), "once-1");
        r.once((MessageType::OK, "k").into(), "once-2");
        assert_eq!(r.lookup(&msg, peer()), Some("once-1"));
        assert_eq!(r.lookup(&msg, peer()), Some("once-2"));
        assert_eq!(r.lookup(&msg, peer()), Some("persistent"));
    }
}
