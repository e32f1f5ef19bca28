//! Subscriptions as streams of notifications.

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
    next_id: u64,
}

impl Topics {
    /// Adds a stream for `topic`; true if it is the topic's first (so
    /// SUBSCRIBE_URI must be sent).
    pub(crate) fn add(
        &mut self,
        topic: Bytes,
        buffer: usize,
        client: Weak<Inner>,
    ) -> (Subscription, bool) {
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
        (sub, first)
    }

    /// Removes stream `id`; true if `topic` has no stream left.
    fn remove(&mut self, topic: &[u8], id: u64) -> bool {
        let Some(sinks) = self.by_topic.get_mut(topic) else {
            return false;
        };
        sinks.retain(|s| s.id != id);
        if sinks.is_empty() {
            self.by_topic.remove(topic);
            true
        } else {
            false
        }
    }

    pub(crate) fn topics(&self) -> Vec<Bytes> {
        self.by_topic.keys().cloned().collect()
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

    #[test]
    fn topics_count_streams_deliver_to_each_and_forget_the_last() {
        let mut t = Topics::default();
        let (mut a, first) = t.add(Bytes::from_static(b"a"), 1, Weak::new());
        assert!(first);
        let (mut b, first) = t.add(Bytes::from_static(b"a"), 1, Weak::new());
        assert!(!first, "the topic's second stream");
        assert_ne!(a.id, b.id);
        assert_eq!(a.topic(), &Bytes::from_static(b"a"));
        assert_eq!(t.topics(), [Bytes::from_static(b"a")]);
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

    #[tokio::test]
    async fn a_subscription_is_a_stream_and_has_next() {
        let mut t = Topics::default();
        let (mut s, _) = t.add(Bytes::from_static(b"a"), 4, Weak::new());
        t.deliver(&note("a"));
        t.deliver(&note("a"));
        assert!(s.next().await.is_some());
        let polled = std::future::poll_fn(|cx| Pin::new(&mut s).poll_next(cx)).await;
        assert!(polled.is_some());
        drop(t);
        assert!(s.next().await.is_none(), "every sender gone");
    }
}
