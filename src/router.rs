//! Handler registry shared by the server and the client: most-specific-first
//! lookup by (type, uri, peer) → (type, uri) → type, one-shot handlers, and
//! a default.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::RwLock;

use bytes::Bytes;

use crate::wire::{Message, MessageType};

/// What a handler is registered for. Lookup tries, in order,
/// `TypeUriPeer`, `TypeUri`, `Type`, as netaio's `keys_extractor` does; the
/// first key with a handler wins. There is no prefix or pattern matching.
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
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteKey {
    /// Every message of a type.
    Type(MessageType),
    /// A type and an exact uri.
    TypeUri(MessageType, Bytes),
    /// A type, an exact uri, and one peer address (on a server the
    /// connection's remote address; on a client the server's address).
    TypeUriPeer(MessageType, Bytes, SocketAddr),
}

impl RouteKey {
    /// The keys that can match `msg` from `peer`, most specific first.
    pub(crate) fn candidates(msg: &Message, peer: SocketAddr) -> [RouteKey; 3] {
        let t = msg.message_type;
        let uri = msg.body.uri.clone();
        [
            RouteKey::TypeUriPeer(t, uri.clone(), peer),
            RouteKey::TypeUri(t, uri),
            RouteKey::Type(t),
        ]
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

/// The routes themselves; `H` is the (cheaply cloneable) handler type of
/// the server or the client.
struct Routes<H> {
    handlers: HashMap<RouteKey, H>,
    once: HashMap<RouteKey, Vec<H>>,
}

/// A concurrent handler registry. Lookups take a read lock for a few hash
/// probes and clone the handler out, so no lock is held while it runs.
pub(crate) struct Router<H> {
    routes: RwLock<Routes<H>>,
}

impl<H: Clone> Router<H> {
    pub(crate) fn new() -> Self {
        Router {
            routes: RwLock::new(Routes {
                handlers: HashMap::new(),
                once: HashMap::new(),
            }),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Routes<H>> {
        // A panic while holding the lock cannot leave the maps half-updated
        // (every update is a single insert or remove), so poison is ignored.
        self.routes.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Routes<H>> {
        self.routes.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `handler` for `key`, replacing an earlier one.
    pub(crate) fn on(&self, key: RouteKey, handler: H) {
        self.write().handlers.insert(key, handler);
    }

    /// Registers a one-shot handler: used for the next matching message,
    /// then removed. Several one-shots on one key are used in order.
    pub(crate) fn once(&self, key: RouteKey, handler: H) {
        self.write().once.entry(key).or_default().push(handler);
    }

    /// Removes the handler and one-shots registered for `key`.
    pub(crate) fn remove(&self, key: &RouteKey) -> bool {
        let mut routes = self.write();
        let a = routes.handlers.remove(key).is_some();
        let b = routes.once.remove(key).is_some();
        a || b
    }

    /// The handler for `msg` from `peer`: for each key, most specific
    /// first, a one-shot (consumed) wins over a persistent handler.
    pub(crate) fn lookup(&self, msg: &Message, peer: SocketAddr) -> Option<H> {
        let keys = RouteKey::candidates(msg, peer);
        {
            let routes = self.read();
            let first_once = keys.iter().position(|k| routes.once.contains_key(k));
            let first_handler = keys.iter().position(|k| routes.handlers.contains_key(k));
            match (first_once, first_handler) {
                (None, None) => return None,
                (None, Some(h)) => return routes.handlers.get(&keys[h]).cloned(),
                (Some(o), Some(h)) if h < o => return routes.handlers.get(&keys[h]).cloned(),
                _ => {}
            }
        }
        // A one-shot matched: take the write lock and pop it. Another task
        // may have taken it meanwhile, so look again under the lock.
        let mut routes = self.write();
        for key in &keys {
            if let Some(list) = routes.once.get_mut(key) {
                if !list.is_empty() {
                    let h = list.remove(0);
                    if list.is_empty() {
                        routes.once.remove(key);
                    }
                    return Some(h);
                }
            }
            if let Some(h) = routes.handlers.get(key) {
                return Some(h.clone());
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
