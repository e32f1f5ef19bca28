//! The node's waiting requests: the shared table of
//! [`proto::requests`](crate::proto::requests), which decides which reply
//! completes which request, holding what is the node's per request — the
//! address it went to and its reply channel — behind the node's lock. A
//! reply must come from the address its request went to (any member of a
//! group, for a request sent to a multicast group).

use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::proto::requests::{is_error_report, Answered, Requests, Ticket};
use crate::sync::lock;
use crate::wire::{Message, MessageType};

use super::NodeError;

struct Slot {
    to: SocketAddr,
    tx: oneshot::Sender<Message>,
}

impl Slot {
    fn from(&self, addr: SocketAddr) -> bool {
        // A request to a group is answered by its members.
        self.to == addr || self.to.ip().is_multicast()
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
    ) || is_error_report(t)
}

/// The waiting requests, oldest first.
pub(crate) struct Pending {
    waiting: Mutex<Requests<Slot>>,
}

impl Pending {
    pub(crate) fn new(max: usize) -> Self {
        Pending {
            waiting: Mutex::new(Requests::new(max)),
        }
    }

    /// Registers `msg` (to `to`), giving it a fresh request id.
    pub(crate) fn register(
        &self,
        to: SocketAddr,
        msg: &mut Message,
    ) -> Result<(Ticket, oneshot::Receiver<Message>), NodeError> {
        let (tx, rx) = oneshot::channel();
        let (ticket, id) = lock(&self.waiting)
            .insert(msg.message_type, msg.body.uri.clone(), Slot { to, tx })
            .map_err(|full| NodeError::TooManyPending { max: full.max })?;
        id.attach(msg);
        Ok((ticket, rx))
    }

    /// Forgets a request (timed out, or its send failed).
    pub(crate) fn forget(&self, ticket: Ticket) {
        lock(&self.waiting).remove(ticket);
    }

    /// Hands `msg` from `from` to the request it answers; gives it back
    /// if none waits for it; drops it if it names a waiting request but is
    /// about another uri.
    pub(crate) fn offer(&self, from: SocketAddr, msg: Message) -> Option<Message> {
        let answered = lock(&self.waiting).answer(msg, |slot| slot.from(from));
        let (slot, msg) = match answered {
            Answered::Request(slot, msg) => (slot, msg),
            Answered::Dropped => return None,
            Answered::NotOurs(msg) => return Some(msg),
        };
        // Sent with the table unlocked. The requester may have given up
        // meanwhile: nothing to do then.
        let _ = slot.tx.send(msg);
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
        let (_, mut rx_b) = p.register(addr(1), &mut b).unwrap();
        let mut reply = Message::respond("k", "for b");
        crate::protocol::RequestId::of(&b)
            .unwrap()
            .attach(&mut reply);
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
        let (ticket, _rx) = p.register(addr(1), &mut m).unwrap();
        let mut again = m.clone();
        assert!(p
            .register(addr(1), &mut again)
            .unwrap_err()
            .is_too_many_pending());
        p.forget(ticket);
        assert_eq!(p.len(), 0);
        assert!(!is_answer(MessageType::REQUEST_URI) && is_answer(MessageType::NOT_FOUND));
    }
}
