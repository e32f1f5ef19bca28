//! The registry's subscription tables: one topic's subscribers, one
//! connection's topics, and what a subscription counts for against the
//! byte bounds of [`Limits`].

use crate::random::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::{Conn, ConnectionId};
use crate::server::Limits;

/// One topic's subscribers, and the list fan-out reads: built on the
/// first publish after a change and shared by every publish until the
/// next, so a publish to n subscribers costs one reference count, not n
/// clones of an `Arc` and an allocation. A change costs no more than a
/// publish did before (the list is rebuilt lazily, not per subscribe).
/// Queue-group members are apart from the plain subscribers: each
/// notification goes to one of a group's members.
#[derive(Default)]
pub(super) struct Subscribers {
    by_id: HashMap<ConnectionId, Arc<Conn>>,
    list: OnceLock<Arc<[Arc<Conn>]>>,
    /// The topic's queue groups here, by name (few: a `Vec`).
    pub(super) groups: Vec<Members>,
}

/// One queue group's members on this server, and whose turn it is.
pub(super) struct Members {
    pub(super) name: Bytes,
    pub(super) conns: Vec<Arc<Conn>>,
    next: AtomicUsize,
}

impl Members {
    /// The next member, in turn (they take notifications round-robin).
    pub(super) fn pick(&self) -> Option<&Arc<Conn>> {
        if self.conns.is_empty() {
            return None;
        }
        let turn = self.next.fetch_add(1, Relaxed);
        self.conns.get(turn % self.conns.len())
    }
}

impl Subscribers {
    pub(super) fn insert(&mut self, id: ConnectionId, conn: Arc<Conn>) {
        self.by_id.insert(id, conn);
        self.list.take();
    }

    pub(super) fn remove(&mut self, id: &ConnectionId) -> Option<Arc<Conn>> {
        let gone = self.by_id.remove(id);
        if gone.is_some() {
            self.list.take();
        }
        gone
    }

    /// Adds `conn` to `group`; true if the group is new here.
    pub(super) fn join(&mut self, group: &Bytes, conn: Arc<Conn>) -> bool {
        match self.groups.iter_mut().find(|g| g.name == *group) {
            Some(g) => {
                g.conns.push(conn);
                false
            }
            None => {
                self.groups.push(Members {
                    name: group.clone(),
                    conns: vec![conn],
                    next: AtomicUsize::new(0),
                });
                true
            }
        }
    }

    /// Takes connection `id` out of `group`: the member, and whether the
    /// group is gone from here with it.
    pub(super) fn leave(&mut self, group: &[u8], id: ConnectionId) -> Option<(Arc<Conn>, bool)> {
        let at = self.groups.iter().position(|g| g.name == group)?;
        let g = &mut self.groups[at];
        let member = g.conns.iter().position(|c| c.id == id)?;
        let conn = g.conns.remove(member);
        let emptied = g.conns.is_empty();
        if emptied {
            self.groups.remove(at);
        }
        Some((conn, emptied))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_id.is_empty() && self.groups.is_empty()
    }

    pub(super) fn list(&self) -> Arc<[Arc<Conn>]> {
        self.list
            .get_or_init(|| self.by_id.values().cloned().collect())
            .clone()
    }
}

/// A connection's topics (with the queue group each was joined in, if
/// any) and the bytes they count for (see [`cost`]).
#[derive(Default)]
pub(super) struct Held {
    pub(super) keys: HashMap<Bytes, Option<Bytes>>,
    pub(super) bytes: usize,
}

/// What one subscription to `topic` counts for in the byte budgets.
pub(super) fn cost(topic: &[u8], group: Option<&Bytes>) -> usize {
    topic
        .len()
        .saturating_add(Limits::SUBSCRIPTION_OVERHEAD)
        .saturating_add(group.map_or(0, Bytes::len))
}

/// The bounds on subscriptions, from [`Limits`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubscriptionCaps {
    pub(super) count: usize,
    pub(super) topic_len: usize,
    pub(super) connection_bytes: usize,
    pub(super) total_bytes: usize,
    pub(super) groups: usize,
}

impl SubscriptionCaps {
    pub(crate) fn new(limits: &Limits) -> Self {
        SubscriptionCaps {
            count: limits.max_subscriptions_per_connection,
            topic_len: limits.max_topic_len,
            connection_bytes: limits.max_subscription_bytes_per_connection,
            total_bytes: limits.max_subscription_bytes,
            groups: limits.max_queue_groups,
        }
    }
}
