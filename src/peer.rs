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
//!
//! # What an announcer can do
//!
//! netaio's announcements carry no proof: whoever can send a frame can
//! announce any id with any data. What framewire holds on top:
//!
//! - each address holds **one id**: a new announcement from a connection
//!   (or a UDP source) replaces its previous entry, so one connection
//!   cannot fill the table;
//! - an id is **held** by the address that announced it until that entry
//!   goes (connection closed, peer timed out, its own DISCONNECT): the
//!   same id announced from elsewhere is refused, and a DISCONNECT only
//!   ever removes the sender's own entry;
//! - the table is bounded by count ([`LocalPeer::with_max_peers`]), by the
//!   bytes of one entry and by the bytes of all of them (the server's
//!   [`Limits::max_peer_bytes`](crate::server::Limits::max_peer_bytes),
//!   the node's [`NodeLimits::max_peer_bytes`](crate::node::NodeLimits::max_peer_bytes));
//! - on a server whose connections have permissions, the three messages
//!   are checked like a request for the app id (see
//!   [`Permissions`](crate::auth::Permissions)).
//!
//! What is not held: an id is first come, first served (whoever announces
//! a victim's public id before it does holds it), and a UDP source address
//! can be forged (see `framewire::node`).

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;

use crate::sync::lock;
use crate::wire::{Message, MessageType, PackError, PackValue};

mod table;

use table::PeerTable;

/// Most peers a table holds (a new id beyond it is refused; a node's
/// table evicts the peer heard from least recently instead).
pub const DEFAULT_MAX_PEERS: usize = 10_000;
/// Longest peer id and longest peer data ever accepted, in bytes (the
/// limits cap one entry tighter: 4 KiB by default).
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
        let id: [u8; 16] = crate::random::bytes();
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

/// A node's identity and the peers it knows: what the server's, the
/// node's and the client's handlers share.
#[derive(Debug)]
pub(crate) struct Peers {
    local: LocalPeer,
    table: Mutex<PeerTable>,
}

impl Peers {
    /// A client's table: refuses new peers when full; an id moves to
    /// where it was last heard (the client's peers are the servers it
    /// dials, one at a time).
    pub(crate) fn new(local: LocalPeer) -> Self {
        let table = Mutex::new(PeerTable::new(local.max_peers()));
        Peers { local, table }
    }

    /// A server's table: refuses new peers when full; each connection
    /// holds one id, which no other connection can take. Its byte bounds
    /// come with [`set_bounds`](Self::set_bounds).
    pub(crate) fn held(local: LocalPeer) -> Self {
        let table = PeerTable::held(local.max_peers(), usize::MAX, 2 * MAX_PEER_DATA);
        Peers {
            local,
            table: Mutex::new(table),
        }
    }

    /// A node's table: bounded by count and by bytes, making room by
    /// evicting the peer heard from least recently (UDP: anyone may
    /// announce anything, so a full table must not lock real peers out
    /// for good); each source address holds one id, which no other
    /// address can take until it times out.
    pub(crate) fn evicting(local: LocalPeer, max_bytes: usize, max_entry: usize) -> Self {
        let table = PeerTable::evicting(local.max_peers(), max_bytes, max_entry);
        Peers {
            local,
            table: Mutex::new(table),
        }
    }

    /// Sets the bytes the table may hold in all and per entry.
    pub(crate) fn set_bounds(&self, max_bytes: usize, max_entry: usize) {
        lock(&self.table).set_bounds(max_bytes, max_entry);
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

    /// The peer `addr` holds.
    pub(crate) fn at(&self, addr: SocketAddr) -> Option<Peer> {
        lock(&self.table).at(addr)
    }

    /// The data of the peer `addr` holds (no copy of the rest).
    pub(crate) fn data_at(&self, addr: SocketAddr) -> Option<Bytes> {
        lock(&self.table).data_at(addr)
    }

    /// Whether `addr` holds a peer.
    pub(crate) fn knows(&self, addr: SocketAddr) -> bool {
        lock(&self.table).knows(addr)
    }

    /// How many peers the table holds.
    pub(crate) fn len(&self) -> usize {
        lock(&self.table).len()
    }

    /// Forgets the peers not heard from since `before`; returns them.
    pub(crate) fn expire(&self, before: Instant) -> Vec<Peer> {
        lock(&self.table).expire(before)
    }

    pub(crate) fn remove(&self, id: &[u8]) -> Option<Peer> {
        lock(&self.table).remove(id)
    }

    /// Forgets `id` if `addr` holds it (a DISCONNECT: nobody else's).
    pub(crate) fn remove_from(&self, id: &[u8], addr: SocketAddr) -> bool {
        lock(&self.table).remove_from(id, addr)
    }

    /// Forgets the peer `addr` holds (its connection closed).
    pub(crate) fn remove_at(&self, addr: SocketAddr) {
        lock(&self.table).remove_at(addr);
    }

    /// Adds or refreshes the peer an announcement's `content` names, heard
    /// from `addr` (replacing the one `addr` held before); false if it is
    /// not `(id, data)`, is this node's own id, or the table refuses it
    /// (too large, full, or the id is held by another address).
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
        match lock(&self.table).upsert(id, data, addr, now) {
            Ok(()) => true,
            Err(why) => {
                tracing::debug!(%addr, reason = why.reason(), "peer refused");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcement_round_trips() {
        let me = LocalPeer::new(&b"id"[..], &b"data"[..]);
        let msg = me.message(MessageType::ADVERTISE_PEER);
        assert_eq!(&msg.uri()[..], b"netaio");
        let (id, data) = parse(msg.content()).unwrap();
        assert_eq!((&id[..], data.as_deref()), (&b"id"[..], Some(&b"data"[..])));
        assert_eq!(parse(&Bytes::from_static(b"\x41\x01x")), None);
    }

    fn tuple(items: Vec<PackValue>) -> Bytes {
        PackValue::Tuple(items).to_bytes()
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn an_announcement_is_an_id_and_data_pair_and_nothing_else() {
        let id = || PackValue::from(&b"id"[..]);
        // A DISCONNECT's data need not be bytes.
        assert_eq!(
            parse(&tuple(vec![id(), PackValue::None])),
            Some((Bytes::from_static(b"id"), None))
        );
        assert_eq!(parse(&tuple(vec![id()])), None);
        assert_eq!(parse(&tuple(vec![id(), id(), id()])), None);
        assert_eq!(parse(&tuple(vec![PackValue::None, id()])), None);
        assert_eq!(
            parse(&PackValue::List(vec![id(), id()]).to_bytes()),
            None,
            "a list is not a tuple"
        );
    }

    /// Content up to twice the longest id and data, plus 64 bytes of
    /// packing, is read; a byte more is not even decoded.
    #[test]
    fn the_largest_announcement_parses_and_one_byte_more_does_not() {
        // The documented limits, not the constants: 16 KiB each.
        let max = 16 * 1024;
        let limit = 2 * max + 64;
        let id = PackValue::from(&vec![1u8; max][..]);
        let content =
            |data_len: usize| tuple(vec![id.clone(), PackValue::from(&vec![2u8; data_len][..])]);
        let overhead = content(max).len() - 2 * max;
        let exact = content(max + 64 - overhead);
        assert_eq!(exact.len(), limit);
        let (got_id, got_data) = parse(&exact).unwrap();
        assert_eq!(got_id.len(), max);
        assert_eq!(got_data.unwrap().len(), max + 64 - overhead);
        let over = content(max + 65 - overhead);
        assert_eq!(over.len(), limit + 1);
        assert_eq!(parse(&over), None);
    }

    #[test]
    fn a_local_peer_says_who_it_is() {
        let me = LocalPeer::new(&b"me"[..], &b"data"[..]);
        assert_eq!((&me.id()[..], &me.data()[..]), (&b"me"[..], &b"data"[..]));
        assert_eq!(&me.app_id()[..], b"netaio");
        assert_eq!(me.max_peers(), DEFAULT_MAX_PEERS);
        assert_eq!(DEFAULT_MAX_PEERS, 10_000);
        let me = me.with_app_id(&b"app"[..]).with_max_peers(7);
        assert_eq!((&me.app_id()[..], me.max_peers()), (&b"app"[..], 7));
        assert_eq!(&me.id()[..], b"me", "the id stays");

        let msg = me.message(MessageType::PEER_DISCOVERED);
        assert_eq!(msg.message_type, MessageType::PEER_DISCOVERED);
        assert_eq!(&msg.uri()[..], b"app");
        assert_eq!(
            msg.content(),
            &tuple(vec![
                PackValue::from(&b"me"[..]),
                PackValue::from(&b"data"[..])
            ])
        );

        let named = me.clone().with_fields([("name", "a"), ("zone", "b")]);
        let data = PackValue::decode(named.data().clone()).unwrap();
        assert_eq!(data.get("name"), Some(&PackValue::from("a")));
        assert_eq!(data.get("zone"), Some(&PackValue::from("b")));
        assert_eq!((named.max_peers(), &named.id()[..]), (7, &b"me"[..]));
        let valued = me.with_data_value(PackValue::Int(5));
        assert_eq!(valued.data(), &PackValue::Int(5).to_bytes());
        assert_eq!(&valued.app_id()[..], b"app");

        let r = LocalPeer::random();
        assert_eq!(r.id().len(), 16);
        assert_ne!(r.id(), LocalPeer::random().id());
        assert_eq!(
            PackValue::decode(r.data().clone()).unwrap(),
            PackValue::Dict(Vec::new())
        );
        let peer = Peer {
            id: r.id().clone(),
            data: r.data().clone(),
            addr: addr(1),
            last_seen: Instant::now(),
        };
        assert_eq!(peer.data_value().unwrap(), PackValue::Dict(Vec::new()));
    }

    #[test]
    fn peers_learn_announcements_and_forget_them() {
        let me = LocalPeer::new(&b"me"[..], &b""[..]);
        let peers = Peers::held(me.clone());
        assert_eq!(&peers.local().id()[..], b"me");
        let a = LocalPeer::new(&b"a"[..], &b"da"[..]).message(MessageType::ADVERTISE_PEER);
        let b = LocalPeer::new(&b"b"[..], &b"db"[..]).message(MessageType::ADVERTISE_PEER);
        let t0 = Instant::now();

        assert!(!peers.learn(me.message(MessageType::ADVERTISE_PEER).content(), addr(9)));
        assert!(!peers.learn(&Bytes::from_static(b"junk"), addr(9)));
        assert!(!peers.learn(
            &tuple(vec![PackValue::from(&b"c"[..]), PackValue::None]),
            addr(9)
        ));
        assert_eq!(peers.len(), 0);
        assert!(!peers.knows(addr(9)));

        assert!(peers.learn_at(a.content(), addr(1), t0));
        assert!(peers.learn_at(b.content(), addr(2), t0 + std::time::Duration::from_secs(5)));
        assert!(!peers.learn(a.content(), addr(3)), "held by addr 1");
        assert_eq!(peers.len(), 2);
        assert!(peers.knows(addr(1)) && !peers.knows(addr(3)));
        assert_eq!(&peers.get(b"a").unwrap().data[..], b"da");
        assert_eq!(peers.get(b"c"), None);
        assert_eq!(peers.at(addr(2)).unwrap().id, Bytes::from_static(b"b"));
        assert_eq!(peers.at(addr(3)), None);
        assert_eq!(peers.data_at(addr(1)), Some(Bytes::from_static(b"da")));
        assert_eq!(peers.data_at(addr(3)), None);
        let ids: Vec<Bytes> = peers.all().into_iter().map(|p| p.id).collect();
        assert_eq!(ids, [&b"a"[..], &b"b"[..]]);

        assert!(!peers.remove_from(b"a", addr(2)));
        assert!(peers.remove_from(b"a", addr(1)));
        assert!(!peers.knows(addr(1)));
        assert!(peers.learn_at(a.content(), addr(1), t0));
        let gone = peers.expire(t0 + std::time::Duration::from_millis(1));
        assert_eq!(gone.len(), 1);
        assert_eq!(&gone[0].id[..], b"a");
        peers.remove_at(addr(2));
        assert_eq!(peers.len(), 0);
        assert!(peers.learn(b.content(), addr(2)));
        assert_eq!(peers.remove(b"b").map(|p| p.addr), Some(addr(2)));
        assert_eq!(peers.remove(b"b"), None);

        // Byte bounds: an entry larger than the bound is refused.
        peers.set_bounds(1024, 2);
        assert!(!peers.learn(a.content(), addr(1)), "3 bytes > 2");
        peers.set_bounds(1024, 3);
        assert!(peers.learn(a.content(), addr(1)));
    }

    #[test]
    fn each_kind_of_table_has_its_rules() {
        let me = LocalPeer::new(&b"me"[..], &b""[..]).with_max_peers(1);
        let a = LocalPeer::new(&b"a"[..], &b"1"[..]).message(MessageType::ADVERTISE_PEER);
        let b = LocalPeer::new(&b"b"[..], &b"1"[..]).message(MessageType::ADVERTISE_PEER);
        let t0 = Instant::now();
        let later = t0 + std::time::Duration::from_secs(1);

        // A client's: full means refused; an id moves.
        let client = Peers::new(me.clone());
        assert!(client.learn_at(a.content(), addr(1), t0));
        assert!(!client.learn_at(b.content(), addr(2), later));
        assert!(client.learn_at(a.content(), addr(2), later));
        assert_eq!(client.get(b"a").unwrap().addr, addr(2));

        // A server's: full means refused; an id is held; entries up to
        // twice the largest peer data until bounds are set.
        let server = Peers::held(me.clone().with_max_peers(2));
        assert!(server.learn_at(a.content(), addr(1), t0));
        assert!(!server.learn_at(a.content(), addr(2), later));
        // The largest id and data (16 KiB each, as documented).
        let big = LocalPeer::new(vec![1u8; 16 * 1024], vec![2u8; 16 * 1024])
            .message(MessageType::ADVERTISE_PEER);
        assert!(server.learn_at(big.content(), addr(3), later));

        // A node's: bounded by bytes, evicting the stalest.
        let node = Peers::evicting(me, 4, 4);
        assert!(node.learn_at(a.content(), addr(1), t0));
        assert!(node.learn_at(b.content(), addr(2), later));
        assert_eq!(node.get(b"a"), None, "evicted");
        assert!(
            !node.learn_at(big.content(), addr(3), later),
            "over the entry bound"
        );
    }
}
