//! Messages sent while the client has no connection: kept, in order,
//! within count, byte and age limits, and sent first on the next
//! connection (to whichever server it is). What does not fit is refused
//! at once; what waited too long is dropped when the connection comes and
//! counted — never silently.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::wire::Message;

use super::pending::Outgoing;
use super::ClientError;

/// Limits of the client's buffer for messages sent while it is
/// reconnecting (see [`ClientBuilder::offline_buffer`](super::ClientBuilder::offline_buffer)).
///
/// ```
/// use std::time::Duration;
/// use framewire::client::OfflineBuffer;
///
/// let b = OfflineBuffer::default().max_messages(100).max_age(Duration::from_secs(2));
/// assert_eq!((b.max_messages, b.max_bytes), (100, 1024 * 1024));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OfflineBuffer {
    /// Messages kept at most.
    pub max_messages: usize,
    /// Bytes (uri, content and auth fields) kept at most.
    pub max_bytes: usize,
    /// A message kept longer than this is dropped instead of sent late.
    pub max_age: Duration,
}

impl Default for OfflineBuffer {
    /// 1 024 messages, 1 MiB, 10 s (the default request timeout).
    fn default() -> Self {
        OfflineBuffer {
            max_messages: 1024,
            max_bytes: 1024 * 1024,
            max_age: Duration::from_secs(10),
        }
    }
}

impl OfflineBuffer {
    /// Sets [`OfflineBuffer::max_messages`].
    pub fn max_messages(mut self, n: usize) -> Self {
        self.max_messages = n;
        self
    }

    /// Sets [`OfflineBuffer::max_bytes`].
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// Sets [`OfflineBuffer::max_age`].
    pub fn max_age(mut self, d: Duration) -> Self {
        self.max_age = d;
        self
    }
}

/// One message waiting for a connection.
pub(crate) struct Queued {
    pub(crate) msg: Message,
    /// The waiting request it is, if it is one (with its per-call layer).
    pub(crate) request: Option<Outgoing>,
    at: Instant,
}

impl Queued {
    pub(crate) fn expired(&self, limits: &OfflineBuffer, now: Instant) -> bool {
        now.duration_since(self.at) > limits.max_age
    }
}

/// The buffer itself (inside the client's link lock).
pub(crate) struct Offline {
    limits: Option<OfflineBuffer>,
    items: VecDeque<Queued>,
    bytes: usize,
}

impl Offline {
    pub(crate) fn new(limits: Option<OfflineBuffer>) -> Offline {
        Offline {
            limits,
            items: VecDeque::new(),
            bytes: 0,
        }
    }

    pub(crate) fn limits(&self) -> Option<&OfflineBuffer> {
        self.limits.as_ref()
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Keeps `msg`, or says why not: no buffer (`ConnectionLost`, as
    /// without one), or a limit reached (`OfflineBufferFull`).
    pub(crate) fn push(
        &mut self,
        msg: Message,
        request: Option<Outgoing>,
    ) -> Result<(), ClientError> {
        let Some(limits) = &self.limits else {
            return Err(ClientError::ConnectionLost);
        };
        let size = msg.body.encoded_len() + msg.auth.encoded_len();
        if self.items.len() >= limits.max_messages
            || self.bytes.saturating_add(size) > limits.max_bytes
        {
            return Err(ClientError::OfflineBufferFull {
                messages: self.items.len(),
                bytes: self.bytes,
            });
        }
        self.bytes += size;
        self.items.push_back(Queued {
            msg,
            request,
            at: Instant::now(),
        });
        Ok(())
    }

    /// Everything kept, oldest first, leaving the buffer empty.
    pub(crate) fn take(&mut self) -> VecDeque<Queued> {
        self.bytes = 0;
        std::mem::take(&mut self.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MessageType;

    fn msg(n: usize) -> Message {
        Message::new(MessageType::NOTIFY_URI, "t", vec![0u8; n])
    }

    #[test]
    fn count_and_byte_limits_refuse_with_a_typed_error() {
        let limits = OfflineBuffer::default().max_messages(3).max_bytes(1000);
        let mut b = Offline::new(Some(limits));
        for _ in 0..3 {
            b.push(msg(10), None).unwrap();
        }
        let err = b.push(msg(10), None).unwrap_err();
        assert!(
            matches!(err, ClientError::OfflineBufferFull { messages: 3, .. }),
            "{err}"
        );
        let taken = b.take();
        assert_eq!(taken.len(), 3);
        assert!(b.push(msg(2000), None).is_err(), "bytes bound");
        assert_eq!(b.len(), 0);
        b.push(msg(900), None).unwrap();
        assert!(
            b.push(msg(200), None).is_err(),
            "bytes bound counts what is kept"
        );
    }

    #[test]
    fn without_a_buffer_a_send_is_connection_lost() {
        let mut b = Offline::new(None);
        assert!(matches!(
            b.push(msg(1), None),
            Err(ClientError::ConnectionLost)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn age_is_measured_from_the_send() {
        let limits = OfflineBuffer::default().max_age(Duration::from_secs(2));
        let mut b = Offline::new(Some(limits));
        b.push(msg(1), None).unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        b.push(msg(1), None).unwrap();
        tokio::time::advance(Duration::from_millis(1500)).await;
        let now = Instant::now();
        let expired: Vec<bool> = b.take().iter().map(|q| q.expired(&limits, now)).collect();
        assert_eq!(expired, [true, false]);
    }

    #[test]
    fn the_byte_bound_counts_auth_fields_and_admits_exactly_its_size() {
        let mut m = msg(10);
        m.auth.insert("hmac", vec![7u8; 40]);
        let size = m.body.encoded_len() + m.auth.encoded_len();
        let exact = OfflineBuffer::default().max_bytes(size);
        let mut b = Offline::new(Some(exact));
        b.push(m.clone(), None).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b.limits().map(|l| l.max_bytes), Some(size));
        let short = OfflineBuffer::default().max_bytes(size - 1);
        assert!(Offline::new(Some(short)).push(m, None).is_err());
        assert!(Offline::new(None).limits().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_exactly_max_age_old_is_not_expired() {
        let limits = OfflineBuffer::default().max_age(Duration::from_secs(2));
        let mut b = Offline::new(Some(limits));
        b.push(msg(1), None).unwrap();
        tokio::time::advance(Duration::from_secs(2)).await;
        let now = Instant::now();
        assert!(!b.take()[0].expired(&limits, now));
    }
}
