//! The table of known peers: by id, with one id per address, bounded by
//! count, by the size of one entry and by the bytes of all entries.
//!
//! Two rules keep one announcer from taking what is not its own:
//!
//! - **One id per address.** An address (a TCP connection, a UDP source)
//!   holds at most one entry: announcing a new id replaces its previous
//!   one, so announcing many ids from one place adds nothing.
//! - **An id is held** (server and node tables): the address that first
//!   announced an id keeps it until the entry is removed (its connection
//!   closed, it timed out, it said DISCONNECT, the handle removed it); an
//!   announcement of that id from anywhere else is refused. A client's
//!   table lets an id move instead: its peers are the servers it chose to
//!   dial, and one server may be reached at another address after a
//!   failover.

use crate::random::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::{Peer, MAX_PEER_DATA};

/// Why the table refused an announcement (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Larger than one entry may be (or than the whole table).
    TooLarge,
    /// No room, and the table does not evict (or has nothing to evict).
    Full,
    /// Another address holds this id.
    Held,
}

impl Refused {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refused::TooLarge => "entry too large",
            Refused::Full => "table full",
            Refused::Held => "id held by another address",
        }
    }
}

/// Known peers by id, with the index by address (one id each).
#[derive(Debug)]
pub(crate) struct PeerTable {
    pub(super) peers: HashMap<Bytes, Peer>,
    /// The id each address holds; the exact inverse of the entries'
    /// `addr`.
    pub(super) at: HashMap<SocketAddr, Bytes>,
    max: usize,
    max_bytes: usize,
    /// Most bytes of one entry's id and data.
    max_entry: usize,
    /// Bytes of every entry's id and data.
    pub(super) bytes: usize,
    /// Whether a full table evicts its stalest entry (else it refuses).
    evict: bool,
    /// Whether an id stays with the address that announced it (else it
    /// moves to the latest announcer).
    held: bool,
}

fn entry_size(p: &Peer) -> usize {
    p.id.len().saturating_add(p.data.len())
}

impl PeerTable {
    /// A client's table: refuses when full, ids move.
    pub(crate) fn new(max: usize) -> Self {
        PeerTable {
            peers: HashMap::default(),
            at: HashMap::default(),
            max,
            max_bytes: usize::MAX,
            max_entry: 2 * MAX_PEER_DATA,
            bytes: 0,
            evict: false,
            held: false,
        }
    }

    /// A server's table: refuses when full, ids are held.
    pub(crate) fn held(max: usize, max_bytes: usize, max_entry: usize) -> Self {
        PeerTable {
            max_bytes,
            max_entry,
            held: true,
            ..PeerTable::new(max)
        }
    }

    /// A node's table: evicts the stalest entry when full, ids are held.
    pub(crate) fn evicting(max: usize, max_bytes: usize, max_entry: usize) -> Self {
        PeerTable {
            evict: true,
            ..PeerTable::held(max, max_bytes, max_entry)
        }
    }

    /// Sets the byte bounds (a server's limits are known at `build`,
    /// after its handlers were registered); what is there stays.
    pub(crate) fn set_bounds(&mut self, max_bytes: usize, max_entry: usize) {
        self.max_bytes = max_bytes;
        self.max_entry = max_entry;
    }

    /// Adds or refreshes `id` as held by `addr`, replacing what `addr`
    /// held before. Nothing changes when it is refused.
    pub(crate) fn upsert(
        &mut self,
        id: Bytes,
        data: Bytes,
        addr: SocketAddr,
        now: Instant,
    ) -> Result<(), Refused> {
        let size = id.len().saturating_add(data.len());
        if id.len() > MAX_PEER_DATA
            || data.len() > MAX_PEER_DATA
            || size > self.max_entry
            || size > self.max_bytes
            || self.max == 0
        {
            return Err(Refused::TooLarge);
        }
        // What this announcement replaces: the entry `addr` holds, and
        // `id`'s entry if it moves here from elsewhere (two different
        // entries: one is held by `addr`, the other is not).
        let mut replaced: Vec<Bytes> = self.at.get(&addr).cloned().into_iter().collect();
        if let Some(holder) = self.peers.get(&id).map(|p| p.addr) {
            if holder != addr {
                if self.held {
                    return Err(Refused::Held);
                }
                replaced.push(id.clone());
            }
        }
        let freed: usize = replaced
            .iter()
            .filter_map(|r| self.peers.get(r))
            .map(entry_size)
            .sum();
        loop {
            let count = self.peers.len().saturating_sub(replaced.len()) + 1;
            let bytes = self.bytes.saturating_sub(freed).saturating_add(size);
            if count <= self.max && bytes <= self.max_bytes {
                break;
            }
            if !self.evict || !self.evict_stalest(&replaced) {
                return Err(Refused::Full);
            }
        }
        for r in &replaced {
            self.remove(r);
        }
        self.bytes = self.bytes.saturating_add(size);
        self.at.insert(addr, id.clone());
        let peer = Peer {
            id: id.clone(),
            data,
            addr,
            last_seen: now,
        };
        self.peers.insert(id, peer);
        Ok(())
    }

    /// Evicts the peer heard from least recently, other than `keep`.
    fn evict_stalest(&mut self, keep: &[Bytes]) -> bool {
        let stalest = self
            .peers
            .values()
            .filter(|p| !keep.contains(&p.id))
            .min_by_key(|p| p.last_seen)
            .map(|p| p.id.clone());
        stalest.is_some_and(|id| self.remove(&id).is_some())
    }

    pub(crate) fn remove(&mut self, id: &[u8]) -> Option<Peer> {
        let peer = self.peers.remove(id)?;
        self.bytes = self.bytes.saturating_sub(entry_size(&peer));
        if self.at.get(&peer.addr).is_some_and(|i| &i[..] == id) {
            self.at.remove(&peer.addr);
        }
        Some(peer)
    }

    /// Forgets `id` if `addr` holds it.
    pub(crate) fn remove_from(&mut self, id: &[u8], addr: SocketAddr) -> bool {
        let held = self.peers.get(id).is_some_and(|p| p.addr == addr);
        held && self.remove(id).is_some()
    }

    /// Forgets the peer `addr` holds; how many (0 or 1).
    pub(crate) fn remove_at(&mut self, addr: SocketAddr) -> usize {
        match self.at.get(&addr).cloned() {
            Some(id) => usize::from(self.remove(&id).is_some()),
            None => 0,
        }
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

    /// The data of the peer `addr` holds (no copy of the rest).
    pub(crate) fn data_at(&self, addr: SocketAddr) -> Option<Bytes> {
        let id = self.at.get(&addr)?;
        self.peers.get(id).map(|p| p.data.clone())
    }

    pub(crate) fn knows(&self, addr: SocketAddr) -> bool {
        self.at.contains_key(&addr)
    }

    pub(crate) fn len(&self) -> usize {
        self.peers.len()
    }

    /// Bytes of every entry's id and data.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
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
    use std::time::Duration;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = PeerTable::held(2, usize::MAX, 2 * MAX_PEER_DATA);
        let now = Instant::now();
        assert!(t.upsert("a".into(), "1".into(), addr(1), now).is_ok());
        assert!(t.upsert("b".into(), "1".into(), addr(2), now).is_ok());
        assert_eq!(
            t.upsert("c".into(), "1".into(), addr(3), now),
            Err(Refused::Full)
        );
        assert!(
            t.upsert("a".into(), "2".into(), addr(1), now).is_ok(),
            "an update is not new"
        );
        assert_eq!(&t.get(b"a").unwrap().data[..], b"2");
        let big = vec![0; MAX_PEER_DATA + 1];
        assert_eq!(
            t.upsert("d".into(), big.into(), addr(4), now),
            Err(Refused::TooLarge)
        );
        assert_eq!(t.remove_at(addr(2)), 1);
        assert!(t.remove(b"a").is_some());
        assert!(t.all().is_empty());
    }

    #[test]
    fn an_address_holds_one_id_and_an_id_stays_with_its_address() {
        let now = Instant::now();
        let mut t = PeerTable::held(100, 20, 8);
        assert!(t.upsert("a".into(), "1".into(), addr(1), now).is_ok());
        // A new id from the same address replaces the old one.
        assert!(t.upsert("b".into(), "12".into(), addr(1), now).is_ok());
        assert_eq!((t.len(), t.bytes()), (1, 3));
        assert_eq!(t.get(b"a"), None);
        // Another address cannot take b, nor remove it.
        assert_eq!(
            t.upsert("b".into(), "x".into(), addr(2), now),
            Err(Refused::Held)
        );
        assert!(!t.remove_from(b"b", addr(2)));
        assert_eq!(t.get(b"b").unwrap().addr, addr(1));
        // The entry cap and the byte budget.
        assert_eq!(
            t.upsert("c".into(), "12345678".into(), addr(2), now),
            Err(Refused::TooLarge)
        );
        assert!(t.upsert("c".into(), "1234567".into(), addr(2), now).is_ok());
        assert!(t.upsert("d".into(), "1234567".into(), addr(3), now).is_ok());
        assert_eq!(t.bytes(), 19);
        assert_eq!(
            t.upsert("e".into(), "1".into(), addr(4), now),
            Err(Refused::Full),
            "past the byte budget"
        );
        // A replacement that fits once its predecessor is gone is taken.
        assert!(t.upsert("f".into(), "123".into(), addr(3), now).is_ok());
        assert_eq!(t.bytes(), 15);
        // Once its holder leaves, an id is free to take.
        assert!(t.remove_from(b"b", addr(1)));
        assert!(t.upsert("b".into(), "x".into(), addr(2), now).is_ok());
        assert_eq!(t.get(b"c"), None, "addr 2 held c before");
    }

    #[test]
    fn an_entry_of_exactly_the_bounds_fits_and_a_byte_more_never_does() {
        let now = Instant::now();
        // The longest id and data (16 KiB each, as documented) fit.
        let max = 16 * 1024;
        let mut t = PeerTable::held(10, usize::MAX, 2 * max);
        assert!(t
            .upsert(vec![1; max].into(), vec![2; max].into(), addr(1), now)
            .is_ok());
        assert_eq!(
            t.upsert(vec![3; max + 1].into(), "d".into(), addr(2), now),
            Err(Refused::TooLarge)
        );

        // A table's whole byte budget is also the largest entry it takes,
        // and a larger one is refused before anyone is evicted for it.
        let mut t = PeerTable::evicting(10, 10, 100);
        assert!(t.upsert("a".into(), "1".into(), addr(1), now).is_ok());
        assert_eq!(
            t.upsert("b".into(), "1234567890".into(), addr(2), now),
            Err(Refused::TooLarge)
        );
        assert!(t.get(b"a").is_some(), "nobody evicted");
        assert!(t
            .upsert("b".into(), "123456789".into(), addr(2), now)
            .is_ok());
        assert_eq!((t.len(), t.bytes()), (1, 10), "a made room");
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(Refused::TooLarge.reason(), "entry too large");
        assert_eq!(Refused::Full.reason(), "table full");
        assert_eq!(Refused::Held.reason(), "id held by another address");
    }

    #[test]
    fn a_clients_table_lets_an_id_move() {
        let now = Instant::now();
        let mut t = PeerTable::new(10);
        assert!(t.upsert("s".into(), "1".into(), addr(1), now).is_ok());
        assert!(t.upsert("s".into(), "1".into(), addr(2), now).is_ok());
        assert!(t.at(addr(1)).is_none());
        assert_eq!(t.get(b"s").unwrap().addr, addr(2));
        assert_eq!(t.len(), 1);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Upsert { id: u8, len: usize, port: u16 },
        Remove(u8),
        RemoveFrom(u8, u16),
        RemoveAt(u16),
        Expire(u64),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0u8..12, 0usize..40, 1u16..6).prop_map(|(id, len, port)| Op::Upsert { id, len, port }),
            1 => (0u8..12).prop_map(Op::Remove),
            1 => (0u8..12, 1u16..6).prop_map(|(id, port)| Op::RemoveFrom(id, port)),
            1 => (1u16..6).prop_map(Op::RemoveAt),
            1 => (0u64..200).prop_map(Op::Expire),
        ]
    }

    proptest::proptest! {
        /// Whatever happens, the byte count is the sum of the entries,
        /// every bound holds, the address index is the exact inverse of
        /// the entries' addresses, a refusal changes nothing, and (when
        /// held) an id never changes address.
        #[test]
        fn the_table_keeps_its_accounts(
            kind in 0u8..3,
            ops in proptest::collection::vec(op(), 1..80),
        ) {
            let t0 = Instant::now();
            let mut t = match kind {
                0 => PeerTable::new(5),
                1 => PeerTable::held(5, 100, 30),
                _ => PeerTable::evicting(5, 100, 30),
            };
            for (step, op) in ops.into_iter().enumerate() {
                let now = t0 + Duration::from_secs(step as u64);
                match op {
                    Op::Upsert { id, len, port } => {
                        let before = t.all();
                        let holder = t.get(&[id]).map(|p| p.addr);
                        match t.upsert(vec![id].into(), vec![0; len].into(), addr(port), now) {
                            Ok(()) => proptest::prop_assert!(
                                kind == 0 || holder.is_none_or(|h| h == addr(port)),
                                "a held id moved"
                            ),
                            Err(_) => proptest::prop_assert_eq!(t.all(), before),
                        }
                    }
                    Op::Remove(id) => {
                        t.remove(&[id]);
                    }
                    Op::RemoveFrom(id, port) => {
                        let holder = t.get(&[id]).map(|p| p.addr);
                        let removed = t.remove_from(&[id], addr(port));
                        proptest::prop_assert_eq!(removed, holder == Some(addr(port)));
                    }
                    Op::RemoveAt(port) => {
                        t.remove_at(addr(port));
                    }
                    Op::Expire(s) => {
                        t.expire(t0 + Duration::from_secs(s));
                    }
                }
                let sum: usize = t.peers.values().map(entry_size).sum();
                proptest::prop_assert_eq!(t.bytes, sum);
                proptest::prop_assert!(t.peers.len() <= 5);
                if kind > 0 {
                    proptest::prop_assert!(t.bytes <= 100);
                    proptest::prop_assert!(t.peers.values().all(|p| entry_size(p) <= 30));
                }
                proptest::prop_assert_eq!(t.at.len(), t.peers.len());
                for p in t.peers.values() {
                    proptest::prop_assert_eq!(t.at.get(&p.addr), Some(&p.id));
                }
            }
        }
    }

    #[test]
    fn an_evicting_table_makes_room_by_dropping_the_stalest_peer() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut t = PeerTable::evicting(2, 10, 10);
        assert!(t.upsert("a".into(), "1".into(), addr(1), at(0)).is_ok());
        assert!(t.upsert("b".into(), "1".into(), addr(2), at(1)).is_ok());
        assert!(
            t.upsert("a".into(), "2".into(), addr(1), at(2)).is_ok(),
            "a refreshed"
        );
        assert!(
            t.upsert("c".into(), "1".into(), addr(3), at(3)).is_ok(),
            "evicts b"
        );
        assert_eq!(t.get(b"b"), None);
        assert!(t.at(addr(2)).is_none(), "the index follows");
        // 4 bytes used; 7 more do not fit in 10 without evicting the stalest (a).
        assert!(t
            .upsert("d".into(), "123456".into(), addr(4), at(4))
            .is_ok());
        assert_eq!(t.get(b"a"), None);
        assert_eq!(t.bytes, 9);
        assert_eq!(
            t.upsert("e".into(), "1234567890".into(), addr(5), at(5)),
            Err(Refused::TooLarge),
            "never fits"
        );
        // An id heard from elsewhere does not move, nor evict anyone.
        assert_eq!(
            t.upsert("c".into(), "1".into(), addr(6), at(6)),
            Err(Refused::Held)
        );
        assert_eq!(&t.at(addr(3)).unwrap().id[..], b"c");
        let gone = t.expire(at(4));
        assert_eq!(gone.len(), 1, "c was last heard at 3");
        assert_eq!(t.bytes, 7);
        assert!(
            t.upsert("c".into(), "1".into(), addr(6), at(7)).is_ok(),
            "free once it timed out"
        );
    }
}
