//! A client and a server connection state machine driven against each
//! other with a plain clock and no sockets (quinn-proto's `Pair` is the
//! model): the deadline, admission, login, keepalive and batching rules,
//! tested to the millisecond, deterministically and fast. The drivers'
//! socket tests (tests/server_limits.rs, tests/client_keepalive.rs, …) are
//! the thin layer above.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::auth::{Identity, NetaioHmac, PluginLayer};
use crate::handler::HandlerError;
use crate::protocol::{self, SessionId};
use crate::wire::{FrameConfig, Message, MessageType, Profile};

use super::connection::{CloseCount, Closing, ConnLimits, Event, ServerConn, RUN_BYTES};
use super::inbound::{Decoded, Inbound};
use super::keepalive::{Keepalive, KeepaliveAction};
use super::pipeline::{Caps, Count, PeerState, Pipeline, Route, Side, Sink};

const MS: Duration = Duration::from_millis(1);

/// The limits the tests use: each deadline a different length, so a
/// close tells which one fired.
const LIMITS: ConnLimits = ConnLimits {
    frame_timeout: Duration::from_secs(2),
    idle_timeout: Duration::from_secs(30),
    auth_timeout: Duration::from_secs(5),
    first_frame_timeout: Duration::from_secs(7),
    min_version: None,
};

type Handler = Box<dyn FnMut(&Message) -> Result<Option<Message>, HandlerError>>;

/// What a test's login gate answers to a login's content.
type Gate = Box<dyn FnMut(&Bytes) -> Result<Option<Identity>, String>>;

#[derive(Clone)]
struct Everything;

impl Route for Everything {
    fn layer(&self) -> Option<&PluginLayer> {
        None
    }
}

/// The server's sink: every message goes to the one handler; counts the
/// peer-data lookups (each finds `Some` data).
struct ServerSink<'a>(Everything, &'a mut usize);

impl Sink for ServerSink<'_> {
    type Route = Everything;
    fn route(&mut self, _msg: &Message) -> Option<Cow<'_, Everything>> {
        Some(Cow::Borrowed(&self.0))
    }
    fn refresh_peer_data(&mut self, peer: &mut PeerState) {
        *self.1 += 1;
        peer.set_peer_data(Some(Bytes::from_static(b"advertised")));
    }
}

/// The client's sink: keeps everything it is offered.
struct Collect<'a>(&'a mut Vec<Message>);

impl Sink for Collect<'_> {
    type Route = Everything;
    fn offer(&mut self, msg: Message) -> Option<Message> {
        self.0.push(msg);
        None
    }
    fn route(&mut self, _msg: &Message) -> Option<Cow<'_, Everything>> {
        None
    }
}

/// One client connection to one server connection.
struct Pair {
    now: Instant,
    server_pipe: Pipeline,
    server: ServerConn,
    /// The deadline the server's driver would wait until.
    deadline: Instant,
    /// Whether the connection holds a subscription (the registry's).
    subscribed: bool,
    handler: Handler,
    /// What the login gate answers.
    gate: Gate,
    logins_decided: usize,
    counts: Vec<Count>,
    closed: Option<Closing>,
    /// The runs (frames in each) of every batch the server sent when
    /// about to wait.
    batches: Vec<Vec<usize>>,
    client_pipe: Pipeline,
    client_peer: PeerState,
    client_in: Inbound,
    keepalive: Option<Keepalive>,
    /// The client's keepalive gave up.
    dead: bool,
    /// Whether bytes the server sends reach the client.
    link_up: bool,
    got: Vec<Message>,
    /// Pongs the client read (its pipeline absorbs them).
    pongs: usize,
    /// Peer-data lookups the server made.
    lookups: usize,
}

impl Pair {
    fn new(server_pipe: Pipeline, client_layer: PluginLayer, limits: ConnLimits) -> Pair {
        let now = Instant::now();
        let peer = server_pipe.peer(Some(1), None, None);
        let server = ServerConn::new(&server_pipe, peer, limits, now);
        let client_pipe = Pipeline::new(Side::Client, client_layer, netaio());
        let client_peer = client_pipe.peer(Some(1), None, Some(SessionId::random()));
        let mut pair = Pair {
            now,
            server_pipe,
            server,
            deadline: now,
            subscribed: false,
            handler: Box::new(|m| Ok(Some(Message::respond(m.body.uri.clone(), "ok")))),
            gate: Box::new(|_| Ok(None)),
            logins_decided: 0,
            counts: Vec::new(),
            closed: None,
            batches: Vec::new(),
            client_pipe,
            client_peer,
            client_in: Inbound::default(),
            keepalive: None,
            dead: false,
            link_up: true,
            got: Vec::new(),
            pongs: 0,
            lookups: 0,
        };
        pair.run();
        pair
    }

    fn plain(limits: ConnLimits) -> Pair {
        Pair::new(server(PluginLayer::new()), PluginLayer::new(), limits)
    }

    fn with_keepalive(mut self, interval: Duration, timeout: Duration) -> Pair {
        self.keepalive = Some(Keepalive::new(interval, timeout, self.now));
        self
    }

    /// The client seals `msg` and the server reads it.
    fn send(&mut self, msg: Message) {
        let frame = self
            .client_pipe
            .seal(msg, &self.client_peer.link())
            .map_err(|_| "seal")
            .unwrap();
        self.send_raw(&frame);
    }

    /// The server reads `bytes` as they are.
    fn send_raw(&mut self, bytes: &[u8]) {
        assert!(self.closed.is_none(), "sent on a closed connection");
        self.server
            .inbound_mut()
            .read_buf()
            .extend_from_slice(bytes);
        assert!(self.server.inbound_mut().handle_read(bytes.len()).unwrap());
        self.run();
    }

    /// The server's driver: events until it would wait, then the replies
    /// to the client and the deadline.
    fn run(&mut self) {
        loop {
            let mut sink = ServerSink(Everything, &mut self.lookups);
            match self.server.poll_event(&self.server_pipe, &mut sink) {
                Event::Next | Event::GiveBack(_) => {}
                Event::Count(c) => self.counts.push(c),
                Event::Call(call) => {
                    let result = Ok((self.handler)(&call.msg));
                    self.server
                        .handle_result(&self.server_pipe, call.reply_to, None, result);
                }
                Event::Login(login) => {
                    self.logins_decided += 1;
                    let result = (self.gate)(&login.content);
                    self.server
                        .handle_login(&self.server_pipe, login.rid, result);
                }
                Event::Close(closing) => return self.close(closing),
                Event::Wait => break,
            }
        }
        let replies = self.server.replies_mut();
        if !replies.is_empty() {
            replies.seal_run();
            let runs: Vec<_> = replies.runs.drain(..).collect();
            self.batches.push(runs.iter().map(|r| r.frames).collect());
            for run in runs {
                self.deliver_to_client(&run.bytes);
            }
        }
        self.deadline = self.server.poll_timeout(self.now);
    }

    fn close(&mut self, closing: Closing) {
        let replies: Vec<_> = self.server.replies_mut().drain().collect();
        for run in replies {
            self.deliver_to_client(&run.bytes);
        }
        if let Some(farewell) = &closing.farewell {
            self.deliver_to_client(farewell);
        }
        self.closed = Some(closing);
    }

    /// The client reads what the server sent.
    fn deliver_to_client(&mut self, bytes: &[u8]) {
        if !self.link_up {
            return;
        }
        self.client_in.read_buf().extend_from_slice(bytes);
        self.client_in.handle_read(bytes.len()).unwrap();
        let cfg = *self.client_pipe.frame_for(&self.client_peer);
        while let Some(decoded) = self.client_in.buffered(&cfg).unwrap() {
            let Decoded::Frame(msg) = decoded else {
                panic!("the server sent a damaged frame");
            };
            if let Some(k) = &mut self.keepalive {
                k.handle_frame(self.now, Some(msg.message_type));
            }
            self.pongs += usize::from(protocol::is_pong(&msg));
            let mut sink = Collect(&mut self.got);
            let _ = self
                .client_pipe
                .receive(&mut self.client_peer, msg, &mut sink);
        }
    }

    /// Moves the clock on by `by`, firing the deadlines that pass on the
    /// way (each at its own time).
    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        loop {
            let keepalive = self
                .keepalive
                .as_ref()
                .filter(|_| !self.dead)
                .map(Keepalive::poll_timeout);
            let server = self.closed.is_none().then_some(self.deadline);
            let next = [keepalive, server].into_iter().flatten().min();
            let Some(next) = next.filter(|t| *t <= end) else {
                break;
            };
            self.now = self.now.max(next);
            if server == Some(next) {
                match self
                    .server
                    .handle_timeout(&self.server_pipe, self.now, self.subscribed)
                {
                    Some(closing) => self.close(closing),
                    None => self.deadline = self.server.poll_timeout(self.now),
                }
            }
            if keepalive == Some(next) {
                let k = self.keepalive.as_mut().unwrap();
                match k.handle_timeout(self.now) {
                    Some(KeepaliveAction::Ping) if self.closed.is_none() => {
                        self.send(protocol::ping())
                    }
                    Some(KeepaliveAction::Ping) => {}
                    Some(KeepaliveAction::Dead) => self.dead = true,
                    None => {}
                }
            }
        }
        self.now = end;
    }

    /// Why the server closed, if it did.
    fn why(&self) -> Option<&str> {
        self.closed.as_ref().map(|c| &*c.why)
    }

    fn farewell(&self) -> Option<Message> {
        let f = self.closed.as_ref()?.farewell.as_ref()?;
        Some(Message::decode(Profile::Netaio, f.clone()).unwrap())
    }
}

fn netaio() -> FrameConfig {
    FrameConfig::new(Profile::Netaio)
}

fn server(layer: PluginLayer) -> Pipeline {
    Pipeline::new(Side::Server, layer, netaio()).caps(Caps {
        checksum_errors: 3,
        auth_failures: 3,
        on_auth_failure: crate::auth::AuthFailurePolicy::Reply,
    })
}

fn hmac() -> PluginLayer {
    PluginLayer::new().with_auth(NetaioHmac::new("k"))
}

/// `count` requests (uris `r0`, `r1`, ...) framed one after another, as
/// one read.
fn pipelined(count: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for i in 0..count {
        bytes.extend_from_slice(&request(&format!("r{i}")).to_bytes(Profile::Netaio).unwrap());
    }
    bytes
}

fn request(uri: &str) -> Message {
    Message::new(MessageType::REQUEST_URI, uri.to_owned(), "hi")
}

#[test]
fn a_silent_peer_is_closed_at_the_first_frame_deadline_to_the_millisecond() {
    let mut p = Pair::plain(LIMITS);
    p.advance(LIMITS.first_frame_timeout - MS);
    assert_eq!(p.why(), None, "not a millisecond early");
    p.advance(MS);
    assert_eq!(p.why(), Some("no frame in time"));
    let closing = p.closed.as_ref().unwrap();
    assert_eq!(closing.count, Some(CloseCount::Timeout("first_frame")));
    assert_eq!(p.farewell().unwrap().message_type, MessageType::ERROR);
    assert_eq!(&p.farewell().unwrap().content()[..], b"no frame in time");
}

#[test]
fn after_a_frame_the_idle_timeout_runs_from_the_last_accepted_frame() {
    let mut p = Pair::plain(LIMITS);
    p.advance(Duration::from_secs(1));
    p.send(request("a"));
    assert_eq!(p.got.len(), 1, "answered");
    p.advance(Duration::from_secs(20));
    p.send(request("b"));
    // The gate is passed; the idle clock restarted at the second frame.
    p.advance(LIMITS.idle_timeout - MS);
    assert_eq!(p.why(), None);
    p.advance(MS);
    assert_eq!(p.why(), Some("idle timeout"));
    assert_eq!(
        p.closed.as_ref().unwrap().count,
        Some(CloseCount::Timeout("deadline"))
    );
}

#[test]
fn a_frame_started_must_finish_within_the_frame_deadline() {
    let mut p = Pair::plain(LIMITS);
    p.send(request("a"));
    p.advance(Duration::from_secs(10));
    let frame = request("slow").to_bytes(Profile::Netaio).unwrap();
    p.send_raw(&frame[..5]);
    p.advance(LIMITS.frame_timeout - MS);
    p.send_raw(&frame[5..10]);
    assert_eq!(
        p.why(),
        None,
        "more bytes do not restart the frame deadline"
    );
    p.advance(MS);
    assert_eq!(p.why(), Some("frame deadline exceeded"));
}

#[test]
fn a_frame_finished_in_time_clears_the_frame_deadline() {
    let mut p = Pair::plain(LIMITS);
    p.send(request("a"));
    let frame = request("slow").to_bytes(Profile::Netaio).unwrap();
    p.send_raw(&frame[..5]);
    p.advance(LIMITS.frame_timeout - MS);
    p.send_raw(&frame[5..]);
    assert_eq!(p.got.len(), 2);
    p.advance(Duration::from_secs(10));
    assert_eq!(p.why(), None, "back under the idle timeout");
}

#[test]
fn damaged_and_refused_frames_are_no_sign_of_life() {
    let mut p = Pair::new(server(hmac()), hmac(), LIMITS);
    p.send(request("in"));
    assert_eq!(p.got.len(), 1, "signed: admitted and answered");
    p.advance(LIMITS.idle_timeout - Duration::from_secs(2));
    let mut damaged = request("x").to_bytes(Profile::Netaio).unwrap().to_vec();
    *damaged.last_mut().unwrap() ^= 1;
    p.send_raw(&damaged);
    let unsigned = request("y").to_bytes(Profile::Netaio).unwrap();
    p.send_raw(&unsigned);
    assert_eq!(p.counts, [Count::ChecksumError, Count::AuthFailure]);
    p.advance(Duration::from_secs(2) - MS);
    assert_eq!(p.why(), None);
    p.advance(MS);
    assert_eq!(p.why(), Some("idle timeout"), "from the signed frame");
}

#[test]
fn with_an_auth_plugin_only_a_verified_frame_passes_the_gate() {
    let mut p = Pair::new(server(hmac()), hmac(), LIMITS);
    let unsigned = request("y").to_bytes(Profile::Netaio).unwrap();
    p.advance(Duration::from_secs(1));
    p.send_raw(&unsigned);
    p.advance(LIMITS.auth_timeout - Duration::from_secs(1) - MS);
    assert_eq!(p.why(), None);
    p.advance(MS);
    assert_eq!(p.why(), Some("not authenticated in time"));
    assert_eq!(
        p.closed.as_ref().unwrap().count,
        Some(CloseCount::Timeout("auth"))
    );

    let mut p = Pair::new(server(hmac()), hmac(), LIMITS);
    p.advance(LIMITS.auth_timeout - MS);
    p.send(request("in"));
    p.advance(LIMITS.idle_timeout - MS);
    assert_eq!(p.why(), None, "admitted: the idle timeout applies");
}

#[test]
fn a_subscription_passes_the_gate_and_lifts_the_idle_timeout() {
    let mut p = Pair::plain(LIMITS);
    p.subscribed = true; // through the server handle, say
    p.advance(Duration::from_secs(3600));
    assert_eq!(p.why(), None, "a subscriber may listen silently");
    p.subscribed = false;
    p.advance(LIMITS.idle_timeout);
    assert_eq!(p.why(), Some("idle timeout"), "the gate stays passed");
}

#[test]
fn a_frame_started_by_a_subscriber_still_has_a_deadline() {
    let mut p = Pair::plain(LIMITS);
    p.subscribed = true;
    p.send(request("a"));
    let frame = request("b").to_bytes(Profile::Netaio).unwrap();
    p.send_raw(&frame[..3]);
    p.advance(LIMITS.frame_timeout);
    assert_eq!(p.why(), Some("frame deadline exceeded"));
}

#[test]
fn a_login_is_decided_by_the_gate_and_older_versions_never_reach_it() {
    let pipe = || server(PluginLayer::new()).login_required(true);
    let limits = ConnLimits {
        min_version: Some(protocol::PROTOCOL_VERSION),
        ..LIMITS
    };
    // Before a login, nothing is routed.
    let mut p = Pair::new(pipe(), PluginLayer::new(), limits);
    p.send(request("early"));
    assert_eq!(&p.got[0].content()[..], b"login required");
    // An old version is refused without asking the gate; the connection
    // closes.
    let mut old = protocol::login(Bytes::from_static(b"me"));
    old.auth.insert(
        protocol::VERSION_FIELD,
        crate::wire::AuthValue::from(0u64.to_be_bytes()),
    );
    p.send(old);
    assert_eq!(p.logins_decided, 0);
    assert_eq!(p.counts.last(), Some(&Count::LoginRefused));
    assert!(p.closed.is_some(), "refused logins close");
    let last = p.got.last().unwrap();
    assert_eq!(last.message_type, MessageType::AUTH_ERROR);
    assert!(
        String::from_utf8_lossy(last.content()).contains("older than the 1"),
        "{last:?}"
    );

    // A current login goes to the gate; admitted, the idle timeout applies.
    let mut p = Pair::new(pipe(), PluginLayer::new(), limits);
    p.gate = Box::new(|content| {
        assert_eq!(&content[..], b"me");
        Ok(None)
    });
    p.advance(LIMITS.auth_timeout - MS);
    p.send(protocol::login(Bytes::from_static(b"me")));
    assert_eq!(p.logins_decided, 1);
    assert_eq!(&p.got.last().unwrap().content()[..], b"logged in");
    p.send(request("after"));
    assert_eq!(&p.got.last().unwrap().content()[..], b"ok");
    p.advance(LIMITS.idle_timeout - MS);
    assert_eq!(p.why(), None);

    // A gate's refusal says why and closes.
    let mut p = Pair::new(pipe(), PluginLayer::new(), limits);
    p.gate = Box::new(|_| Err("who are you".into()));
    p.send(protocol::login(Bytes::from_static(b"me")));
    assert_eq!(&p.got.last().unwrap().content()[..], b"who are you");
    assert!(p.closed.is_some());
}

#[test]
fn a_peer_that_only_fails_its_checksums_is_closed_at_the_cap() {
    let mut p = Pair::plain(LIMITS);
    let mut damaged = request("x").to_bytes(Profile::Netaio).unwrap().to_vec();
    *damaged.last_mut().unwrap() ^= 1;
    for _ in 0..3 {
        p.send_raw(&damaged);
    }
    assert_eq!(p.why(), None, "the cap is 3");
    p.send_raw(&damaged);
    assert_eq!(p.why(), Some("too many invalid messages"));
    assert_eq!(p.counts.len(), 4);
}

#[test]
fn pipelined_requests_are_answered_in_one_batch_sealed_in_runs() {
    let mut p = Pair::plain(LIMITS);
    let bytes = pipelined(5);
    p.send_raw(&bytes);
    assert_eq!(p.batches, [[5]], "one batch, one run, for one read");
    let uris: Vec<_> = p.got.iter().map(|m| m.body.uri.clone()).collect();
    assert_eq!(uris, ["r0", "r1", "r2", "r3", "r4"], "in order");

    // Large replies: a run is sealed once it holds RUN_BYTES.
    let mut p = Pair::plain(LIMITS);
    // Replies of 4 KiB: runs of two at the documented 8 KiB (the literal,
    // so a changed constant fails here).
    assert_eq!(RUN_BYTES, 8 * 1024);
    p.handler = Box::new(|m| Ok(Some(Message::respond(m.body.uri.clone(), vec![7; 4096]))));
    let bytes = pipelined(4);
    p.send_raw(&bytes);
    assert_eq!(p.batches, [[2, 2]], "a run is sealed at RUN_BYTES");
    assert_eq!(p.got.len(), 4);

    // A pong between replies keeps its place.
    let mut p = Pair::plain(LIMITS);
    let mut bytes = request("r0").to_bytes(Profile::Netaio).unwrap().to_vec();
    bytes.extend_from_slice(&protocol::ping().to_bytes(Profile::Netaio).unwrap());
    bytes.extend_from_slice(&request("r1").to_bytes(Profile::Netaio).unwrap());
    p.send_raw(&bytes);
    assert_eq!(p.batches, [[1, 1, 1]], "reply, pong, reply");
    assert_eq!(p.pongs, 1);
    assert_eq!(p.got[1].body.uri, "r1");
}

#[test]
fn the_keepalive_pings_after_the_interval_and_a_dead_link_is_found() {
    let interval = Duration::from_secs(10);
    let timeout = Duration::from_secs(3);
    let mut p = Pair::plain(LIMITS).with_keepalive(interval, timeout);
    p.send(request("a"));
    p.advance(interval - MS);
    assert!(p.got.len() == 1 && !p.dead);
    p.advance(MS);
    assert_eq!(p.pongs, 1, "pinged and answered");
    assert!(!p.dead);
    // The server stops answering (its replies are lost).
    p.link_up = false;
    p.advance(interval + timeout - MS);
    assert!(
        !p.dead,
        "pinged at the interval, dead only after the timeout"
    );
    p.advance(MS);
    assert!(p.dead);
}

#[test]
fn the_server_idle_timeout_is_not_fooled_by_nothing_and_a_keepalive_keeps_it_open() {
    let interval = Duration::from_secs(10);
    let mut p = Pair::plain(LIMITS).with_keepalive(interval, Duration::from_secs(3));
    p.send(request("a"));
    p.advance(LIMITS.idle_timeout * 4);
    assert_eq!(p.why(), None, "pings are accepted frames");
    assert!(!p.dead);
}

#[test]
fn what_the_peer_is_learned_once() {
    let mut p = Pair::plain(LIMITS);
    assert!(p.server.poll_learned().is_none(), "nothing yet");
    let mut m = request("a");
    crate::protocol::RequestId::from(4).attach(&mut m);
    p.send(m);
    let learned = p.server.poll_learned().expect("the first frame");
    assert!(learned.framewire, "a request id is framewire's");
    p.send(request("b"));
    assert!(p.server.poll_learned().is_none(), "each part once");
}

#[test]
fn a_deadline_past_the_clocks_range_never_fires() {
    let limits = ConnLimits {
        idle_timeout: Duration::MAX,
        ..LIMITS
    };
    let mut p = Pair::plain(limits);
    p.send(request("a"));
    p.advance(Duration::from_secs(1000 * 24 * 3600));
    assert_eq!(
        p.why(),
        None,
        "a 'forever' idle timeout is about 30 years at least"
    );
}

#[test]
fn a_frame_started_before_admission_has_the_frame_deadline() {
    // The gate (7 s) is later than the frame deadline (2 s): the earlier
    // one applies.
    let mut p = Pair::plain(LIMITS);
    let frame = request("a").to_bytes(Profile::Netaio).unwrap();
    p.send_raw(&frame[..4]);
    p.advance(LIMITS.frame_timeout);
    assert_eq!(p.why(), Some("frame deadline exceeded"));
}

#[test]
fn frames_and_bytes_read_are_counted_when_taken() {
    let mut p = Pair::plain(LIMITS);
    let _ = p.server.take_frames_in();
    let bytes = pipelined(3);
    p.send_raw(&bytes);
    assert_eq!(p.server.take_frames_in(), (3, bytes.len() as u64));
    assert_eq!(p.server.take_frames_in(), (0, 0), "taken");
}

#[test]
fn handler_errors_are_counted() {
    let mut p = Pair::plain(LIMITS);
    p.handler = Box::new(|_| Err(HandlerError::from("no")));
    p.send(request("a"));
    assert_eq!(p.counts, [Count::HandlerError]);
    assert_eq!(p.got[0].message_type, MessageType::ERROR);
}

#[test]
fn peer_data_is_looked_up_until_known_and_after_each_announcement() {
    let mut p = Pair::plain(LIMITS);
    p.send(request("a"));
    p.send(request("b"));
    assert_eq!(p.lookups, 1, "once known, not per frame");
    p.send(Message::new(MessageType::ADVERTISE_PEER, "peer", "data"));
    assert_eq!(p.lookups, 1, "the announcement's own handler runs first");
    p.send(request("c"));
    assert_eq!(p.lookups, 2, "after an announcement, looked up again");
    p.send(request("d"));
    assert_eq!(p.lookups, 2);
}

#[test]
fn the_session_and_a_logged_in_identity_are_learned_once_each() {
    let pipe = server(PluginLayer::new()).login_required(true);
    let mut p = Pair::new(pipe, PluginLayer::new(), LIMITS);
    p.gate = Box::new(|_| {
        Ok(Some(Identity::new(
            "alice",
            crate::auth::IdentitySource::Login,
        )))
    });
    let session = SessionId::random();
    let mut login = protocol::login(Bytes::from_static(b"me"));
    login.auth.insert(
        protocol::SESSION_FIELD,
        Bytes::copy_from_slice(session.as_bytes()),
    );
    p.send(login);
    let learned = p.server.poll_learned().expect("learned");
    assert_eq!(learned.session, Some(session));
    assert_eq!(learned.identity.as_ref().map(|i| i.name()), Some("alice"));
    assert!(learned.framewire, "a login is framewire's");
    assert!(p.server.poll_learned().is_none(), "each once");
    p.send(request("after"));
    assert!(p.server.poll_learned().is_none());
}

#[test]
fn on_a_tie_the_frame_deadline_is_the_reason() {
    // A frame started at once, with the gate as long as the frame
    // deadline: the more specific reason is given (and counted).
    let limits = ConnLimits {
        first_frame_timeout: LIMITS.frame_timeout,
        ..LIMITS
    };
    let mut p = Pair::plain(limits);
    let frame = request("a").to_bytes(Profile::Netaio).unwrap();
    p.send_raw(&frame[..4]);
    p.advance(LIMITS.frame_timeout);
    assert_eq!(p.why(), Some("frame deadline exceeded"));
    assert_eq!(
        p.closed.as_ref().unwrap().count,
        Some(CloseCount::Timeout("deadline"))
    );
}

#[test]
fn the_timer_firing_early_closes_nothing_and_late_closes() {
    let mut p = Pair::plain(LIMITS);
    let at = p.deadline;
    let early = p
        .server
        .handle_timeout(&p.server_pipe, at - MS, p.subscribed);
    assert!(early.is_none(), "before the deadline: wait on");
    let late = p
        .server
        .handle_timeout(&p.server_pipe, at + Duration::from_secs(60), false);
    assert_eq!(late.map(|c| c.why), Some("no frame in time".into()));
}

#[test]
fn a_session_alone_is_learned() {
    let mut p = Pair::plain(LIMITS);
    let session = SessionId::random();
    let mut m = request("a");
    m.auth.insert(
        protocol::SESSION_FIELD,
        Bytes::copy_from_slice(session.as_bytes()),
    );
    p.send(m);
    let learned = p.server.poll_learned().expect("the session");
    assert_eq!(learned.session, Some(session));
    assert!(!learned.framewire && learned.identity.is_none());
}
