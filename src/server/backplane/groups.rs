//! Queue groups across instances (pure: no I/O, a plain clock).
//!
//! Each instance announces its queue-group table — every (topic, group)
//! with members here, and how many — on the backplane when it changes and
//! every [`ANNOUNCE_EVERY`] while it has any; every instance keeps the
//! others' tables in a [`Directory`] and forgets an instance not heard
//! for [`FORGET_AFTER`].
//!
//! The instance a notification is published on decides, for each of the
//! topic's groups anywhere, which instance delivers it: the members of a
//! group across the cluster take turns (an instance with two members gets
//! two turns in three against one with one), and the choice travels in
//! the envelope (`Target::Grouped`), so exactly one instance delivers it
//! to exactly one of its members, whatever the others believe about
//! membership. The chosen instance picks its member in turn. This is
//! NATS's way (the publishing server picks the queue subscriber), over
//! the backplane instead of routes.
//!
//! What it does not cover: an instance that dies is still chosen until
//! the others forget it (up to [`FORGET_AFTER`]): what it was given in
//! that time is lost to its group (plain subscribers are unaffected).
//!
//! ```text
//! table: count u32 | (topic len u16 | topic | group len u8 | group | members u32)*
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use crate::random::HashMap;
use crate::sync::lock;

use super::envelope::Reader;

/// How often an instance with queue groups announces its table (also at
/// every change).
pub(crate) const ANNOUNCE_EVERY: Duration = Duration::from_millis(250);

/// An instance not heard from for this long is no longer chosen (four
/// announcements missed). Short on purpose: forgetting a live instance
/// for a moment only skips its members' turns, while remembering a dead
/// one loses what it is assigned.
pub(crate) const FORGET_AFTER: Duration = Duration::from_secs(1);

/// Other instances remembered; announcements from more are ignored until
/// one is forgotten.
pub(crate) const MAX_REMOTES: usize = 64;

/// Entries one table may hold (what one instance announces, and what one
/// announcement may make another keep).
pub(crate) const MAX_TABLE_ENTRIES: usize = 4096;

/// Bytes one announced table may have: the sender's
/// [`GROUP_TABLE_MAX_BYTES`](crate::server::registry::GROUP_TABLE_MAX_BYTES),
/// which its tables never reach (an entry's encoding is its topic and
/// group plus 7 bytes; it counts for them plus 16).
pub(crate) const MAX_TABLE_BYTES: usize = crate::server::registry::GROUP_TABLE_MAX_BYTES;

/// Why an announced table was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum TableError {
    #[error("queue-group table malformed")]
    Malformed,
    #[error("queue-group table past its bounds")]
    TooLarge,
}

/// One instance's queue groups by topic: (group, members).
pub(crate) type Table = HashMap<Bytes, Vec<(Bytes, u32)>>;

/// The bytes of a table (from `Registry::group_table`).
pub(crate) fn encode_table(entries: &[(Bytes, Bytes, u32)]) -> Bytes {
    let mut out = BytesMut::new();
    let fits = |(t, g, _): &&(Bytes, Bytes, u32)| {
        u16::try_from(t.len()).is_ok() && u8::try_from(g.len()).is_ok()
    };
    let entries: Vec<_> = entries
        .iter()
        .filter(fits)
        .take(MAX_TABLE_ENTRIES)
        .collect();
    out.put_u32(entries.len() as u32);
    for (topic, group, members) in entries {
        out.put_u16(topic.len() as u16);
        out.put_slice(topic);
        out.put_u8(group.len() as u8);
        out.put_slice(group);
        out.put_u32(*members);
    }
    out.freeze()
}

/// Parses an announced table; its names are slices of `src`.
pub(crate) fn decode_table(src: Bytes) -> Result<Table, TableError> {
    if src.len() > MAX_TABLE_BYTES {
        return Err(TableError::TooLarge);
    }
    let mut r = Reader { src, at: 0 };
    let bad = |_| TableError::Malformed;
    let n = usize::try_from(r.u32().map_err(bad)?).map_err(|_| TableError::TooLarge)?;
    if n > MAX_TABLE_ENTRIES {
        return Err(TableError::TooLarge);
    }
    let mut table = Table::default();
    for _ in 0..n {
        let len = usize::from(u16::from_be_bytes(r.array().map_err(bad)?));
        let topic = r.take(len).map_err(bad)?;
        let len = usize::from(r.u8().map_err(bad)?);
        let group = r.take(len).map_err(bad)?;
        let members = r.u32().map_err(bad)?;
        if !crate::protocol::is_group_name(&group) || members == 0 {
            return Err(TableError::Malformed);
        }
        table.entry(topic).or_default().push((group, members));
    }
    if r.left() != 0 {
        return Err(TableError::Malformed);
    }
    Ok(table)
}

struct Remote {
    /// Its name on the backplane: a restarted instance (same name, new
    /// incarnation) replaces its dead self at once.
    name: Bytes,
    heard: Instant,
    table: Table,
}

/// What this instance knows of the other instances' queue groups, and
/// the turn counter its publishes choose with.
pub(crate) struct Directory {
    /// This instance (its backplane incarnation).
    me: u64,
    remotes: Mutex<HashMap<u64, Remote>>,
    /// Whether any other instance has groups: publishes skip the lock
    /// when none has.
    any: AtomicBool,
    turn: AtomicU64,
}

impl Directory {
    pub(crate) fn new(me: u64) -> Directory {
        Directory {
            me,
            remotes: Mutex::new(HashMap::default()),
            any: AtomicBool::new(false),
            turn: AtomicU64::new(0),
        }
    }

    /// This instance's incarnation.
    pub(crate) fn me(&self) -> u64 {
        self.me
    }

    /// Takes `origin`'s announced table (replacing what it said before);
    /// false if it was not kept (too many instances already).
    pub(crate) fn heard(&self, name: &Bytes, origin: u64, table: Table, now: Instant) -> bool {
        let mut remotes = lock(&self.remotes);
        Self::forget_old(&mut remotes, now);
        remotes.retain(|o, r| *o == origin || r.name != *name);
        if table.is_empty() {
            remotes.remove(&origin);
        } else if remotes.contains_key(&origin) || remotes.len() < MAX_REMOTES {
            let name = name.clone();
            remotes.insert(
                origin,
                Remote {
                    name,
                    heard: now,
                    table,
                },
            );
        } else {
            return false;
        }
        self.any.store(!remotes.is_empty(), Relaxed);
        true
    }

    /// Forgets the instances not heard from for [`FORGET_AFTER`].
    pub(crate) fn expire(&self, now: Instant) {
        let mut remotes = lock(&self.remotes);
        Self::forget_old(&mut remotes, now);
        self.any.store(!remotes.is_empty(), Relaxed);
    }

    fn forget_old(remotes: &mut HashMap<u64, Remote>, now: Instant) {
        remotes.retain(|_, r| now.saturating_duration_since(r.heard) < FORGET_AFTER);
    }

    /// Decides which instance delivers a notification on `topic` to each
    /// of its groups, given this instance's own groups there (`local`):
    /// members anywhere take turns, weighted by how many each instance
    /// has. Empty when the topic has no group anywhere.
    pub(crate) fn assign(
        &self,
        topic: &[u8],
        local: Vec<(Bytes, u32)>,
        now: Instant,
    ) -> Vec<(Bytes, u64)> {
        if !self.any.load(Relaxed) {
            return local.into_iter().map(|(g, _)| (g, self.me)).collect();
        }
        // Every group of the topic, with its members by instance.
        let mut groups: Vec<(Bytes, Vec<(u64, u32)>)> = local
            .into_iter()
            .map(|(g, n)| (g, vec![(self.me, n)]))
            .collect();
        {
            let remotes = lock(&self.remotes);
            for (origin, remote) in remotes.iter() {
                if now.saturating_duration_since(remote.heard) >= FORGET_AFTER {
                    continue;
                }
                for (g, n) in remote.table.get(topic).into_iter().flatten() {
                    match groups.iter_mut().find(|(name, _)| name == g) {
                        Some((_, owners)) => owners.push((*origin, *n)),
                        None => groups.push((g.clone(), vec![(*origin, *n)])),
                    }
                }
            }
        }
        if groups.is_empty() {
            return Vec::new();
        }
        let turn = self.turn.fetch_add(1, Relaxed);
        groups
            .into_iter()
            .map(|(g, mut owners)| {
                owners.sort_unstable();
                let owner = choose(&owners, turn).unwrap_or(self.me);
                (g, owner)
            })
            .collect()
    }

    /// Another instance with members of `group` on `topic` (not `me`),
    /// in turn: where a notification assigned here goes once this
    /// instance has no member left.
    pub(crate) fn reassign(&self, topic: &[u8], group: &[u8], now: Instant) -> Option<u64> {
        let mut owners: Vec<(u64, u32)> = lock(&self.remotes)
            .iter()
            .filter(|(o, r)| {
                **o != self.me && now.saturating_duration_since(r.heard) < FORGET_AFTER
            })
            .flat_map(|(o, r)| {
                let groups = r.table.get(topic).into_iter().flatten();
                groups.filter(|(g, _)| g == group).map(|(_, n)| (*o, *n))
            })
            .collect();
        owners.sort_unstable();
        choose(&owners, self.turn.fetch_add(1, Relaxed))
    }

    /// Members of `group` on `topic` across the instances this one knows
    /// of, `local` of them here.
    pub(crate) fn members(&self, topic: &[u8], group: &[u8], local: u32, now: Instant) -> u64 {
        let remotes = lock(&self.remotes);
        let remote: u64 = remotes
            .values()
            .filter(|r| now.saturating_duration_since(r.heard) < FORGET_AFTER)
            .flat_map(|r| r.table.get(topic).into_iter().flatten())
            .filter(|(g, _)| g == group)
            .map(|(_, n)| u64::from(*n))
            .sum();
        remote + u64::from(local)
    }
}

/// The owner whose members hold turn `turn` (members of all owners in
/// order, round and round).
fn choose(owners: &[(u64, u32)], turn: u64) -> Option<u64> {
    let total: u64 = owners.iter().map(|(_, n)| u64::from(*n)).sum();
    if total == 0 {
        return None;
    }
    let mut at = turn % total;
    for (owner, n) in owners {
        let n = u64::from(*n);
        if at < n {
            return Some(*owner);
        }
        at -= n;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn table(entries: &[(&str, &str, u32)]) -> Table {
        let entries: Vec<_> = entries.iter().map(|(t, g, n)| (b(t), b(g), *n)).collect();
        decode_table(encode_table(&entries)).unwrap()
    }

    impl Directory {
        /// [`heard`](Directory::heard) from an instance named after its
        /// incarnation.
        fn heard_as(&self, origin: u64, table: Table, now: Instant) -> bool {
            let name = Bytes::from(origin.to_string());
            self.heard(&name, origin, table, now)
        }
    }

    #[test]
    fn a_restarted_instance_replaces_its_dead_self() {
        let now = Instant::now();
        let d = Directory::new(1);
        d.heard(&b("eu-1"), 2, table(&[("jobs", "w", 1)]), now);
        d.heard(&b("eu-2"), 3, table(&[("jobs", "w", 1)]), now);
        // eu-1 again, a new incarnation: the old one is never chosen.
        d.heard(&b("eu-1"), 4, table(&[("jobs", "w", 1)]), now);
        let owners: BTreeSet<u64> = (0..6)
            .map(|_| d.assign(b"jobs", vec![], now)[0].1)
            .collect();
        assert_eq!(owners, BTreeSet::from([3, 4]));
        assert_eq!(d.members(b"jobs", b"w", 0, now), 2);
    }

    #[test]
    fn tables_round_trip_and_refuse_what_is_malformed() {
        let t = table(&[("jobs", "w", 2), ("jobs", "audit", 1), ("mail", "w", 3)]);
        assert_eq!(t.len(), 2);
        assert_eq!(t[&b("jobs")], vec![(b("w"), 2), (b("audit"), 1)]);
        let bytes = encode_table(&[(b("jobs"), b("w"), 2)]);
        for cut in 0..bytes.len() {
            assert_eq!(
                decode_table(bytes.slice(..cut)).unwrap_err(),
                TableError::Malformed,
                "cut {cut}"
            );
        }
        let mut extra = bytes.to_vec();
        extra.push(0);
        assert!(decode_table(Bytes::from(extra)).is_err());
        // A bad group name, no members, too many entries, too many bytes.
        assert!(decode_table(encode_table(&[(b("t"), b("a b"), 1)])).is_err());
        assert!(decode_table(encode_table(&[(b("t"), b("w"), 0)])).is_err());
        let mut many = (MAX_TABLE_ENTRIES as u32 + 1).to_be_bytes().to_vec();
        many.extend_from_slice(&[0; 16]);
        assert_eq!(
            decode_table(Bytes::from(many)).unwrap_err(),
            TableError::TooLarge
        );
        let huge = Bytes::from(vec![0u8; MAX_TABLE_BYTES + 1]);
        assert_eq!(decode_table(huge).unwrap_err(), TableError::TooLarge);
        // At the bounds exactly: 4 096 entries; MAX_TABLE_BYTES bytes.
        let many: Vec<_> = (0..MAX_TABLE_ENTRIES)
            .map(|i| (Bytes::from(i.to_string()), b("w"), 1))
            .collect();
        assert_eq!(
            decode_table(encode_table(&many)).unwrap().len(),
            MAX_TABLE_ENTRIES
        );
        let edge: Vec<_> = (0..4u8)
            .map(|i| (Bytes::from(vec![i; 65_527]), b("w"), 1))
            .collect();
        let bytes = encode_table(&edge);
        assert_eq!(bytes.len(), MAX_TABLE_BYTES);
        assert_eq!(decode_table(bytes).unwrap().len(), 4);
        // The largest table a sender's bounds allow is taken whole.
        let names: Vec<_> = (0..980u32)
            .map(|i| {
                let mut topic = format!("{i:04}").into_bytes();
                topic.resize(250, b't');
                (Bytes::from(topic), b("w"), 1)
            })
            .collect();
        let cost: usize = names.iter().map(|(t, g, _)| t.len() + g.len() + 16).sum();
        assert!(cost <= crate::server::registry::GROUP_TABLE_MAX_BYTES);
        assert_eq!(decode_table(encode_table(&names)).unwrap().len(), 980);
        // The sender cuts what does not fit instead of failing.
        let long = Bytes::from(vec![b'a'; 70_000]);
        let t = decode_table(encode_table(&[(long, b("w"), 1), (b("t"), b("w"), 1)])).unwrap();
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn members_take_turns_across_instances_by_weight() {
        let now = Instant::now();
        let d = Directory::new(1);
        assert!(d.heard_as(2, table(&[("jobs", "w", 1)]), now));
        let mut got = HashMap::<u64, usize>::default();
        for _ in 0..300 {
            let a = d.assign(b"jobs", vec![(b("w"), 2)], now);
            assert_eq!(a.len(), 1);
            *got.entry(a[0].1).or_default() += 1;
        }
        assert_eq!((got[&1], got[&2]), (200, 100));
        assert_eq!(d.members(b"jobs", b"w", 2, now), 3);
        // A group only another instance has is assigned to it; a topic
        // without groups assigns nothing.
        let a = d.assign(b"jobs", vec![], now);
        assert_eq!(a, vec![(b("w"), 2)]);
        assert!(d.assign(b"other", vec![], now).is_empty());
    }

    #[test]
    fn silent_instances_are_forgotten_and_empty_tables_leave() {
        let now = Instant::now();
        let d = Directory::new(1);
        d.heard_as(2, table(&[("jobs", "w", 1)]), now);
        let later = now + FORGET_AFTER;
        assert_eq!(
            d.assign(b"jobs", vec![(b("w"), 1)], later),
            vec![(b("w"), 1)]
        );
        assert_eq!(d.members(b"jobs", b"w", 0, later), 0);
        d.expire(later);
        assert!(!d.any.load(Relaxed));
        d.heard_as(3, table(&[("jobs", "w", 1)]), now);
        d.heard_as(3, Table::default(), now);
        assert!(d.assign(b"jobs", vec![], now).is_empty());
    }

    #[test]
    fn remotes_are_bounded() {
        let now = Instant::now();
        let d = Directory::new(0);
        for i in 1..=MAX_REMOTES as u64 {
            assert!(d.heard_as(i, table(&[("t", "w", 1)]), now));
        }
        assert!(!d.heard_as(1000, table(&[("t", "w", 1)]), now));
        // One already known may still update its table.
        assert!(d.heard_as(1, table(&[("t", "w", 2)]), now));
        assert_eq!(d.members(b"t", b"w", 0, now), MAX_REMOTES as u64 + 1);
    }

    #[test]
    fn a_group_is_reassigned_to_other_instances_only() {
        let now = Instant::now();
        let d = Directory::new(1);
        d.heard_as(1, table(&[("jobs", "w", 5)]), now); // never itself
        assert_eq!(d.reassign(b"jobs", b"w", now), None);
        d.heard_as(2, table(&[("jobs", "w", 1)]), now);
        d.heard_as(3, table(&[("jobs", "w", 1), ("jobs", "v", 1)]), now);
        let picks: BTreeSet<u64> = (0..4)
            .filter_map(|_| d.reassign(b"jobs", b"w", now))
            .collect();
        assert_eq!(picks, BTreeSet::from([2, 3]), "in turn");
        assert_eq!(d.reassign(b"jobs", b"v", now), Some(3));
        assert_eq!(d.reassign(b"jobs", b"x", now), None);
        assert_eq!(d.reassign(b"jobs", b"w", now + FORGET_AFTER), None);
    }

    #[test]
    fn choose_walks_the_weights() {
        let owners = [(1, 2), (5, 1)];
        let picks: Vec<_> = (0..6).map(|t| choose(&owners, t).unwrap()).collect();
        assert_eq!(picks, [1, 1, 5, 1, 1, 5]);
        assert_eq!(choose(&[], 3), None);
        assert_eq!(choose(&[(1, 0)], 3), None);
    }
}
