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
    /// A table that refuses new peers when full (TCP: every peer there is
    /// one connection, which its limits already bound).
    pub(crate) fn new(local: LocalPeer) -> Self {
        let table = Mutex::new(PeerTable::new(local.max_peers()));
        Peers { local, table }
    }

    /// A table bounded by count and by bytes that makes room by evicting
    /// the peer heard from least recently (UDP: anyone may announce
    /// anything, so a full table must not lock real peers out for good).
    pub(crate) fn evicting(local: LocalPeer, max_bytes: usize) -> Self {
        let table = Mutex::new(PeerTable::evicting(local.max_peers(), max_bytes));
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

    /// The peer last heard from `addr`.
    pub(crate) fn at(&self, addr: SocketAddr) -> Option<Peer> {
        lock(&self.table).at(addr)
    }

    /// The data of the peer last heard from `addr` (no copy of the rest).
    pub(crate) fn data_at(&self, addr: SocketAddr) -> Option<Bytes> {
        let table = lock(&self.table);
        let id = table.at.get(&addr)?;
        table.peers.get(id).map(|p| p.data.clone())
    }

    /// Whether some peer was last heard from `addr`.
    pub(crate) fn knows(&self, addr: SocketAddr) -> bool {
        lock(&self.table).at.contains_key(&addr)
    }

    /// How many peers the table holds.
    pub(crate) fn len(&self) -> usize {
        lock(&self.table).peers.len()
    }

    /// Forgets the peers not heard from since `before`; returns them.
    pub(crate) fn expire(&self, before: Instant) -> Vec<Peer> {
        lock(&self.table).expire(before)
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
        self.learn_at(content, addr, Instant::now())
    }

    /// [`learn`](Self::learn) at `now` (tests pass virtual time).
    pub(crate) fn learn_at(&self, content: &Bytes, addr: SocketAddr, now: Instant) -> bool {
        let Some((id, Some(data))) = parse(content) else {
            tracing::debug!("peer announcement is not (id, data): ignored");
            return false;
        };
        if id == self.local.id() {
            return false;
        }
        let taken = lock(&self.table).upsert(id, data, addr, now);
        if !taken {
            tracing::debug!("peer refused: table full or entry too large");
        }
        taken
    }
}

/// Known peers by id, bounded by count, by entry size and (when
/// evicting) by the bytes of all entries, with an index by address.
#[derive(Debug)]
pub(crate) struct PeerTable {
    peers: HashMap<Bytes, Peer>,
    /// The id last heard from each address.
    at: HashMap<SocketAddr, Bytes>,
    max: usize,
    max_bytes: usize,
    /// Bytes of every entry's id and data.
    bytes: usize,
    /// Whether a full table evicts its stalest entry (else it refuses).
    evict: bool,
}

impl PeerTable {
    pub(crate) fn new(max: usize) -> Self {
        PeerTable {
            peers: HashMap::new(),
            at: HashMap::new(),
            max,
            max_bytes: usize::MAX,
            bytes: 0,
            evict: false,
        }
    }

    pub(crate) fn evicting(max: usize, max_bytes: usize) -> Self {
        PeerTable {
            max_bytes,
            evict: true,
            ..PeerTable::new(max)
        }
    }

    /// Adds or refreshes a peer; false if it is refused (too large, or a
    /// new id when the table is full and does not evict).
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
        let size = id.len() + data.len();
        if size > self.max_bytes || self.max == 0 {
            return false;
        }
        // The entry being replaced makes room of its own.
        let old = self.peers.get(&id).map_or(0, |p| p.id.len() + p.data.len());
        let is_new = old == 0 && !self.peers.contains_key(&id);
        while (is_new && self.peers.len() >= self.max) || self.bytes - old + size > self.max_bytes {
            if !self.evict || !self.evict_stalest(&id) {
                return false;
            }
        }
        if let Some(previous) = self.peers.get(&id) {
            if previous.addr != addr {
                self.unindex(previous.addr, &id);
            }
        }
        self.bytes = self.bytes - old + size;
        self.at.insert(addr, id.clone());
        let peer = Peer {
            id: id.clone(),
            data,
            addr,
            last_seen: now,
        };
        self.peers.insert(id, peer);
        true
    }

    /// Evicts the peer heard from least recently, other than `keep`.
    fn evict_stalest(&mut self, keep: &Bytes) -> bool {
        let stalest = self
            .peers
            .values()
            .filter(|p| p.id != keep)
            .min_by_key(|p| p.last_seen)
            .map(|p| p.id.clone());
        stalest.is_some_and(|id| self.remove(&id).is_some())
    }

    /// Drops `addr`'s index entry if it still names `id`.
    fn unindex(&mut self, addr: SocketAddr, id: &[u8]) {
        if self.at.get(&addr).is_some_and(|i| &i[..] == id) {
            self.at.remove(&addr);
        }
    }

    pub(crate) fn remove(&mut self, id: &[u8]) -> Option<Peer> {
        let peer = self.peers.remove(id)?;
        self.bytes -= peer.id.len() + peer.data.len();
        self.unindex(peer.addr, id);
        Some(peer)
    }

    /// Forgets every peer last heard from `addr`; how many.
    pub(crate) fn remove_at(&mut self, addr: SocketAddr) -> usize {
        let gone: Vec<Bytes> = self
            .peers
            .values()
            .filter(|p| p.addr == addr)
            .map(|p| p.id.clone())
            .collect();
        for id in &gone {
            self.remove(id);
        }
        gone.len()
    }

    /// Forgets the peers last heard before `before`.
    pub(crate) fn expire(&mut self, before: Instant) -> Vec<Peer> {
        let gone: Vec<Bytes> = self
            .peers
            .values()
            .filter(|p| p.last_seen < before)
            .map(|p| p.id.clone())
            .collect();
        gone.iter().filter_map(|id| self.remove(id)).collect()
    }

    pub(crate) fn get(&self, id: &[u8]) -> Option<Peer> {
        self.peers.get(id).cloned()
    }

    pub(crate) fn at(&self, addr: SocketAddr) -> Option<Peer> {
        self.at.get(&addr).and_then(|id| self.get(id))
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

    #[derive(Debug, Clone)]
    enum Op {
        Upsert { id: u8, len: usize, port: u16 },
        Remove(u8),
        RemoveAt(u16),
        Expire(u64),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0u8..12, 0usize..40, 1u16..6).prop_map(|(id, len, port)| Op::Upsert { id, len, port }),
            1 => (0u8..12).prop_map(Op::Remove),
            1 => (1u16..6).prop_map(Op::RemoveAt),
            1 => (0u64..200).prop_map(Op::Expire),
        ]
    }

    proptest::proptest! {
        /// Whatever happens, the byte count is the sum of the entries, the
        /// address index names exactly the entries' addresses, and both
        /// bounds hold.
        #[test]
        fn the_table_keeps_its_accounts(
            evict in proptest::bool::ANY,
            ops in proptest::collection::vec(op(), 1..80),
        ) {
            let t0 = Instant::now();
            let mut t = if evict { PeerTable::evicting(5, 100) } else { PeerTable::new(5) };
            for (step, op) in ops.into_iter().enumerate() {
                let now = t0 + std::time::Duration::from_secs(step as u64);
                match op {
                    Op::Upsert { id, len, port } => {
                        t.upsert(vec![id].into(), vec![0; len].into(), addr(port), now);
                    }
                    Op::Remove(id) => {
                        t.remove(&[id]);
                    }
                    Op::RemoveAt(port) => {
                        t.remove_at(addr(port));
                    }
                    Op::Expire(s) => {
                        t.expire(t0 + std::time::Duration::from_secs(s));
                    }
                }
                let sum: usize = t.peers.values().map(|p| p.id.len() + p.data.len()).sum();
                proptest::prop_assert_eq!(t.bytes, sum);
                proptest::prop_assert!(t.peers.len() <= 5);
                if evict {
                    proptest::prop_assert!(t.bytes <= 100);
                }
                for (a, id) in &t.at {
                    proptest::prop_assert_eq!(t.peers.get(id).map(|p| p.addr), Some(*a));
                }
                for p in t.peers.values() {
                    // The newest entry at an address owns its index slot;
                    // an older one there may have lost it.
                    if let Some(id) = t.at.get(&p.addr) {
                        proptest::prop_assert_eq!(t.peers.get(id).map(|q| q.addr), Some(p.addr));
                    }
                }
            }
        }
    }

    #[test]
    fn an_evicting_table_makes_room_by_dropping_the_stalest_peer() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + std::time::Duration::from_secs(s);
        let mut t = PeerTable::evicting(2, 10);
        assert!(t.upsert("a".into(), "1".into(), addr(1), at(0)));
        assert!(t.upsert("b".into(), "1".into(), addr(2), at(1)));
        assert!(
            t.upsert("a".into(), "2".into(), addr(1), at(2)),
            "a refreshed"
        );
        assert!(t.upsert("c".into(), "1".into(), addr(3), at(3)), "evicts b");
        assert_eq!(t.get(b"b"), None);
        assert!(t.at(addr(2)).is_none(), "the index follows");
        // 4 bytes used; 7 more do not fit in 10 without evicting the stalest (a).
        assert!(t.upsert("d".into(), "123456".into(), addr(4), at(4)));
        assert_eq!(t.get(b"a"), None);
        assert_eq!(t.bytes, 9);
        assert!(
            !t.upsert("e".into(), "1234567890".into(), addr(5), at(5)),
            "never fits"
        );
        // A peer that moves is found at its new address only.
        assert!(t.upsert("c".into(), "1".into(), addr(6), at(6)));
        assert!(t.at(addr(3)).is_none());
        assert_eq!(&t.at(addr(6)).unwrap().id[..], b"c");
        let gone = t.expire(at(5));
        assert_eq!(gone.len(), 1, "d was last heard at 4");
        assert_eq!(t.bytes, 2);
    }
}
