//! Subscriptions as streams of notifications.

use crate::protocol::{NotifyId, Position};
use crate::random::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::debug;

use crate::wire::{Message, MessageType};

use crate::sync::lock;

use super::Inner;

/// One stream's end of a topic: where its notifications go.
pub(crate) struct Sink {
    id: u64,
    tx: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
}

/// Live subscriptions by topic.
#[derive(Default)]
pub(crate) struct Topics {
    by_topic: HashMap<Bytes, Vec<Sink>>,
    /// Where each subscribed topic's delivery stands, when its server
    /// numbers notifications (a topic history).
    resume: HashMap<Bytes, Resume>,
    /// The queue group each grouped topic was joined in.
    groups: HashMap<Bytes, Bytes>,
    next_id: u64,
}

/// Origins remembered per topic: instances of one service.
const ORIGINS: usize = 16;

/// One topic's delivery so far.
#[derive(Default)]
struct Resume {
    /// The last position delivered.
    position: Option<Position>,
    /// The last notification id delivered from each origin instance
    /// (incarnation, seq), most recent last: a server with a history
    /// delivers each origin's notifications on a topic in order, so one
    /// at or below it was delivered already (or is older than what was).
    origins: Vec<(u64, u64)>,
    /// Resumed on a server that could not tell what was lost: the next
    /// notification says (one delivered already: the histories overlap).
    unsure: bool,
}

impl Resume {
    /// Whether a notification from `id` is at or below what was
    /// delivered from its origin; remembers it otherwise.
    fn delivered_before(&mut self, id: NotifyId) -> bool {
        let (inc, seq) = (id.incarnation(), id.seq());
        match self.origins.iter().position(|(i, _)| *i == inc) {
            Some(at) if self.origins[at].1 >= seq => true,
            Some(at) => {
                self.origins.remove(at);
                self.origins.push((inc, seq));
                false
            }
            None => {
                if self.origins.len() >= ORIGINS {
                    self.origins.remove(0);
                }
                self.origins.push((inc, seq));
                false
            }
        }
    }
}

/// How a topic is subscribed again after a reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resubscribe {
    /// Resumed from the last position delivered, if any.
    From(Option<Position>),
    /// In its queue group (not resumed: what it missed went to the
    /// group's other members).
    Group(Bytes),
}

/// What to do with an arriving notification (see [`Topics::admit`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Deliver it.
    Deliver,
    /// Delivered already, or a notice for the client: drop it.
    Drop,
}

impl Topics {
    /// Adds a stream for `topic`; true if it is the topic's first (so
    /// SUBSCRIBE_URI must be sent).
    /// `None` when the topic is held in another way (plainly, or in
    /// another group than `group`).
    pub(crate) fn add(
        &mut self,
        topic: Bytes,
        group: Option<Bytes>,
        buffer: usize,
        client: Weak<Inner>,
    ) -> Option<(Subscription, bool)> {
        if self.by_topic.contains_key(&topic) && self.groups.get(&topic) != group.as_ref() {
            return None;
        }
        if let Some(g) = group {
            self.groups.insert(topic.clone(), g);
        }
        let (tx, rx) = mpsc::channel(buffer);
        self.next_id += 1;
        let id = self.next_id;
        let dropped = Arc::new(AtomicU64::new(0));
        let sinks = self.by_topic.entry(topic.clone()).or_default();
        let first = sinks.is_empty();
        sinks.push(Sink {
            id,
            tx,
            dropped: dropped.clone(),
        });
        let sub = Subscription {
            topic,
            id,
            rx,
            dropped,
            client,
            silent: false,
        };
        Some((sub, first))
    }

    /// Removes stream `id`; true if `topic` has no stream left.
    fn remove(&mut self, topic: &[u8], id: u64) -> bool {
        let Some(sinks) = self.by_topic.get_mut(topic) else {
            return false;
        };
        sinks.retain(|s| s.id != id);
        if sinks.is_empty() {
            self.by_topic.remove(topic);
            self.resume.remove(topic);
            self.groups.remove(topic);
            true
        } else {
            false
        }
    }

    /// Every subscribed topic: where it resumes from, or its queue group.
    pub(crate) fn topics(&self) -> Vec<(Bytes, Resubscribe)> {
        self.by_topic
            .keys()
            .map(|t| {
                let how = match self.groups.get(t) {
                    Some(g) => Resubscribe::Group(g.clone()),
                    None => Resubscribe::From(self.resume.get(t).and_then(|r| r.position)),
                };
                (t.clone(), how)
            })
            .collect()
    }

    /// Decides on a notification of a numbered topic (one with a
    /// position): a repeat (by position, or by notification id at or
    /// below its origin's last) is dropped; a gap notice moves the
    /// position and is dropped. The second value is a gap to report:
    /// `lost`, or `None` when unknown. Notifications without a position,
    /// and topics nobody subscribes to, are delivered as they come.
    pub(crate) fn admit(&mut self, msg: &Message) -> (Admit, Option<Option<u64>>) {
        let gap = crate::protocol::gap_of(msg);
        let topic = &msg.body.uri;
        let numbered = !self.groups.contains_key(topic) && self.by_topic.contains_key(topic);
        // A group member's positions skip what went to the other members:
        // they say nothing about what it lost.
        let (Some(pos), true) = (Position::of(msg), numbered) else {
            // Not numbered, or not subscribed: a notice is still never
            // the application's.
            let admit = if gap.is_some() {
                Admit::Drop
            } else {
                Admit::Deliver
            };
            return (admit, None);
        };
        let r = self.resume.entry(topic.clone()).or_default();
        if let Some(lost) = gap {
            r.position = Some(pos);
            if lost == crate::protocol::GAP_UNKNOWN {
                r.unsure = true; // settled by what comes next
                return (Admit::Drop, None);
            }
            return (Admit::Drop, Some(Some(lost)));
        }
        if let Some(last) = r.position {
            if last.epoch() == pos.epoch() && pos.n() <= last.n() {
                return (Admit::Drop, None);
            }
        }
        r.position = Some(pos);
        let repeat = NotifyId::of(msg).is_some_and(|id| r.delivered_before(id));
        let unsure = std::mem::take(&mut r.unsure);
        match (repeat, unsure) {
            (true, _) => (Admit::Drop, None),
            // The first new one after a resume nobody could vouch for,
            // without an overlap: what came between is unknown.
            (false, true) => (Admit::Deliver, Some(None)),
            (false, false) => (Admit::Deliver, None),
        }
    }

    /// Hands a notification to every stream of its topic, without waiting:
    /// a stream whose buffer is full misses it (counted in
    /// [`Subscription::dropped`]). Returns whether any stream took it.
    pub(crate) fn deliver(&self, msg: &Message) -> bool {
        let Some(sinks) = self.by_topic.get(&msg.body.uri) else {
            return false;
        };
        // A stream may hold it for long: one copy out of the read buffer,
        // shared by every stream of the topic, so it pins nothing else.
        let msg = msg.clone().detach();
        for sink in sinks {
            if sink.tx.try_send(msg.clone()).is_err() {
                sink.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        true
    }
}

/// The notifications (NOTIFY_URI messages) of one topic, from
/// [`Client::subscribe`](super::Client::subscribe). A `futures` `Stream`;
/// also has an inherent [`next`](Self::next). Dropping it unsubscribes once
/// no other stream of the same topic is left. The stream ends when the
/// client is closed or gives up reconnecting.
pub struct Subscription {
    topic: Bytes,
    id: u64,
    rx: mpsc::Receiver<Message>,
    dropped: Arc<AtomicU64>,
    client: Weak<Inner>,
    /// Set when the subscription never got confirmed: drop sends nothing.
    silent: bool,
}

impl Subscription {
    /// The topic.
    pub fn topic(&self) -> &Bytes {
        &self.topic
    }

    /// The next notification; `None` once the client is gone.
    pub async fn next(&mut self) -> Option<Message> {
        self.rx.recv().await
    }

    /// The next notification's content decoded as JSON of type `T`
    /// (feature `json`): `None` when the subscription ended, `Some(Err)`
    /// for a notification that is not a `T` (the stream goes on).
    ///
    /// ```no_run
    /// # async fn demo(client: framewire::client::Client) -> Result<(), framewire::client::ClientError> {
    /// #[derive(serde::Deserialize)]
    /// struct Post { text: String }
    ///
    /// let mut lobby = client.subscribe("lobby").await?;
    /// while let Some(post) = lobby.next_json::<Post>().await {
    ///     println!("{}", post?.text);
    /// }
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "json")]
    pub async fn next_json<T: serde::de::DeserializeOwned>(
        &mut self,
    ) -> Option<Result<T, crate::content::ContentError>> {
        let msg = self.next().await?;
        Some(crate::content::from_json(msg.content()))
    }

    /// Notifications missed because this stream was not read fast enough.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Drops the subscription without sending UNSUBSCRIBE_URI.
    pub(crate) fn forget(mut self) {
        self.silent = true;
    }
}

impl futures_core::Stream for Subscription {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let Some(inner) = self.client.upgrade() else {
            return;
        };
        let last = lock(&inner.topics).remove(&self.topic, self.id);
        if !last || self.silent {
            return;
        }
        // Drop cannot wait: queue the unsubscribe without blocking. If the
        // queue is full or the connection is down, the server forgets the
        // subscription when the connection closes anyway.
        let msg = Message::new(MessageType::UNSUBSCRIBE_URI, self.topic.clone(), "");
        let queued = inner.current().ok().map(|current| {
            current
                .seal(&inner, msg)
                .is_ok_and(|frame| current.push_control(frame))
        });
        debug!(topic = ?self.topic, queued, "unsubscribed");
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use futures_core::Stream;

    fn note(topic: &'static str) -> Message {
        Message::new(MessageType::NOTIFY_URI, topic, "n")
    }

    fn at(epoch: u64, n: u64, msg: Message) -> Message {
        let mut msg = msg;
        Position::new(epoch, n).attach(&mut msg);
        msg
    }

    fn gap(epoch: u64, n: u64, lost: u64) -> Message {
        crate::protocol::gap_notice(b"a", lost, Position::new(epoch, n))
    }

    fn from(inc: u64, seq: u64, msg: Message) -> Message {
        let mut msg = msg;
        NotifyId::new(inc, seq).attach(&mut msg);
        msg
    }

    const DELIVER: (Admit, Option<Option<u64>>) = (Admit::Deliver, None);
    const DROP: (Admit, Option<Option<u64>>) = (Admit::Drop, None);

    #[test]
    fn positions_drop_repeats_and_gaps_are_reported_once() {
        let mut t = Topics::default();
        // Not subscribed: delivered, not tracked; a notice never is.
        assert_eq!(t.admit(&at(1, 1, note("a"))), DELIVER);
        assert_eq!(t.admit(&gap(1, 1, 3)), DROP);
        let (a, _) = t
            .add(Bytes::from_static(b"a"), None, 8, Weak::new())
            .unwrap();
        assert_eq!(t.admit(&note("a")), DELIVER, "no position: as before");
        assert!(t.resume.is_empty(), "nothing tracked without a position");
        assert_eq!(t.admit(&at(1, 1, note("a"))), DELIVER);
        assert_eq!(t.admit(&at(1, 2, note("a"))), DELIVER);
        assert_eq!(
            t.topics(),
            [(
                Bytes::from_static(b"a"),
                Resubscribe::From(Some(Position::new(1, 2)))
            )]
        );
        assert_eq!(t.admit(&at(1, 2, note("a"))), DROP);
        assert_eq!(t.admit(&at(1, 1, note("a"))), DROP);
        // Another epoch (another instance) is not compared with this one.
        assert_eq!(t.admit(&at(2, 1, note("a"))), DELIVER);
        assert_eq!(
            t.topics()[0].1,
            Resubscribe::From(Some(Position::new(2, 1)))
        );
        // A known gap: reported, the position moves to its last lost.
        assert_eq!(t.admit(&gap(2, 5, 4)), (Admit::Drop, Some(Some(4))));
        assert_eq!(
            t.topics()[0].1,
            Resubscribe::From(Some(Position::new(2, 5)))
        );
        assert_eq!(t.admit(&at(2, 5, note("a"))), DROP);
        // A malformed notice (no position) is dropped, not delivered.
        let mut bare = note("a");
        bare.auth.insert(crate::protocol::GAP_FIELD, [0u8; 8]);
        assert_eq!(t.admit(&bare), DROP);
        // Forgotten with the topic.
        assert!(t.remove(b"a", a.id));
        assert!(t.resume.is_empty());
    }

    #[test]
    fn origins_drop_what_was_delivered_and_settle_unknown_gaps() {
        use crate::protocol::GAP_UNKNOWN;
        let mut t = Topics::default();
        let (_a, _) = t
            .add(Bytes::from_static(b"a"), None, 8, Weak::new())
            .unwrap();
        // From instance 9 (seq 5, 6) through a server of epoch 1.
        assert_eq!(t.admit(&at(1, 1, from(9, 5, note("a")))), DELIVER);
        assert_eq!(t.admit(&at(1, 2, from(9, 6, note("a")))), DELIVER);
        // Failed over to epoch 2, which could not vouch: its history
        // replays 4 (older: dropped), 6 (delivered: dropped, and the
        // histories overlap: no gap), then 7.
        assert_eq!(t.admit(&gap(2, 0, GAP_UNKNOWN)), DROP);
        assert_eq!(t.admit(&at(2, 1, from(9, 4, note("a")))), DROP);
        assert_eq!(t.admit(&at(2, 2, from(9, 6, note("a")))), DROP);
        assert_eq!(
            t.admit(&at(2, 3, from(9, 7, note("a")))),
            DELIVER,
            "settled"
        );
        // Again, without an overlap: the first new one reports an
        // unknown loss, once.
        assert_eq!(t.admit(&gap(3, 0, GAP_UNKNOWN)), DROP);
        assert_eq!(
            t.admit(&at(3, 1, from(9, 20, note("a")))),
            (Admit::Deliver, Some(None))
        );
        assert_eq!(t.admit(&at(3, 2, from(9, 21, note("a")))), DELIVER);
        // Another origin counts on its own; origins are bounded.
        assert_eq!(t.admit(&at(3, 3, from(8, 1, note("a")))), DELIVER);
        for inc in 100..100 + ORIGINS as u64 {
            assert_eq!(t.admit(&at(3, inc, from(inc, 1, note("a")))), DELIVER);
        }
        let r = &t.resume[&Bytes::from_static(b"a")];
        assert_eq!(r.origins.len(), ORIGINS);
        assert!(
            !r.origins.iter().any(|(i, _)| *i == 9),
            "the oldest forgotten"
        );
    }

    #[test]
    fn topics_count_streams_deliver_to_each_and_forget_the_last() {
        let mut t = Topics::default();
        let (mut a, first) = t
            .add(Bytes::from_static(b"a"), None, 1, Weak::new())
            .unwrap();
        assert!(first);
        let (mut b, first) = t
            .add(Bytes::from_static(b"a"), None, 1, Weak::new())
            .unwrap();
        assert!(!first, "the topic's second stream");
        assert_ne!(a.id, b.id);
        assert_eq!(a.topic(), &Bytes::from_static(b"a"));
        assert_eq!(
            t.topics(),
            [(Bytes::from_static(b"a"), Resubscribe::From(None))]
        );
        assert!(t.deliver(&note("a")));
        assert!(!t.deliver(&note("b")), "no stream for b");
        assert!(t.deliver(&note("a")), "full buffers: dropped, counted");
        assert_eq!((a.dropped(), b.dropped()), (1, 1));
        assert!(t.deliver(&note("a")));
        assert_eq!((a.dropped(), b.dropped()), (2, 2));
        assert_eq!(
            a.rx.try_recv().map(|m| m.body.uri).ok(),
            Some(Bytes::from_static(b"a"))
        );
        assert!(b.rx.try_recv().is_ok());
        assert!(!t.remove(b"a", a.id), "b is left");
        assert!(!t.remove(b"zz", b.id), "no such topic");
        assert!(t.deliver(&note("a")));
        assert!(a.rx.try_recv().is_err(), "a was removed");
        assert!(b.rx.try_recv().is_ok());
        assert!(t.remove(b"a", b.id), "the last stream");
        assert!(t.topics().is_empty());
        assert!(format!("{a:?}").contains("topic"));
    }

    #[test]
    fn a_group_topic_is_held_one_way_and_never_tracked() {
        let mut t = Topics::default();
        let w = || Some(Bytes::from_static(b"w"));
        let (a, first) = t
            .add(Bytes::from_static(b"a"), w(), 8, Weak::new())
            .unwrap();
        assert!(first);
        // Another stream in the same group shares it; plain or another
        // group is refused.
        let (_b, first) = t
            .add(Bytes::from_static(b"a"), w(), 8, Weak::new())
            .unwrap();
        assert!(!first);
        assert!(t
            .add(Bytes::from_static(b"a"), None, 8, Weak::new())
            .is_none());
        let other = Some(Bytes::from_static(b"v"));
        assert!(t
            .add(Bytes::from_static(b"a"), other, 8, Weak::new())
            .is_none());
        assert_eq!(
            t.topics(),
            [(
                Bytes::from_static(b"a"),
                Resubscribe::Group(Bytes::from_static(b"w"))
            )]
        );
        // Positions skip what went to other members: no gap, no repeat.
        assert_eq!(t.admit(&at(1, 5, note("a"))), DELIVER);
        assert_eq!(t.admit(&at(1, 9, note("a"))), DELIVER);
        assert_eq!(t.admit(&at(1, 9, note("a"))), DELIVER);
        assert!(t.resume.is_empty());
        assert_eq!(t.admit(&gap(1, 1, 3)), DROP, "a notice is never delivered");
        // Plain again once every stream is gone.
        assert!(!t.remove(b"a", a.id));
        assert!(t.remove(b"a", _b.id));
        assert!(t
            .add(Bytes::from_static(b"a"), None, 8, Weak::new())
            .is_some());
    }

    #[tokio::test]
    async fn a_subscription_is_a_stream_and_has_next() {
        let mut t = Topics::default();
        let (mut s, _) = t
            .add(Bytes::from_static(b"a"), None, 4, Weak::new())
            .unwrap();
        t.deliver(&note("a"));
        t.deliver(&note("a"));
        assert!(s.next().await.is_some());
        let polled = std::future::poll_fn(|cx| Pin::new(&mut s).poll_next(cx)).await;
        assert!(polled.is_some());
        drop(t);
        assert!(s.next().await.is_none(), "every sender gone");
    }
}
