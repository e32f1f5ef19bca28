//! The client: requests with typed replies, subscriptions as streams,
//! handlers for unsolicited messages, reconnection and keepalive.
//!
//! One [`Client`] talks to one server and runs one background task for it;
//! talk to several servers with several clients (they are cheap handles and
//! can share whatever state your handlers need).
//!
//! ```no_run
//! use framewire::client::Client;
//!
//! # #[tokio::main] async fn main() -> Result<(), framewire::client::ClientError> {
//! let client = Client::builder("127.0.0.1:8888").connect().await?;
//! let reply = client.request("echo", "hello").await?;
//! assert_eq!(&reply.content()[..], b"hello");
//!
//! let mut news = client.subscribe("news").await?;
//! while let Some(note) = news.next().await {
//!     println!("{:?}", note.content());
//! }
//! client.close().await;
//! # Ok(())
//! # }
//! ```

mod connection;
mod handler;
mod pending;
mod reconnect;
mod subscription;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;

use crate::auth::{AuthError, PluginLayer};
use crate::outbound::Outbound;
use crate::router::{RouteKey, Router};
use crate::wire::{
    self, EncodeError, FrameConfig, Message, MessageType, Profile, REQUEST_ID_FIELD,
};

pub use handler::ClientHandler;
pub use reconnect::Reconnect;
pub use subscription::Subscription;

use pending::Pending;
use subscription::Topics;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No reply within the timeout.
    #[error("no reply to {uri:?} within {after:?}")]
    Timeout {
        /// The request's uri (lossy UTF-8).
        uri: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The server answered NOT_FOUND.
    #[error("not found: {}", text(.0))]
    NotFound(Message),
    /// The server answered NOT_PERMITTED.
    #[error("not permitted: {}", text(.0))]
    NotPermitted(Message),
    /// The server answered AUTH_ERROR. `verified` is false when the reply
    /// itself failed this client's auth check (typically: the secrets
    /// differ, so the server's error could not be signed in a way this
    /// client accepts).
    #[error("authentication rejected by the server{}: {}", if *.verified { "" } else { " (reply unverified)" }, text(.message))]
    AuthRejected {
        /// The server's reply.
        message: Message,
        /// Whether the reply passed this client's auth check.
        verified: bool,
    },
    /// The server answered ERROR.
    #[error("server error: {}", text(.0))]
    Remote(Message),
    /// The connection was lost while the request was in flight, or there is
    /// no connection right now (reconnection may be under way).
    #[error("connection lost")]
    ConnectionLost,
    /// The client was closed.
    #[error("client closed")]
    Closed,
    /// Connecting failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The message cannot be framed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A plugin could not sign or encrypt the message.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

fn text(m: &Message) -> String {
    String::from_utf8_lossy(m.content()).into_owned()
}

impl ClientError {
    /// Whether no reply came in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Timeout { .. })
    }

    /// Whether the server said NOT_FOUND.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::NotFound(_))
    }

    /// Whether the server refused authentication.
    pub fn is_auth_rejected(&self) -> bool {
        matches!(self, ClientError::AuthRejected { .. })
    }

    /// Whether the connection went away (or was never there).
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            ClientError::ConnectionLost | ClientError::Connect { .. }
        )
    }

    /// The server's reply, for the error kinds that carry one.
    pub fn reply(&self) -> Option<&Message> {
        match self {
            ClientError::NotFound(m)
            | ClientError::NotPermitted(m)
            | ClientError::Remote(m)
            | ClientError::AuthRejected { message: m, .. } => Some(m),
            _ => None,
        }
    }
}

/// What happened to the connection; see [`Client::events`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// Connected (or reconnected) to the server.
    Connected(SocketAddr),
    /// The connection ended; requests in flight failed with
    /// [`ClientError::ConnectionLost`].
    Disconnected {
        /// Why, for people.
        reason: String,
    },
    /// Waiting `delay` before reconnection attempt `attempt` (1-based).
    Reconnecting {
        /// Attempt number.
        attempt: u32,
        /// Delay before it.
        delay: Duration,
    },
    /// The reconnect policy gave up (or is disabled); the client is closed.
    GaveUp,
}

/// Application-level keepalive: when nothing has arrived for `interval`, the
/// client sends a ping (which framewire servers answer, and netaio servers
/// answer with NOT_FOUND — any frame will do); if nothing arrives within
/// `timeout` after it, the server is declared dead and the client
/// reconnects. A dead or half-open server is detected within
/// `interval + timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Quiet time before a ping.
    pub interval: Duration,
    /// Time to wait for any frame after the ping.
    pub timeout: Duration,
}

impl Default for Keepalive {
    /// 15 s quiet, then 10 s to answer: a dead server is found within 25 s.
    fn default() -> Self {
        Keepalive {
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Uri of the keepalive ping (a REQUEST_URI). framewire servers answer it
/// with RESPOND_URI before routing; netaio servers route it like any
/// request (usually to NOT_FOUND), which is just as good a sign of life.
pub const PING_URI: &str = "\0framewire/ping";

/// Settings shared by the client's tasks.
pub(crate) struct Config {
    addr: String,
    frame: FrameConfig,
    layer: PluginLayer,
    request_timeout: Duration,
    reconnect: Reconnect,
    keepalive: Option<Keepalive>,
    connect_timeout: Duration,
    write_timeout: Duration,
    max_queued_frames: usize,
    max_queued_bytes: usize,
    subscription_buffer: usize,
}

pub(crate) struct Inner {
    config: Config,
    router: Router<Arc<dyn ClientHandler>>,
    pending: Mutex<Pending>,
    topics: Mutex<Topics>,
    /// The live connection's queue, if connected.
    outbound: Mutex<Option<Arc<Outbound>>>,
    peer: Mutex<Option<SocketAddr>>,
    events: broadcast::Sender<ConnectionEvent>,
    next_id: AtomicU64,
    /// Held from choosing a request id to queueing its frame.
    send_order: tokio::sync::Mutex<()>,
    closed: CancellationToken,
    /// Fires when the background task has finished.
    done: tokio::sync::watch::Receiver<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Critical sections are single map or option updates: the data stays
    // consistent even if a panic poisoned the lock.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn seal_and_encode(&self, msg: Message) -> Result<Bytes, ClientError> {
        let msg = self.config.layer.seal(msg)?;
        let mut buf = BytesMut::new();
        wire::encode_frame(&msg, &self.config.frame, &mut buf)?;
        Ok(buf.freeze())
    }

    async fn send_frame(&self, frame: Bytes) -> Result<(), ClientError> {
        if self.closed.is_cancelled() {
            return Err(ClientError::Closed);
        }
        let queue = lock(&self.outbound)
            .clone()
            .ok_or(ClientError::ConnectionLost)?;
        queue
            .push(frame)
            .await
            .map_err(|_| ClientError::ConnectionLost)
    }

    fn emit(&self, event: ConnectionEvent) {
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(event);
    }
}

/// A connection to one framewire or netaio server. Cheap to clone; all
/// clones share the connection and its background task.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    config: Config,
    router: Router<Arc<dyn ClientHandler>>,
    events: broadcast::Sender<ConnectionEvent>,
}

impl ClientBuilder {
    /// Frame profile (default `netaio`); must match the server's.
    pub fn profile(mut self, profile: Profile) -> Self {
        let max = self.config.frame.get_max_frame_len();
        let default = self.config.frame.profile().default_max_frame_len();
        self.config.frame = FrameConfig::new(profile);
        if max != default {
            self.config.frame = self.config.frame.max_frame_len(max);
        }
        self
    }

    /// Largest frame accepted from the server.
    pub fn max_frame_len(mut self, n: usize) -> Self {
        self.config.frame = self.config.frame.max_frame_len(n);
        self
    }

    /// Auth and cipher plugins for everything sent and received.
    pub fn plugins(mut self, layer: PluginLayer) -> Self {
        self.config.layer = layer;
        self
    }

    /// Default timeout of [`Client::request`] and friends (default 10 s,
    /// as netaio).
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.config.request_timeout = d;
        self
    }

    /// Time allowed for each TCP connect (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }

    /// Reconnection policy (default: [`Reconnect::default`]).
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.config.reconnect = policy;
        self
    }

    /// Keepalive (default: [`Keepalive::default`]); `None` turns it off.
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.config.keepalive = keepalive;
        self
    }

    /// Notifications buffered per subscription before new ones are dropped
    /// (default 1 024).
    pub fn subscription_buffer(mut self, n: usize) -> Self {
        self.config.subscription_buffer = n.max(1);
        self
    }

    /// Handles unsolicited messages matching `key` (keyed like the
    /// server's routes; the peer in a `TypeUriPeer` key is the server's
    /// address). Handlers run in order on their own task, never blocking
    /// the reader; a returned message is sent to the server.
    pub fn on(self, key: impl Into<RouteKey>, handler: impl ClientHandler) -> Self {
        self.router.on(key.into(), Arc::new(handler));
        self
    }

    /// Like [`on`](Self::on), for the next matching message only.
    pub fn once(self, key: impl Into<RouteKey>, handler: impl ClientHandler) -> Self {
        self.router.once(key.into(), Arc::new(handler));
        self
    }

    /// Connection events from the very first connection on; see
    /// [`Client::events`], which only sees events after it is called.
    pub fn events(&self) -> broadcast::Receiver<ConnectionEvent> {
        self.events.subscribe()
    }

    /// Connects (the first attempt must succeed) and starts the background
    /// task.
    pub async fn connect(self) -> Result<Client, ClientError> {
        let stream = connection::dial(&self.config).await?;
        let events = self.events;
        let (done_tx, done) = tokio::sync::watch::channel(false);
        let inner = Arc::new(Inner {
            config: self.config,
            router: self.router,
            pending: Mutex::new(Pending::default()),
            topics: Mutex::new(Topics::default()),
            outbound: Mutex::new(None),
            peer: Mutex::new(None),
            events,
            next_id: AtomicU64::new(1),
            send_order: tokio::sync::Mutex::new(()),
            closed: CancellationToken::new(),
            done,
        });
        let ready = connection::start(&inner, stream)?;
        tokio::spawn(connection::run(inner.clone(), ready, done_tx));
        Ok(Client { inner })
    }
}

impl Client {
    /// A builder for a client of the server at `addr` (`host:port`).
    pub fn builder(addr: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            config: Config {
                addr: addr.into(),
                frame: FrameConfig::new(Profile::Netaio),
                layer: PluginLayer::new(),
                request_timeout: Duration::from_secs(10),
                reconnect: Reconnect::default(),
                keepalive: Some(Keepalive::default()),
                connect_timeout: Duration::from_secs(10),
                write_timeout: Duration::from_secs(30),
                max_queued_frames: 4096,
                max_queued_bytes: 16 * 1024 * 1024,
                subscription_buffer: 1024,
            },
            router: Router::new(),
            events: broadcast::channel(64).0,
        }
    }

    /// Sends `msg` through the plugins, without waiting for any reply.
    pub async fn send(&self, msg: Message) -> Result<(), ClientError> {
        let frame = self.inner.seal_and_encode(msg)?;
        self.inner.send_frame(frame).await
    }

    /// REQUEST_URI `uri` with `content`; the RESPOND_URI reply, or a typed
    /// error for NOT_FOUND, ERROR, AUTH_ERROR, NOT_PERMITTED, timeout and
    /// connection loss.
    pub async fn request(
        &self,
        uri: impl Into<Bytes>,
        content: impl Into<Bytes>,
    ) -> Result<Message, ClientError> {
        self.call(MessageType::REQUEST_URI, uri, content, None)
            .await
    }

    /// CREATE_URI; the OK reply.
    pub async fn create(
        &self,
        uri: impl Into<Bytes>,
        data: impl Into<Bytes>,
    ) -> Result<Message, ClientError> {
        self.call(MessageType::CREATE_URI, uri, data, None).await
    }

    /// UPDATE_URI; the OK reply.
    pub async fn update(
        &self,
        uri: impl Into<Bytes>,
        data: impl Into<Bytes>,
    ) -> Result<Message, ClientError> {
        self.call(MessageType::UPDATE_URI, uri, data, None).await
    }

    /// DELETE_URI; the OK reply.
    pub async fn delete(&self, uri: impl Into<Bytes>) -> Result<Message, ClientError> {
        self.call(MessageType::DELETE_URI, uri, Bytes::new(), None)
            .await
    }

    /// Sends a `message_type` request and waits for its reply (`timeout`:
    /// `None` = the client's default).
    ///
    /// Matching: the request carries an id (auth field `rid`) that
    /// framewire servers echo, so any number of requests, to any uris, can
    /// be in flight and answered in any order. netaio servers do not echo
    /// it; their replies are matched as netaio does — by reply type and
    /// identical uri — to the *oldest* waiting request, which is correct
    /// because a netaio server answers one connection's requests in order.
    /// A netaio reply that never comes (e.g. one a server drops) can then
    /// shift later replies of the same uri onto the wrong request until the
    /// timeout clears it: a limit of netaio's protocol.
    pub async fn call(
        &self,
        message_type: MessageType,
        uri: impl Into<Bytes>,
        content: impl Into<Bytes>,
        timeout: Option<Duration>,
    ) -> Result<Message, ClientError> {
        let reply = self
            .call_raw(message_type, uri.into(), content.into(), timeout)
            .await?;
        classify(reply)
    }

    async fn call_raw(
        &self,
        message_type: MessageType,
        uri: Bytes,
        content: Bytes,
        timeout: Option<Duration>,
    ) -> Result<Message, ClientError> {
        let inner = &self.inner;
        // Ids must follow the order frames reach the wire: without an
        // echoed id, a reply goes to the oldest waiting request, which is
        // only right if "oldest id" means "sent first".
        let send_order = inner.send_order.lock().await;
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = Message::new(message_type, uri.clone(), content);
        msg.auth.insert(REQUEST_ID_FIELD, id.to_be_bytes());
        let frame = inner.seal_and_encode(msg)?;
        let (tx, rx) = oneshot::channel();
        lock(&inner.pending).insert(id, message_type, uri.clone(), tx);
        // Removes the waiter however this future ends (timeout, error,
        // or the caller dropping it).
        struct Forget<'a>(&'a Inner, u64);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                lock(&self.0.pending).remove(self.1);
            }
        }
        let _forget = Forget(inner, id);
        inner.send_frame(frame).await?;
        drop(send_order);
        let after = timeout.unwrap_or(inner.config.request_timeout);
        match tokio::time::timeout(after, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::ConnectionLost),
            Err(_) => Err(ClientError::Timeout {
                uri: String::from_utf8_lossy(&uri).into_owned(),
                after,
            }),
        }
    }

    /// Subscribes to `topic` (SUBSCRIBE_URI, confirmed by
    /// CONFIRM_SUBSCRIBE) and returns the stream of its NOTIFY_URI
    /// messages. Dropping the stream unsubscribes (once no other stream
    /// for the topic is left). Subscriptions are re-sent after a reconnect.
    pub async fn subscribe(&self, topic: impl Into<Bytes>) -> Result<Subscription, ClientError> {
        let topic = topic.into();
        let (sub, first) = {
            let mut topics = lock(&self.inner.topics);
            topics.add(
                topic.clone(),
                self.inner.config.subscription_buffer,
                Arc::downgrade(&self.inner),
            )
        };
        if first {
            let reply = self
                .call_raw(
                    MessageType::SUBSCRIBE_URI,
                    topic.clone(),
                    Bytes::new(),
                    None,
                )
                .await
                .and_then(classify);
            if let Err(e) = reply {
                // The stream was never confirmed: forget it quietly.
                sub.forget();
                return Err(e);
            }
        }
        Ok(sub)
    }

    /// Connection events (connected, disconnected, reconnecting, gave up).
    pub fn events(&self) -> broadcast::Receiver<ConnectionEvent> {
        self.inner.events.subscribe()
    }

    /// Whether a connection is up right now.
    pub fn is_connected(&self) -> bool {
        lock(&self.inner.outbound).is_some()
    }

    /// The server's address, while connected.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        *lock(&self.inner.peer)
    }

    /// Requests waiting for a reply.
    pub fn pending_requests(&self) -> usize {
        lock(&self.inner.pending).len()
    }

    /// Sends what is queued, shuts the socket down cleanly and stops the
    /// background task. Requests still waiting fail with
    /// [`ClientError::Closed`].
    pub async fn close(&self) {
        self.inner.closed.cancel();
        let mut done = self.inner.done.clone();
        // Bounded: the writer's own stall limit ends a stuck flush.
        let _ = tokio::time::timeout(
            self.inner.config.write_timeout + Duration::from_secs(1),
            done.wait_for(|d| *d),
        )
        .await;
    }
}

/// Turns error replies into typed errors.
fn classify(reply: Message) -> Result<Message, ClientError> {
    match reply.message_type {
        MessageType::NOT_FOUND => Err(ClientError::NotFound(reply)),
        MessageType::NOT_PERMITTED => Err(ClientError::NotPermitted(reply)),
        MessageType::AUTH_ERROR => Err(ClientError::AuthRejected {
            message: reply,
            verified: true,
        }),
        MessageType::ERROR => Err(ClientError::Remote(reply)),
        _ => Ok(reply),
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.inner.config.addr)
            .field("connected", &self.is_connected())
            .finish()
    }
}

/// Topics with live subscriptions, for resubscribing after a reconnect.
pub(crate) fn active_topics(inner: &Inner) -> Vec<Bytes> {
    lock(&inner.topics).topics()
}
