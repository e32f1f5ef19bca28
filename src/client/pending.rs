//! Requests waiting for their reply, and how a reply finds its request.
//!
//! A framewire server echoes the request id; a netaio server does not, and
//! its replies are matched as netaio matches them (type and uri, oldest
//! first). Either way a reply completes a request only if its type is one
//! the request accepts and its uri is the request's (error reports, which
//! carry no data, may also have netaio's error uris): a reply for another
//! uri, or a request echoed back, completes nothing.

use std::collections::BTreeMap;

use crate::random::HashMap;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::protocol::RequestId;
use crate::wire::{Message, MessageType};

use super::ClientError;

pub(crate) type ReplyTx = oneshot::Sender<Result<Message, ClientError>>;

struct Waiter {
    /// The connection it went out on (0: not sent yet, in the offline
    /// buffer).
    conn: u64,
    rid: RequestId,
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

/// An error report: no data a request could mistake for its answer.
pub(crate) fn is_error_report(t: MessageType) -> bool {
    matches!(
        t,
        MessageType::ERROR
            | MessageType::AUTH_ERROR
            | MessageType::NOT_FOUND
            | MessageType::NOT_PERMITTED
    )
}

/// The uris netaio puts on error reports instead of the request's:
/// `ERROR` (make_error_msg) and empty (the default handler's NOT_FOUND).
fn is_netaio_error_uri(uri: &[u8]) -> bool {
    uri.is_empty() || uri == b"ERROR"
}

impl Waiter {
    /// Whether `reply` may answer this request: an accepted type, and the
    /// request's uri (or, for an error report, netaio's error uris).
    fn answered_by(&self, reply: &Message) -> bool {
        accepts(self.request_type, reply.message_type)
            && (reply.body.uri == self.uri
                || (is_error_report(reply.message_type) && is_netaio_error_uri(&reply.body.uri)))
    }
}

/// What a received message is to the waiting requests.
enum Matched {
    /// The answer to request `seq`.
    Answers(u64),
    /// It names a waiting request it cannot answer: dropped.
    Dropped,
    /// No request's: for the handlers.
    NotOurs,
}

/// A reply taken from the table, to be handed to its request.
pub(crate) struct Answer(ReplyTx, Message);

impl Answer {
    pub(crate) fn send(self) {
        // The request gave up meanwhile: nobody to tell.
        let _ = self.0.send(Ok(self.1));
    }
}

/// Waiting requests in send order (their sequence numbers), and their ids.
/// The fallback matching (no echoed id) gives a reply to the oldest
/// compatible request, which is right for servers that answer in order, as
/// netaio's do.
#[derive(Default)]
pub(crate) struct Pending {
    waiters: BTreeMap<u64, Waiter>,
    by_rid: HashMap<RequestId, u64>,
    next_seq: u64,
}

impl Pending {
    /// Registers a request; returns its sequence number (for
    /// [`remove`](Self::remove)) and a fresh random id: ids are not
    /// guessable, so a reply cannot be aimed at a request not yet sent.
    pub(crate) fn insert(
        &mut self,
        request_type: MessageType,
        uri: Bytes,
        tx: ReplyTx,
    ) -> (u64, RequestId) {
        let rid = loop {
            let candidate = RequestId::from(crate::random::u64());
            if !self.by_rid.contains_key(&candidate) {
                break candidate;
            }
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_rid.insert(rid, seq);
        self.waiters.insert(
            seq,
            Waiter {
                conn: 0,
                rid,
                uri,
                request_type,
                tx,
            },
        );
        (seq, rid)
    }

    pub(crate) fn remove(&mut self, seq: u64) {
        if let Some(w) = self.waiters.remove(&seq) {
            self.by_rid.remove(&w.rid);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Whether request `seq` is still waiting.
    pub(crate) fn contains(&self, seq: u64) -> bool {
        self.waiters.contains_key(&seq)
    }

    /// Records that request `seq` went out on connection `conn`.
    pub(crate) fn assign(&mut self, seq: u64, conn: u64) {
        if let Some(w) = self.waiters.get_mut(&seq) {
            w.conn = conn;
        }
    }

    /// Requests waiting for a reply on connection `conn`.
    pub(crate) fn on_connection(&self, conn: u64) -> usize {
        self.waiters.values().filter(|w| w.conn == conn).count()
    }

    /// Fails request `seq`, if it is still waiting.
    pub(crate) fn fail(&mut self, seq: u64, err: ClientError) {
        if let Some(w) = self.take(seq) {
            let _ = w.tx.send(Err(err));
        }
    }

    /// Fails the requests sent on connection `conn` (it is gone); those
    /// not sent yet keep waiting for the next connection.
    pub(crate) fn fail_connection(&mut self, conn: u64, err: impl Fn() -> ClientError) {
        let lost: Vec<u64> = self
            .waiters
            .iter()
            .filter(|(_, w)| w.conn == conn)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in lost {
            self.fail(seq, err());
        }
    }

    fn take(&mut self, seq: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&seq)?;
        self.by_rid.remove(&w.rid);
        Some(w)
    }

    fn oldest(&self) -> Option<u64> {
        self.waiters.keys().next().copied()
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
    /// names a waiting request it cannot answer (a reply for another uri,
    /// or of a type the request does not accept: dropped, never delivered
    /// to the wrong request).
    pub(crate) fn complete_later(&mut self, msg: Message) -> (Option<Message>, Option<Answer>) {
        match self.match_reply(&msg) {
            Matched::NotOurs => (Some(msg), None),
            Matched::Dropped => (None, None),
            Matched::Answers(seq) => (None, self.take(seq).map(|w| Answer(w.tx, msg))),
        }
    }

    /// Which waiting request `msg` answers (see
    /// [`complete_later`](Self::complete_later)).
    fn match_reply(&self, msg: &Message) -> Matched {
        let by_rid = RequestId::of(msg).and_then(|rid| self.by_rid.get(&rid).copied());
        // netaio's AUTH_ERROR never carries the request's uri: it answers
        // the request it names, else the oldest (servers answer in order).
        if msg.message_type == MessageType::AUTH_ERROR && is_netaio_error_uri(&msg.body.uri) {
            return match by_rid.or_else(|| self.oldest()) {
                Some(seq) => Matched::Answers(seq),
                None => Matched::Dropped,
            };
        }
        match by_rid {
            Some(seq) if self.waiters[&seq].answered_by(msg) => Matched::Answers(seq),
            Some(_) => {
                tracing::debug!(
                    reply = %msg.message_type,
                    "a reply naming a waiting request does not answer it: dropped"
                );
                Matched::Dropped
            }
            None => {
                match self.waiters.iter().find(|(_, w)| {
                    w.uri == msg.body.uri && accepts(w.request_type, msg.message_type)
                }) {
                    Some((seq, _)) => Matched::Answers(*seq),
                    None => Matched::NotOurs,
                }
            }
        }
    }

    /// An AUTH_ERROR that failed our own check (the server could not sign
    /// it: we hold a different secret). It answers the request it names,
    /// else the oldest one, since servers answer in order.
    pub(crate) fn fail_unverified(&mut self, msg: Message) -> bool {
        let seq = RequestId::of(&msg)
            .and_then(|rid| self.by_rid.get(&rid).copied())
            .or_else(|| self.oldest());
        match seq.and_then(|seq| self.take(seq)) {
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
        self.by_rid.clear();
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
        assert!(!accepts(T::DELETE_URI, T::DELETE_URI));
    }

    fn waiting(
        p: &mut Pending,
        t: MessageType,
        uri: &'static str,
    ) -> (RequestId, oneshot::Receiver<Result<Message, ClientError>>) {
        let (tx, rx) = oneshot::channel();
        let (_, rid) = p.insert(t, Bytes::from_static(uri.as_bytes()), tx);
        (rid, rx)
    }

    fn with_rid(mut m: Message, rid: RequestId) -> Message {
        rid.attach(&mut m);
        m
    }

    #[test]
    fn id_then_fifo_matching() {
        let mut p = Pending::default();
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
    fn an_id_does_not_make_a_reply_for_another_uri_or_type_the_answer() {
        let mut p = Pending::default();
        let (rid, mut rx) = waiting(&mut p, MessageType::REQUEST_URI, "acct/alice");
        // Bob's balance with Alice's request id: dropped, not delivered.
        assert!(p
            .complete(with_rid(Message::respond("acct/bob", "1000"), rid))
            .is_none());
        // The request echoed back: not a reply type for a request.
        let echoed = with_rid(
            Message::new(MessageType::REQUEST_URI, "acct/alice", ""),
            rid,
        );
        assert!(p.complete(echoed).is_none());
        assert!(rx.try_recv().is_err(), "still waiting");
        assert_eq!(p.len(), 1);
        // Error reports may carry netaio's error uris.
        assert!(p.complete(with_rid(Message::not_found(""), rid)).is_none());
        assert!(rx.try_recv().unwrap().unwrap().message_type == MessageType::NOT_FOUND);
    }

    #[test]
    fn ids_are_random_and_unique() {
        let mut p = Pending::default();
        let ids: std::collections::HashSet<_> = (0..1000)
            .map(|_| waiting(&mut p, MessageType::REQUEST_URI, "k").0)
            .collect();
        assert_eq!(ids.len(), 1000);
        assert!(!ids.contains(&RequestId::from(1)), "not a counter");
    }

    #[test]
    fn netaio_auth_errors_answer_the_named_or_oldest_request() {
        let mut p = Pending::default();
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
    }
}
