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
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{sleep_until, Instant};
use tracing::{debug, info_span, warn, Instrument};

use crate::handler::catch_panics;
use crate::io::outbound::{Backpressure, Outbound};
use crate::io::reader::read_into;
use crate::io::writer::{Sent, Writer};
use crate::proto::connection::{CloseCount, Closing, ConnLimits, Event, ServerConn};
use crate::proto::pipeline::{LoginCall, PeerState, Sink};
use crate::router::RouteCache;
use crate::transport::Stream;
use crate::wire::Message;

use super::metrics;
use super::registry::Conn;
use super::shared::Shared;
use super::{Call, Context, Route, ServerHandle};

/// "No deadline yet" for the per-connection timer (about 30 years).
const FAR_FUTURE: std::time::Duration = std::time::Duration::from_secs(1 << 30);

/// Registers a connection from `peer` (it holds its slot from here on)
/// before anything is read from it.
pub(super) fn register(server: &ServerHandle, peer: SocketAddr) -> Arc<Conn> {
    let shared = &server.shared;
    let cancel = shared.shutdown.child_token();
    let outbound = Outbound::new(
        shared.limits.max_queued_frames,
        shared.limits.max_queued_bytes,
        cancel.clone(),
    );
    let conn = shared.registry.add(peer, outbound, cancel);
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
    let side = Arc::new(Writer::new(wr).gather(false));
    {
        // The writer task starts with the first frame queued: replies the
        // reader writes itself need none, so an idle connection (or one
        // that only asks) never has one. A weak reference: the queue
        // that holds this lives in the connection.
        let (shared, weak, side, span) = (
            shared.clone(),
            Arc::downgrade(&conn),
            side.clone(),
            span.clone(),
        );
        let runtime = tokio::runtime::Handle::current();
        conn.outbound.start_writer_on_demand(move || {
            if let Some(conn) = weak.upgrade() {
                let tracker = shared.tracker.clone();
                tracker.spawn_on(writer(shared, conn, side).instrument(span), &runtime);
            }
        });
    }
    let tracker = shared.tracker.clone();
    tracker.spawn(
        async move {
            debug!("accepted");
            if let Some(hook) = &shared.on_join {
                hook(&conn.info(), &server);
            }
            let ctx = Context::new(conn.clone(), server.clone());
            tokio::select! {
                _ = reader(&shared, &ctx, rd, &side) => {}
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

async fn writer<W: AsyncWrite + Unpin>(shared: Arc<Shared>, conn: Arc<Conn>, side: Arc<Writer<W>>) {
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

    fn refresh_peer_data(&mut self, peer: &mut PeerState) {
        if let Some(peers) = &self.shared.peers {
            peer.set_peer_data(peers.data_at(self.peer));
        }
    }
}

/// The connection's state machine's limits, from the server's.
fn conn_limits(shared: &Shared) -> ConnLimits {
    let l = &shared.limits;
    ConnLimits {
        frame_timeout: l.frame_timeout,
        idle_timeout: l.idle_timeout,
        auth_timeout: l.auth_timeout,
        first_frame_timeout: l.first_frame_timeout,
        min_version: shared.min_version,
    }
}

/// Reads the connection, hands what arrives to its [`ServerConn`], and
/// performs what that asks until it closes.
async fn reader<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    shared: &Shared,
    ctx: &Context,
    mut rd: R,
    side: &Writer<W>,
) {
    let conn = ctx.conn();
    let pipeline = &shared.pipeline;
    let peer = pipeline
        .peer(Some(conn.id.get()), Some(conn.peer), None)
        .with_identity(conn.certificate().cloned());
    let mut sm = ServerConn::new(
        pipeline,
        peer,
        conn_limits(shared),
        Instant::now().into_std(),
    );
    drive(shared, ctx, &mut rd, side, &mut sm).await;
    count_in(shared, &mut sm);
}

/// [`reader`]'s loop.
async fn drive<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    shared: &Shared,
    ctx: &Context,
    rd: &mut R,
    side: &Writer<W>,
    sm: &mut ServerConn,
) {
    let conn = ctx.conn();
    let pipeline = &shared.pipeline;
    let mut cache = shared.router.cache();
    // Completes when the connection is told to close; made once, not per
    // wait (registering a fresh waiter on every read showed in profiles).
    let mut closing = std::pin::pin!(conn.cancel.clone().cancelled_owned());
    // One timer per connection, moved only when a deadline comes
    // *earlier* than it is set: arming a fresh timer on every read would
    // take the runtime's timer lock once per read. When it fires early,
    // the state machine says so and it is re-armed.
    let mut timer = std::pin::pin!(sleep_until(Instant::now() + FAR_FUTURE));
    let mut scratch = Vec::new();
    loop {
        let mut routes = Routes {
            shared,
            cache: &mut cache,
            peer: conn.peer,
        };
        let event = sm.poll_event(pipeline, &mut routes);
        learn_peer(conn, sm);
        match event {
            Event::Next => continue,
            Event::Count(what) => shared.counters.count(what),
            Event::GiveBack(one_shot) => shared.router.give_back(&mut cache, one_shot),
            Event::Call(call) => {
                let result = call_handler(shared, ctx, &call.route, call.msg).await;
                let layer = call.route.layer.as_deref();
                sm.handle_result(pipeline, call.reply_to, layer, result);
            }
            Event::Login(login) => {
                // Boxed: once per connection at most, and the largest
                // state of this loop (616 bytes), which every connection
                // would otherwise carry all its life.
                let result = Box::pin(decide_login(shared, conn, sm.peer(), &login)).await;
                sm.handle_login(pipeline, login.rid, result);
            }
            Event::Close(closing) => return close(shared, conn, sm, closing),
            Event::Wait => {
                // About to wait: what the frames read so far produced goes
                // out now, in one batch.
                if !sm.replies_mut().is_empty()
                    && !send_replies(shared, conn, side, sm, &mut scratch).await
                {
                    return;
                }
                count_in(shared, sm);
                let now = Instant::now();
                let deadline = Instant::from_std(sm.poll_timeout(now.into_std()));
                if timer.deadline() > deadline {
                    timer.as_mut().reset(deadline);
                }
                tokio::select! {
                    _ = closing.as_mut() => return,
                    r = read_into(rd, sm.inbound_mut()) => match r {
                        Ok(true) => {}
                        Ok(false) => return,
                        Err(e) => {
                            let closing = sm.handle_read_error(pipeline, e);
                            return close(shared, conn, sm, closing);
                        }
                    },
                    _ = timer.as_mut() => {
                        let now = Instant::now();
                        let subscribed = conn.subscription_count() > 0;
                        if let Some(closing) = sm.handle_timeout(pipeline, now.into_std(), subscribed) {
                            return close(shared, conn, sm, closing);
                        }
                        // Waiting on: re-armed for the deadline now in force.
                        let next = Instant::from_std(sm.poll_timeout(now.into_std()));
                        timer.as_mut().reset(next);
                    }
                }
            }
        }
    }
}

/// Calls a route's handler with `msg`, panics caught (and timed, when
/// handler metrics are on).
async fn call_handler(
    shared: &Shared,
    ctx: &Context,
    route: &Route,
    msg: Message,
) -> crate::proto::pipeline::CallResult {
    let started = shared.timed.then(std::time::Instant::now);
    let trace = crate::trace::incoming(&msg);
    let result = match (&route.handler, trace) {
        (Call::Async(h), None) => catch_panics(|| h.call(msg, ctx.clone())).await,
        (Call::Async(h), Some(tp)) => {
            let call = catch_panics(|| h.call(msg, ctx.clone()));
            crate::trace::handle_in(tp, "server", call).await
        }
        (Call::Sync(h), None) => catch_unwind(AssertUnwindSafe(|| h.call(msg, ctx))),
        (Call::Sync(h), Some(tp)) => crate::trace::handle_sync_in(tp, "server", || {
            catch_unwind(AssertUnwindSafe(|| h.call(msg, ctx)))
        }),
    };
    if let Some(t) = started {
        metrics::handler_seconds(route.label.clone(), t.elapsed().as_secs_f64());
    }
    result
}

/// Adds the frames and bytes read since the last call to the counters.
fn count_in(shared: &Shared, sm: &mut ServerConn) {
    let (frames, bytes) = sm.take_frames_in();
    if frames > 0 || bytes > 0 {
        shared.counters.frames_in(frames, bytes);
    }
}

/// Closes as the state machine decided: counts why, queues the replies so
/// far without waiting (what does not fit is lost with the connection),
/// then the farewell, for the writer to flush.
fn close(shared: &Shared, conn: &Conn, sm: &mut ServerConn, closing: Closing) {
    debug!(reason = %closing.why, "closing");
    match closing.count {
        Some(CloseCount::Timeout(label)) => shared.counters.timeout(label),
        Some(CloseCount::DecodeError) => shared.counters.decode_error(),
        None => {}
    }
    for run in sm.replies_mut().drain() {
        if conn.outbound.push(run, Backpressure::Drop).is_err() {
            break;
        }
    }
    if let Some(frame) = closing.farewell {
        let _ = conn.outbound.push(frame, Backpressure::Drop);
    }
}

/// Sends the replies gathered so far: written by the reader itself when
/// no other write is under way, else queued for the writer task (waiting
/// for queue room is the back-pressure a peer that does not read its
/// replies asked for). False: the connection is closing.
async fn send_replies<W: AsyncWrite + Unpin>(
    shared: &Shared,
    conn: &Conn,
    side: &Writer<W>,
    sm: &mut ServerConn,
    scratch: &mut Vec<bytes::Bytes>,
) -> bool {
    let replies = sm.replies_mut();
    match side.try_send(&conn.outbound, replies, scratch).await {
        Ok(Sent::Taken(frames, bytes)) => {
            shared.counters.frames_out(frames as u64, bytes as u64);
            true
        }
        Ok(Sent::Busy) => {
            replies.seal_run();
            conn.outbound.push_waiting(&mut replies.runs).await.is_ok()
        }
        Err(e) => {
            debug!(error = %e, "write failed, closing");
            conn.outbound.close();
            conn.cancel.cancel();
            false
        }
    }
}

/// Runs the login gate on a login message (the version check passed),
/// under the authentication deadline; a panic or a timeout refuses it.
async fn decide_login(
    shared: &Shared,
    conn: &Conn,
    peer: &PeerState,
    login: &LoginCall,
) -> Result<Option<crate::auth::Identity>, String> {
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

/// Records what the state machine learned about the peer (its session,
/// its identity once admitted, that it speaks framewire) on the
/// registry's connection, for what is sealed to it from elsewhere
/// (fan-out) and for handlers.
fn learn_peer(conn: &Conn, sm: &mut ServerConn) {
    let Some(learned) = sm.poll_learned() else {
        return;
    };
    if let Some(s) = learned.session {
        if !conn.has_session() {
            conn.set_session(s);
        }
    }
    if let Some(identity) = learned.identity {
        if !conn.has_identity() {
            conn.set_identity(identity);
        }
    }
    if learned.framewire && !conn.speaks_framewire() {
        conn.set_framewire();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The timer's "no deadline yet" must outlast any real deadline.
    #[test]
    fn far_future_is_decades_away() {
        assert!(FAR_FUTURE >= std::time::Duration::from_secs(30 * 365 * 24 * 3600));
    }
}
