//! One server connection's rules as a state machine with no runtime
//! (quinn-proto's `Connection` is the model): the driver in
//! `server/connection.rs` reads bytes into it, asks it for events and the
//! next deadline, and performs what it asks — call this handler, decide
//! this login, send these replies, count this, close for this reason.
//!
//! ```text
//! handle_read(n) ─► poll_event ─► Call ─► (driver runs the handler) ─► handle_result
//!                              ─► Login ─► (driver runs the gate)   ─► handle_login
//!                              ─► GiveBack / Count / Close / Next / Wait
//! about to wait: replies_mut (send), take_frames_in (count),
//!                poll_timeout(now) ─► (timer) ─► handle_timeout(now, subscribed)
//! ```
//!
//! It owns the connection's deadlines (the frame deadline once a frame has
//! started, the idle timeout between frames, the admission gate before the
//! peer is in), the login version check, the peer-data refresh, when a
//! frame counts as a sign of life, reply batching, and why it closes. The
//! clock is the caller's: every method that needs the time takes `now`,
//! read only when the driver is about to wait (a pipelining peer has its
//! next frame buffered already, and then no deadline applies).

use std::borrow::Cow;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::auth::{Identity, PluginLayer};
use crate::protocol::{RequestId, SessionId};
use crate::wire::MessageType;

use super::inbound::{Decoded, Inbound, ReadError};
use super::pipeline::{
    Call, CallResult, Count, LoginCall, Outcome, PeerState, Pipeline, ReplyTo, Route, Sink, Step,
};

/// "No deadline" (about 30 years): what a deadline past the clock's range
/// becomes.
const FAR_FUTURE: Duration = Duration::from_secs(1 << 30);

/// A run of replies is sealed once it holds this many bytes, so the next
/// reply starts a fresh buffer instead of growing (and copying) a large one.
pub(crate) const RUN_BYTES: usize = 8 * 1024;

/// Frames encoded one after another into one buffer, queued as one
/// entry: a connection's replies to a read's worth of pipelined requests.
/// A handle per reply would cost an allocation, a reference count bumped
/// by the reader and dropped by the writer (often on another core) and a
/// write call each; a run costs that once.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) bytes: Bytes,
    /// How many frames `bytes` holds (the queue's frame bound counts
    /// frames, however they are held).
    pub(crate) frames: usize,
}

/// The replies a connection produced since it last sent: handler replies
/// encoded one after another into `out`, and earlier runs and single
/// frames (refusals, pongs) in order in `runs` (which go first).
#[derive(Debug, Default)]
pub(crate) struct Replies {
    /// Handler replies not yet a [`Run`].
    pub(crate) out: BytesMut,
    /// Frames in `out`.
    pub(crate) out_frames: usize,
    /// Runs and single frames, in send order, all before `out`.
    pub(crate) runs: Vec<Run>,
}

impl Replies {
    /// Counts a reply appended to `out` (if one was).
    fn add_reply(&mut self, replied: bool) {
        if replied {
            self.out_frames += 1;
            if self.out.len() >= RUN_BYTES {
                self.seal_run();
            }
        }
    }

    /// Moves the replies in `out` to the end of `runs` as one run (the
    /// memory left in `out` is reused for the next ones).
    pub(crate) fn seal_run(&mut self) {
        if self.out_frames > 0 {
            self.runs.push(Run {
                bytes: self.out.split().freeze(),
                frames: std::mem::take(&mut self.out_frames),
            });
        }
    }

    /// Queues a single frame after everything so far.
    fn push_frame(&mut self, frame: Bytes) {
        self.seal_run();
        self.runs.push(Run {
            bytes: frame,
            frames: 1,
        });
    }

    /// Whether anything waits to be sent.
    pub(crate) fn is_empty(&self) -> bool {
        self.out_frames == 0 && self.runs.is_empty()
    }

    /// Everything, as runs in send order (the connection is closing).
    pub(crate) fn drain(&mut self) -> std::vec::Drain<'_, Run> {
        self.seal_run();
        self.runs.drain(..)
    }
}

/// The connection limits the state machine applies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    /// From a frame's first byte to its last.
    pub(crate) frame_timeout: Duration,
    /// Between frames, for a connection with no subscription.
    pub(crate) idle_timeout: Duration,
    /// To be admitted, when the pipeline asks the peer to prove itself
    /// (an auth plugin or a login gate).
    pub(crate) auth_timeout: Duration,
    /// To send one accepted frame, otherwise.
    pub(crate) first_frame_timeout: Duration,
    /// The oldest protocol version a login may announce.
    pub(crate) min_version: Option<u64>,
}

/// Which deadline the connection waits under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deadline {
    /// A frame has started and must finish.
    Frame,
    /// Between frames.
    Idle,
    /// The peer is not in yet.
    Gate,
}

/// What the driver must do next (see the module docs).
pub(crate) enum Event<'s, R: Route> {
    /// Call the route's handler with the message, then
    /// [`handle_result`](ServerConn::handle_result).
    Call(Call<'s, R>),
    /// Run the login gate, then [`handle_login`](ServerConn::handle_login)
    /// (the version check is done: it passed).
    Login(LoginCall),
    /// A refused message had consumed this one-shot route: give it back
    /// to the router.
    GiveBack(R),
    /// Add this to the counters.
    Count(Count),
    /// Queue the replies so far without waiting, then `farewell`, and
    /// close.
    Close(Closing),
    /// A frame was handled with nothing for the driver: poll again.
    Next,
    /// No whole frame is buffered: send the replies, then wait for bytes
    /// or the deadline.
    Wait,
}

/// Why and how a connection closes.
#[derive(Debug)]
pub(crate) struct Closing {
    /// Why (logged; the farewell says it to the peer).
    pub(crate) why: Cow<'static, str>,
    /// What to count.
    pub(crate) count: Option<CloseCount>,
    /// The last frame, queued after the replies: the pipeline's refusal,
    /// or an unsigned ERROR saying why.
    pub(crate) farewell: Option<Bytes>,
}

/// A counter a close adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseCount {
    /// A deadline passed: `auth`, `first_frame` or `deadline`.
    Timeout(&'static str),
    /// Bytes that are not a frame.
    DecodeError,
}

/// What the connection learned about its peer since the driver last
/// asked, for what is sealed to it from elsewhere (fan-out) and handlers.
#[derive(Debug)]
pub(crate) struct Learned {
    /// The peer's session (from its first accepted frame).
    pub(crate) session: Option<SessionId>,
    /// Who it is, fixed once it is admitted (until then a user's key or
    /// the login gate may still settle it).
    pub(crate) identity: Option<Identity>,
    /// It showed it speaks framewire.
    pub(crate) framewire: bool,
}

/// What [`Learned`] has been reported already.
#[derive(Debug, Default)]
struct Reported {
    session: bool,
    identity: bool,
    framewire: bool,
}

/// One server connection (see the module docs).
#[derive(Debug)]
pub(crate) struct ServerConn {
    peer: PeerState,
    inbound: Inbound,
    replies: Replies,
    limits: ConnLimits,
    /// When the connection was accepted.
    accepted: Instant,
    /// Since when the peer has sent nothing the pipeline accepted
    /// (refused and damaged frames are no sign of life); set when the
    /// driver is about to wait.
    idle_since: Option<Instant>,
    /// When the frame being read started arriving.
    frame_started: Option<Instant>,
    /// Until when the peer must be admitted; `None` once it is.
    gate: Option<Instant>,
    /// Whether the gate is the auth plugin's or login's (else: the first
    /// frame's).
    gate_auth: bool,
    /// Frames decoded since [`take_frames_in`](Self::take_frames_in).
    frames_in: u64,
    /// Whether the last frame announced the peer (its handler may have
    /// changed the peer's advertised data).
    announced: bool,
    count: Option<Count>,
    close: Option<Closing>,
    reported: Reported,
}

impl ServerConn {
    /// A connection accepted at `now`, whose peer the pipeline knows as
    /// `peer`.
    pub(crate) fn new(
        pipeline: &Pipeline,
        peer: PeerState,
        limits: ConnLimits,
        now: Instant,
    ) -> Self {
        let gate_auth = pipeline.has_auth();
        let timeout = if gate_auth {
            limits.auth_timeout
        } else {
            limits.first_frame_timeout
        };
        ServerConn {
            peer,
            inbound: Inbound::default(),
            replies: Replies::default(),
            limits,
            accepted: now,
            idle_since: None,
            frame_started: None,
            gate: Some(later(now, timeout)),
            gate_auth,
            frames_in: 0,
            announced: false,
            count: None,
            close: None,
            reported: Reported::default(),
        }
    }

    /// The pipeline's view of the peer.
    pub(crate) fn peer(&self) -> &PeerState {
        &self.peer
    }

    /// Where the driver reads bytes to.
    pub(crate) fn inbound_mut(&mut self) -> &mut Inbound {
        &mut self.inbound
    }

    /// The replies to send when the driver is about to wait (or, closing,
    /// to queue without waiting).
    pub(crate) fn replies_mut(&mut self) -> &mut Replies {
        &mut self.replies
    }

    /// The next thing to do: decodes at most one buffered frame and runs
    /// it through the pipeline, with `sink` routing it.
    pub(crate) fn poll_event<'s, S: Sink>(
        &mut self,
        pipeline: &Pipeline,
        sink: &'s mut S,
    ) -> Event<'s, S::Route> {
        if let Some(count) = self.count.take() {
            return Event::Count(count);
        }
        if let Some(closing) = self.close.take() {
            return Event::Close(closing);
        }
        let decoded = match self.inbound.buffered(pipeline.frame_for(&self.peer)) {
            Ok(Some(d)) => d,
            Ok(None) => return Event::Wait,
            Err(e) => return Event::Close(self.handle_read_error(pipeline, e)),
        };
        self.frame_started = None;
        let outcome = match decoded {
            Decoded::Damaged(e) => pipeline.damaged(&mut self.peer, &e),
            Decoded::Frame(msg) => {
                self.frames_in += 1;
                // Per-peer ciphers (X25519) key on what the peer
                // advertised: looked up until it has, and after each
                // announcement it made (its handler ran since), not a
                // table lock per frame.
                if !self.peer.has_peer_data() || self.announced {
                    sink.refresh_peer_data(&mut self.peer);
                }
                self.announced = matches!(
                    msg.message_type,
                    MessageType::ADVERTISE_PEER
                        | MessageType::PEER_DISCOVERED
                        | MessageType::DISCONNECT
                );
                match pipeline.receive(&mut self.peer, msg, sink) {
                    Step::Done(outcome) => outcome,
                    Step::Refused(outcome, one_shot) => {
                        self.finish(outcome);
                        return Event::GiveBack(one_shot);
                    }
                    Step::Call(call) => return Event::Call(call),
                    Step::Login(login) => match self.version_refusal(&login) {
                        None => return Event::Login(login),
                        Some(refused) => {
                            pipeline.login_done(&mut self.peer, Err(refused), login.rid)
                        }
                    },
                }
            }
        };
        self.finish(outcome);
        self.next_event()
    }

    /// What finishing a step left for the driver, without decoding more.
    fn next_event<'s, R: Route>(&mut self) -> Event<'s, R> {
        if let Some(count) = self.count.take() {
            return Event::Count(count);
        }
        match self.close.take() {
            Some(closing) => Event::Close(closing),
            None => Event::Next,
        }
    }

    /// The handler called for [`Event::Call`] returned (or panicked):
    /// its reply joins the replies, sealed with the route's `layer`.
    pub(crate) fn handle_result(
        &mut self,
        pipeline: &Pipeline,
        reply_to: ReplyTo,
        layer: Option<&PluginLayer>,
        result: CallResult,
    ) {
        let link = self.peer.link();
        let (count, replied) =
            pipeline.respond_into(reply_to, layer, &link, result, &mut self.replies.out);
        self.replies.add_reply(replied);
        self.finish(Outcome {
            count,
            ..Outcome::default()
        });
    }

    /// The login gate's answer to [`Event::Login`] (the identity it gives,
    /// or why it refused).
    pub(crate) fn handle_login(
        &mut self,
        pipeline: &Pipeline,
        rid: Option<RequestId>,
        result: Result<Option<Identity>, String>,
    ) {
        let outcome = pipeline.login_done(&mut self.peer, result, rid);
        self.finish(outcome);
    }

    /// Reading failed (or, from [`poll_event`](Self::poll_event), the
    /// bytes are not a frame): how the connection closes.
    pub(crate) fn handle_read_error(&mut self, pipeline: &Pipeline, e: ReadError) -> Closing {
        let count = matches!(e, ReadError::Invalid(_)).then_some(CloseCount::DecodeError);
        let why = e.to_string();
        Closing {
            farewell: pipeline.farewell(&why),
            why: why.into(),
            count,
        }
    }

    /// Why a login is refused before the gate sees it: the protocol
    /// version it announced (none counts as 0) is older than required.
    fn version_refusal(&self, login: &LoginCall) -> Option<String> {
        let min = self.limits.min_version?;
        let version = login.version.unwrap_or(0);
        (version < min).then(|| {
            format!("protocol version {version} is older than the {min} this server requires")
        })
    }

    /// Applies one step's outcome: counts, signs of life, the gate,
    /// replies, close.
    fn finish(&mut self, outcome: Outcome) {
        if !matches!(
            outcome.count,
            Some(Count::ChecksumError | Count::AuthFailure | Count::DecryptFailure)
        ) {
            self.idle_since = None;
            if self.peer.is_admitted() {
                self.gate = None;
            }
        }
        if let Some(count) = outcome.count {
            self.count = Some(count);
        }
        if let Some(reason) = outcome.close {
            self.close = Some(Closing {
                why: reason.to_string().into(),
                count: None,
                farewell: outcome.send,
            });
            return;
        }
        if let Some(frame) = outcome.send {
            self.replies.push_frame(frame);
        }
    }

    /// What the connection learned about its peer since the last call
    /// (each part reported once).
    pub(crate) fn poll_learned(&mut self) -> Option<Learned> {
        // Called after every event: three flags and three loads when there
        // is nothing new (building a `Learned` to compare cost ~90
        // instructions a frame, measured with callgrind).
        let r = &self.reported;
        let session = !r.session && self.peer.session().is_some();
        let identity = !r.identity && self.peer.is_admitted() && self.peer.identity().is_some();
        let framewire = !r.framewire && self.peer.speaks_framewire();
        if !(session || identity || framewire) {
            return None;
        }
        let r = &mut self.reported;
        r.session |= session;
        r.identity |= identity;
        r.framewire |= framewire;
        Some(Learned {
            session: self.peer.session().filter(|_| session),
            identity: self.peer.identity().filter(|_| identity).cloned(),
            framewire,
        })
    }

    /// Frames decoded since the last call, and bytes read (for counters,
    /// added when the driver is about to wait rather than per frame).
    pub(crate) fn take_frames_in(&mut self) -> (u64, u64) {
        (
            std::mem::take(&mut self.frames_in),
            self.inbound.take_bytes_read(),
        )
    }

    /// The driver is about to wait at `now`: the time by which something
    /// must arrive, after which it calls
    /// [`handle_timeout`](Self::handle_timeout).
    pub(crate) fn poll_timeout(&mut self, now: Instant) -> Instant {
        self.idle_since.get_or_insert(now);
        if self.frame_started.is_none() && self.inbound.mid_frame() {
            self.frame_started = Some(now);
        }
        self.deadline().0
    }

    /// The deadline now in force, and which it is.
    fn deadline(&self) -> (Instant, Deadline) {
        let (at, which) = match (self.frame_started, self.idle_since) {
            (Some(t), _) => (later(t, self.limits.frame_timeout), Deadline::Frame),
            (None, Some(t)) => (later(t, self.limits.idle_timeout), Deadline::Idle),
            // Not waiting yet: only the gate applies.
            (None, None) => (far(self.accepted), Deadline::Idle),
        };
        match self.gate {
            Some(until) if until < at => (until, Deadline::Gate),
            _ => (at, which),
        }
    }

    /// The timer fired at `now`; `subscribed`: the connection holds a
    /// subscription (made through the server handle too, so the driver
    /// asks the registry when it fires, not when the wait began).
    /// `Some`: close. `None`: wait on (until the next
    /// [`poll_timeout`](Self::poll_timeout)).
    pub(crate) fn handle_timeout(
        &mut self,
        pipeline: &Pipeline,
        now: Instant,
        subscribed: bool,
    ) -> Option<Closing> {
        let (at, which) = self.deadline();
        if now < at {
            return None;
        }
        let (why, label) = match which {
            // A subscription is use enough, as for the idle timeout.
            Deadline::Gate if subscribed => {
                self.gate = None;
                return None;
            }
            Deadline::Gate if self.gate_auth => ("not authenticated in time", "auth"),
            Deadline::Gate => ("no frame in time", "first_frame"),
            // Subscribers may listen silently for as long as they like.
            Deadline::Idle if subscribed => {
                self.idle_since = Some(now);
                return None;
            }
            Deadline::Idle => ("idle timeout", "deadline"),
            Deadline::Frame => ("frame deadline exceeded", "deadline"),
        };
        Some(Closing {
            why: why.into(),
            count: Some(CloseCount::Timeout(label)),
            farewell: pipeline.farewell(why),
        })
    }
}

/// `t + d`, or about 30 years from `t` if that is past the clock's range.
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or_else(|| far(t))
}

fn far(t: Instant) -> Instant {
    t.checked_add(FAR_FUTURE).unwrap_or(t)
}
