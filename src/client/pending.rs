//! The client's waiting requests: the shared table of
//! [`proto::requests`](crate::proto::requests), which decides which reply
//! completes which request, holding what is the client's per request — the
//! connection it went out on, its reply channel and its per-call plugin
//! layer.
//!
//! One owner of the order: a request's entry ([`Outgoing`]) travels in the
//! connection's queue with its frame, and the writer records the entries
//! of each batch it takes, in queue order, before writing a byte of it
//! ([`Pending::record`]). The table's order is the wire's, which is what
//! matching a netaio reply (no id: the *oldest* compatible request) needs,
//! and the caller takes no lock to send a request: it picks a random id,
//! seals, and queues. The table's lock is taken by the writer once per
//! batch, by the reader once per reply, and by a caller only when it gives
//! up waiting. The bound on waiting requests is the caller's
//! ([`Budget`]): an atomic count, not the table's size.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::auth::PluginLayer;
use crate::proto::requests::{is_error_report, Answered, ReplyError, Requests};
use crate::protocol::RequestId;
use crate::wire::{Message, MessageType};

use super::{ClientError, Inner};

pub(crate) type ReplyTx = oneshot::Sender<Result<Message, ClientError>>;

/// What the table keeps per request.
struct Slot {
    /// The connection it went out on (0: not sent yet, in the offline
    /// buffer).
    conn: u64,
    /// `None`: nobody awaits the answer, its arrival is what counts (the
    /// unsubscribes that leave a draining server).
    tx: Option<ReplyTx>,
    /// The per-call layer ([`Client::call_with`](super::Client::call_with))
    /// a reply that is not an error report must pass.
    layer: Option<PluginLayer>,
}

/// A request on its way out: its id is on the message, and this is what
/// the writer records as it writes the frame.
pub(crate) struct Outgoing {
    id: RequestId,
    request: MessageType,
    uri: Bytes,
    slot: Slot,
}

impl Outgoing {
    /// Gives request `msg` a fresh random id (a reply naming it completes
    /// this request; nobody off the path can aim one at a request not yet
    /// sent) and the entry to queue with its frame.
    pub(crate) fn new(msg: &mut Message, tx: Option<ReplyTx>, layer: Option<&PluginLayer>) -> Self {
        let id = RequestId::from(crate::random::u64());
        id.attach(msg);
        Outgoing {
            id,
            request: msg.message_type,
            uri: msg.body.uri.clone(),
            slot: Slot {
                conn: 0,
                tx,
                layer: layer.cloned(),
            },
        }
    }

    pub(crate) fn id(&self) -> RequestId {
        self.id
    }

    /// The per-call layer to seal the request with.
    pub(crate) fn layer(&self) -> Option<&PluginLayer> {
        self.slot.layer.as_ref()
    }

    /// Sent on connection `conn`.
    pub(crate) fn on(mut self, conn: u64) -> Self {
        self.slot.conn = conn;
        self
    }

    /// Whether the request gave up waiting: nobody wants it sent.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.slot.tx.as_ref().is_some_and(ReplyTx::is_closed)
    }

    /// Fails the request without its having been recorded.
    pub(crate) fn fail(self, err: ClientError) {
        self.slot.fail(err);
    }
}

impl Slot {
    fn fail(self, err: ClientError) {
        if let Some(tx) = self.tx {
            // The request gave up meanwhile: nobody to tell.
            let _ = tx.send(Err(err));
        }
    }
}

/// A reply taken from the table, to be handed to its request once the
/// table is unlocked: sending wakes the waiting task, which can mean a
/// system call to wake a worker thread, and opening a per-call layer can
/// mean a MAC; the writer wants the lock meanwhile.
pub(crate) struct Answer(Slot, Message);

impl Answer {
    /// Hands the reply over, through its per-call layer if it has one
    /// (error reports go out unsigned by a handler's layer): `open`
    /// opens it, in the reader's task, beside the instance layer.
    pub(crate) fn send(
        self,
        open: impl FnOnce(Message, &PluginLayer) -> Result<Message, ClientError>,
    ) {
        let Answer(slot, msg) = self;
        let Some(tx) = slot.tx else {
            return;
        };
        let result = match &slot.layer {
            Some(layer) if !is_error_report(msg.message_type) => open(msg, layer),
            _ => Ok(msg),
        };
        // The request gave up meanwhile: nobody to tell.
        let _ = tx.send(result);
    }
}

/// The bound on the application's waiting requests, kept by the callers:
/// a request holds a [`Seat`] from before it is queued until it ends.
pub(crate) struct Budget {
    used: AtomicUsize,
    max: usize,
}

/// One waiting request's place in the [`Budget`]; given back on drop.
pub(crate) struct Seat<'a>(&'a AtomicUsize);

impl Drop for Seat<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

impl Budget {
    pub(crate) fn new(max: usize) -> Self {
        Budget {
            used: AtomicUsize::new(0),
            max: max.max(1),
        }
    }

    /// A seat, or `TooManyPending` if `max` requests already wait.
    pub(crate) fn take(&self) -> Result<Seat<'_>, ClientError> {
        self.used
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| {
                (n < self.max).then_some(n + 1)
            })
            .map(|_| Seat(&self.used))
            .map_err(|_| ClientError::TooManyPending { max: self.max })
    }

    /// Requests waiting (queued, sent, or kept for the next connection).
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// The client's waiting requests, in wire order.
pub(crate) struct Pending(Requests<Slot>);

impl Pending {
    pub(crate) fn new() -> Self {
        // The bound is the callers' (`Budget`); control requests are
        // bounded by connections and topics.
        Pending(Requests::new(usize::MAX))
    }

    /// Records the requests of a batch the writer is about to write, in
    /// order (emptying `batch`). One given up meanwhile is left out. Two
    /// with the same random id (about once in 2^54 requests with a
    /// thousand waiting) both fail as if their connection was lost, so a
    /// reply naming the id answers neither wrongly: both may be retried.
    pub(crate) fn record(&mut self, batch: &mut Vec<Outgoing>) {
        for out in batch.drain(..) {
            if out.is_abandoned() {
                continue;
            }
            let Outgoing {
                id,
                request,
                uri,
                slot,
            } = out;
            if let Err(slot) = self.0.insert_as(id, request, uri, slot) {
                slot.fail(ClientError::ConnectionLost);
                if let Some(older) = self.0.remove_id(id) {
                    older.fail(ClientError::ConnectionLost);
                }
            }
        }
    }

    /// Takes out request `id` (it gave up waiting), if it is in.
    pub(crate) fn remove(&mut self, id: RequestId) {
        self.0.remove_id(id);
    }

    /// Requests recorded and not answered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Requests waiting for a reply on connection `conn`.
    pub(crate) fn on_connection(&self, conn: u64) -> usize {
        self.0.payloads().filter(|s| s.conn == conn).count()
    }

    /// Fails the requests sent on connection `conn` (it is gone).
    pub(crate) fn fail_connection(&mut self, conn: u64, err: impl Fn() -> ClientError) {
        for slot in self.0.take_where(|s| s.conn == conn) {
            slot.fail(err());
        }
    }

    /// [`complete_later`](Self::complete_later), the answer sent at once
    /// (tests hold no lock and open no layer).
    #[cfg(test)]
    pub(crate) fn complete(&mut self, msg: Message) -> Option<Message> {
        let (rest, answer) = self.complete_later(msg);
        if let Some(answer) = answer {
            answer.send(|m, _| Ok(m));
        }
        rest
    }

    /// Takes the request `msg` answers, handing back the answer to send
    /// once the table is unlocked. Gives `msg` back if it answers none (it
    /// is for the handlers); neither if it names a waiting request but is
    /// about another uri (dropped).
    pub(crate) fn complete_later(&mut self, msg: Message) -> (Option<Message>, Option<Answer>) {
        match self.0.answer(msg, |_| true) {
            Answered::Request(slot, msg) => (None, Some(Answer(slot, msg))),
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
                slot.fail(err.into());
                true
            }
            None => false,
        }
    }

    /// Fails every waiting request (the client is closing).
    pub(crate) fn fail_all(&mut self, err: impl Fn() -> ClientError) {
        for slot in self.0.take_all() {
            slot.fail(err());
        }
    }
}

/// A request waiting for its reply. However the wait ends without one
/// (timeout, error, the caller dropping the future), the entry leaves the
/// table: the receiver is closed first, so a writer that has not recorded
/// it yet leaves it out (`Outgoing::is_abandoned`), and one that has is
/// undone here.
pub(crate) struct Waiting<'a> {
    pub(super) inner: &'a Inner,
    pub(super) id: RequestId,
    pub(super) rx: oneshot::Receiver<Result<Message, ClientError>>,
    pub(super) armed: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.rx.close();
            crate::sync::lock(&self.inner.pending).remove(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Rx = oneshot::Receiver<Result<Message, ClientError>>;

    fn outgoing(t: MessageType, uri: &'static str) -> (Outgoing, RequestId, Rx) {
        let (tx, rx) = oneshot::channel();
        let mut msg = Message::new(t, uri, "");
        let out = Outgoing::new(&mut msg, Some(tx), None);
        let id = out.id();
        assert_eq!(RequestId::of(&msg), Some(id), "the id is on the message");
        (out, id, rx)
    }

    fn waiting(p: &mut Pending, t: MessageType, uri: &'static str) -> (RequestId, Rx) {
        let (out, id, rx) = outgoing(t, uri);
        p.record(&mut vec![out]);
        (id, rx)
    }

    fn with_rid(mut m: Message, rid: RequestId) -> Message {
        rid.attach(&mut m);
        m
    }

    #[test]
    fn id_then_fifo_matching() {
        let mut p = Pending::new();
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
    fn the_writer_records_in_batch_order_and_leaves_out_the_abandoned() {
        let mut p = Pending::new();
        let (first, _, mut rx1) = outgoing(MessageType::REQUEST_URI, "k");
        let (gone, gone_id, rx_gone) = outgoing(MessageType::REQUEST_URI, "k");
        let (last, _, mut rx3) = outgoing(MessageType::REQUEST_URI, "k");
        drop(rx_gone);
        let mut batch = vec![first.on(3), gone.on(3), last.on(3)];
        p.record(&mut batch);
        assert!(batch.is_empty());
        assert_eq!((p.len(), p.on_connection(3), p.on_connection(4)), (2, 2, 0));
        // A late reply naming the abandoned request is not taken for another.
        assert!(p
            .complete(with_rid(Message::respond("k", "x"), gone_id))
            .is_some());
        // Without ids, in the order recorded.
        assert!(p.complete(Message::respond("k", "a")).is_none());
        assert!(p.complete(Message::respond("k", "b")).is_none());
        assert_eq!(&rx1.try_recv().unwrap().unwrap().content()[..], b"a");
        assert_eq!(&rx3.try_recv().unwrap().unwrap().content()[..], b"b");
    }

    #[test]
    fn two_requests_with_one_id_both_fail_and_no_reply_answers_them() {
        let mut p = Pending::new();
        let (older, id, mut rx1) = outgoing(MessageType::REQUEST_URI, "k");
        let (tx, mut rx2) = oneshot::channel();
        let mut msg = Message::new(MessageType::REQUEST_URI, "k", "");
        let mut newer = Outgoing::new(&mut msg, Some(tx), None);
        newer.id = id;
        p.record(&mut vec![older, newer]);
        assert!(rx1.try_recv().unwrap().unwrap_err().is_connection_lost());
        assert!(rx2.try_recv().unwrap().unwrap_err().is_connection_lost());
        assert_eq!(p.len(), 0);
        assert!(p
            .complete(with_rid(Message::respond("k", ""), id))
            .is_some());
    }

    #[test]
    fn a_per_call_layer_opens_replies_but_not_error_reports() {
        let mut p = Pending::new();
        let (tx, mut rx) = oneshot::channel();
        let mut msg = Message::new(MessageType::CREATE_URI, "k", "");
        let layer = PluginLayer::new();
        let out = Outgoing::new(&mut msg, Some(tx), Some(&layer));
        let id = out.id();
        p.record(&mut vec![out]);
        let (_, answer) = p.complete_later(with_rid(Message::ok("k", ""), id));
        let refused = |_: Message, _: &PluginLayer| Err(ClientError::ConnectionLost);
        answer.unwrap().send(refused);
        assert!(rx.try_recv().unwrap().unwrap_err().is_connection_lost());
        let (tx, mut rx) = oneshot::channel();
        let out = Outgoing::new(&mut msg, Some(tx), Some(&layer));
        let id = out.id();
        p.record(&mut vec![out]);
        let (_, answer) = p.complete_later(with_rid(Message::not_found("k"), id));
        answer.unwrap().send(refused);
        let err = rx.try_recv().unwrap().unwrap();
        assert_eq!(err.message_type, MessageType::NOT_FOUND);
    }

    #[test]
    fn removed_and_failed_requests_leave_the_table_and_are_told() {
        let mut p = Pending::new();
        let (gone, mut rx_gone) = waiting(&mut p, MessageType::REQUEST_URI, "k");
        let (_, mut rx_kept) = waiting(&mut p, MessageType::REQUEST_URI, "k");
        p.remove(gone);
        assert_eq!(p.len(), 1);
        // Given up: a reply without an id goes to the next one.
        assert!(p.complete(Message::respond("k", "x")).is_none());
        assert_eq!(&rx_kept.try_recv().unwrap().unwrap().content()[..], b"x");
        assert!(
            rx_gone.try_recv().is_err(),
            "a removed request hears nothing"
        );
        // By connection: only the lost one's requests fail.
        let (on3, _, mut rx3) = outgoing(MessageType::REQUEST_URI, "k");
        let (on4, _, mut rx4) = outgoing(MessageType::REQUEST_URI, "k");
        p.record(&mut vec![on3.on(3), on4.on(4)]);
        p.fail_connection(3, || ClientError::ConnectionLost);
        assert!(rx3.try_recv().unwrap().unwrap_err().is_connection_lost());
        assert!(rx4.try_recv().is_err(), "still waiting");
        assert_eq!((p.on_connection(3), p.on_connection(4)), (0, 1));
        p.fail_all(|| ClientError::Closed);
        assert!(rx4.try_recv().unwrap().unwrap_err().is_closed());
        assert_eq!(p.len(), 0);
        // Never recorded: told directly.
        let (never, _, mut rx) = outgoing(MessageType::REQUEST_URI, "k");
        never.fail(ClientError::Closed);
        assert!(rx.try_recv().unwrap().unwrap_err().is_closed());
    }

    #[test]
    fn an_outgoing_request_keeps_its_per_call_layer() {
        let mut msg = Message::new(MessageType::CREATE_URI, "k", "");
        let plain = Outgoing::new(&mut msg, None, None);
        assert!(plain.layer().is_none());
        let admin = PluginLayer::new().with_auth(crate::NetaioHmac::new("admin"));
        let signed = Outgoing::new(&mut msg, None, Some(&admin));
        assert!(signed.layer().is_some_and(|l| l.auth().is_some()));
        // Nobody awaits an unsubscribe's answer: never abandoned.
        assert!(!signed.is_abandoned());
    }

    #[test]
    fn the_budget_bounds_callers_and_seats_come_back() {
        let b = Budget::new(2);
        let one = b.take().unwrap();
        let _two = b.take().unwrap();
        assert!(matches!(
            b.take(),
            Err(ClientError::TooManyPending { max: 2 })
        ));
        assert_eq!(b.used(), 2);
        drop(one);
        assert_eq!(b.used(), 1);
        assert!(b.take().is_ok());
    }

    #[test]
    fn netaio_auth_errors_answer_the_named_or_oldest_request() {
        let mut p = Pending::new();
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
        assert!(err.is_auth_error(), "{err}");
        assert!(!p.fail_unverified(Message::error("HMAC auth failed")));
    }
}
