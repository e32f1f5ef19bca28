//! Topic history: what makes a subscription resumable on one instance.
//!
//! With a history ([`ServerBuilder::history`](super::ServerBuilder::history)),
//! every notification on a topic gets the topic's next [`Position`] and a
//! copy is kept, bounded per topic (count and bytes) and in all (topics
//! and bytes). A SUBSCRIBE_URI carrying the last position its client
//! delivered ([`RESUME_FIELD`](crate::protocol::RESUME_FIELD)) is sent what
//! came after, or a gap notice with how much the history no longer holds,
//! then the rest.
//!
//! Order: a topic's lock is held while a notification is numbered and
//! handed to its subscribers' queues, and while a resuming connection is
//! subscribed and sent the history, so each connection sees a topic's
//! positions in order, without a hole between history and live.
//!
//! Across instances (a backplane), each instance numbers what it delivers
//! in its own epoch: a client that fails over resumes with the other
//! instance's position, is told the loss is unknown, and is sent the new
//! instance's history for the topic, where relayed notifications carry
//! their [notification ids](crate::protocol::NotifyId) and the client
//! drops those it has already delivered.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use bytes::Bytes;

use crate::protocol::{gap_notice, Position, GAP_UNKNOWN};
use crate::random::HashMap;
use crate::sync::lock;
use crate::wire::Message;

/// What a kept message costs beyond its frame's bytes (the entry, the
/// message's parts): counted so tiny messages are bounded too.
const ENTRY_COST: usize = 128;

/// Locks over the topics: notifications on different topics rarely wait
/// for each other.
const SHARDS: usize = 16;

/// How much history a server keeps for resumable subscriptions.
///
/// ```
/// use framewire::server::{History, Server};
///
/// let server = Server::builder()
///     .subscriptions()
///     .history(History::default().per_topic(1000).per_topic_bytes(1 << 20))
///     .build();
/// # drop(server);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct History {
    /// Notifications kept per topic (default 256).
    pub per_topic: usize,
    /// Bytes kept per topic (default 256 KiB; each message counts its
    /// frame's body and auth fields plus 128 bytes).
    pub per_topic_bytes: usize,
    /// Topics with a history (default 4 096); notifications on more are
    /// delivered without a position.
    pub topics: usize,
    /// Bytes kept in all (default 64 MiB).
    pub total_bytes: usize,
}

impl Default for History {
    fn default() -> Self {
        History {
            per_topic: 256,
            per_topic_bytes: 256 * 1024,
            topics: 4096,
            total_bytes: 64 * 1024 * 1024,
        }
    }
}

impl History {
    /// Notifications kept per topic.
    pub fn per_topic(mut self, n: usize) -> Self {
        self.per_topic = n;
        self
    }

    /// Bytes kept per topic.
    pub fn per_topic_bytes(mut self, n: usize) -> Self {
        self.per_topic_bytes = n;
        self
    }

    /// Topics with a history.
    pub fn topics(mut self, n: usize) -> Self {
        self.topics = n;
        self
    }

    /// Bytes kept in all.
    pub fn total_bytes(mut self, n: usize) -> Self {
        self.total_bytes = n;
        self
    }
}

/// One topic's numbering and kept messages.
#[derive(Default)]
struct Topic {
    /// The last number given.
    last: u64,
    /// `(number, message, cost)`, oldest first, numbers consecutive.
    kept: VecDeque<(u64, Message, usize)>,
    bytes: usize,
}

impl Topic {
    /// The number of the oldest message a resume can still be sent.
    fn first(&self) -> u64 {
        self.kept.front().map_or(self.last + 1, |(n, _, _)| *n)
    }

    fn pop_oldest(&mut self, total: &AtomicUsize) -> bool {
        match self.kept.pop_front() {
            Some((_, _, cost)) => {
                self.bytes -= cost;
                total.fetch_sub(cost, Relaxed);
                true
            }
            None => false,
        }
    }
}

/// Which lock a topic takes: FNV-1a, a few instructions a byte (the keyed
/// hash of the maps cost ~370 instructions a notification here). Only
/// which topics share a lock depends on it; a peer choosing topics that
/// collide only makes its own notifications wait for each other.
fn shard_of(topic: &[u8]) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for b in topic {
        h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
    }
    h as usize % SHARDS
}

/// The topics' histories of one server (one epoch).
pub(crate) struct Histories {
    epoch: u64,
    limits: History,
    shards: Box<[Mutex<HashMap<Bytes, Topic>>]>,
    topics: AtomicUsize,
    bytes: AtomicUsize,
}

impl Histories {
    pub(crate) fn new(limits: History) -> Self {
        Self::with_epoch(limits, crate::random::u64())
    }

    pub(crate) fn with_epoch(limits: History, epoch: u64) -> Self {
        Histories {
            epoch,
            limits,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            topics: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
        }
    }

    fn shard(&self, topic: &[u8]) -> &Mutex<HashMap<Bytes, Topic>> {
        &self.shards[shard_of(topic)]
    }

    /// With `topic` locked: `prepare`s `msg` (the backplane numbers and
    /// relays it: so a topic's relayed order is its numbered order),
    /// numbers it, keeps a copy and calls `send` with it (see the module
    /// docs for why). A topic past the topics bound is sent without a
    /// position.
    pub(crate) fn publish<R>(
        &self,
        topic: &[u8],
        msg: Message,
        prepare: impl FnOnce(Message) -> Message,
        send: impl FnOnce(Message) -> R,
    ) -> R {
        let mut shard = lock(self.shard(topic));
        let mut msg = prepare(msg);
        let t = match shard.get_mut(topic) {
            Some(t) => t,
            None => {
                if self.topics.load(Relaxed) >= self.limits.topics {
                    return send(msg);
                }
                self.topics.fetch_add(1, Relaxed);
                shard.entry(Bytes::copy_from_slice(topic)).or_default()
            }
        };
        t.last += 1;
        Position::new(self.epoch, t.last).attach(&mut msg);
        // Kept past the call: a copy of its own, not a slice of a buffer.
        let kept = msg.clone().detach();
        let cost = kept.body.encoded_len() + kept.auth.encoded_len() + ENTRY_COST;
        self.keep(t, kept, cost);
        send(msg)
    }

    /// Adds `kept` to `t`, dropping its oldest to stay within the bounds;
    /// a message that cannot fit at all is not kept (a resume past it
    /// gets a gap).
    fn keep(&self, t: &mut Topic, kept: Message, cost: usize) {
        let l = &self.limits;
        if cost > l.per_topic_bytes || cost > l.total_bytes || l.per_topic == 0 {
            while t.pop_oldest(&self.bytes) {}
            return;
        }
        while t.kept.len() >= l.per_topic || t.bytes + cost > l.per_topic_bytes {
            t.pop_oldest(&self.bytes);
        }
        // Past the total: this topic gives up its own oldest (other
        // topics' locks are not taken here); if that is not enough, the
        // message is not kept.
        while self.bytes.load(Relaxed) + cost > l.total_bytes {
            if !t.pop_oldest(&self.bytes) {
                return;
            }
        }
        t.bytes += cost;
        self.bytes.fetch_add(cost, Relaxed);
        t.kept.push_back((t.last, kept, cost));
    }

    /// Resumes `topic` after `from`: with the topic locked, calls
    /// `subscribe`, then (if it succeeded) `send` with a gap notice if
    /// the history does not reach back to `from` and with every kept
    /// message after it, oldest first. Returns `subscribe`'s result.
    pub(crate) fn resume<E>(
        &self,
        topic: &[u8],
        from: Position,
        subscribe: impl FnOnce() -> Result<(), E>,
        mut send: impl FnMut(Message),
    ) -> Result<(), E> {
        let shard = lock(self.shard(topic));
        subscribe()?;
        let Some(t) = shard.get(topic) else {
            return Ok(()); // nothing was ever numbered here
        };
        let first = t.first();
        let after = if from.epoch() != self.epoch {
            // Another instance's or run's numbering: what is lost is not
            // known; everything kept is sent (the client drops what it
            // delivered already by notification id).
            send(gap_notice(
                topic,
                GAP_UNKNOWN,
                Position::new(self.epoch, first - 1),
            ));
            0
        } else if from.n() + 1 < first {
            let lost = first - 1 - from.n();
            send(gap_notice(
                topic,
                lost,
                Position::new(self.epoch, first - 1),
            ));
            0
        } else {
            from.n()
        };
        for (n, m, _) in &t.kept {
            if *n > after {
                send(m.clone());
            }
        }
        Ok(())
    }

    /// Topics with a history, and the bytes kept.
    #[cfg(test)]
    fn usage(&self) -> (usize, usize) {
        (self.topics.load(Relaxed), self.bytes.load(Relaxed))
    }
}

#[cfg(test)]
mod tests;
