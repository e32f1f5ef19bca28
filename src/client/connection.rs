//! The client's background task: one connection at a time (reader,
//! writer, keepalive), reconnection with backoff, and the handler
//! dispatcher. I/O, timers and tasks only: what a received frame means is
//! the pipeline's.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::auth::PluginLayer;
use crate::handler::catch_panics;
use crate::io::outbound::{write_loop, Outbound};
use crate::io::reader::{Decoded, FrameReader, ReadError};
use crate::pipeline::{self, ReplyTo, Sink, Step};
use crate::protocol::{self, SessionId};
use crate::router::RouteCache;
use crate::sync::lock;
use crate::transport::{ReadHalf, Stream};
use crate::wire::{Message, MessageType};

use super::config::Config;
use super::{
    Client, ClientError, ClientHandler, ConnectionEvent, Current, DisconnectReason, Inner,
};

type Handler = Arc<dyn ClientHandler>;

impl pipeline::Route for Handler {
    fn layer(&self) -> Option<&PluginLayer> {
        None
    }
}

/// Unsolicited messages waiting for their handler.
type Dispatch = mpsc::Sender<(Handler, Message, ReplyTo)>;

const DISPATCH_QUEUE: usize = 1024;

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

/// A login message sent on a new connection, and how its answer arrives.
pub(super) struct Login {
    seq: u64,
    reply: tokio::sync::oneshot::Receiver<Result<Message, ClientError>>,
}

impl Login {
    /// Queues the login message on `current` (before it is published, so
    /// nothing can go out ahead of it) and registers its waiter.
    fn send(inner: &Inner, current: &Current, content: Bytes) -> Option<Login> {
        let mut msg = protocol::login(content);
        let (tx, reply) = tokio::sync::oneshot::channel();
        let (seq, rid) = lock(&inner.pending).insert(
            MessageType::REQUEST_URI,
            Bytes::from_static(protocol::LOGIN_URI.as_bytes()),
            tx,
        );
        rid.attach(&mut msg);
        let sent = current
            .seal(inner, msg)
            .ok()
            .and_then(|frame| current.queue.try_push(frame).ok());
        if sent.is_none() {
            lock(&inner.pending).remove(seq);
            return None;
        }
        Some(Login { seq, reply })
    }

    /// The server's answer: OK, or the refusal as an error.
    pub(super) async fn outcome(self, inner: &Inner) -> Result<(), ClientError> {
        let timeout = inner.config.request_timeout;
        let answer = tokio::time::timeout(timeout, self.reply).await;
        lock(&inner.pending).remove(self.seq);
        match answer {
            Ok(Ok(result)) => ClientError::classify(result?).map(drop),
            Ok(Err(_)) => Err(ClientError::ConnectionLost),
            Err(_) => Err(ClientError::Timeout {
                uri: protocol::LOGIN_URI.to_owned(),
                after: timeout,
            }),
        }
    }
}

impl Live {
    pub(super) fn take_login(&mut self) -> Option<Login> {
        self.login.take()
    }
}

/// Dials through the configured connector, within the connect timeout.
pub(super) async fn dial(config: &Config) -> Result<Stream, ClientError> {
    let err = |source| ClientError::Connect {
        addr: config.addr.clone(),
        source,
    };
    timeout(
        config.connect_timeout,
        config.connector.connect(&config.addr),
    )
    .await
    .map_err(|_| err(std::io::ErrorKind::TimedOut.into()))?
    .map_err(err)
}

/// Makes `stream` the client's connection: starts its writer and publishes
/// its queue.
pub(super) fn start(inner: &Arc<Inner>, stream: Stream) -> Live {
    let peer = stream.peer();
    let (reader, wr) = stream.split();
    let queue = Arc::new(Outbound::new(
        inner.config.max_queued_frames,
        inner.config.max_queued_bytes,
    ));
    let broken = CancellationToken::new();
    let writer = {
        let (queue, broken, limit) = (queue.clone(), broken.clone(), inner.config.write_timeout);
        tokio::spawn(async move {
            if let Err(e) = write_loop(&queue, wr, limit, |_| {}).await {
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
    });
    let login = inner
        .config
        .login
        .clone()
        .and_then(|content| Login::send(inner, &current, content));
    *lock(&inner.current) = Some(current.clone());
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

pub(super) async fn run(inner: Arc<Inner>, mut live: Live, done: watch::Sender<bool>) {
    let (dispatch, rx) = mpsc::channel(DISPATCH_QUEUE);
    let dispatcher = tokio::spawn(dispatcher(inner.clone(), rx));
    // Failed attempts in a row; only a connection that stayed up resets it.
    let mut attempt = 0u32;
    'connections: loop {
        let up_since = Instant::now();
        let reason = read_loop(&inner, &mut live, &dispatch).await;
        *lock(&inner.current) = None;
        live.current.queue.close();
        if inner.closed.is_cancelled() {
            // close(): let the writer send what is queued and shut the
            // socket down (its own stall limit bounds this).
            let _ = (&mut live.writer).await;
            break;
        }
        live.writer.abort();
        lock(&inner.pending).fail_all(|| ClientError::ConnectionLost);
        info!(%reason, "disconnected");
        inner.emit(ConnectionEvent::Disconnected { reason });

        if inner.config.reconnect.is_stable(up_since.elapsed()) {
            attempt = 0;
        }
        live = loop {
            let Some(delay) = inner.config.reconnect.delay_for_attempt(attempt) else {
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
        resubscribe(&inner);
    }
    inner.closed.cancel();
    lock(&inner.pending).fail_all(|| ClientError::Closed);
    // Dropping the senders ends every subscription stream.
    *lock(&inner.topics) = Default::default();
    drop(dispatch);
    let _ = dispatcher.await;
    let _ = done.send(true);
}

/// Re-sends SUBSCRIBE_URI for every live topic, in the background so the
/// reader is not held up by the confirmations.
fn resubscribe(inner: &Arc<Inner>) {
    let topics = inner.active_topics();
    if topics.is_empty() {
        return;
    }
    let client = Client {
        inner: inner.clone(),
    };
    tokio::spawn(async move {
        for topic in topics {
            let request = Message::new(MessageType::SUBSCRIBE_URI, topic.clone(), Bytes::new());
            if let Err(e) = client.call(request).await {
                warn!(?topic, error = %e, "resubscribe failed");
            }
        }
    });
}

/// The client's side of the pipeline: replies go to their waiting
/// requests, notifications to the subscription streams, and what handlers
/// want to the dispatcher.
struct Deliver<'a> {
    inner: &'a Inner,
    routes: &'a mut RouteCache<Handler>,
    peer: SocketAddr,
}

impl Sink for Deliver<'_> {
    type Route = Handler;

    fn offer(&mut self, msg: Message) -> Option<Message> {
        let msg = lock(&self.inner.pending).complete(msg)?;
        if msg.message_type == MessageType::NOTIFY_URI {
            lock(&self.inner.topics).deliver(&msg);
        }
        Some(msg)
    }

    fn route(&mut self, msg: &Message) -> Option<Cow<'_, Handler>> {
        self.inner.router.lookup_cached(self.routes, msg, self.peer)
    }

    fn unverified_error(&mut self, msg: Message) -> bool {
        lock(&self.inner.pending).fail_unverified(msg)
    }
}

fn reason_of(e: ReadError) -> DisconnectReason {
    match e {
        ReadError::Invalid(e) => DisconnectReason::InvalidFrame(e),
        ReadError::ClosedInFrame { pending } => DisconnectReason::ClosedInFrame { pending },
        ReadError::Io(e) => DisconnectReason::ReadFailed(e.kind()),
    }
}

async fn read_loop(inner: &Arc<Inner>, live: &mut Live, dispatch: &Dispatch) -> DisconnectReason {
    let pipeline = &inner.pipeline;
    let current = &live.current;
    let mut peer = pipeline.peer(Some(current.id), Some(current.peer), Some(current.session));
    let mut routes = inner.router.cache();
    let mut last_rx = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    loop {
        loop {
            let decoded = match live.reader.buffered(pipeline.frame_for(&peer)) {
                Ok(Some(d)) => d,
                Ok(None) => break,
                Err(e) => return reason_of(e),
            };
            last_rx = Instant::now();
            ping_sent = None;
            let msg = match decoded {
                Decoded::Frame(msg) => msg,
                Decoded::Damaged(e) => {
                    // netaio's client drops a damaged frame; so do we.
                    pipeline.damaged(&mut peer, &e);
                    continue;
                }
            };
            let mut sink = Deliver {
                inner,
                routes: &mut routes,
                peer: current.peer,
            };
            if let Step::Call(call) = pipeline.receive(&mut peer, msg, &mut sink) {
                // Queued past this frame: copied out of the read buffer.
                let job = (call.route.into_owned(), call.msg.detach(), call.reply_to);
                if dispatch.try_send(job).is_err() {
                    warn!("handler queue full: message dropped");
                }
            }
        }
        let deadline = inner.config.keepalive.map(|k| match ping_sent {
            None => last_rx + k.interval,
            Some(t) => t + k.timeout,
        });
        tokio::select! {
            _ = inner.closed.cancelled() => return DisconnectReason::Closed,
            _ = live.broken.cancelled() => return DisconnectReason::WriteFailed,
            r = live.reader.fill() => match r {
                Ok(true) => {}
                Ok(false) => return DisconnectReason::ClosedByServer,
                Err(e) => return reason_of(e),
            },
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                if ping_sent.is_some() {
                    return DisconnectReason::KeepaliveTimeout;
                }
                if let Ok(frame) = pipeline.seal(protocol::ping(), &peer.link()) {
                    let _ = current.queue.try_push(frame);
                }
                ping_sent = Some(Instant::now());
            }
        }
    }
}

/// Runs handlers one at a time, in arrival order, off the reader's task;
/// sends what they return.
async fn dispatcher(inner: Arc<Inner>, mut rx: mpsc::Receiver<(Handler, Message, ReplyTo)>) {
    let mut scratch = BytesMut::new();
    while let Some((handler, msg, reply_to)) = rx.recv().await {
        let client = Client {
            inner: inner.clone(),
        };
        let result = catch_panics(|| handler.call(msg, client)).await;
        let current = match inner.current() {
            Ok(c) => c,
            Err(e) => {
                debug!(error = %e, "handler reply not sent");
                continue;
            }
        };
        let outcome =
            inner
                .pipeline
                .respond(reply_to, None, &current.link(&inner), result, &mut scratch);
        if let Some(frame) = outcome.send {
            if let Err(e) = current.push(frame).await {
                debug!(error = %e, "handler reply not sent");
            }
        }
    }
}
