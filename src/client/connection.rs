//! The client's background task: one connection at a time (reader,
//! writer, keepalive), reconnection with backoff, and the handler
//! dispatcher.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::auth::Layer;
use crate::outbound::{write_loop, Outbound};
use crate::server::{catch_panics, panic_text};
use crate::wire::{self, Message, MessageType};

use super::{
    active_topics, lock, Client, ClientError, ClientHandler, Config, ConnectionEvent, Inner,
    PING_URI,
};

/// Unsolicited messages waiting for their handler.
type Dispatch = mpsc::Sender<(Arc<dyn ClientHandler>, Message)>;

const DISPATCH_QUEUE: usize = 1024;

/// One live connection.
pub(super) struct Live {
    reader: OwnedReadHalf,
    queue: Arc<Outbound>,
    writer: JoinHandle<()>,
    /// Cancelled by the writer when a write fails or stalls.
    broken: CancellationToken,
    peer: SocketAddr,
}

pub(super) async fn dial(config: &Config) -> Result<TcpStream, ClientError> {
    let err = |source| ClientError::Connect {
        addr: config.addr.clone(),
        source,
    };
    let stream = timeout(config.connect_timeout, TcpStream::connect(&config.addr))
        .await
        .map_err(|_| err(std::io::ErrorKind::TimedOut.into()))?
        .map_err(err)?;
    let _ = stream.set_nodelay(true);
    if let Some(k) = config.keepalive {
        // TCP keepalive as a second line behind the application ping.
        let ka = socket2::TcpKeepalive::new()
            .with_time(k.interval)
            .with_interval(k.timeout);
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&ka);
    }
    Ok(stream)
}

/// Makes `stream` the client's connection: starts its writer and publishes
/// its queue.
pub(super) fn start(inner: &Arc<Inner>, stream: TcpStream) -> Result<Live, ClientError> {
    let peer = stream.peer_addr().map_err(|source| ClientError::Connect {
        addr: inner.config.addr.clone(),
        source,
    })?;
    let (reader, wr) = stream.into_split();
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
    *lock(&inner.outbound) = Some(queue.clone());
    *lock(&inner.peer) = Some(peer);
    info!(%peer, "connected");
    inner.emit(ConnectionEvent::Connected(peer));
    Ok(Live {
        reader,
        queue,
        writer,
        broken,
        peer,
    })
}

pub(super) async fn run(inner: Arc<Inner>, mut live: Live, done: watch::Sender<bool>) {
    let (dispatch, rx) = mpsc::channel(DISPATCH_QUEUE);
    let dispatcher = tokio::spawn(dispatcher(inner.clone(), rx));
    // Failed attempts in a row; only a connection that stayed up resets it.
    let mut attempt = 0u32;
    'connections: loop {
        let up_since = Instant::now();
        let reason = read_loop(&inner, &mut live, &dispatch).await;
        *lock(&inner.outbound) = None;
        *lock(&inner.peer) = None;
        live.queue.close();
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
            match dial(&inner.config).await.and_then(|s| start(&inner, s)) {
                Ok(l) => break l,
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
    let topics = active_topics(inner);
    if topics.is_empty() {
        return;
    }
    let client = Client {
        inner: inner.clone(),
    };
    tokio::spawn(async move {
        for topic in topics {
            let r = client
                .call(
                    MessageType::SUBSCRIBE_URI,
                    topic.clone(),
                    bytes::Bytes::new(),
                    None,
                )
                .await;
            if let Err(e) = r {
                warn!(?topic, error = %e, "resubscribe failed");
            }
        }
    });
}

async fn read_loop(inner: &Arc<Inner>, live: &mut Live, dispatch: &Dispatch) -> String {
    let cfg = inner.config.frame;
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut last_rx = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    loop {
        loop {
            match wire::decode_frame(&mut buf, &cfg) {
                Ok(Some(msg)) => {
                    last_rx = Instant::now();
                    ping_sent = None;
                    on_message(inner, live.peer, msg, dispatch);
                }
                Ok(None) => break,
                // netaio's client drops a damaged frame; so do we.
                Err(e) if e.is_recoverable() => debug!(error = %e, "dropped a damaged frame"),
                Err(e) => return format!("invalid frame from the server: {e}"),
            }
        }
        let deadline = inner.config.keepalive.map(|k| match ping_sent {
            None => last_rx + k.interval,
            Some(t) => t + k.timeout,
        });
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(8192);
        }
        tokio::select! {
            _ = inner.closed.cancelled() => return "closed".into(),
            _ = live.broken.cancelled() => return "write failed".into(),
            r = live.reader.read_buf(&mut buf) => match r {
                Ok(0) => return "the server closed the connection".into(),
                Ok(_) => {}
                Err(e) => return format!("read failed: {e}"),
            },
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                if ping_sent.is_some() {
                    return "keepalive: the server did not answer".into();
                }
                let ping = Message::new(MessageType::REQUEST_URI, PING_URI, "");
                if let Ok(frame) = inner.seal_and_encode(ping) {
                    let _ = live.queue.try_push(frame);
                }
                ping_sent = Some(Instant::now());
            }
        }
    }
}

/// Plugins, then: the reply to a waiting request, a notification for the
/// subscription streams, and/or a message for a handler.
fn on_message(inner: &Arc<Inner>, peer: SocketAddr, msg: Message, dispatch: &Dispatch) {
    let unverified_error = msg.message_type == MessageType::AUTH_ERROR;
    let original = unverified_error.then(|| msg.clone());
    let msg = match inner.config.layer.open(msg, Layer::Instance) {
        Ok(m) => m,
        Err(rejection) => {
            // An AUTH_ERROR the server could not sign for us: we hold a
            // different secret. Report it to the request instead of letting
            // it time out.
            if let Some(original) = original {
                if lock(&inner.pending).fail_unverified(original) {
                    return;
                }
            }
            debug!(error = ?rejection.error, "dropped a message that failed the plugins");
            return;
        }
    };
    if msg.message_type == MessageType::RESPOND_URI && &msg.body.uri[..] == PING_URI.as_bytes() {
        return;
    }
    let Some(msg) = lock(&inner.pending).complete(msg) else {
        return;
    };
    if msg.message_type == MessageType::NOTIFY_URI {
        lock(&inner.topics).deliver(&msg);
    }
    if let Some(handler) = inner.router.lookup(&msg, peer) {
        if dispatch.try_send((handler, msg)).is_err() {
            warn!("handler queue full: message dropped");
        }
    }
}

/// Runs handlers one at a time, in arrival order, off the reader's task;
/// sends what they return.
async fn dispatcher(inner: Arc<Inner>, mut rx: mpsc::Receiver<(Arc<dyn ClientHandler>, Message)>) {
    while let Some((handler, msg)) = rx.recv().await {
        let client = Client {
            inner: inner.clone(),
        };
        let uri = msg.body.uri.clone();
        let reply = match catch_panics(|| handler.call(msg, client.clone())).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                warn!(error = %e, ?uri, "client handler failed");
                None
            }
            Err(panic) => {
                warn!(panic = panic_text(&*panic), ?uri, "client handler panicked");
                None
            }
        };
        if let Some(reply) = reply {
            if let Err(e) = client.send(reply).await {
                debug!(error = %e, "handler reply not sent");
            }
        }
    }
}
