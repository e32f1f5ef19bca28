//! Requests waiting for their reply, and how a reply finds its request.

use std::collections::BTreeMap;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::protocol::RequestId;
use crate::wire::{Message, MessageType};

use super::ClientError;

pub(crate) type ReplyTx = oneshot::Sender<Result<Message, ClientError>>;

struct Waiter {
    uri: Bytes,
    request_type: MessageType,
    tx: ReplyTx,
}

/// Reply types netaio's `request()` accepts for a request type (WIRE.md
/// §6.1), plus NOT_PERMITTED, which netaio servers can also send.
pub(crate) fn accepts(request: MessageType, reply: MessageType) -> bool {
    use MessageType as T;
    match reply {
        T::AUTH_ERROR | T::ERROR | T::NOT_PERMITTED => true,
        T::RESPOND_URI => request == T::REQUEST_URI,
        T::CONFIRM_SUBSCRIBE => request == T::SUBSCRIBE_URI,
        T::CONFIRM_UNSUBSCRIBE => request == T::UNSUBSCRIBE_URI,
        T::OK => !matches!(
            request,
            T::REQUEST_URI | T::SUBSCRIBE_URI | T::UNSUBSCRIBE_URI
        ),
        T::NOT_FOUND => request != T::CREATE_URI,
        _ => false,
    }
}

/// The id a framewire server echoed, if any.
fn request_id(msg: &Message) -> Option<u64> {
    RequestId::of(msg).map(RequestId::get)
}

/// Ordered by request id, which is also send order: the fallback matching
/// (no echoed id) gives a reply to the oldest compatible request, which is
/// right for servers that answer in order, as netaio's do.
#[derive(Default)]
pub(crate) struct Pending {
    waiters: BTreeMap<u64, Waiter>,
}

impl Pending {
    pub(crate) fn insert(&mut self, id: u64, request_type: MessageType, uri: Bytes, tx: ReplyTx) {
        self.waiters.insert(
            id,
            Waiter {
                uri,
                request_type,
                tx,
            },
        );
    }

    pub(crate) fn remove(&mut self, id: u64) {
        self.waiters.remove(&id);
    }

    pub(crate) fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Hands `msg` to the request it answers; gives it back if none.
    pub(crate) fn complete(&mut self, msg: Message) -> Option<Message> {
        let id =
            match request_id(&msg) {
                // An echoed id is authoritative whatever the reply type.
                Some(id) if self.waiters.contains_key(&id) => id,
                _ => match self.waiters.iter().find(|(_, w)| {
                    w.uri == msg.body.uri && accepts(w.request_type, msg.message_type)
                }) {
                    Some((id, _)) => *id,
                    None => return Some(msg),
                },
            };
        if let Some(w) = self.waiters.remove(&id) {
            let _ = w.tx.send(Ok(msg));
        }
        None
    }

    /// An AUTH_ERROR that failed our own check (the server could not sign
    /// it: we hold a different secret). It answers the request with its
    /// echoed id, else the oldest one, since servers answer in order.
    pub(crate) fn fail_unverified(&mut self, msg: Message) -> bool {
        let id = request_id(&msg)
            .filter(|id| self.waiters.contains_key(id))
            .or_else(|| self.waiters.keys().next().copied());
        match id.and_then(|id| self.waiters.remove(&id)) {
            Some(w) => {
                let _ = w.tx.send(Err(ClientError::AuthRejected {
                    message: msg,
                    verified: false,
                }));
                true
            }
            None => false,
        }
    }

    /// Fails every waiting request (the connection is gone).
    pub(crate) fn fail_all(&mut self, err: impl Fn() -> ClientError) {
        for (_, w) in std::mem::take(&mut self.waiters) {
            let _ = w.tx.send(Err(err()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_types_follow_netaio() {
        use MessageType as T;
        assert!(accepts(T::REQUEST_URI, T::RESPOND_URI));
        assert!(!accepts(T::REQUEST_URI, T::OK));
        assert!(accepts(T::CREATE_URI, T::OK));
        assert!(!accepts(T::CREATE_URI, T::NOT_FOUND));
        assert!(accepts(T::DELETE_URI, T::NOT_FOUND));
        assert!(accepts(T::SUBSCRIBE_URI, T::CONFIRM_SUBSCRIBE));
        assert!(!accepts(T::REQUEST_URI, T::NOTIFY_URI));
    }

    #[test]
    fn id_then_fifo_matching() {
        let mut p = Pending::default();
        let (tx1, mut rx1) = oneshot::channel();
        let (tx2, mut rx2) = oneshot::channel();
        p.insert(1, MessageType::REQUEST_URI, Bytes::from_static(b"k"), tx1);
        p.insert(2, MessageType::REQUEST_URI, Bytes::from_static(b"k"), tx2);
        // Echoed id 2 answers request 2 even though 1 is older.
        let mut reply = Message::respond("k", "two");
        RequestId::from(2).attach(&mut reply);
        assert!(p.complete(reply).is_none());
        assert_eq!(&rx2.try_recv().unwrap().unwrap().content()[..], b"two");
        // Unrelated uri or type: not ours.
        assert!(p.complete(Message::respond("other", "")).is_some());
        assert!(p
            .complete(Message::new(MessageType::NOTIFY_URI, "k", ""))
            .is_some());
        // No id: oldest compatible request.
        assert!(p.complete(Message::respond("k", "one")).is_none());
        assert_eq!(&rx1.try_recv().unwrap().unwrap().content()[..], b"one");
        assert_eq!(p.len(), 0);
    }
}
