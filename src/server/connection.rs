//! One connection: a reader task (decode, plugins, route, handler, reply)
//! and a writer task draining the bounded outbound queue.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant, Sleep};
use tracing::{debug, error, info_span, warn, Instrument};

use crate::auth::{AuthError, AuthFieldRole, Layer, Rejection};
use crate::client::PING_URI;
use crate::wire::{self, AuthValue, DecodeError, Message, MessageType, REQUEST_ID_FIELD};

use super::handler::{catch_panics, panic_text};
use super::registry::Conn;
use super::stats::bump;
use super::{Context, Route, ServerHandle, Shared};

use crate::outbound::{write_loop, Outbound};
use crate::router::RouteCache;

/// Read buffer kept per connection; grows only while a frame needs it.
const READ_BUF: usize = 8 * 1024;

/// "No deadline yet" for the per-connection timer (about 30 years).
const FAR_FUTURE: std::time::Duration = std::time::Duration::from_secs(1 << 30);

/// Serves an accepted TCP connection.
pub(super) fn spawn_tcp(server: ServerHandle, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    if let Some(ka) = server.shared.limits.tcp_keepalive {
        set_keepalive(&stream, ka);
    }
    // TCP halves need no lock between them, unlike a generic split.
    let (rd, wr) = stream.into_split();
    spawn(server, rd, wr, peer);
}

/// Failures are logged, not fatal: the connection still works, only a
/// vanished peer is found later.
fn set_keepalive(stream: &TcpStream, ka: super::TcpKeepalive) {
    let sock = socket2::SockRef::from(stream);
    let probes = socket2::TcpKeepalive::new()
        .with_time(ka.time)
        .with_interval(ka.interval);
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "windows"
    ))]
    let probes = probes.with_retries(ka.retries);
    if let Err(e) = sock.set_tcp_keepalive(&probes) {
        debug!(error = %e, "TCP keepalive not set");
    }
    // Keepalive probes only run while nothing is unacknowledged; a dead
    // subscriber that is being sent notifications needs the user timeout.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = sock.set_tcp_user_timeout(Some(ka.detection_time())) {
        debug!(error = %e, "TCP_USER_TIMEOUT not set");
    }
}

/// Serves a connection given as its read and write halves.
pub(super) fn spawn<R, W>(server: ServerHandle, rd: R, wr: W, peer: SocketAddr)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let shared = server.shared.clone();
    let outbound = Outbound::new(
        shared.limits.max_queued_frames,
        shared.limits.max_queued_bytes,
    );
    let conn = shared
        .registry
        .add(peer, outbound, shared.shutdown.child_token());
    let span = info_span!("conn", id = %conn.id, %peer);
    shared
        .tracker
        .spawn(writer(shared.clone(), conn.clone(), wr).instrument(span.clone()));
    let tracker = shared.tracker.clone();
    tracker.spawn(
        async move {
            debug!("accepted");
            if let Some(hook) = &shared.on_join {
                hook(&conn.info(), &server);
            }
            let ctx = Context::new(conn.clone(), server.clone());
            tokio::select! {
                _ = reader(&shared, &ctx, rd) => {}
                _ = shared.abort.cancelled() => {}
            }
            let info = conn.info();
            shared.registry.remove(conn.id);
            conn.outbound.close();
            if let Some(hook) = &shared.on_leave {
                hook(&info, &server);
            }
            debug!("closed");
        }
        .instrument(span),
    );
}

async fn writer(shared: Arc<Shared>, conn: Arc<Conn>, wr: impl AsyncWrite + Unpin) {
    let frames_out = &shared.counters.frames_out;
    let count = |n: usize| {
        frames_out.fetch_add(n as u64, Relaxed);
    };
    let result = tokio::select! {
        r = write_loop(&conn.outbound, wr, shared.limits.write_timeout, count) => r,
        _ = shared.abort.cancelled() => Ok(()),
    };
    if let Err(e) = result {
        if e.kind() == std::io::ErrorKind::TimedOut {
            bump(&shared.counters.timeouts);
            warn!("peer stopped reading: write stalled, closing");
        } else {
            debug!(error = %e, "write failed, closing");
        }
        conn.outbound.close();
        conn.cancel.cancel();
    }
}

/// How reading the next frame ended.
enum Read {
    Frame(Message),
    Checksum(DecodeError),
    /// Peer closed between frames, or the connection was told to close.
    Closed,
    /// Ends the connection: decode error, EOF mid-frame, deadline, I/O.
    Fatal(String),
}

/// Per-connection state the hot path reuses instead of sharing: a route
/// snapshot, an encode buffer, and frame counts not yet added to the
/// server-wide counters (added when the reader is about to wait, so
/// connections on different cores do not fight over one counter per frame).
struct Local {
    routes: RouteCache<Route>,
    scratch: BytesMut,
    frames_in: u64,
    /// The connection's deadline timer (frame or idle).
    timer: Pin<Box<Sleep>>,
}

async fn reader(shared: &Shared, ctx: &Context, mut rd: impl AsyncRead + Unpin) {
    let mut local = Local {
        routes: shared.router.cache(),
        scratch: BytesMut::new(),
        frames_in: 0,
        // Armed for real by the first wait, which only ever moves it earlier.
        timer: Box::pin(sleep_until(Instant::now() + FAR_FUTURE)),
    };
    read_loop(shared, ctx, &mut rd, &mut local).await;
    shared
        .counters
        .frames_in
        .fetch_add(local.frames_in, Relaxed);
}

async fn read_loop(
    shared: &Shared,
    ctx: &Context,
    rd: &mut (impl AsyncRead + Unpin),
    local: &mut Local,
) {
    let conn = ctx.conn();
    let mut buf = BytesMut::with_capacity(READ_BUF);
    let mut authenticated = shared.layer.auth().is_none();
    let (mut checksum_errors, mut auth_failures) = (0u32, 0u32);
    loop {
        let cfg = if authenticated {
            &shared.frame
        } else {
            &shared.pre_auth_frame
        };
        let reply = match read_frame(shared, conn, rd, &mut buf, cfg, local).await {
            Read::Frame(msg) => {
                local.frames_in += 1;
                match handle(shared, ctx, msg, &mut authenticated, local).await {
                    Handled::Reply(frame) => Some(frame),
                    Handled::Nothing => None,
                    Handled::AuthFailed {
                        reply: frame,
                        peers_fault,
                    } => {
                        auth_failures += u32::from(peers_fault);
                        if auth_failures > shared.limits.max_auth_failures {
                            close_with(shared, conn, "too many auth failures").await;
                            return;
                        }
                        frame
                    }
                }
            }
            Read::Checksum(e) => {
                bump(&shared.counters.checksum_errors);
                checksum_errors += 1;
                debug!(error = %e, "checksum mismatch");
                if checksum_errors > shared.limits.max_checksum_errors {
                    close_with(shared, conn, "too many invalid messages").await;
                    return;
                }
                // netaio's reply, through the instance plugins.
                shared.prepare(Message::error("invalid message"), None).ok()
            }
            Read::Closed => return,
            Read::Fatal(why) => {
                debug!(reason = %why, "closing");
                close_with(shared, conn, &why).await;
                return;
            }
        };
        if let Some(frame) = reply {
            if conn.outbound.push(frame).await.is_err() {
                return;
            }
        }
    }
}

/// Sends a last ERROR (unsigned: the peer may not be able to verify
/// anything at this point) and lets the writer flush it.
async fn close_with(shared: &Shared, conn: &Conn, why: &str) {
    // Always ERROR: `Message::error` would type a text mentioning "auth"
    // (e.g. "auth fields truncated") as AUTH_ERROR.
    let msg = Message::new(MessageType::ERROR, "ERROR", why.to_owned());
    if let Ok(frame) = shared.encode(&msg) {
        let _ = conn.outbound.try_push(frame);
    }
}

async fn read_frame(
    shared: &Shared,
    conn: &Conn,
    rd: &mut (impl AsyncRead + Unpin),
    buf: &mut BytesMut,
    cfg: &wire::FrameConfig,
    local: &mut Local,
) -> Read {
    let limits = &shared.limits;
    // The clock is read only once a wait is needed: a pipelining peer has
    // its next frame buffered already, and then no deadline applies.
    let mut idle_start: Option<Instant> = None;
    let mut frame_started: Option<Instant> = None;
    loop {
        match wire::decode_frame(buf, cfg) {
            Ok(Some(msg)) => return Read::Frame(msg),
            Ok(None) => {}
            Err(e) if e.is_recoverable() => return Read::Checksum(e),
            Err(e) => {
                bump(&shared.counters.decode_errors);
                return Read::Fatal(format!("invalid frame: {e}"));
            }
        }
        let now = Instant::now();
        let idle_since = *idle_start.get_or_insert(now);
        if frame_started.is_none() && !buf.is_empty() {
            frame_started = Some(now);
        }
        let (deadline, why) = match frame_started {
            Some(t) => (t + limits.frame_timeout, "frame deadline exceeded"),
            None => (idle_since + limits.idle_timeout, "idle timeout"),
        };
        if buf.capacity() - buf.len() < READ_BUF / 2 {
            buf.reserve(READ_BUF);
        }
        if local.frames_in > 0 {
            shared
                .counters
                .frames_in
                .fetch_add(std::mem::take(&mut local.frames_in), Relaxed);
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
            _ = conn.cancel.cancelled() => return Read::Closed,
            r = rd.read_buf(buf) => match r {
                Ok(0) if buf.is_empty() => return Read::Closed,
                Ok(0) => return Read::Fatal(format!("connection closed inside a frame ({} bytes pending)", buf.len())),
                Ok(_) => {}
                Err(e) => return Read::Fatal(format!("read failed: {e}")),
            },
            _ = timer.as_mut() => {
                let now = Instant::now();
                if now < deadline {
                    timer.as_mut().reset(deadline);
                } else if frame_started.is_none() && conn.subscription_count() > 0 {
                    // Subscribers may listen silently for as long as they
                    // like. Looked at when the deadline passes, not when
                    // the wait began: subscriptions also change through
                    // the server handle while this connection is silent.
                    idle_start = Some(now);
                    timer.as_mut().reset(now + limits.idle_timeout);
                } else {
                    bump(&shared.counters.timeouts);
                    return Read::Fatal(why.to_owned());
                }
            }
        }
    }
}

enum Handled {
    Reply(Bytes),
    Nothing,
    /// An auth check failed; the frame is the unsigned AUTH_ERROR to send
    /// (none for error reports, as netaio).
    AuthFailed {
        reply: Option<Bytes>,
        /// False when the refusal is the server's capacity (a full replay
        /// cache), which must not count toward closing an honest peer.
        peers_fault: bool,
    },
}

/// netaio's receive order: instance auth check → instance decrypt → route
/// (keys taken from the decrypted message) → handler auth check → handler
/// decrypt → handler → reply sealed handler layer first, then instance.
async fn handle(
    shared: &Shared,
    ctx: &Context,
    msg: Message,
    authenticated: &mut bool,
    local: &mut Local,
) -> Handled {
    let request_id = msg.auth.get(REQUEST_ID_FIELD).cloned();
    let msg = match shared.layer.open(msg, Layer::Instance) {
        Ok(m) => m,
        Err(rejection) => return rejected(shared, rejection, request_id),
    };
    *authenticated = true;
    // The client keepalive ping, answered before routing so it never
    // reaches (or depends on) the application's handlers.
    if msg.message_type == MessageType::REQUEST_URI && &msg.body.uri[..] == PING_URI.as_bytes() {
        return shared
            .prepare(Message::respond(PING_URI, ""), None)
            .map_or(Handled::Nothing, Handled::Reply);
    }
    let route = shared
        .router
        .lookup_cached(&mut local.routes, &msg, ctx.conn().peer)
        .unwrap_or(Cow::Borrowed(&shared.default));
    let msg = match &route.layer {
        Some(layer) => match layer.open(msg, Layer::Handler) {
            Ok(m) => m,
            Err(rejection) => return rejected(shared, rejection, request_id),
        },
        None => msg,
    };
    let uri = msg.body.uri.clone();
    let reply = match catch_panics(|| route.handler.call(msg, ctx.clone())).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => {
            bump(&shared.counters.handler_errors);
            debug!(error = %e, "handler error");
            Some(Message::error(e.to_string()).with_uri(uri))
        }
        Err(panic) => {
            bump(&shared.counters.handler_panics);
            error!(panic = panic_text(&*panic), "handler panicked");
            Some(Message::error("internal error").with_uri(uri))
        }
    };
    let Some(mut reply) = reply else {
        return Handled::Nothing;
    };
    if let Some(id) = request_id {
        reply.auth.insert(REQUEST_ID_FIELD, id);
    }
    match shared.prepare_into(reply, route.layer.as_deref(), &mut local.scratch) {
        Ok(frame) => Handled::Reply(frame),
        Err(e) => {
            warn!(error = %e, "reply could not be sent");
            shared
                .prepare(Message::error("internal error"), None)
                .map_or(Handled::Nothing, Handled::Reply)
        }
    }
}

fn rejected(shared: &Shared, rejection: Rejection, request_id: Option<AuthValue>) -> Handled {
    // Only a cipher fails on the iv (or on length); netaio drops those
    // messages silently, while auth failures are answered and counted.
    let decrypt = matches!(rejection.error.field(), Some(AuthFieldRole::Iv))
        || matches!(rejection.error, AuthError::CipherTooLong);
    if decrypt {
        bump(&shared.counters.decrypt_failures);
        debug!(error = ?rejection.error, "decrypt failed, message dropped");
        return Handled::Nothing;
    }
    bump(&shared.counters.auth_failures);
    debug!(error = ?rejection.error, "auth check failed");
    // The error goes out unsigned, as netaio's does; the request id (when
    // the client sent one) lets a framewire client match it at once.
    let peers_fault = !rejection.error.is_replay_cache_full();
    let reply = rejection.reply.and_then(|mut m| {
        if let Some(id) = request_id {
            m.auth.insert(REQUEST_ID_FIELD, id);
        }
        shared.encode(&m).ok()
    });
    Handled::AuthFailed { reply, peers_fault }
}
