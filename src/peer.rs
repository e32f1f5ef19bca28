//! netaio's peer management (`manage_peers_automatically`), the part both
//! sides share: who this node is ([`LocalPeer`]), what it learns about
//! others ([`Peer`]), the announcement's content (packify's
//! `(peer id, peer data)` tuple) and a bounded table of known peers.
//! The server's handlers are in `server/peers.rs`, the client's in
//! `client/`; neither imports the other.
//!
//! The messages (WIRE.md §6.3): `ADVERTISE_PEER`, `PEER_DISCOVERED` and
//! `DISCONNECT`, each with `uri = app id` and `content =
//! packify.pack((peer.id, peer.data))`, where netaio's `DefaultPeerPlugin`
//! packs the data as a dict. A peer that advertises an app id other than
//! ours is not managed (its message is routed like any other).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;

use crate::sync::lock;
use crate::wire::{Message, MessageType, PackError, PackValue};

/// Most peers a table holds (a new id beyond it is refused).
pub const DEFAULT_MAX_PEERS: usize = 10_000;
/// Longest peer id and peer data accepted, in bytes.
pub const MAX_PEER_DATA: usize = 16 * 1024;

/// This node as it introduces itself: an app id (netaio's default
/// `netaio`), a peer id (netaio uses 16 random bytes) and peer data
/// (netaio packs a dict; [`LocalPeer::with_fields`] does the same).
///
/// ```
/// use framewire::peer::LocalPeer;
///
/// let me = LocalPeer::random().with_fields([("name", "billing-1")]);
/// assert_eq!(me.id().len(), 16);
/// assert_eq!(&me.app_id()[..], b"netaio");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LocalPeer {
    app_id: Bytes,
    id: Bytes,
    data: Bytes,
    max_peers: usize,
}

impl LocalPeer {
    /// A peer with this id and (already packed) data.
    pub fn new(id: impl Into<Bytes>, data: impl Into<Bytes>) -> Self {
        LocalPeer {
            app_id: Bytes::from_static(b"netaio"),
            id: id.into(),
            data: data.into(),
            max_peers: DEFAULT_MAX_PEERS,
        }
    }

    /// A peer with 16 random bytes as its id and an empty dict as data.
    pub fn random() -> Self {
        let id: [u8; 16] = rand::random();
        Self::new(id.to_vec(), PackValue::Dict(Vec::new()).to_bytes())
    }

    /// Sets the data to a packify dict of `str` keys and values, as
    /// netaio's `DefaultPeerPlugin.encode_data` makes it.
    pub fn with_fields<'a>(mut self, fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let pairs = fields
            .into_iter()
            .map(|(k, v)| (PackValue::from(k), PackValue::from(v)))
            .collect();
        self.data = PackValue::Dict(pairs).to_bytes();
        self
    }

    /// Sets the data to any packify value, e.g. a dict with `bytes` entries
    /// such as [`X25519CipherPlugin::peer_data`](crate::X25519CipherPlugin::peer_data)'s
    /// `{"pubkey": key}`, which [`with_fields`](Self::with_fields) cannot
    /// make.
    ///
    /// ```
    /// use framewire::peer::LocalPeer;
    /// use framewire::wire::PackValue;
    ///
    /// let data = PackValue::Dict(vec![(PackValue::from("pubkey"), PackValue::from(&[9u8; 32][..]))]);
    /// let me = LocalPeer::random().with_data_value(data.clone());
    /// assert_eq!(PackValue::decode(me.data().clone()).unwrap(), data);
    /// ```
    pub fn with_data_value(mut self, data: PackValue) -> Self {
        self.data = data.to_bytes();
        self
    }

    /// The app id (the messages' uri); peers with another are not managed.
    pub fn app_id(&self) -> &Bytes {
        &self.app_id
    }

    /// Sets the app id (default `netaio`).
    pub fn with_app_id(mut self, app_id: impl Into<Bytes>) -> Self {
        self.app_id = app_id.into();
        self
    }

    /// The peer id.
    pub fn id(&self) -> &Bytes {
        &self.id
    }

    /// The packed peer data.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Most peers this node remembers (default [`DEFAULT_MAX_PEERS`]).
    pub fn with_max_peers(mut self, n: usize) -> Self {
        self.max_peers = n;
        self
    }

    /// See [`with_max_peers`](Self::with_max_peers).
    pub fn max_peers(&self) -> usize {
        self.max_peers
    }

    /// The message announcing this peer with `message_type`
    /// (ADVERTISE_PEER, PEER_DISCOVERED or DISCONNECT).
    pub fn message(&self, message_type: MessageType) -> Message {
        let content = PackValue::Tuple(vec![self.id.clone().into(), self.data.clone().into()]);
        Message::new(message_type, self.app_id.clone(), content.to_bytes())
    }
}

/// A peer this node knows: its id, its data as it sent it, where it was
/// last heard from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Peer {
    /// The peer id.
    pub id: Bytes,
    /// Its packed data (see [`data_value`](Self::data_value)).
    pub data: Bytes,
    /// The address it was last heard from.
    pub addr: SocketAddr,
    /// When it was last heard from.
    pub last_seen: Instant,
}

impl Peer {
    /// The data decoded (netaio's default peers send a dict).
    ///
    /// ```
    /// use framewire::peer::LocalPeer;
    /// use framewire::wire::PackValue;
    ///
    /// let me = LocalPeer::random().with_fields([("name", "a")]);
    /// let data = PackValue::decode(me.data().clone()).unwrap();
    /// assert_eq!(data.get("name"), Some(&PackValue::from("a")));
    /// ```
    pub fn data_value(&self) -> Result<PackValue, PackError> {
        PackValue::decode(self.data.clone())
    }
}

/// What an announcement's content says: `(id, data)`, or the id alone
/// for a DISCONNECT whose data is not bytes. `None`: not a peer message
/// (netaio logs and ignores those).
pub(crate) fn parse(content: &Bytes) -> Option<(Bytes, Option<Bytes>)> {
    if content.len() > 2 * MAX_PEER_DATA + 64 {
        return None;
    }
    match PackValue::decode(content.clone()).ok()? {
        PackValue::Tuple(mut items) if items.len() == 2 => {
            let data = items.pop()?;
            let id = items.pop()?.as_bytes()?.clone();
            let data = data.as_bytes().cloned();
            // Copies: a peer entry outlives the frame it came in.
            Some((
                Bytes::copy_from_slice(&id),
                data.map(|d| Bytes::copy_from_slice(&d)),
            ))
        }
        _ => None,
    }
}

/// A node's identity and the peers it knows: what the server's and the
/// client's handlers share.
#[derive(Debug)]
pub(crate) struct Peers {
    local: LocalPeer,
    table: Mutex<PeerTable>,
}

impl Peers {
    pub(crate) fn new(local: LocalPeer) -> Self {
        let table = Mutex::new(PeerTable::new(local.max_peers()));
        Peers { local, table }
    }

    pub(crate) fn local(&self) -> &LocalPeer {
        &self.local
    }

    pub(crate) fn all(&self) -> Vec<Peer> {
        lock(&self.table).all()
    }

    pub(crate) fn get(&self, id: &[u8]) -> Option<Peer> {
        lock(&self.table).get(id)
    }

    pub(crate) fn remove(&self, id: &[u8]) -> Option<Peer> {
        lock(&self.table).remove(id)
    }

    /// Forgets `id` if it was heard from `addr`.
    pub(crate) fn remove_from(&self, id: &[u8], addr: SocketAddr) -> bool {
        let mut table = lock(&self.table);
        let theirs = table.get(id).is_some_and(|p| p.addr == addr);
        theirs && table.remove(id).is_some()
    }

    /// Forgets every peer heard from `addr` (its connection closed).
    pub(crate) fn remove_at(&self, addr: SocketAddr) {
        lock(&self.table).remove_at(addr);
    }

    /// Adds or refreshes the peer an announcement's `content` names, heard
    /// from `addr`; false if it is not `(id, data)`, is this node's own
    /// id, or the table refuses it (full, or an entry too large).
    pub(crate) fn learn(&self, content: &Bytes, addr: SocketAddr) -> bool {
        let Some((id, Some(data))) = parse(content) else {
            tracing::debug!("peer announcement is not (id, data): ignored");
            return false;
        };
        if id == self.local.id() {
            return false;
        }
        let taken = lock(&self.table).upsert(id, data, addr, Instant::now());
        if !taken {
            tracing::debug!("peer refused: table full or entry too large");
        }
        taken
    }
}

/// Known peers by id, bounded by count and by entry size.
#[derive(Debug)]
pub(crate) struct PeerTable {
    peers: HashMap<Bytes, Peer>,
    max: usize,
}

impl PeerTable {
    pub(crate) fn new(max: usize) -> Self {
        PeerTable {
            peers: HashMap::new(),
            max,
        }
    }

    /// Adds or refreshes a peer; false if it is refused (too large, or a
    /// new id when the table is full).
    pub(crate) fn upsert(
        &mut self,
        id: Bytes,
        data: Bytes,
        addr: SocketAddr,
        now: Instant,
    ) -> bool {
        if id.len() > MAX_PEER_DATA || data.len() > MAX_PEER_DATA {
            return false;
        }
        if !self.peers.contains_key(&id) && self.peers.len() >= self.max {
            return false;
        }
        let peer = Peer {
            id: id.clone(),
            data,
            addr,
            last_seen: now,
        };
        self.peers.insert(id, peer);
        true
    }

    pub(crate) fn remove(&mut self, id: &[u8]) -> Option<Peer> {
        self.peers.remove(id)
    }

    /// Forgets every peer last heard from `addr`; how many.
    pub(crate) fn remove_at(&mut self, addr: SocketAddr) -> usize {
        let before = self.peers.len();
        self.peers.retain(|_, p| p.addr != addr);
        before - self.peers.len()
    }

    pub(crate) fn get(&self, id: &[u8]) -> Option<Peer> {
        self.peers.get(id).cloned()
    }

    /// Every peer, by id.
    pub(crate) fn all(&self) -> Vec<Peer> {
        let mut v: Vec<Peer> = self.peers.values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn announcement_round_trips() {
        let me = LocalPeer::new(&b"id"[..], &b"data"[..]);
        let msg = me.message(MessageType::ADVERTISE_PEER);
        assert_eq!(&msg.uri()[..], b"netaio");
        let (id, data) = parse(msg.content()).unwrap();
        assert_eq!((&id[..], data.as_deref()), (&b"id"[..], Some(&b"data"[..])));
        assert_eq!(parse(&Bytes::from_static(b"\x41\x01x")), None);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = PeerTable::new(2);
        let now = Instant::now();
        assert!(t.upsert("a".into(), "1".into(), addr(1), now));
        assert!(t.upsert("b".into(), "1".into(), addr(2), now));
        assert!(!t.upsert("c".into(), "1".into(), addr(3), now), "full");
        assert!(
            t.upsert("a".into(), "2".into(), addr(1), now),
            "an update is not new"
        );
        assert_eq!(&t.get(b"a").unwrap().data[..], b"2");
        assert!(!t.upsert("d".into(), vec![0; MAX_PEER_DATA + 1].into(), addr(4), now));
        assert_eq!(t.remove_at(addr(2)), 1);
        assert!(t.remove(b"a").is_some());
        assert!(t.all().is_empty());
    }
}
