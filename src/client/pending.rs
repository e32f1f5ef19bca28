//! The client's waiting requests: the shared table of
//! [`proto::requests`](crate::proto::requests), which decides which reply
//! completes which request, holding what is the client's per request — the
//! connection it went out on and its reply channel. The client has one
//! server at a time, so any reply may answer any request; the table's
//! lock is the client's (`Inner::pending`).

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::proto::requests::{Answered, ReplyError, Requests};
use crate::protocol::RequestId;
use crate::wire::{Message, MessageType};

use super::ClientError;

pub(crate) use crate::proto::requests::Ticket;

pub(crate) type ReplyTx = oneshot::Sender<Result<Message, ClientError>>;

struct Slot {
    /// The connection it went out on (0: not sent yet, in the offline
    /// buffer).
    conn: u64,
    tx: ReplyTx,
}

/// A reply taken from the table, to be handed to its request.
pub(crate) struct Answer(ReplyTx, Message);

impl Answer {
    pub(crate) fn send(self) {
        // The request gave up meanwhile: nobody to tell.
        let _ = self.0.send(Ok(self.1));
    }
}

/// The client's waiting requests, in send order.
pub(crate) struct Pending(Requests<Slot>);

impl Pending {
    /// A table for at most `max` application requests.
    pub(crate) fn new(max: usize) -> Self {
        Pending(Requests::new(max))
    }

    /// Registers a request; its ticket (for [`remove`](Self::remove)) and
    /// a fresh random id to attach, or `TooManyPending` if the table is
    /// full.
    pub(crate) fn insert(
        &mut self,
        request_type: MessageType,
        uri: Bytes,
        tx: ReplyTx,
    ) -> Result<(Ticket, RequestId), ClientError> {
        self.0
            .insert(request_type, uri, Slot { conn: 0, tx })
            .map_err(|full| ClientError::TooManyPending { max: full.max })
    }

    /// [`insert`](Self::insert) for the client's own control requests
    /// (login, leaving a draining server's topics), outside the bound on
    /// the application's, already on connection `conn`.
    pub(crate) fn insert_control(
        &mut self,
        request_type: MessageType,
        uri: Bytes,
        tx: ReplyTx,
        conn: u64,
    ) -> Option<(Ticket, RequestId)> {
        self.0
            .insert_control(request_type, uri, Slot { conn, tx })
            .ok()
    }

    pub(crate) fn remove(&mut self, ticket: Ticket) {
        self.0.remove(ticket);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether request `ticket` is still waiting.
    pub(crate) fn contains(&self, ticket: Ticket) -> bool {
        self.0.contains(ticket)
    }

    /// Records that request `ticket` went out on connection `conn`.
    pub(crate) fn assign(&mut self, ticket: Ticket, conn: u64) {
        if let Some(slot) = self.0.get_mut(ticket) {
            slot.conn = conn;
        }
    }

    /// Requests waiting for a reply on connection `conn`.
    pub(crate) fn on_connection(&self, conn: u64) -> usize {
        self.0.payloads().filter(|s| s.conn == conn).count()
    }

    /// Fails request `ticket`, if it is still waiting.
    pub(crate) fn fail(&mut self, ticket: Ticket, err: ClientError) {
        if let Some(slot) = self.0.remove(ticket) {
            let _ = slot.tx.send(Err(err));
        }
    }

    /// Fails the requests sent on connection `conn` (it is gone); those
    /// not sent yet keep waiting for the next connection.
    pub(crate) fn fail_connection(&mut self, conn: u64, err: impl Fn() -> ClientError) {
        for slot in self.0.take_where(|s| s.conn == conn) {
            let _ = slot.tx.send(Err(err()));
        }
    }

    /// [`complete_later`](Self::complete_later), the answer sent at once
    /// (tests hold no lock).
    #[cfg(test)]
    pub(crate) fn complete(&mut self, msg: Message) -> Option<Message> {
        let (rest, answer) = self.complete_later(msg);
        if let Some(answer) = answer {
            answer.send();
        }
        rest
    }

    /// Takes the request `msg` answers, handing back the answer to send
    /// once the table is unlocked: sending wakes the waiting task, which
    /// can mean a system call to wake a worker thread, and the table's
    /// lock is wanted meanwhile by every request being sent. Gives `msg`
    /// back if it answers none (it is for the handlers); neither if it
    /// names a waiting request but is about another uri (dropped).
    pub(crate) fn complete_later(&mut self, msg: Message) -> (Option<Message>, Option<Answer>) {
        match self.0.answer(msg, |_| true) {
            Answered::Request(slot, msg) => (None, Some(Answer(slot.tx, msg))),
            Answered::Dropped => (None, None),
            Answered::NotOurs(msg) => (Some(msg), None),
        }
    }

    /// An AUTH_ERROR that failed our own check (the server could not sign
    /// it: we hold a different secret). It answers the request it names,
    /// else the oldest one, since servers answer in order.
    pub(crate) fn fail_unverified(&mut self, msg: Message) -> bool {
        match self.0.named_or_oldest(&msg) {
            Some(slot) => {
                let err = ReplyError::AuthRejected {
                    message: msg,
                    verified: false,
                };
                let _ = slot.tx.send(Err(err.into()));
                true
            }
            None => false,
        }
    }

    /// Fails every waiting request (the connection is gone).
    pub(crate) fn fail_all(&mut self, err: impl Fn() -> ClientError) {
        for slot in self.0.take_all() {
            let _ = slot.tx.send(Err(err()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(
        p: &mut Pending,
        t: MessageType,
        uri: &'static str,
    ) -> (RequestId, oneshot::Receiver<Result<Message, ClientError>>) {
        let (tx, rx) = oneshot::channel();
        let (_, rid) = p.insert(t, Bytes::from_static(uri.as_bytes()), tx).unwrap();
        (rid, rx)
    }

    fn with_rid(mut m: Message, rid: RequestId) -> Message {
        rid.attach(&mut m);
        m
    }

    #[test]
    fn id_then_fifo_matching() {
        let mut p = Pending::new(8);
        let (_r1, mut rx1) = waiting(&mut p, MessageType::REQUEST_URI, "k");
        let (r2, mut rx2) = waiting(&mut p, MessageType::REQUEST_URI, "k");
        // Echoed id 2 answers request 2 even though 1 is older.
        assert!(p
            .complete(with_rid(Message::respond("k", "two"), r2))
            .is_none());
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

    #[test]
    fn the_table_is_bounded_for_the_application_not_for_control_requests() {
        let mut p = Pending::new(1);
        let _kept = waiting(&mut p, MessageType::REQUEST_URI, "k");
        let (tx, _rx) = oneshot::channel();
        let refused = p.insert(MessageType::REQUEST_URI, Bytes::new(), tx);
        assert!(matches!(
            refused,
            Err(ClientError::TooManyPending { max: 1 })
        ));
        let (tx, _rx) = oneshot::channel();
        let login = p.insert_control(MessageType::REQUEST_URI, Bytes::new(), tx, 7);
        assert!(login.is_some());
        assert_eq!((p.len(), p.on_connection(7)), (2, 1));
    }

    #[test]
    fn netaio_auth_errors_answer_the_named_or_oldest_request() {
        let mut p = Pending::new(8);
        let (_, mut old) = waiting(&mut p, MessageType::REQUEST_URI, "a");
        let (r2, mut named) = waiting(&mut p, MessageType::CREATE_URI, "b");
        assert!(p
            .complete(with_rid(Message::error("HMAC auth failed"), r2))
            .is_none());
        assert_eq!(
            named.try_recv().unwrap().unwrap().message_type,
            MessageType::AUTH_ERROR
        );
        assert!(p.complete(Message::error("HMAC auth failed")).is_none());
        assert!(old.try_recv().unwrap().is_ok());
        // One that failed our own check: the named request, else the oldest.
        let (_, mut third) = waiting(&mut p, MessageType::REQUEST_URI, "c");
        assert!(p.fail_unverified(Message::error("HMAC auth failed")));
        let err = third.try_recv().unwrap().unwrap_err();
        assert!(err.is_auth_rejected(), "{err}");
        assert!(!p.fail_unverified(Message::error("HMAC auth failed")));
    }
}
