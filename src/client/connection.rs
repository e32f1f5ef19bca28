//! The client's background task: one connection at a time (reader,
//! writer, keepalive), reconnection with backoff, and the handler
//! dispatcher. I/O, timers and tasks only: what a received frame means is
//! the pipeline's.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::subscription::Resubscribe;
use crate::io::outbound::{Backpressure, Outbound};
use crate::io::reader::FrameReader;
use crate::io::writer::Writer;
use crate::proto::handover::Handover;
use crate::proto::inbound::{Decoded, ReadError};
use crate::proto::keepalive::{Keepalive, KeepaliveAction};
use crate::proto::pipeline::Step;
use crate::protocol::{self, SessionId};
use crate::sync::lock;
use crate::transport::{ReadHalf, Stream};
use crate::wire::{Message, MessageType};

use super::config::Config;
use super::deliver::{dispatcher, Deliver, Dispatch, DISPATCH_QUEUE};
use super::login::Login;
use super::offline;
use super::pending::Outgoing;
use super::{Client, ClientError, ConnectionEvent, Current, DisconnectReason, Inner};

/// One live connection.
pub(super) struct Live {
    reader: FrameReader<ReadHalf>,
    current: Arc<Current>,
    writer: JoinHandle<()>,
    /// Cancelled by the writer when a write fails or stalls.
    broken: CancellationToken,
    /// The login sent first on this connection, waiting for its answer.
    login: Option<Login>,
}

impl Live {
    pub(super) fn take_login(&mut self) -> Option<Login> {
        self.login.take()
    }
}

/// Dials the server in turn through the configured connector, within the
/// connect timeout; on failure the next server is in turn.
pub(super) async fn dial(config: &Config) -> Result<Stream, ClientError> {
    let addr = config.servers.current().to_owned();
    if addr.is_empty() {
        return Err(ClientError::NoServers);
    }
    let err = |source| ClientError::Connect {
        addr: addr.clone(),
        source,
    };
    let result = timeout(config.connect_timeout, config.connector.connect(&addr))
        .await
        .map_err(|_| err(std::io::ErrorKind::TimedOut.into()))
        .and_then(|r| r.map_err(err));
    if result.is_err() {
        config.servers.advance();
    }
    result
}

/// The first connection: each server once, in order (and then by the
/// reconnect policy, if told to keep trying); the last error if none
/// answers.
pub(super) async fn dial_first(
    config: &Config,
    events: &tokio::sync::broadcast::Sender<ConnectionEvent>,
) -> Result<Stream, ClientError> {
    let servers = config.servers.len().max(1);
    let mut attempt = 0u32;
    loop {
        let err = match dial(config).await {
            Ok(stream) => return Ok(stream),
            Err(e) => e,
        };
        attempt += 1;
        if !config.retry_first_connect {
            if attempt as usize >= servers {
                return Err(err);
            }
            continue;
        }
        let Some(delay) = config.reconnect.delay_in_rotation(attempt, servers) else {
            return Err(err);
        };
        debug!(error = %err, attempt, "first connect failed, retrying");
        let _ = events.send(ConnectionEvent::Reconnecting { attempt, delay });
        tokio::time::sleep(delay).await;
    }
}

/// Makes `stream` the client's connection: starts its writer and publishes
/// its queue.
pub(super) fn start(inner: &Arc<Inner>, stream: Stream) -> Live {
    let peer = stream.peer();
    let (reader, wr) = stream.split();
    let broken = CancellationToken::new();
    let queue = Arc::new(Outbound::new(
        inner.config.max_queued_frames,
        inner.config.max_queued_bytes,
        broken.clone(),
    ));
    let writer = {
        let (queue, broken, limit) = (queue.clone(), broken.clone(), inner.config.write_timeout);
        let table = inner.clone();
        tokio::spawn(async move {
            let record = |batch: &mut Vec<Outgoing>| lock(&table.pending).record(batch);
            let writer = Writer::new(wr);
            let written = writer.write_loop_marked(&queue, limit, |_, _| {}, record);
            if let Err(e) = written.await {
                debug!(error = %e, "write failed");
                queue.close();
                broken.cancel();
            }
        })
    };
    let current = Arc::new(Current {
        queue,
        peer,
        id: inner.connections.fetch_add(1, Ordering::Relaxed) + 1,
        session: SessionId::random(),
        peer_data: Default::default(),
    });
    let login = inner
        .config
        .login
        .clone()
        .and_then(|content| Login::send(inner, &current, content));
    if let Some(peers) = &inner.config.peers {
        // Queued before the connection is published: nothing sent on it
        // goes ahead of the introduction (but the login).
        let hello = peers.local().message(MessageType::ADVERTISE_PEER);
        if let Ok(frame) = current.seal(inner, hello) {
            current.push_control(frame);
        }
    }
    go_live(inner, &current);
    info!(%peer, "connected");
    inner.emit(ConnectionEvent::Connected(peer));
    Live {
        reader: FrameReader::new(reader),
        current,
        writer,
        broken,
        login,
    }
}

/// Publishes `current` as the connection to send on, after sending what
/// the offline buffer kept (in order, behind the login if any): under the
/// outlet's lock, so nothing sent meanwhile can overtake it.
fn go_live(inner: &Inner, current: &Arc<Current>) {
    let now = Instant::now();
    let mut outlet = lock(&inner.outlet);
    let limits = outlet.offline.limits().copied();
    let mut dropped = 0u64;
    for q in outlet.offline.take() {
        if q.request.as_ref().is_some_and(Outgoing::is_abandoned) {
            continue; // the request gave up waiting: nobody wants it sent
        }
        let expired = limits.is_some_and(|l| q.expired(&l, now));
        let offline::Queued { msg, request, .. } = q;
        let frame = (!expired)
            .then(|| {
                let layer = request.as_ref().and_then(Outgoing::layer);
                inner
                    .pipeline
                    .seal_with(msg, layer, &current.link(inner))
                    .ok()
            })
            .flatten();
        match (frame, request) {
            (Some(frame), Some(out)) => {
                let out = out.on(current.id);
                if let Err((_, out)) = current.queue.push_marked(frame, out, Backpressure::Drop) {
                    out.fail(ClientError::ConnectionLost);
                }
            }
            (Some(frame), None) => {
                if !current.push_control(frame) {
                    dropped += 1;
                }
            }
            (None, Some(out)) => out.fail(ClientError::ConnectionLost),
            (None, None) => dropped += 1,
        }
    }
    outlet.current = Some(current.clone());
    drop(outlet);
    report_dropped(inner, dropped);
}

/// Counts and reports buffered sends that were never sent.
fn report_dropped(inner: &Inner, dropped: u64) {
    if dropped > 0 {
        inner.offline_dropped.fetch_add(dropped, Ordering::Relaxed);
        warn!(
            messages = dropped,
            "offline buffer: messages dropped, never sent"
        );
        inner.emit(ConnectionEvent::OfflineDropped { messages: dropped });
    }
}

/// Empties the offline buffer when the client stops: waiting requests
/// fail with the pending table; sends are counted as dropped.
fn drop_buffered(inner: &Inner) {
    let kept = lock(&inner.outlet).offline.take();
    let mut sends = 0;
    for q in kept {
        match q.request {
            Some(out) => out.fail(ClientError::Closed),
            None => sends += 1,
        }
    }
    report_dropped(inner, sends);
}

pub(super) async fn run(inner: Arc<Inner>, mut live: Live, done: watch::Sender<bool>) {
    let (dispatch, rx) = mpsc::channel(DISPATCH_QUEUE);
    let dispatcher = tokio::spawn(dispatcher(inner.clone(), rx));
    // Failed attempts in a row; only a connection that stayed up resets it.
    let mut attempt = 0u32;
    'connections: loop {
        let up_since = Instant::now();
        let reason = read_loop(&inner, &mut live, &dispatch, false).await;
        lock(&inner.outlet).current = None;
        let draining = reason == DisconnectReason::Draining && !inner.closed.is_cancelled();
        if draining {
            // From now on messages wait in the offline buffer for the next
            // server; this connection is read until its replies are in.
            tokio::spawn(retire(inner.clone(), live, dispatch.clone()));
        } else {
            live.current.queue.close();
            if inner.closed.is_cancelled() {
                // close(): let the writer send what is queued and shut the
                // socket down (its own stall limit bounds this).
                let _ = (&mut live.writer).await;
                // What a failed writer left queued fails as Closed too.
                abandon(&inner, &live.current, || ClientError::Closed);
                break;
            }
            live.writer.abort();
            abandon(&inner, &live.current, || ClientError::ConnectionLost);
        }
        info!(%reason, "disconnected");
        inner.emit(ConnectionEvent::Disconnected { reason });
        // The next attempt goes to the next server of the list.
        inner.config.servers.advance();

        if draining || inner.config.reconnect.is_stable(up_since.elapsed()) {
            attempt = 0;
        }
        let servers = inner.config.servers.len();
        // Moving off a draining server: try the next one at once.
        let mut now = draining && servers > 1;
        live = loop {
            let delay = if std::mem::take(&mut now) {
                Some(std::time::Duration::ZERO)
            } else {
                inner.config.reconnect.delay_in_rotation(attempt, servers)
            };
            let Some(delay) = delay else {
                // Closed before anyone hears of it: a request made on
                // seeing GaveUp must fail as Closed, not ConnectionLost.
                inner.closed.cancel();
                inner.emit(ConnectionEvent::GaveUp);
                break 'connections;
            };
            attempt += 1;
            inner.emit(ConnectionEvent::Reconnecting { attempt, delay });
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = inner.closed.cancelled() => break 'connections,
            }
            match dial(&inner.config).await.map(|s| start(&inner, s)) {
                Ok(mut l) => {
                    if let Some(login) = l.take_login() {
                        let inner = inner.clone();
                        tokio::spawn(async move {
                            if let Err(e) = login.outcome(&inner).await {
                                warn!(error = %e, "login after reconnecting failed");
                            }
                        });
                    }
                    break l;
                }
                Err(e) => debug!(error = %e, attempt, "reconnect failed"),
            }
        };
        resubscribe(&inner, live.current.id);
    }
    inner.closed.cancel();
    drop_buffered(&inner);
    lock(&inner.pending).fail_all(|| ClientError::Closed);
    // Dropping the senders ends every subscription stream.
    *lock(&inner.topics) = Default::default();
    drop(dispatch);
    let _ = dispatcher.await;
    let _ = done.send(true);
}

/// Unsubscribes from every live topic on a connection being left, as
/// requests answered on it (their confirmations end its retirement).
fn leave_topics(inner: &Inner, current: &Current) {
    for (topic, _) in inner.active_topics() {
        let mut msg = Message::new(MessageType::UNSUBSCRIBE_URI, topic, Bytes::new());
        // Nobody awaits the answer: its arrival is what counts.
        let out = Outgoing::new(&mut msg, None, None).on(current.id);
        if let Ok(frame) = current.seal(inner, msg) {
            // Not queued (full): nothing is due, nothing to wait for.
            let _ = current.queue.push_marked(frame, out, Backpressure::Drop);
        }
    }
}

/// Fails what was sent on a connection that is gone, and what was queued
/// on it and never taken by its writer (stopped).
fn abandon(inner: &Inner, current: &Current, err: impl Fn() -> ClientError) {
    for out in current.queue.close_and_take_marks() {
        out.fail(err());
    }
    lock(&inner.pending).fail_connection(current.id, err);
}

/// Reads a connection the server asked us to leave until the replies due
/// on it have come (bounded by the request timeout: past it, they have
/// failed anyway), then closes it cleanly.
async fn retire(inner: Arc<Inner>, mut live: Live, dispatch: Dispatch) {
    let limit = inner.config.request_timeout;
    let reason = timeout(limit, read_loop(&inner, &mut live, &dispatch, true)).await;
    live.current.queue.close();
    if timeout(inner.config.write_timeout, &mut live.writer)
        .await
        .is_err()
    {
        live.writer.abort();
    }
    abandon(&inner, &live.current, || ClientError::ConnectionLost);
    debug!(?reason, "left a draining server");
}

/// Re-sends SUBSCRIBE_URI for every live topic, in the background so the
/// reader is not held up by the confirmations.
/// When done, says so for connection `id` (a connection being left is read
/// until then, so no notification falls between the two).
fn resubscribe(inner: &Arc<Inner>, id: u64) {
    let topics = inner.active_topics();
    if topics.is_empty() {
        inner.resubscribed.send_replace(id);
        return;
    }
    let client = Client {
        inner: inner.clone(),
    };
    tokio::spawn(async move {
        for (topic, how) in topics {
            let mut request = Message::new(MessageType::SUBSCRIBE_URI, topic.clone(), Bytes::new());
            match how {
                // Resumed from what was delivered: the server sends what
                // came after it (a server without a history ignores it).
                Resubscribe::From(Some(p)) => p.resume_from(&mut request),
                Resubscribe::From(None) => {}
                Resubscribe::Group(g) => crate::protocol::set_group(&mut request, &g),
            }
            if let Err(e) = client.call(request).await {
                warn!(?topic, error = %e, "resubscribe failed");
            }
        }
        client.inner.resubscribed.send_replace(id);
    });
}

fn reason_of(e: ReadError) -> DisconnectReason {
    match e {
        ReadError::Invalid(e) => DisconnectReason::InvalidFrame(e),
        ReadError::ClosedInFrame { pending } => DisconnectReason::ClosedInFrame { pending },
        ReadError::Io(e) => DisconnectReason::ReadFailed(e.kind()),
    }
}

/// Reads `live` until it ends, handing what arrives to the pipeline.
/// `retiring`: the server asked us to move and a new connection took over;
/// read only until the replies still due here have come and the new
/// connection has resubscribed (no keepalive, no second drain).
async fn read_loop(
    inner: &Arc<Inner>,
    live: &mut Live,
    dispatch: &Dispatch,
    retiring: bool,
) -> DisconnectReason {
    let pipeline = &inner.pipeline;
    let current = &live.current;
    let mut peer = pipeline.peer(Some(current.id), Some(current.peer), Some(current.session));
    let mut routes = inner.router.cache();
    // Not while retiring: the new connection keeps the server alive.
    let mut keepalive = (!retiring)
        .then_some(inner.config.keepalive)
        .flatten()
        .map(|k| Keepalive::new(k.interval, k.timeout, Instant::now().into_std()));
    let drained = std::cell::Cell::new(false);
    let mut resubscribed = inner.resubscribed.subscribe();
    // With one server there is nowhere to hand over to: leave as soon as
    // the replies due here have come.
    let mut handover =
        retiring.then(|| Handover::new(inner.config.handover, inner.config.servers.len() < 2));
    loop {
        loop {
            let decoded = match live.reader.buffered(pipeline.frame_for(&peer)) {
                Ok(Some(d)) => d,
                Ok(None) => break,
                Err(e) => return reason_of(e),
            };
            if let Some(k) = &mut keepalive {
                let ty = match &decoded {
                    Decoded::Frame(msg) => Some(msg.message_type),
                    Decoded::Damaged(_) => None,
                };
                k.handle_frame(Instant::now().into_std(), ty);
            }
            let msg = match decoded {
                Decoded::Frame(msg) => msg,
                Decoded::Damaged(e) => {
                    // netaio's client drops a damaged frame; so do we.
                    pipeline.damaged(&mut peer, &e);
                    continue;
                }
            };
            if !peer.has_peer_data() {
                peer.set_peer_data(current.peer_data.get().cloned());
            }
            let mut sink = Deliver {
                inner,
                current,
                routes: &mut routes,
                drained: &drained,
            };
            if let Step::Call(call) = pipeline.receive(&mut peer, msg, &mut sink) {
                // Queued past this frame: copied out of the read buffer.
                let job = (call.route.into_owned(), call.msg.detach(), call.reply_to);
                if dispatch.try_send(job).is_err() {
                    warn!("handler queue full: message dropped");
                }
            }
            if drained.get() && !retiring {
                return DisconnectReason::Draining;
            }
        }
        // Retiring: see proto/handover.rs for the rule.
        if let Some(h) = &mut handover {
            let now = Instant::now().into_std();
            if *resubscribed.borrow_and_update() > current.id {
                h.handle_resubscribed(now);
            }
            if h.poll_leave(now) {
                leave_topics(inner, current);
            }
            // Queued first: a request is in the queue or in the table then.
            let queued = current.queue.marks_due();
            if h.is_done(queued + lock(&inner.pending).on_connection(current.id)) {
                return DisconnectReason::Draining;
            }
        }
        let deadline = match &handover {
            Some(h) => h.poll_timeout(),
            None => keepalive.as_ref().map(Keepalive::poll_timeout),
        }
        .map(Instant::from_std);
        tokio::select! {
            _ = inner.closed.cancelled() => return DisconnectReason::Closed,
            _ = live.broken.cancelled() => return DisconnectReason::WriteFailed,
            _ = resubscribed.changed(), if retiring => {}
            r = live.reader.fill() => match r {
                Ok(true) => {}
                Ok(false) => return DisconnectReason::ClosedByServer,
                Err(e) => return reason_of(e),
            },
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                let Some(k) = &mut keepalive else {
                    continue; // the handover time is up: leave (above)
                };
                match k.handle_timeout(Instant::now().into_std()) {
                    Some(KeepaliveAction::Dead) => return DisconnectReason::KeepaliveTimeout,
                    Some(KeepaliveAction::Ping) => {
                        if let Ok(frame) = pipeline.seal(protocol::ping(), &peer.link()) {
                            current.push_control(frame);
                        }
                    }
                    None => {}
                }
            }
        }
    }
}
