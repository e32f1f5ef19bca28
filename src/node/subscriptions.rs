//! Who is subscribed to what, by address (netaio's `UDPNode.subscribe`),
//! bounded in all; each entry remembers whether a received datagram made
//! it (then notifications to it are rate-limited: it may be spoofed).

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::Bytes;

#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    keys: HashMap<Bytes, HashMap<SocketAddr, bool>>,
    len: usize,
}

impl Subscriptions {
    /// Adds `addr` to `key`; false if the table holds `max` already (an
    /// existing subscription is no new entry).
    pub(crate) fn add(&mut self, key: Bytes, addr: SocketAddr, remote: bool, max: usize) -> bool {
        let exists = self.keys.get(&key).is_some_and(|s| s.contains_key(&addr));
        if exists {
            return true;
        }
        if self.len >= max {
            return false;
        }
        // A copy: the key outlives the datagram it came in.
        let key = Bytes::copy_from_slice(&key);
        self.keys.entry(key).or_default().insert(addr, remote);
        self.len += 1;
        true
    }

    pub(crate) fn remove(&mut self, key: &[u8], addr: SocketAddr) -> bool {
        let Some(subs) = self.keys.get_mut(key) else {
            return false;
        };
        let removed = subs.remove(&addr).is_some();
        if subs.is_empty() {
            self.keys.remove(key);
        }
        self.len -= usize::from(removed);
        removed
    }

    /// Drops every subscription of `addr` (the peer left or timed out).
    pub(crate) fn remove_all(&mut self, addr: SocketAddr) {
        let mut gone = 0;
        self.keys.retain(|_, subs| {
            gone += usize::from(subs.remove(&addr).is_some());
            !subs.is_empty()
        });
        self.len -= gone;
    }

    /// The subscribers of `key`, and whether a datagram made each.
    pub(crate) fn of(&self, key: &[u8]) -> Vec<(SocketAddr, bool)> {
        self.keys
            .get(key)
            .map(|s| s.iter().map(|(a, r)| (*a, *r)).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_are_bounded_and_removed_by_address() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let mut s = Subscriptions::default();
        assert!(s.add("t".into(), a, false, 2));
        assert!(s.add("t".into(), a, true, 2), "already there");
        assert!(s.add("u".into(), a, true, 2));
        assert!(!s.add("t".into(), b, true, 2), "full");
        assert_eq!(s.of(b"t"), vec![(a, false)]);
        s.remove_all(a);
        assert!(s.of(b"u").is_empty());
        assert!(s.add("t".into(), b, true, 2));
        assert!(s.remove(b"t", b) && !s.remove(b"t", b));
        assert_eq!(s.len, 0);
    }
}
