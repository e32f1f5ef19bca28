//! Requests waiting for their replies. A framewire node echoes the
//! request id, so its replies match exactly; a netaio node does not, and
//! its replies are matched as netaio's `request` does — by the source
//! address, the reply's type and the request's uri — to the oldest
//! waiting request (its error replies carry uri `ERROR`, so an error type
//! with that or an empty uri also matches the oldest request to that
//! address).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::protocol::RequestId;
use crate::sync::lock;
use crate::wire::{Message, MessageType};

use super::NodeError;

struct Waiting {
    id: RequestId,
    to: SocketAddr,
    uri: Bytes,
    request: MessageType,
    tx: oneshot::Sender<Message>,
}

impl Waiting {
    fn from(&self, addr: SocketAddr) -> bool {
        // A request to a group is answered by its members.
        self.to == addr || self.to.ip().is_multicast()
    }

    /// The replies netaio's `request` waits for after `request`.
    fn accepts(&self, t: MessageType) -> bool {
        match t {
            MessageType::ERROR | MessageType::AUTH_ERROR | MessageType::NOT_PERMITTED => true,
            MessageType::RESPOND_URI => self.request == MessageType::REQUEST_URI,
            MessageType::OK => self.request != MessageType::REQUEST_URI,
            MessageType::NOT_FOUND => self.request != MessageType::CREATE_URI,
            MessageType::CONFIRM_SUBSCRIBE => self.request == MessageType::SUBSCRIBE_URI,
            MessageType::CONFIRM_UNSUBSCRIBE => self.request == MessageType::UNSUBSCRIBE_URI,
            _ => false,
        }
    }
}

/// Whether `t` answers something: never answered itself (two nodes would
/// bounce a stray answer forever), only matched or handled.
pub(crate) fn is_answer(t: MessageType) -> bool {
    matches!(
        t,
        MessageType::RESPOND_URI
            | MessageType::NOTIFY_URI
            | MessageType::OK
            | MessageType::CONFIRM_SUBSCRIBE
            | MessageType::CONFIRM_UNSUBSCRIBE
            | MessageType::PEER_DISCOVERED
            | MessageType::DISCONNECT
    ) || is_error_reply(t)
}

/// The error replies: ERROR, AUTH_ERROR, NOT_FOUND, NOT_PERMITTED.
fn is_error_reply(t: MessageType) -> bool {
    t.is_error() || t == MessageType::NOT_FOUND || t == MessageType::NOT_PERMITTED
}

/// The waiting requests, oldest first.
pub(crate) struct Pending {
    waiting: Mutex<VecDeque<Waiting>>,
    max: usize,
}

impl Pending {
    pub(crate) fn new(max: usize) -> Self {
        Pending {
            waiting: Mutex::new(VecDeque::new()),
            max,
        }
    }

    /// Registers `msg` (to `to`), giving it a fresh request id.
    pub(crate) fn register(
        &self,
        to: SocketAddr,
        msg: &mut Message,
    ) -> Result<(RequestId, oneshot::Receiver<Message>), NodeError> {
        let mut waiting = lock(&self.waiting);
        if waiting.len() >= self.max {
            return Err(NodeError::TooManyPending { max: self.max });
        }
        // Random: a spoofer must guess it (framewire peers echo it).
        let id = RequestId::from(crate::random::u64());
        id.attach(msg);
        let (tx, rx) = oneshot::channel();
        waiting.push_back(Waiting {
            id,
            to,
            uri: msg.body.uri.clone(),
            request: msg.message_type,
            tx,
        });
        Ok((id, rx))
    }

    /// Forgets a request (timed out, or its send failed).
    pub(crate) fn forget(&self, id: RequestId) {
        lock(&self.waiting).retain(|w| w.id != id);
    }

    /// Hands `msg` from `from` to the request it answers; gives it back
    /// if none waits for it.
    pub(crate) fn offer(&self, from: SocketAddr, msg: Message) -> Option<Message> {
        if !is_answer(msg.message_type) {
            return Some(msg);
        }
        let mut waiting = lock(&self.waiting);
        let t = msg.message_type;
        let at = match RequestId::of(&msg) {
            Some(id) => waiting.iter().position(|w| w.id == id && w.from(from)),
            None => waiting
                .iter()
                .position(|w| w.from(from) && w.uri == msg.body.uri && w.accepts(t))
                .or_else(|| {
                    let bare = msg.body.uri.is_empty() || &msg.body.uri[..] == b"ERROR";
                    (is_error_reply(t) && bare)
                        .then(|| waiting.iter().position(|w| w.from(from)))
                        .flatten()
                }),
        };
        let Some(at) = at else {
            return Some(msg);
        };
        let w = waiting.remove(at)?;
        drop(waiting);
        // The requester may have given up meanwhile: nothing to do then.
        let _ = w.tx.send(msg);
        None
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.waiting).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn replies_with_an_id_match_exactly_and_only_from_the_address_asked() {
        let p = Pending::new(8);
        let mut a = Message::new(MessageType::REQUEST_URI, "k", "");
        let mut b = Message::new(MessageType::REQUEST_URI, "k", "");
        let (_, mut rx_a) = p.register(addr(1), &mut a).unwrap();
        let (id_b, mut rx_b) = p.register(addr(1), &mut b).unwrap();
        let mut reply = Message::respond("k", "for b");
        id_b.attach(&mut reply);
        assert!(p.offer(addr(2), reply.clone()).is_some(), "wrong source");
        assert!(p.offer(addr(1), reply).is_none());
        assert_eq!(&rx_b.try_recv().unwrap().content()[..], b"for b");
        assert!(rx_a.try_recv().is_err());
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn netaio_replies_match_the_oldest_request_by_type_and_uri() {
        let p = Pending::new(8);
        let mut create = Message::new(MessageType::CREATE_URI, "k", "v");
        let mut get = Message::new(MessageType::REQUEST_URI, "k", "");
        let (_, mut rx_create) = p.register(addr(1), &mut create).unwrap();
        let (_, mut rx_get) = p.register(addr(1), &mut get).unwrap();
        assert!(
            p.offer(addr(1), Message::not_found("k")).is_none(),
            "NOT_FOUND cannot answer a CREATE: the REQUEST takes it"
        );
        assert!(rx_get.try_recv().unwrap().message_type == MessageType::NOT_FOUND);
        assert!(p.offer(addr(1), Message::respond("other", "")).is_some());
        assert!(p
            .offer(addr(1), Message::new(MessageType::NOTIFY_URI, "k", ""))
            .is_some());
        // netaio's error replies carry uri ERROR.
        assert!(p.offer(addr(1), Message::error("boom")).is_none());
        assert_eq!(
            rx_create.try_recv().unwrap().message_type,
            MessageType::ERROR
        );
    }

    #[test]
    fn requests_are_bounded_and_forgotten() {
        let p = Pending::new(1);
        let mut m = Message::new(MessageType::REQUEST_URI, "k", "");
        let (id, _rx) = p.register(addr(1), &mut m).unwrap();
        let mut again = m.clone();
        assert!(p
            .register(addr(1), &mut again)
            .unwrap_err()
            .is_too_many_pending());
        p.forget(id);
        assert_eq!(p.len(), 0);
        assert!(!is_answer(MessageType::REQUEST_URI) && is_answer(MessageType::NOT_FOUND));
    }
}
