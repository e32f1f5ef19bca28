//! One server connection's shell: a reader task (frames read under the
//! frame and idle deadlines, run through the pipeline, handlers called,
//! replies written in order: by the reader itself when the socket is free,
//! else through the queue) and a writer task draining the bounded
//! outbound queue (notifications, broadcasts, replies that had to wait).
//! I/O, timers and queues only: what a frame means, and what answers it,
//! is the pipeline's.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{sleep_until, Instant, Sleep};
use tokio_util::sync::WaitForCancellationFutureOwned;
use tracing::{debug, info_span, warn, Instrument};

use crate::handler::catch_panics;
use crate::io::outbound::{Outbound, Run};
use crate::io::reader::{Decoded, FrameReader, ReadError};
use crate::io::shared_write::{Sent, SharedWrite};
use crate::pipeline::{Count, LoginCall, Outcome, PeerState, Sink, Step};
use crate::router::RouteCache;
use crate::transport::Stream;
use crate::wire::{Message, MessageType};

use super::handle::Shared;
use super::metrics;
use super::registry::Conn;
use super::{Call, Context, Route, ServerHandle};

/// "No deadline yet" for the per-connection timer (about 30 years).
const FAR_FUTURE: std::time::Duration = std::time::Duration::from_secs(1 << 30);

/// Registers a connection from `peer` (it holds its slot from here on)
/// before anything is read from it.
pub(super) fn register(server: &ServerHandle, peer: SocketAddr) -> Arc<Conn> {
    let shared = &server.shared;
    let outbound = Outbound::new(
        shared.limits.max_queued_frames,
        shared.limits.max_queued_bytes,
    );
    let conn = shared
        .registry
        .add(peer, outbound, shared.shutdown.child_token());
    shared.counters.connections_open(shared.registry.len());
    conn
}

/// Starts the writer and reader tasks of a registered connection.
pub(super) fn start(server: ServerHandle, conn: Arc<Conn>, stream: Stream) {
    // TCP halves need no lock between them, unlike a generic split.
    let (rd, wr) = stream.split();
    start_halves(server, conn, rd, wr);
}

fn start_halves<R, W>(server: ServerHandle, conn: Arc<Conn>, rd: R, wr: W)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let shared = server.shared.clone();
    let span = info_span!("conn", id = %conn.id, peer = %conn.peer);
    let side = Arc::new(SharedWrite::new(wr));
    shared
        .tracker
        .spawn(writer(shared.clone(), conn.clone(), side.clone()).instrument(span.clone()));
    let tracker = shared.tracker.clone();
    tracker.spawn(
        async move {
            debug!("accepted");
            if let Some(hook) = &shared.on_join {
                hook(&conn.info(), &server);
            }
            let ctx = Context::new(conn.clone(), server.clone());
            tokio::select! {
                _ = reader(&shared, &ctx, FrameReader::new(rd), &side) => {}
                _ = shared.abort.cancelled() => {}
            }
            let info = conn.info();
            // Peers first: whoever sees the connection gone sees its
            // peers gone too.
            if let Some(peers) = &shared.peers {
                peers.remove_at(conn.peer);
            }
            shared.registry.remove(conn.id);
            shared.counters.connections_open(shared.registry.len());
            conn.outbound.close();
            if let Some(hook) = &shared.on_leave {
                hook(&info, &server);
            }
            debug!("closed");
        }
        .instrument(span),
    );
}

async fn writer<W: AsyncWrite + Unpin>(
    shared: Arc<Shared>,
    conn: Arc<Conn>,
    side: Arc<SharedWrite<W>>,
) {
    let counters = &shared.counters;
    let count = |frames: usize, bytes: usize| counters.frames_out(frames as u64, bytes as u64);
    let result = tokio::select! {
        r = side.write_loop(&conn.outbound, shared.limits.write_timeout, count) => r,
        _ = shared.abort.cancelled() => Ok(()),
    };
    if let Err(e) = result {
        if e.kind() == std::io::ErrorKind::TimedOut {
            shared.counters.timeout("write");
            warn!("peer stopped reading: write stalled, closing");
        } else {
            debug!(error = %e, "write failed, closing");
        }
        conn.outbound.close();
        conn.cancel.cancel();
    }
}

/// Why the reader stopped short of a frame.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{0}")]
    Deadline(&'static str),
}

/// A run of replies is queued once it holds this many bytes, so the next
/// reply starts a fresh buffer instead of growing (and copying) a large one.
const RUN_BYTES: usize = 8 * 1024;

/// Per-connection state the hot path reuses instead of sharing: a route
/// snapshot, the replies not yet queued, and frame counts not yet added
/// to the server-wide counters (added when the reader is about to wait,
/// so connections on different cores do not fight over one counter per
/// frame).
struct Local {
    routes: RouteCache<Route>,
    /// Handler replies encoded one after another, not yet a [`Run`].
    out: BytesMut,
    /// Frames in `out`.
    out_frames: usize,
    /// Replies to the frames decoded from the current read, sent (or
    /// queued) together when the reader is about to wait.
    replies: Vec<Run>,
    /// Reused memory for frames the reader takes from the queue to send
    /// them ahead of its replies.
    taken: Vec<bytes::Bytes>,
    frames_in: u64,
    /// The connection's deadline timer (frame or idle).
    timer: Pin<Box<Sleep>>,
    /// Completes when the connection is told to close; made once, not per
    /// wait (registering a fresh waiter on every read showed in profiles).
    closing: Pin<Box<WaitForCancellationFutureOwned>>,
}

/// The deadline by which a new connection must prove it is in use: pass
/// the auth plugin (with one) or send one accepted frame (without), so a
/// connect-and-say-nothing peer cannot hold a slot for the idle timeout.
struct Gate {
    /// `None` once passed.
    until: Option<Instant>,
    why: &'static str,
    auth: bool,
}

impl Gate {
    fn new(shared: &Shared) -> Self {
        let auth = shared.pipeline.has_auth();
        let (timeout, why) = if auth {
            (shared.limits.auth_timeout, "not authenticated in time")
        } else {
            (shared.limits.first_frame_timeout, "no frame in time")
        };
        Gate {
            until: Instant::now().checked_add(timeout),
            why,
            auth,
        }
    }

    fn count(&self, shared: &Shared) {
        shared
            .counters
            .timeout(if self.auth { "auth" } else { "first_frame" });
    }
}

/// The server's side of the pipeline: every message has a route (the
/// default handler at worst), looked up in this connection's snapshot.
struct Routes<'a> {
    shared: &'a Shared,
    cache: &'a mut RouteCache<Route>,
    peer: SocketAddr,
}

impl Sink for Routes<'_> {
    type Route = Route;

    fn route(&mut self, msg: &Message) -> Option<Cow<'_, Route>> {
        let found = self.shared.router.lookup_cached(self.cache, msg, self.peer);
        Some(found.unwrap_or(Cow::Borrowed(&self.shared.default)))
    }
}

async fn reader<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    shared: &Shared,
    ctx: &Context,
    mut rd: FrameReader<R>,
    side: &SharedWrite<W>,
) {
    let closing = Box::pin(ctx.conn().cancel.clone().cancelled_owned());
    let mut local = Local {
        closing,
        routes: shared.router.cache(),
        out: BytesMut::new(),
        out_frames: 0,
        taken: Vec::new(),
        replies: Vec::new(),
        frames_in: 0,
        // Armed for real by the first wait, which only ever moves it earlier.
        timer: Box::pin(sleep_until(Instant::now() + FAR_FUTURE)),
    };
    read_loop(shared, ctx, &mut rd, side, &mut local).await;
    shared
        .counters
        .frames_in(local.frames_in, rd.take_bytes_read());
}

async fn read_loop<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    shared: &Shared,
    ctx: &Context,
    rd: &mut FrameReader<R>,
    side: &SharedWrite<W>,
    local: &mut Local,
) {
    let conn = ctx.conn();
    let pipeline = &shared.pipeline;
    let mut peer = pipeline
        .peer(Some(conn.id.get()), Some(conn.peer), None)
        .with_identity(conn.certificate().cloned());
    // Since when the peer has sent nothing the pipeline accepted: refused
    // and damaged frames are no sign of life (set lazily: the clock is only
    // read when the reader has to wait).
    let mut idle_since: Option<Instant> = None;
    // Whether the last frame announced the peer (see the peer data below).
    let mut announced = false;
    let mut gate = Gate::new(shared);
    loop {
        let next = next_frame(
            shared,
            conn,
            rd,
            side,
            &peer,
            &mut idle_since,
            &mut gate,
            local,
        );
        let decoded = match next.await {
            Ok(Some(d)) => d,
            Ok(None) => return,
            Err(why) => {
                debug!(reason = %why, "closing");
                flush_now(conn, local);
                farewell(shared, conn, &why.to_string());
                return;
            }
        };
        let outcome = match decoded {
            Decoded::Damaged(e) => pipeline.damaged(&mut peer, &e),
            Decoded::Frame(msg) => {
                local.frames_in += 1;
                if let Some(peers) = &shared.peers {
                    // Per-peer ciphers (X25519) key on what the peer
                    // advertised. Looked up until it has, and after each
                    // announcement it made (its handler ran since): not a
                    // table lock per frame.
                    if !peer.has_peer_data() || announced {
                        peer.set_peer_data(peers.data_at(conn.peer));
                    }
                    announced = matches!(
                        msg.message_type,
                        MessageType::ADVERTISE_PEER
                            | MessageType::PEER_DISCOVERED
                            | MessageType::DISCONNECT
                    );
                }
                let mut routes = Routes {
                    shared,
                    cache: &mut local.routes,
                    peer: conn.peer,
                };
                match pipeline.receive(&mut peer, msg, &mut routes) {
                    Step::Done(outcome) => outcome,
                    Step::Refused(outcome, one_shot) => {
                        shared.router.give_back(&mut local.routes, one_shot);
                        outcome
                    }
                    Step::Login(login) => {
                        let result = decide_login(shared, conn, &peer, &login).await;
                        pipeline.login_done(&mut peer, result, login.rid)
                    }
                    Step::Call(call) => {
                        learn_peer(conn, &peer);
                        let started = shared.timed.then(std::time::Instant::now);
                        let label = shared.timed.then(|| call.route.label.clone());
                        let result = match &call.route.handler {
                            Call::Async(h) => catch_panics(|| h.call(call.msg, ctx.clone())).await,
                            Call::Sync(h) => {
                                let msg = call.msg;
                                catch_unwind(AssertUnwindSafe(|| h.call(msg, ctx)))
                            }
                        };
                        if let (Some(t), Some(label)) = (started, label) {
                            metrics::handler_seconds(label, t.elapsed().as_secs_f64());
                        }
                        let layer = call.route.layer.as_deref();
                        let link = peer.link();
                        let (count, replied) = pipeline.respond_into(
                            call.reply_to,
                            layer,
                            &link,
                            result,
                            &mut local.out,
                        );
                        local.add_reply(replied);
                        Outcome {
                            count,
                            ..Outcome::default()
                        }
                    }
                }
            }
        };
        learn_peer(conn, &peer);
        if let Some(what) = outcome.count {
            shared.counters.count(what);
        }
        if !matches!(
            outcome.count,
            Some(Count::ChecksumError | Count::AuthFailure | Count::DecryptFailure)
        ) {
            idle_since = None;
            if peer.is_admitted() {
                gate.until = None;
            }
        }
        if let Some(reason) = outcome.close {
            debug!(%reason, "closing");
            flush_now(conn, local);
            if let Some(frame) = outcome.send {
                let _ = conn.outbound.try_push(frame);
            }
            return;
        }
        if let Some(frame) = outcome.send {
            local.seal_run();
            local.replies.push(Run {
                bytes: frame,
                frames: 1,
            });
        }
    }
}

impl Local {
    /// Counts a reply [`Pipeline::respond_into`](crate::pipeline::Pipeline)
    /// appended to `out` (if it did).
    fn add_reply(&mut self, replied: bool) {
        if replied {
            self.out_frames += 1;
            if self.out.len() >= RUN_BYTES {
                self.seal_run();
            }
        }
    }

    /// Moves the replies in `out` to the end of `replies` as one run (the
    /// memory left in `out` is reused for the next ones).
    fn seal_run(&mut self) {
        if self.out_frames > 0 {
            self.replies.push(Run {
                bytes: self.out.split().freeze(),
                frames: std::mem::take(&mut self.out_frames),
            });
        }
    }
}

/// Sends the replies gathered so far: written by the reader itself when
/// no other write is under way, else queued for the writer task (waiting
/// for queue room is the back-pressure a peer that does not read its
/// replies asked for). False: the connection is closing.
async fn send_replies<W: AsyncWrite + Unpin>(
    shared: &Shared,
    conn: &Conn,
    side: &SharedWrite<W>,
    local: &mut Local,
) -> bool {
    let sent = side
        .try_send(
            &conn.outbound,
            &mut local.replies,
            &mut local.out,
            local.out_frames,
            &mut local.taken,
        )
        .await;
    match sent {
        Ok(Sent::Taken(frames, bytes)) => {
            local.out_frames = 0;
            shared.counters.frames_out(frames as u64, bytes as u64);
            true
        }
        Ok(Sent::Busy) => {
            local.seal_run();
            conn.outbound.push_all(&mut local.replies).await.is_ok()
        }
        Err(e) => {
            debug!(error = %e, "write failed, closing");
            conn.outbound.close();
            conn.cancel.cancel();
            false
        }
    }
}

/// Runs the login gate (and the version check) on a login message, under
/// the authentication deadline; a panic or a timeout refuses it.
async fn decide_login(
    shared: &Shared,
    conn: &Conn,
    peer: &PeerState,
    login: &LoginCall,
) -> Result<Option<crate::auth::Identity>, String> {
    if let Some(min) = shared.min_version {
        let version = login.version.unwrap_or(0);
        if version < min {
            return Err(format!(
                "protocol version {version} is older than the {min} this server requires"
            ));
        }
    }
    let Some(gate) = &shared.login else {
        return Ok(None);
    };
    let hello = super::Hello {
        content: login.content.clone(),
        version: login.version,
    };
    let mut info = conn.info();
    info.identity = peer.identity().cloned();
    let decided = tokio::time::timeout(
        shared.limits.auth_timeout,
        catch_panics(|| gate.login(hello, info)),
    )
    .await;
    match decided {
        Ok(Ok(Ok(identity))) => Ok(Some(identity)),
        Ok(Ok(Err(refused))) => Err(refused.reason().to_owned()),
        Ok(Err(_panic)) => {
            warn!("login gate panicked; login refused");
            Err("login failed".to_owned())
        }
        Err(_) => Err("login timed out".to_owned()),
    }
}

/// Queues the replies gathered so far without waiting (the connection is
/// closing: what does not fit is lost with it).
fn flush_now(conn: &Conn, local: &mut Local) {
    local.seal_run();
    for run in local.replies.drain(..) {
        if conn.outbound.try_push_run(run).is_err() {
            break;
        }
    }
}

/// Records the session and identity the pipeline learned from the peer's
/// first accepted frame, for what is sealed to this connection from
/// elsewhere (fan-out) and for handlers.
fn learn_peer(conn: &Conn, peer: &PeerState) {
    if !conn.has_session() {
        if let Some(s) = peer.session() {
            conn.set_session(s);
        }
    }
    // Fixed once the peer is in: until then a user's key or the login
    // gate may still settle who it is (and what it may do).
    if peer.is_admitted() && !conn.has_identity() {
        if let Some(identity) = peer.identity() {
            conn.set_identity(identity.clone());
        }
    }
    if peer.speaks_framewire() && !conn.speaks_framewire() {
        conn.set_framewire();
    }
}

/// Queues a last ERROR saying why (unsigned: the peer may not be able to
/// verify anything at this point) for the writer to flush.
fn farewell(shared: &Shared, conn: &Conn, why: &str) {
    if let Some(frame) = shared.pipeline.farewell(why) {
        let _ = conn.outbound.try_push(frame);
    }
}

/// The next frame, read under the connection's deadlines: the frame
/// deadline once a frame has started, else the idle timeout (subscribers
/// exempt); either cut short by the admission [`Gate`] until it is passed.
/// `Ok(None)`: closed between frames, or told to close.
#[allow(clippy::too_many_arguments)]
async fn next_frame<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    shared: &Shared,
    conn: &Conn,
    rd: &mut FrameReader<R>,
    side: &SharedWrite<W>,
    peer: &PeerState,
    idle_start: &mut Option<Instant>,
    gate: &mut Gate,
    local: &mut Local,
) -> Result<Option<Decoded>, Stop> {
    let limits = &shared.limits;
    let cfg = shared.pipeline.frame_for(peer);
    // The clock is read only once a wait is needed: a pipelining peer has
    // its next frame buffered already, and then no deadline applies.
    let mut frame_started: Option<Instant> = None;
    loop {
        match rd.buffered(cfg) {
            Ok(Some(d)) => return Ok(Some(d)),
            Ok(None) => {}
            Err(e) => {
                shared.counters.decode_error();
                return Err(e.into());
            }
        }
        let now = Instant::now();
        let idle_since = *idle_start.get_or_insert(now);
        if frame_started.is_none() && rd.mid_frame() {
            frame_started = Some(now);
        }
        let (mut deadline, mut why) = match frame_started {
            Some(t) => (t + limits.frame_timeout, "frame deadline exceeded"),
            None => (idle_since + limits.idle_timeout, "idle timeout"),
        };
        let gated = gate.until.is_some_and(|until| until < deadline);
        if let (true, Some(until)) = (gated, gate.until) {
            (deadline, why) = (until, gate.why);
        }
        // About to wait: what the frames read so far produced goes out
        // now, in one batch.
        if (local.out_frames > 0 || !local.replies.is_empty())
            && !send_replies(shared, conn, side, local).await
        {
            return Ok(None);
        }
        if local.frames_in > 0 {
            let bytes = rd.take_bytes_read();
            shared
                .counters
                .frames_in(std::mem::take(&mut local.frames_in), bytes);
        }
        // One timer per connection, moved only when a deadline comes
        // *earlier* than it is set: arming a fresh timer on every read
        // would take the runtime's timer lock once per read. When it fires
        // early, the real deadline is checked and the timer re-armed.
        let timer = &mut local.timer;
        if timer.deadline() > deadline {
            timer.as_mut().reset(deadline);
        }
        tokio::select! {
            _ = local.closing.as_mut() => return Ok(None),
            r = rd.fill() => if !r? {
                return Ok(None);
            },
            _ = timer.as_mut() => {
                let now = Instant::now();
                if now < deadline {
                    timer.as_mut().reset(deadline);
                } else if gated && conn.subscription_count() > 0 {
                    // Subscribed through the handle: in use, as for the
                    // idle timeout.
                    gate.until = None;
                } else if gated {
                    gate.count(shared);
                    return Err(Stop::Deadline(why));
                } else if frame_started.is_none() && conn.subscription_count() > 0 {
                    // Subscribers may listen silently for as long as they
                    // like. Looked at when the deadline passes, not when
                    // the wait began: subscriptions also change through
                    // the server handle while this connection is silent.
                    *idle_start = Some(now);
                    timer.as_mut().reset(now + limits.idle_timeout);
                } else {
                    shared.counters.timeout("deadline");
                    return Err(Stop::Deadline(why));
                }
            }
        }
    }
}
