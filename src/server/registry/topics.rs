//! The registry's subscription tables: one topic's subscribers, one
//! connection's topics, and what a subscription counts for against the
//! byte bounds of [`Limits`].

use crate::random::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::{Conn, ConnectionId};
use crate::server::Limits;

/// One topic's subscribers, and the list fan-out reads: built on the
/// first publish after a change and shared by every publish until the
/// next, so a publish to n subscribers costs one reference count, not n
/// clones of an `Arc` and an allocation. A change costs no more than a
/// publish did before (the list is rebuilt lazily, not per subscribe).
#[derive(Default)]
pub(super) struct Subscribers {
    by_id: HashMap<ConnectionId, Arc<Conn>>,
    list: OnceLock<Arc<[Arc<Conn>]>>,
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

    pub(super) fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub(super) fn list(&self) -> Arc<[Arc<Conn>]> {
        self.list
            .get_or_init(|| self.by_id.values().cloned().collect())
            .clone()
    }
}

/// A connection's topics and the bytes they count for (see [`cost`]).
#[derive(Default)]
pub(super) struct Held {
    pub(super) keys: HashSet<Bytes>,
    pub(super) bytes: usize,
}

/// What one subscription to `topic` counts for in the byte budgets.
pub(super) fn cost(topic: &[u8]) -> usize {
    topic.len().saturating_add(Limits::SUBSCRIPTION_OVERHEAD)
}

/// The bounds on subscriptions, from [`Limits`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubscriptionCaps {
    pub(super) count: usize,
    pub(super) topic_len: usize,
    pub(super) connection_bytes: usize,
    pub(super) total_bytes: usize,
}

impl SubscriptionCaps {
    pub(crate) fn new(limits: &Limits) -> Self {
        SubscriptionCaps {
            count: limits.max_subscriptions_per_connection,
            topic_len: limits.max_topic_len,
            connection_bytes: limits.max_subscription_bytes_per_connection,
            total_bytes: limits.max_subscription_bytes,
        }
    }
}
