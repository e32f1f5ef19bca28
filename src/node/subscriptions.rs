//! Who is subscribed to what, by address (netaio's `UDPNode.subscribe`),
//! bounded in all by count and bytes of topics. A subscription a received
//! datagram made may be spoofed, so it is bounded per source IP too, and
//! expires unless renewed (or kept by its peer); its notifications are
//! limited by the guard. Pure: the caller passes the time.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{NodeError, NodeLimits};

/// Who made a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Made {
    /// The application ([`NodeHandle::subscribe`](super::NodeHandle::subscribe)):
    /// it chose the address; never expires.
    App,
    /// A received datagram ([`Origin::subscribe`](super::Origin::subscribe)):
    /// its source may be spoofed.
    Datagram,
}

/// Where an entry sits in the expiry order (its deadline and a tiebreak).
type Slot = (Instant, u64);

#[derive(Debug, Clone, Copy)]
struct Entry {
    made: Made,
    /// `None`: never expires (made by the application, or a ttl too large
    /// for the clock).
    expires: Option<Slot>,
}

/// How much of the table one source's datagram-made subscriptions take.
#[derive(Debug, Default, Clone, Copy)]
struct Use {
    count: usize,
    bytes: usize,
}

/// Why a subscription was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    Count(usize),
    Bytes(usize),
    SourceCount(IpAddr, usize),
    SourceBytes(IpAddr, usize),
}

impl From<Full> for NodeError {
    fn from(f: Full) -> Self {
        match f {
            Full::Count(max) => NodeError::TooManySubscriptions { max },
            Full::Bytes(max) => NodeError::SubscriptionBytes { max },
            Full::SourceCount(ip, max) => NodeError::SourceSubscriptions { ip, max },
            Full::SourceBytes(ip, max) => NodeError::SourceSubscriptionBytes { ip, max },
        }
    }
}

#[derive(Debug)]
pub(crate) struct Subscriptions {
    keys: HashMap<Bytes, HashMap<SocketAddr, Entry>>,
    /// Datagram-made entries by deadline: expiry pops the front, so it
    /// costs only what expires.
    expiry: BTreeMap<Slot, (Bytes, SocketAddr)>,
    sources: HashMap<IpAddr, Use>,
    len: usize,
    bytes: usize,
    seq: u64,
    max: usize,
    max_bytes: usize,
    max_source: usize,
    max_source_bytes: usize,
    ttl: Duration,
}

impl Subscriptions {
    pub(crate) fn new(limits: &NodeLimits) -> Self {
        Subscriptions {
            keys: HashMap::new(),
            expiry: BTreeMap::new(),
            sources: HashMap::new(),
            len: 0,
            bytes: 0,
            seq: 0,
            max: limits.max_subscriptions,
            max_bytes: limits.max_subscription_bytes,
            max_source: limits.max_source_subscriptions,
            max_source_bytes: limits.max_source_subscription_bytes,
            ttl: limits.subscription_ttl,
        }
    }

    /// Subscribes `addr` to `key` at `now`. An existing subscription is no
    /// new entry: a datagram renews its deadline, the application makes it
    /// its own (no deadline).
    pub(crate) fn add(
        &mut self,
        key: Bytes,
        addr: SocketAddr,
        made: Made,
        now: Instant,
    ) -> Result<(), Full> {
        let existing = self.keys.get(&key).and_then(|s| s.get(&addr)).copied();
        if let Some(old) = existing {
            if old.made == Made::App {
                return Ok(());
            }
            self.unlink(&key, addr, old);
            let stored = self.stored(&key);
            self.link(stored, addr, made, now);
            return Ok(());
        }
        let len = key.len();
        if self.len >= self.max {
            return Err(Full::Count(self.max));
        }
        if self.bytes.saturating_add(len) > self.max_bytes {
            return Err(Full::Bytes(self.max_bytes));
        }
        if made == Made::Datagram {
            let ip = addr.ip();
            let used = self.sources.get(&ip).copied().unwrap_or_default();
            if used.count >= self.max_source {
                return Err(Full::SourceCount(ip, self.max_source));
            }
            if used.bytes.saturating_add(len) > self.max_source_bytes {
                return Err(Full::SourceBytes(ip, self.max_source_bytes));
            }
        }
        // A copy when the topic is new: the key outlives the datagram it
        // came in. Otherwise the stored one is shared.
        let stored = match self.keys.get_key_value(&key) {
            Some((k, _)) => k.clone(),
            None => Bytes::copy_from_slice(&key),
        };
        self.len += 1;
        self.bytes += len;
        self.link(stored, addr, made, now);
        Ok(())
    }

    /// The stored copy of `key` (present).
    fn stored(&self, key: &[u8]) -> Bytes {
        self.keys
            .get_key_value(key)
            .map_or_else(|| Bytes::copy_from_slice(key), |(k, _)| k.clone())
    }

    /// Files an entry under its key, its source and its deadline (the
    /// totals are the caller's).
    fn link(&mut self, key: Bytes, addr: SocketAddr, made: Made, now: Instant) {
        let expires = match made {
            Made::App => None,
            Made::Datagram => {
                let used = self.sources.entry(addr.ip()).or_default();
                used.count += 1;
                used.bytes += key.len();
                now.checked_add(self.ttl).map(|at| {
                    self.seq = self.seq.wrapping_add(1);
                    let slot = (at, self.seq);
                    self.expiry.insert(slot, (key.clone(), addr));
                    slot
                })
            }
        };
        self.keys
            .entry(key)
            .or_default()
            .insert(addr, Entry { made, expires });
    }

    /// Undoes [`link`](Self::link)'s source and deadline filing for `old`
    /// (the key's map keeps its entry until overwritten or removed).
    fn unlink(&mut self, key: &[u8], addr: SocketAddr, old: Entry) {
        if let Some(slot) = old.expires {
            self.expiry.remove(&slot);
        }
        if old.made == Made::Datagram {
            let ip = addr.ip();
            if let Some(used) = self.sources.get_mut(&ip) {
                used.count = used.count.saturating_sub(1);
                used.bytes = used.bytes.saturating_sub(key.len());
                if used.count == 0 {
                    self.sources.remove(&ip);
                }
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &[u8], addr: SocketAddr) -> bool {
        let Some(subs) = self.keys.get_mut(key) else {
            return false;
        };
        let Some(old) = subs.remove(&addr) else {
            return false;
        };
        if subs.is_empty() {
            self.keys.remove(key);
        }
        self.unlink(key, addr, old);
        self.len = self.len.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(key.len());
        true
    }

    /// Drops every subscription of `addr` (the peer left or timed out).
    pub(crate) fn remove_all(&mut self, addr: SocketAddr) {
        let keys: Vec<Bytes> = self
            .keys
            .iter()
            .filter(|(_, subs)| subs.contains_key(&addr))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.remove(&key, addr);
        }
    }

    /// Drops the datagram-made subscriptions whose deadline is past at
    /// `now`, except those whose address `keep` names (a peer in the
    /// table): they get a new deadline. Returns how many were dropped.
    pub(crate) fn expire(&mut self, now: Instant, keep: impl Fn(SocketAddr) -> bool) -> usize {
        let mut gone = 0;
        let mut kept = Vec::new();
        while let Some(entry) = self.expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (key, addr) = entry.remove();
            if keep(addr) {
                kept.push((key, addr));
            } else if self.remove(&key, addr) {
                gone += 1;
            }
        }
        for (key, addr) in kept {
            // A renewal: the entry is there, unchanged in size.
            let _ = self.add(key, addr, Made::Datagram, now);
        }
        gone
    }

    /// The subscribers of `key`, and whether a datagram made each.
    pub(crate) fn of(&self, key: &[u8]) -> Vec<(SocketAddr, bool)> {
        self.keys
            .get(key)
            .map(|s| {
                s.iter()
                    .map(|(a, e)| (*a, e.made == Made::Datagram))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[cfg(test)]
    fn totals(&self) -> (usize, usize, usize, usize) {
        (self.len, self.bytes, self.expiry.len(), self.sources.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, ip], port))
    }

    fn table(limits: NodeLimits) -> Subscriptions {
        Subscriptions::new(&limits)
    }

    #[test]
    fn subscriptions_are_bounded_and_removed_by_address() {
        let (a, b) = (addr(1, 1), addr(1, 2));
        let now = Instant::now();
        let mut s = table(NodeLimits::default().max_subscriptions(2));
        assert_eq!(s.add("t".into(), a, Made::App, now), Ok(()));
        assert_eq!(s.add("t".into(), a, Made::Datagram, now), Ok(()), "there");
        assert_eq!(s.add("u".into(), a, Made::Datagram, now), Ok(()));
        assert_eq!(
            s.add("t".into(), b, Made::Datagram, now),
            Err(Full::Count(2))
        );
        assert_eq!(s.of(b"t"), vec![(a, false)]);
        s.remove_all(a);
        assert!(s.of(b"u").is_empty());
        assert_eq!(s.add("t".into(), b, Made::Datagram, now), Ok(()));
        assert!(s.remove(b"t", b) && !s.remove(b"t", b));
        assert_eq!(s.totals(), (0, 0, 0, 0));
    }

    #[test]
    fn one_source_cannot_take_the_table_by_count_or_bytes() {
        let now = Instant::now();
        let mut s = table(
            NodeLimits::default()
                .max_subscriptions(100)
                .max_source_subscriptions(3)
                .max_source_subscription_bytes(10),
        );
        for t in ["a", "b", "c"] {
            assert_eq!(s.add(t.into(), addr(1, 1), Made::Datagram, now), Ok(()));
        }
        let ip = addr(1, 1).ip();
        assert_eq!(
            s.add("d".into(), addr(1, 2), Made::Datagram, now),
            Err(Full::SourceCount(ip, 3)),
            "per IP, whatever the port"
        );
        assert_eq!(
            s.add("a".into(), addr(1, 1), Made::Datagram, now),
            Ok(()),
            "a renewal is no new entry"
        );
        assert_eq!(s.add("d".into(), addr(2, 1), Made::Datagram, now), Ok(()));
        assert_eq!(
            s.add("0123456789".into(), addr(3, 1), Made::Datagram, now),
            Ok(())
        );
        assert_eq!(
            s.add("x".into(), addr(3, 1), Made::Datagram, now),
            Err(Full::SourceBytes(addr(3, 1).ip(), 10))
        );
        assert_eq!(
            s.add("e".into(), addr(1, 1), Made::App, now),
            Ok(()),
            "the application's own are not the source's"
        );
    }

    #[test]
    fn the_table_is_bounded_in_bytes() {
        let now = Instant::now();
        let mut s = table(NodeLimits::default().max_subscription_bytes(8));
        assert_eq!(s.add("1234".into(), addr(1, 1), Made::App, now), Ok(()));
        assert_eq!(s.add("1234".into(), addr(2, 1), Made::App, now), Ok(()));
        assert_eq!(
            s.add("1".into(), addr(3, 1), Made::Datagram, now),
            Err(Full::Bytes(8))
        );
    }

    #[test]
    fn datagram_made_subscriptions_expire_unless_renewed_or_kept() {
        let ttl = Duration::from_secs(10);
        let t0 = Instant::now();
        let mut s = table(NodeLimits::default().subscription_ttl(ttl));
        let (a, b, peer, app) = (addr(1, 1), addr(2, 1), addr(3, 1), addr(4, 1));
        s.add("t".into(), a, Made::Datagram, t0).unwrap();
        s.add("t".into(), b, Made::Datagram, t0).unwrap();
        s.add("t".into(), peer, Made::Datagram, t0).unwrap();
        s.add("t".into(), app, Made::App, t0).unwrap();
        let t1 = t0 + Duration::from_secs(6);
        s.add("t".into(), b, Made::Datagram, t1).unwrap(); // renewed
        let is_peer = |x: SocketAddr| x == peer;
        assert_eq!(s.expire(t0 + Duration::from_secs(9), is_peer), 0);
        assert_eq!(s.expire(t0 + ttl, is_peer), 1, "a, not renewed");
        let mut left: Vec<SocketAddr> = s.of(b"t").into_iter().map(|(x, _)| x).collect();
        left.sort();
        assert_eq!(left, vec![b, peer, app]);
        assert_eq!(s.expire(t1 + ttl, |_| false), 1, "b, then");
        assert_eq!(s.expire(t0 + ttl * 2, |_| false), 1, "the peer gone");
        assert_eq!(s.of(b"t"), vec![(app, false)], "the application's stay");
        assert_eq!(s.totals(), (1, 1, 0, 0));
        // The room the expired ones took is free again.
        let mut s = table(
            NodeLimits::default()
                .subscription_ttl(ttl)
                .max_source_subscriptions(1),
        );
        s.add("t".into(), a, Made::Datagram, t0).unwrap();
        assert!(s.add("u".into(), a, Made::Datagram, t0).is_err());
        s.expire(t0 + ttl, |_| false);
        assert_eq!(s.add("u".into(), a, Made::Datagram, t0 + ttl), Ok(()));
    }
}
