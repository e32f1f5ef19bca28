//! Request/reply semantics, defined once for the client and the node:
//! request ids, the table of waiting requests, which reply completes which
//! request, and what an error reply means to the caller ([`ReplyError`]).
//! The client and the node keep only what is theirs in the table (a reply
//! channel, the connection or address a request went to) and their own
//! locking; nothing here waits, locks or reads a clock.
//!
//! # Which reply completes which request
//!
//! Only replies complete requests: RESPOND_URI, OK, CONFIRM_SUBSCRIBE,
//! CONFIRM_UNSUBSCRIBE and the error reports (ERROR, AUTH_ERROR, NOT_FOUND,
//! NOT_PERMITTED). A reply
//!
//! 1. carrying a request id (framewire peers echo the one a request
//!    carries) completes exactly the request with that id, whatever its
//!    type, if that request is still waiting (and, on a node, went to the
//!    reply's sender) and the reply is about its uri (an error report may
//!    also carry none, or netaio's `ERROR`); one about another uri is
//!    dropped, so a signed reply cannot substitute another uri's data. An
//!    id completes nothing else: a late answer to a request given up
//!    cannot complete a newer one;
//! 2. carrying none (netaio peers) is matched as netaio 0.0.9's `request()`
//!    matches it: to the oldest waiting request for the identical uri whose
//!    type [`accepts`] the reply's — correct because a netaio peer answers
//!    in order;
//! 3. carrying none, matched by nothing above, and an error report with
//!    netaio's error uri `ERROR` (`make_error_msg`: an HMAC failure, a bad
//!    checksum, a netaio node's default NOT_FOUND) completes the oldest
//!    waiting request, the one a peer answering in order is refusing.
//!
//! What netaio's matching cannot match, and framewire therefore cannot
//! either without ids: a reply whose type the request does not accept
//! (a NOT_FOUND to a CREATE, a RESPOND_URI to anything but a REQUEST_URI),
//! a reply for another uri, and the netaio server's default
//! NOT_FOUND, whose uri is empty — it answers every unrouted frame,
//! including framewire's keepalive pings that nobody waits for, so it
//! cannot be pinned on a request. Those requests end at their timeout, as
//! they do with netaio's own client.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::protocol::RequestId;
use crate::random::HashMap;
use crate::wire::{Message, MessageType};

/// Whether a reply of type `reply` may answer a request of type
/// `request` when it carries no request id: netaio 0.0.9's `request()`
/// (TCPClient and UDPNode alike) waits for AUTH_ERROR and ERROR, then
/// RESPOND_URI after a REQUEST_URI and OK after anything else (SUBSCRIBE_URI
/// and UNSUBSCRIBE_URI included), then NOT_FOUND unless it sent a
/// CREATE_URI. framewire adds NOT_PERMITTED (netaio servers and framewire
/// send it) and the readme server's confirmations, CONFIRM_SUBSCRIBE after
/// SUBSCRIBE_URI and CONFIRM_UNSUBSCRIBE after UNSUBSCRIBE_URI.
pub(crate) fn accepts(request: MessageType, reply: MessageType) -> bool {
    use MessageType as T;
    match reply {
        T::AUTH_ERROR | T::ERROR | T::NOT_PERMITTED => true,
        T::RESPOND_URI => request == T::REQUEST_URI,
        T::OK => request != T::REQUEST_URI,
        T::NOT_FOUND => request != T::CREATE_URI,
        T::CONFIRM_SUBSCRIBE => request == T::SUBSCRIBE_URI,
        T::CONFIRM_UNSUBSCRIBE => request == T::UNSUBSCRIBE_URI,
        _ => false,
    }
}

/// Whether a message of type `t` is a reply to a request (see the module
/// docs): nothing else completes a request, whatever id it carries.
pub(crate) fn is_reply(t: MessageType) -> bool {
    matches!(
        t,
        MessageType::RESPOND_URI
            | MessageType::OK
            | MessageType::CONFIRM_SUBSCRIBE
            | MessageType::CONFIRM_UNSUBSCRIBE
    ) || is_error_report(t)
}

/// Whether `t` is an error report (ERROR, AUTH_ERROR, NOT_FOUND,
/// NOT_PERMITTED): it carries no data a request could mistake for its
/// answer, so a per-call plugin layer need not open it.
pub(crate) fn is_error_report(t: MessageType) -> bool {
    matches!(
        t,
        MessageType::ERROR
            | MessageType::AUTH_ERROR
            | MessageType::NOT_FOUND
            | MessageType::NOT_PERMITTED
    )
}

/// The uri netaio's `make_error_msg` puts on error reports instead of the
/// request's.
const NETAIO_ERROR_URI: &[u8] = b"ERROR";

/// An error reply, as the caller of a request sees it: the peer answered
/// NOT_FOUND, NOT_PERMITTED, AUTH_ERROR or ERROR. [`ClientError`] and
/// [`NodeError`] wrap it (their `is_not_found()` and friends ask it); the
/// reply itself is kept, content and all.
///
/// [`ClientError`]: crate::client::ClientError
/// [`NodeError`]: crate::node::NodeError
///
/// ```
/// use framewire::{Message, ReplyError};
///
/// let e = ReplyError::classify(Message::not_found("k")).unwrap_err();
/// assert!(e.is_not_found() && !e.is_error());
/// assert_eq!(&e.reply().uri()[..], b"k");
/// assert_eq!(e.to_string(), "not found");
/// assert!(ReplyError::classify(Message::ok("k", "stored")).is_ok());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The peer answered NOT_FOUND.
    #[error("{}", self.describe("peer"))]
    NotFound(Message),
    /// The peer answered NOT_PERMITTED.
    #[error("{}", self.describe("peer"))]
    NotPermitted(Message),
    /// The peer answered AUTH_ERROR. `verified` is false when the reply
    /// itself failed this side's auth check (typically: the secrets
    /// differ, so the peer's error could not be signed in a way this side
    /// accepts).
    #[error("{}", self.describe("peer"))]
    AuthRejected {
        /// The peer's reply.
        message: Message,
        /// Whether the reply passed this side's auth check.
        verified: bool,
    },
    /// The peer answered ERROR.
    #[error("{}", self.describe("peer"))]
    Remote(Message),
}

crate::predicates::predicates!(ReplyError {
    /// Whether the peer said NOT_FOUND.
    is_not_found => ReplyError::NotFound(_),
    /// Whether the peer said NOT_PERMITTED.
    is_not_permitted => ReplyError::NotPermitted(_),
    /// Whether the peer answered AUTH_ERROR.
    is_auth_error => ReplyError::AuthRejected { .. },
    /// Whether the peer answered ERROR.
    is_error => ReplyError::Remote(_),
});

crate::predicates::renamed_reply_predicates!(ReplyError);

impl ReplyError {
    /// A reply as the caller's result: the four error types become
    /// errors, anything else is the answer.
    pub fn classify(reply: Message) -> Result<Message, ReplyError> {
        match reply.message_type {
            MessageType::NOT_FOUND => Err(ReplyError::NotFound(reply)),
            MessageType::NOT_PERMITTED => Err(ReplyError::NotPermitted(reply)),
            MessageType::AUTH_ERROR => Err(ReplyError::AuthRejected {
                message: reply,
                verified: true,
            }),
            MessageType::ERROR => Err(ReplyError::Remote(reply)),
            _ => Ok(reply),
        }
    }

    /// The peer's reply.
    pub fn reply(&self) -> &Message {
        match self {
            ReplyError::NotFound(m)
            | ReplyError::NotPermitted(m)
            | ReplyError::Remote(m)
            | ReplyError::AuthRejected { message: m, .. } => m,
        }
    }

    /// The peer's reply, taken out.
    pub fn into_reply(self) -> Message {
        match self {
            ReplyError::NotFound(m)
            | ReplyError::NotPermitted(m)
            | ReplyError::Remote(m)
            | ReplyError::AuthRejected { message: m, .. } => m,
        }
    }

    /// One line for people, naming the answering side as `who` ("server"
    /// for the client, "peer" for the node): the `Display` of the errors
    /// that wrap this one.
    pub(crate) fn describe(&self, who: &str) -> String {
        let text = String::from_utf8_lossy(self.reply().content());
        // netaio's replies say only their kind ("not found"): saying it
        // twice ("not found: not found") tells nobody anything.
        let kind = |label: &str| {
            if text.is_empty() || text.eq_ignore_ascii_case(label) {
                label.to_owned()
            } else {
                format!("{label}: {text}")
            }
        };
        match self {
            ReplyError::NotFound(_) => kind("not found"),
            ReplyError::NotPermitted(_) => kind("not permitted"),
            ReplyError::AuthRejected { verified, .. } => {
                let unverified = if *verified { "" } else { " (reply unverified)" };
                format!("authentication rejected by the {who}{unverified}: {text}")
            }
            ReplyError::Remote(_) => format!("{who} error: {text}"),
        }
    }
}

/// Where a request stands in the table: its place in send order, which is
/// what "oldest" means for netaio's matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Ticket(u64);

/// The table refused a request: as many as its bound are waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full {
    /// The bound in force.
    pub(crate) max: usize,
}

struct Waiter<P> {
    id: RequestId,
    uri: Bytes,
    request: MessageType,
    payload: P,
}

/// Whether `reply`, which names `w` by id, is about `w`'s request: its uri,
/// or, for an error report, none or netaio's error uri (framewire's and
/// netaio's default NOT_FOUND has an empty uri). A data reply for another
/// uri is not this request's answer even with its id: a signed reply must
/// not substitute another uri's data (security finding H3).
fn about<P>(w: &Waiter<P>, reply: &Message) -> bool {
    let uri = &reply.body.uri;
    *uri == w.uri
        || (is_error_report(reply.message_type) && (uri.is_empty() || uri[..] == *NETAIO_ERROR_URI))
}

/// What a received message is to the waiting requests.
pub(crate) enum Answered<P> {
    /// The answer to the request whose payload this is.
    Request(P, Message),
    /// It names a waiting request by id but is about another uri: dropped,
    /// never delivered to that request, another one or the handlers; the
    /// request keeps waiting for its own answer.
    Dropped,
    /// No request's: for the handlers.
    NotOurs(Message),
}

enum Match {
    Request(Ticket),
    Dropped,
    NotOurs,
}

/// Requests waiting for their replies, in send order, with their ids.
/// `P` is what the shell keeps per request (its reply channel, where the
/// request went); the table never looks inside it, except through the
/// `from` test [`answer`](Self::answer) is given.
pub(crate) struct Requests<P> {
    waiters: BTreeMap<Ticket, Waiter<P>>,
    by_id: HashMap<RequestId, Ticket>,
    next: u64,
    max: usize,
}

impl<P> Requests<P> {
    /// An empty table holding at most `max` requests (at least one).
    pub(crate) fn new(max: usize) -> Self {
        Requests {
            waiters: BTreeMap::new(),
            by_id: HashMap::default(),
            next: 0,
            max: max.max(1),
        }
    }

    /// Registers a request of type `request` for `uri`, refused if the
    /// table is full; its ticket and a fresh request id to attach.
    pub(crate) fn insert(
        &mut self,
        request: MessageType,
        uri: Bytes,
        payload: P,
    ) -> Result<(Ticket, RequestId), Full> {
        if self.waiters.len() >= self.max {
            return Err(Full { max: self.max });
        }
        self.insert_control(request, uri, payload)
    }

    /// [`insert`](Self::insert) outside the bound, for framewire's own
    /// control requests (a connection's login, the unsubscribes that leave
    /// a draining server), which the bound on the application's requests
    /// must not lock out; they are bounded by connections and topics.
    pub(crate) fn insert_control(
        &mut self,
        request: MessageType,
        uri: Bytes,
        payload: P,
    ) -> Result<(Ticket, RequestId), Full> {
        // Random, and never one a waiting request has: a reply with an id
        // names one request, and nobody off the path can aim one at a
        // request not yet sent.
        let id = loop {
            let candidate = RequestId::from(crate::random::u64());
            if !self.by_id.contains_key(&candidate) {
                break candidate;
            }
        };
        let ticket = self
            .insert_as(id, request, uri, payload)
            .map_err(|_| Full { max: self.max })?;
        Ok((ticket, id))
    }

    /// Registers a request already sent (or about to be, in this order)
    /// with an id its sender chose, outside the bound: for a sender that
    /// seals the frame before the table sees it (the client, whose writer
    /// registers requests as it writes them; the bound is the caller's).
    /// The payload comes back if a waiting request has the id: random
    /// 64-bit ids collide about once in 2^54 requests with a thousand
    /// waiting, and the older request keeps its id.
    pub(crate) fn insert_as(
        &mut self,
        id: RequestId,
        request: MessageType,
        uri: Bytes,
        payload: P,
    ) -> Result<Ticket, P> {
        if self.by_id.contains_key(&id) {
            return Err(payload);
        }
        let ticket = Ticket(self.next);
        // 2^64 requests never happen; refusing is still better than
        // reusing a ticket, which would break the send order.
        let Some(next) = self.next.checked_add(1) else {
            return Err(payload);
        };
        self.next = next;
        self.by_id.insert(id, ticket);
        self.waiters.insert(
            ticket,
            Waiter {
                id,
                uri,
                request,
                payload,
            },
        );
        Ok(ticket)
    }

    /// Takes out the request with id `id`, if one waits.
    pub(crate) fn remove_id(&mut self, id: RequestId) -> Option<P> {
        let ticket = self.by_id.get(&id).copied()?;
        self.remove(ticket)
    }

    /// Takes request `ticket` out (answered elsewhere, timed out, given
    /// up, or its send failed).
    pub(crate) fn remove(&mut self, ticket: Ticket) -> Option<P> {
        let w = self.waiters.remove(&ticket)?;
        self.by_id.remove(&w.id);
        Some(w.payload)
    }

    /// Whether request `ticket` is still waiting.
    #[cfg(test)]
    pub(crate) fn contains(&self, ticket: Ticket) -> bool {
        self.waiters.contains_key(&ticket)
    }

    /// Requests waiting.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Request `ticket`'s payload, to update it.
    #[cfg(test)]
    pub(crate) fn get_mut(&mut self, ticket: Ticket) -> Option<&mut P> {
        self.waiters.get_mut(&ticket).map(|w| &mut w.payload)
    }

    /// Every waiting request's payload, oldest first.
    pub(crate) fn payloads(&self) -> impl Iterator<Item = &P> {
        self.waiters.values().map(|w| &w.payload)
    }

    /// Takes out the requests whose payload passes `which`, oldest first.
    pub(crate) fn take_where(&mut self, mut which: impl FnMut(&P) -> bool) -> Vec<P> {
        let gone: Vec<Ticket> = self
            .waiters
            .iter()
            .filter(|(_, w)| which(&w.payload))
            .map(|(t, _)| *t)
            .collect();
        gone.into_iter().filter_map(|t| self.remove(t)).collect()
    }

    /// Takes out every request, oldest first.
    pub(crate) fn take_all(&mut self) -> Vec<P> {
        self.by_id.clear();
        std::mem::take(&mut self.waiters)
            .into_values()
            .map(|w| w.payload)
            .collect()
    }

    /// Takes out the request `msg` answers (see the module docs), with
    /// `msg`. `from` says whether a request's payload allows the reply's
    /// sender (a node's request went to one address; the client has one
    /// server).
    pub(crate) fn answer(&mut self, msg: Message, from: impl Fn(&P) -> bool) -> Answered<P> {
        match self.answered(&msg, from) {
            Match::Request(ticket) => match self.remove(ticket) {
                Some(payload) => Answered::Request(payload, msg),
                None => Answered::NotOurs(msg),
            },
            Match::Dropped => Answered::Dropped,
            Match::NotOurs => Answered::NotOurs(msg),
        }
    }

    /// Which waiting request `msg` answers.
    fn answered(&self, msg: &Message, from: impl Fn(&P) -> bool) -> Match {
        let t = msg.message_type;
        if !is_reply(t) {
            return Match::NotOurs;
        }
        if let Some(id) = RequestId::of(msg) {
            let Some(ticket) = self.by_id.get(&id).copied() else {
                return Match::NotOurs;
            };
            let Some(w) = self.waiters.get(&ticket).filter(|w| from(&w.payload)) else {
                return Match::NotOurs;
            };
            if about(w, msg) {
                return Match::Request(ticket);
            }
            tracing::debug!(
                reply = %t,
                "a reply naming a waiting request is about another uri: dropped"
            );
            return Match::Dropped;
        }
        let mut from_sender = self.waiters.iter().filter(|(_, w)| from(&w.payload));
        if let Some((ticket, _)) = from_sender
            .clone()
            .find(|(_, w)| w.uri == msg.body.uri && accepts(w.request, t))
        {
            return Match::Request(*ticket);
        }
        if is_error_report(t) && msg.body.uri[..] == *NETAIO_ERROR_URI {
            return from_sender
                .next()
                .map_or(Match::NotOurs, |(ticket, _)| Match::Request(*ticket));
        }
        Match::NotOurs
    }

    /// Takes out the request an error report `msg` names by id, else the
    /// oldest: for an AUTH_ERROR that failed this side's own check (the
    /// peer could not sign it), which answers whatever it answers as a
    /// peer answering in order does.
    pub(crate) fn named_or_oldest(&mut self, msg: &Message) -> Option<P> {
        let ticket = RequestId::of(msg)
            .and_then(|id| self.by_id.get(&id).copied())
            .or_else(|| self.waiters.keys().next().copied())?;
        self.remove(ticket)
    }
}

#[cfg(test)]
impl<P> Answered<P> {
    fn unwrap(self) -> (P, Message) {
        match self {
            Answered::Request(p, m) => (p, m),
            Answered::Dropped => panic!("dropped"),
            Answered::NotOurs(m) => panic!("not ours: {m:?}"),
        }
    }

    fn is_dropped(&self) -> bool {
        matches!(self, Answered::Dropped)
    }

    fn is_not_ours(&self) -> bool {
        matches!(self, Answered::NotOurs(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MessageType as T;

    fn with_id(mut m: Message, id: RequestId) -> Message {
        id.attach(&mut m);
        m
    }

    fn table() -> Requests<&'static str> {
        Requests::new(16)
    }

    fn any(_: &&str) -> bool {
        true
    }

    fn wait(
        r: &mut Requests<&'static str>,
        t: MessageType,
        uri: &'static str,
        name: &'static str,
    ) -> RequestId {
        r.insert(t, Bytes::from_static(uri.as_bytes()), name)
            .unwrap()
            .1
    }

    #[test]
    fn the_table_without_ids_is_netaio_0_0_9_request() {
        // netaio/client.py request(): AUTH_ERROR, ERROR; RESPOND_URI if
        // REQUEST_URI else OK; NOT_FOUND unless CREATE_URI.
        for request in [
            T::REQUEST_URI,
            T::CREATE_URI,
            T::UPDATE_URI,
            T::DELETE_URI,
            T::SUBSCRIBE_URI,
            T::UNSUBSCRIBE_URI,
        ] {
            assert!(accepts(request, T::AUTH_ERROR) && accepts(request, T::ERROR));
            assert_eq!(
                accepts(request, T::RESPOND_URI),
                request == T::REQUEST_URI,
                "{request}"
            );
            assert_eq!(
                accepts(request, T::OK),
                request != T::REQUEST_URI,
                "{request}"
            );
            assert_eq!(
                accepts(request, T::NOT_FOUND),
                request != T::CREATE_URI,
                "{request}"
            );
            assert!(!accepts(request, T::NOTIFY_URI) && !accepts(request, request));
        }
        // framewire's additions.
        assert!(accepts(T::CREATE_URI, T::NOT_PERMITTED));
        assert!(accepts(T::SUBSCRIBE_URI, T::CONFIRM_SUBSCRIBE));
        assert!(!accepts(T::REQUEST_URI, T::CONFIRM_SUBSCRIBE));
        assert!(accepts(T::UNSUBSCRIBE_URI, T::CONFIRM_UNSUBSCRIBE));
    }

    #[test]
    fn ok_answers_a_subscribe_or_unsubscribe_as_in_netaio() {
        let mut r = table();
        wait(&mut r, T::SUBSCRIBE_URI, "news", "sub");
        wait(&mut r, T::UNSUBSCRIBE_URI, "old", "unsub");
        assert_eq!(r.answer(Message::ok("news", ""), any).unwrap().0, "sub");
        assert_eq!(r.answer(Message::ok("old", ""), any).unwrap().0, "unsub");
    }

    #[test]
    fn a_reply_with_a_waiting_id_completes_exactly_that_request_whatever_its_type() {
        let mut r = table();
        let create = wait(&mut r, T::CREATE_URI, "k", "create");
        wait(&mut r, T::REQUEST_URI, "k", "older");
        // A framewire server's default NOT_FOUND (empty uri) to a CREATE:
        // netaio's table refuses the type, the id decides.
        let (who, reply) = r
            .answer(with_id(Message::not_found(""), create), any)
            .unwrap();
        assert_eq!((who, reply.message_type), ("create", T::NOT_FOUND));
        // A reply type netaio's table refuses, about the request's uri.
        let named = wait(&mut r, T::REQUEST_URI, "acct/alice", "alice");
        let ok = with_id(Message::ok("acct/alice", ""), named);
        assert_eq!(r.answer(ok, any).unwrap().0, "alice");
        // Error reports with netaio's error uri, by id.
        let named = wait(&mut r, T::UPDATE_URI, "acct/alice", "update");
        let refused = with_id(Message::error("HMAC auth failed"), named);
        assert_eq!(r.answer(refused, any).unwrap().0, "update");
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn an_id_does_not_make_a_reply_for_another_uri_the_answer() {
        let mut r = table();
        let alice = wait(&mut r, T::REQUEST_URI, "acct/alice", "alice");
        wait(&mut r, T::REQUEST_URI, "acct/bob", "bob");
        // Bob's balance with Alice's request id (H3): dropped, delivered
        // neither to Alice's request, nor Bob's, nor the handlers.
        let bob = with_id(Message::respond("acct/bob", "1000"), alice);
        assert!(r.answer(bob, any).is_dropped());
        // An empty uri, or netaio's error uri, excuses only an error report.
        let blank = with_id(Message::respond("", "1000"), alice);
        assert!(r.answer(blank, any).is_dropped());
        let error_uri = with_id(Message::respond("ERROR", "1000"), alice);
        assert!(r.answer(error_uri, any).is_dropped());
        assert_eq!(r.len(), 2, "both still wait");
        let real = with_id(Message::respond("acct/alice", "5"), alice);
        assert_eq!(r.answer(real, any).unwrap().0, "alice");
    }

    #[test]
    fn an_id_is_never_a_reply_to_another_request() {
        let mut r = table();
        let gone = wait(&mut r, T::REQUEST_URI, "k", "gone");
        let (t, late) = r
            .insert(T::REQUEST_URI, Bytes::from_static(b"k"), "given up")
            .unwrap();
        r.remove(t);
        wait(&mut r, T::REQUEST_URI, "k", "newer");
        // A late answer to the request given up: not the newer one's.
        assert!(r
            .answer(with_id(Message::respond("k", "late"), late), any)
            .is_not_ours());
        // Not a reply type: an echoed request completes nothing.
        assert!(r
            .answer(with_id(Message::new(T::REQUEST_URI, "k", ""), gone), any)
            .is_not_ours());
        assert!(r
            .answer(with_id(Message::new(T::NOTIFY_URI, "k", ""), gone), any)
            .is_not_ours());
        // The right id from the wrong sender.
        assert!(r
            .answer(with_id(Message::respond("k", ""), gone), |_| false)
            .is_not_ours());
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn without_ids_the_oldest_compatible_request_for_the_uri() {
        let mut r = table();
        wait(&mut r, T::CREATE_URI, "k", "create");
        wait(&mut r, T::REQUEST_URI, "k", "get1");
        wait(&mut r, T::REQUEST_URI, "k", "get2");
        assert!(r.answer(Message::respond("other", ""), any).is_not_ours());
        // NOT_FOUND cannot answer a CREATE (netaio): the oldest REQUEST.
        assert_eq!(r.answer(Message::not_found("k"), any).unwrap().0, "get1");
        assert_eq!(r.answer(Message::respond("k", ""), any).unwrap().0, "get2");
        // Only from the sender the request went to.
        assert!(r.answer(Message::ok("k", ""), |_| false).is_not_ours());
        assert_eq!(r.answer(Message::ok("k", ""), any).unwrap().0, "create");
    }

    #[test]
    fn netaio_error_uri_reports_answer_the_oldest_and_empty_uris_nothing() {
        let mut r = table();
        wait(&mut r, T::CREATE_URI, "a", "first");
        wait(&mut r, T::REQUEST_URI, "b", "second");
        // The netaio TCP server's default NOT_FOUND also answers pings.
        assert!(r.answer(Message::not_found(""), any).is_not_ours());
        assert_eq!(
            r.answer(Message::error("HMAC auth failed"), any).unwrap().0,
            "first"
        );
        assert_eq!(
            r.answer(Message::error("not found"), any).unwrap().0,
            "second"
        );
        assert!(
            r.answer(Message::error("boom"), any).is_not_ours(),
            "nobody waits"
        );
    }

    #[test]
    fn named_or_oldest_takes_the_named_request_else_the_oldest() {
        let mut r = table();
        wait(&mut r, T::REQUEST_URI, "a", "old");
        let named = wait(&mut r, T::CREATE_URI, "b", "named");
        assert_eq!(
            r.named_or_oldest(&with_id(Message::error("auth"), named)),
            Some("named")
        );
        assert_eq!(r.named_or_oldest(&Message::error("auth")), Some("old"));
        assert_eq!(r.named_or_oldest(&Message::error("auth")), None);
    }

    #[test]
    fn ids_are_random_unique_and_the_table_bounded() {
        let mut r: Requests<()> = Requests::new(1000);
        let ids: std::collections::HashSet<_> = (0..1000)
            .map(|_| r.insert(T::REQUEST_URI, Bytes::new(), ()).unwrap().1)
            .collect();
        assert_eq!(ids.len(), 1000);
        assert!(!ids.contains(&RequestId::from(1)), "not a counter");
        assert_eq!(
            r.insert(T::REQUEST_URI, Bytes::new(), ()).unwrap_err(),
            Full { max: 1000 }
        );
        assert!(r.insert_control(T::REQUEST_URI, Bytes::new(), ()).is_ok());
        assert_eq!(r.take_all().len(), 1001);
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn take_where_and_remove_keep_ids_and_order_in_step() {
        let mut r: Requests<u8> = Requests::new(8);
        let (a, ida) = r
            .insert(T::REQUEST_URI, Bytes::from_static(b"k"), 1)
            .unwrap();
        r.insert(T::REQUEST_URI, Bytes::from_static(b"k"), 2)
            .unwrap();
        r.insert(T::REQUEST_URI, Bytes::from_static(b"k"), 1)
            .unwrap();
        *r.get_mut(a).unwrap() = 3;
        assert_eq!(r.payloads().copied().collect::<Vec<_>>(), [3, 2, 1]);
        assert_eq!(r.take_where(|p| *p != 2), [3, 1]);
        assert!(!r.contains(a));
        // The id left with its request: a reply naming it matches nothing.
        assert!(r
            .answer(with_id(Message::respond("k", ""), ida), |_| true)
            .is_not_ours());
        assert_eq!(r.answer(Message::respond("k", ""), |_| true).unwrap().0, 2);
    }

    #[test]
    fn classify_turns_the_four_error_types_into_errors() {
        assert!(ReplyError::classify(Message::not_found(""))
            .unwrap_err()
            .is_not_found());
        assert!(ReplyError::classify(Message::not_permitted(""))
            .unwrap_err()
            .is_not_permitted());
        assert!(ReplyError::classify(Message::new(T::AUTH_ERROR, "", ""))
            .unwrap_err()
            .is_auth_error());
        assert!(ReplyError::classify(Message::new(T::ERROR, "", "x"))
            .unwrap_err()
            .is_error());
        for t in [T::OK, T::RESPOND_URI, T::CONFIRM_SUBSCRIBE] {
            assert!(ReplyError::classify(Message::new(t, "", "")).is_ok());
        }
        let e = ReplyError::AuthRejected {
            message: Message::error("auth"),
            verified: false,
        };
        assert_eq!(
            e.describe("server"),
            "authentication rejected by the server (reply unverified): auth"
        );
        assert_eq!(e.into_reply().message_type, T::AUTH_ERROR);
        // netaio's bare replies are not said twice; anything else is kept.
        let text = |m: Message| ReplyError::classify(m).unwrap_err().describe("server");
        assert_eq!(text(Message::not_permitted("k")), "not permitted");
        assert_eq!(
            text(Message::new(T::NOT_PERMITTED, "k", "")),
            "not permitted"
        );
        assert_eq!(
            text(Message::new(T::NOT_FOUND, "k", "Not Found")),
            "not found"
        );
        assert_eq!(
            text(Message::new(T::NOT_FOUND, "k", "no key k")),
            "not found: no key k"
        );
        assert_eq!(
            text(Message::new(T::NOT_PERMITTED, "k", "read-only")),
            "not permitted: read-only"
        );
    }
}

#[cfg(test)]
pub(crate) mod predicate_tests {
    use super::*;

    /// One `ReplyError` of each kind with the predicate that holds for
    /// it: the client's and the node's errors wrap the same four.
    pub(crate) fn each_kind() -> [(ReplyError, &'static str); 4] {
        let msg = || Message::new(MessageType::ERROR, "u", "");
        [
            (ReplyError::NotFound(msg()), "is_not_found"),
            (ReplyError::NotPermitted(msg()), "is_not_permitted"),
            (
                ReplyError::AuthRejected {
                    message: msg(),
                    verified: true,
                },
                "is_auth_error",
            ),
            (ReplyError::Remote(msg()), "is_error"),
        ]
    }

    /// [`each_kind`] wrapped by `wrap`, for an error whose
    /// `is_error_reply` holds for every wrapped reply.
    pub(crate) fn wrapped<E>(wrap: fn(ReplyError) -> E) -> Vec<(E, Vec<&'static str>)> {
        each_kind()
            .into_iter()
            .map(|(e, name)| (wrap(e), vec![name, "is_error_reply"]))
            .collect()
    }

    #[test]
    fn each_predicate_holds_for_its_variants_only() {
        let cases = each_kind().map(|(e, name)| (e, [name]));
        crate::predicates::check_with(ReplyError::PREDICATES, &cases);
    }
}
