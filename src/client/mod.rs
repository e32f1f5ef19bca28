//! The client: requests with typed replies, subscriptions as streams,
//! handlers for unsolicited messages, reconnection and keepalive.
//!
//! This module owns the client side of a connection — dialing, the
//! background task, waiting requests, subscription streams — and the
//! client's public API. What a received message means is the shared
//! pipeline (`src/pipeline/`)'s; the client imports nothing from
//! `server/`.
//!
//! One [`Client`] talks to one server at a time and runs one background
//! task for it. Give it several instances of one service and it fails over
//! between them (and moves off one that shuts down gracefully); talk to
//! different services with several clients (they are cheap handles and can
//! share whatever state your handlers need).
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

mod builder;
mod config;
mod connection;
mod deliver;
mod error;
mod handler;
mod login;
mod offline;
mod outlet;
mod peers;
mod pending;
mod recent;
mod reconnect;
mod servers;
mod subscription;
/// A client is a [`tower::Service`] of requests (feature `tower`): each
/// call is [`Client::call`], so tower's layers (timeout, retry,
/// concurrency and rate limits, load shedding) wrap it as they wrap any
/// service. Always ready: the client bounds what waits itself
/// ([`ClientBuilder::max_pending_requests`]).
///
/// ```no_run
/// # async fn demo(client: framewire::client::Client) -> Result<(), tower::BoxError> {
/// use std::time::Duration;
/// use tower::{Service, ServiceBuilder, ServiceExt};
/// use framewire::{Message, MessageType};
///
/// let mut svc = ServiceBuilder::new()
///     .concurrency_limit(16)
///     .timeout(Duration::from_secs(1))
///     .service(client);
/// let reply = svc.ready().await?.call(Message::new(MessageType::REQUEST_URI, "echo", "hi")).await?;
/// # drop(reply); Ok(()) }
/// ```
#[cfg(feature = "tower")]
impl tower::Service<Message> for Client {
    type Response = Message;
    type Error = ClientError;
    type Future = crate::handler::BoxFuture<Result<Message, ClientError>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), ClientError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, msg: Message) -> Self::Future {
        let client = self.clone();
        Box::pin(async move { client.call(msg).await })
    }
}

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;

use crate::auth::PluginLayer;
use crate::proto::pipeline::Pipeline;
use crate::router::Router;
use crate::sync::lock;
use crate::wire::{Message, MessageType};

pub use builder::ClientBuilder;
pub use config::{Keepalive, BYTES_PER_PENDING_REQUEST, DEFAULT_MAX_PENDING_REQUESTS};
pub use error::{ClientError, DisconnectReason};
pub use handler::ClientHandler;
pub use offline::OfflineBuffer;
pub use reconnect::Reconnect;
pub use servers::IntoServers;
pub use subscription::Subscription;

use config::Config;
use outlet::{Current, Outlet};
use pending::{Budget, Outgoing, Pending, Waiting};
use subscription::Topics;

/// What happened to the connection; see [`Client::events`].
///
/// ```
/// use framewire::client::{ConnectionEvent, DisconnectReason};
///
/// let e = ConnectionEvent::Disconnected { reason: DisconnectReason::ClosedByServer };
/// assert_ne!(e, ConnectionEvent::GaveUp);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// Connected (or reconnected) to the server.
    Connected(SocketAddr),
    /// The connection ended; requests in flight failed with
    /// [`ClientError::ConnectionLost`].
    Disconnected {
        /// Why.
        reason: DisconnectReason,
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
    /// `messages` [`send`](Client::send)s kept while disconnected were
    /// not sent: older than [`OfflineBuffer::max_age`] when a connection
    /// came, or the client closed first.
    OfflineDropped {
        /// How many.
        messages: u64,
    },
    /// Resuming `topic` after a reconnect, the server's history no longer
    /// held everything this client missed: `lost` notifications (`None`:
    /// the server could not tell — another instance, or it restarted —
    /// and what it still held did not overlap what was delivered).
    /// Only with a server that keeps a topic history
    /// ([`ServerBuilder::history`](crate::server::ServerBuilder::history)).
    Gap {
        /// The topic.
        topic: Bytes,
        /// How many notifications were lost, if known.
        lost: Option<u64>,
    },
}

pub(crate) struct Inner {
    config: Config,
    pipeline: Pipeline,
    router: Router<Arc<dyn ClientHandler>>,
    /// Requests recorded by the writer as it sent them (see pending.rs).
    pending: Mutex<Pending>,
    /// The bound on waiting requests.
    budget: Budget,
    topics: Mutex<Topics>,
    /// Where messages go out: the connection, or the offline buffer.
    outlet: Mutex<Outlet>,
    /// Sends from the offline buffer never sent.
    offline_dropped: AtomicU64,
    /// Notification ids seen lately (one delivery while moving).
    recent: Mutex<recent::Recent>,
    /// The connection whose subscriptions are all confirmed (a connection
    /// being left is read until its successor's are).
    resubscribed: tokio::sync::watch::Sender<u64>,
    /// Connections made so far (each gets the next number as its id).
    connections: AtomicU64,
    events: broadcast::Sender<ConnectionEvent>,
    closed: CancellationToken,
    /// Fires when the background task has finished.
    done: tokio::sync::watch::Receiver<bool>,
}

impl Inner {
    fn emit(&self, event: ConnectionEvent) {
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(event);
    }

    /// Topics with live subscriptions, for resubscribing after a
    /// reconnect, each with the last position delivered on it if the
    /// server numbers them.
    fn active_topics(&self) -> Vec<(Bytes, subscription::Resubscribe)> {
        lock(&self.topics).topics()
    }
}

/// A connection to one framewire or netaio server. Cheap to clone; all
/// clones share the connection and its background task.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// A builder for a client of the server at `servers`: one `host:port`,
    /// or several instances of one service, tried in order. The client
    /// uses one at a time; when it loses it (or the server asks its
    /// clients to move, on a graceful shutdown) it goes on to the next,
    /// resubscribes there, and sends what was kept meanwhile.
    ///
    /// ```no_run
    /// use framewire::client::Client;
    ///
    /// # async fn demo() -> Result<(), framewire::client::ClientError> {
    /// let client = Client::builder(["10.0.0.1:8888", "10.0.0.2:8888"]).connect().await?;
    /// # drop(client); Ok(()) }
    /// ```
    pub fn builder(servers: impl IntoServers) -> ClientBuilder {
        ClientBuilder::new(servers.into_servers())
    }

    /// Sends `msg` through the plugins, without waiting for any reply
    /// (while reconnecting, it waits in the
    /// [offline buffer](ClientBuilder::offline_buffer)).
    pub async fn send(&self, mut msg: Message) -> Result<(), ClientError> {
        crate::trace::attach_current(&mut msg);
        self.inner.send_message(msg).await
    }

    /// REQUEST_URI `uri` with `content`; the RESPOND_URI reply, or a typed
    /// error for NOT_FOUND, ERROR, AUTH_ERROR, NOT_PERMITTED, timeout and
    /// connection loss.
    pub async fn request(
        &self,
        uri: impl Into<Bytes>,
        content: impl Into<Bytes>,
    ) -> Result<Message, ClientError> {
        self.call(Message::new(MessageType::REQUEST_URI, uri, content))
            .await
    }

    /// CREATE_URI; the OK reply.
    pub async fn create(
        &self,
        uri: impl Into<Bytes>,
        data: impl Into<Bytes>,
    ) -> Result<Message, ClientError> {
        self.call(Message::new(MessageType::CREATE_URI, uri, data))
            .await
    }

    /// UPDATE_URI; the OK reply.
    pub async fn update(
        &self,
        uri: impl Into<Bytes>,
        data: impl Into<Bytes>,
    ) -> Result<Message, ClientError> {
        self.call(Message::new(MessageType::UPDATE_URI, uri, data))
            .await
    }

    /// DELETE_URI; the OK reply.
    pub async fn delete(&self, uri: impl Into<Bytes>) -> Result<Message, ClientError> {
        self.call(Message::new(MessageType::DELETE_URI, uri, Bytes::new()))
            .await
    }

    /// Sends `msg` as a request and waits (up to the client's request
    /// timeout) for its reply; error replies become typed errors.
    ///
    /// Matching: the request carries an id (auth field `rid`) that
    /// framewire servers echo, so any number of requests, to any uris, can
    /// be in flight and answered in any order, and whatever reply carries
    /// the id and the request's uri completes the request (a NOT_FOUND to
    /// a CREATE included; an error report may carry no uri).
    /// netaio servers do not echo it; their replies are matched as netaio
    /// does — by reply type and identical uri — to the *oldest* waiting
    /// request, which is correct because a netaio server answers one
    /// connection's requests in order. A netaio reply that never comes
    /// (e.g. one a server drops) can then shift later replies of the same
    /// uri onto the wrong request until the timeout clears it. Without an
    /// id, netaio's matching cannot match (and the request times out, as
    /// with netaio's own client) a reply of a type netaio does not wait for
    /// after the request (NOT_FOUND after CREATE_URI, RESPOND_URI after
    /// anything but REQUEST_URI), a reply for another uri, or the netaio
    /// server's default NOT_FOUND, whose uri is empty. The rules are in
    /// one place for the client and the node: `src/proto/requests.rs`.
    pub async fn call(&self, msg: Message) -> Result<Message, ClientError> {
        self.call_timeout(msg, self.inner.config.request_timeout)
            .await
    }

    /// A typed call: `body` encoded as JSON, sent as `t` to `uri`, and
    /// the reply's content decoded as `R` (feature `json`). Error replies
    /// are typed errors as for [`call`](Self::call) (their
    /// [`reason`](ClientError::reason) is what the server said was
    /// wrong); a reply that is not `R` is [`ClientError::Content`].
    ///
    /// ```no_run
    /// # async fn demo(client: framewire::client::Client) -> Result<(), framewire::client::ClientError> {
    /// use framewire::MessageType;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Post { text: String }
    ///
    /// let posts: Vec<Post> = client.call_json(MessageType::REQUEST_URI, "history/lobby", &()).await?;
    /// # drop(posts); Ok(()) }
    /// ```
    #[cfg(feature = "json")]
    pub async fn call_json<R: serde::de::DeserializeOwned>(
        &self,
        t: crate::MessageType,
        uri: impl Into<Bytes>,
        body: &(impl serde::Serialize + ?Sized),
    ) -> Result<R, ClientError> {
        let content = crate::content::to_json(body)?;
        self.call_typed(Message::new(t, uri, content), crate::content::from_json)
            .await
    }

    /// [`call_json`](Self::call_json) in MessagePack (feature `msgpack`).
    #[cfg(feature = "msgpack")]
    pub async fn call_msgpack<R: serde::de::DeserializeOwned>(
        &self,
        t: crate::MessageType,
        uri: impl Into<Bytes>,
        body: &(impl serde::Serialize + ?Sized),
    ) -> Result<R, ClientError> {
        let content = crate::content::to_msgpack(body)?;
        self.call_typed(Message::new(t, uri, content), crate::content::from_msgpack)
            .await
    }

    /// [`call`](Self::call), the reply's content decoded by `decode`.
    #[cfg(any(feature = "json", feature = "msgpack"))]
    async fn call_typed<R>(
        &self,
        msg: Message,
        decode: fn(&[u8]) -> Result<R, crate::content::ContentError>,
    ) -> Result<R, ClientError> {
        let reply = self.call(msg).await?;
        Ok(decode(reply.content())?)
    }

    /// [`call`](Self::call) with its own timeout.
    pub async fn call_timeout(
        &self,
        msg: Message,
        timeout: Duration,
    ) -> Result<Message, ClientError> {
        ClientError::classify(self.call_raw(msg, timeout, None).await?)
    }

    /// [`call`](Self::call) with a per-call plugin layer inside the
    /// instance one (netaio's per-call plugins, such as an admin HMAC on
    /// CREATE for a route the server guards with
    /// [`ServerBuilder::on_with`](crate::server::ServerBuilder::on_with)):
    /// the request is sealed with it, and a reply that is not an error
    /// report must pass it.
    ///
    /// ```no_run
    /// use framewire::{Message, MessageType, NetaioHmac, PluginLayer};
    ///
    /// # async fn demo(client: framewire::client::Client) -> Result<(), framewire::client::ClientError> {
    /// let admin = PluginLayer::new().with_auth(NetaioHmac::new("admin").hmac_field("admin_hmac"));
    /// let created = client
    ///     .call_with(Message::new(MessageType::CREATE_URI, "config", "v2"), &admin)
    ///     .await?;
    /// # drop(created); Ok(()) }
    /// ```
    pub async fn call_with(
        &self,
        msg: Message,
        layer: &PluginLayer,
    ) -> Result<Message, ClientError> {
        let timeout = self.inner.config.request_timeout;
        ClientError::classify(self.call_raw(msg, timeout, Some(layer)).await?)
    }

    async fn call_raw(
        &self,
        mut msg: Message,
        timeout: Duration,
        layer: Option<&PluginLayer>,
    ) -> Result<Message, ClientError> {
        let inner = &self.inner;
        crate::trace::attach_current(&mut msg);
        let uri = msg.body.uri.clone();
        // Held until the request ends, however it ends.
        let _seat = inner.budget.take()?;
        let (tx, rx) = oneshot::channel();
        let out = Outgoing::new(&mut msg, Some(tx), layer);
        let mut waiting = Waiting {
            inner,
            id: out.id(),
            rx,
            armed: true,
        };
        // No lock orders requests here: the writer records each in the
        // pending table as it takes its frame, so the table's order is the
        // wire's (what matching a netaio reply needs; see pending.rs).
        if let Some((current, msg, Some(out))) = inner.route_out(msg, Some(out))? {
            let frame = inner.pipeline.seal_with(msg, layer, &current.link(inner))?;
            current.push_request(frame, out).await?;
        }
        let outcome = tokio::time::timeout(timeout, &mut waiting.rx).await;
        if outcome.is_ok() {
            // The entry has left the table (or was never recorded).
            waiting.armed = false;
        }
        match outcome {
            // A reply through a per-call layer was opened by the reader.
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::ConnectionLost),
            Err(_) => Err(ClientError::Timeout {
                uri: String::from_utf8_lossy(&uri).into_owned(),
                after: timeout,
            }),
        }
    }

    /// One round trip of framewire's keepalive ping (answered by framewire
    /// servers before any routing); the time it took. A netaio server
    /// has no ping: it answers NOT_FOUND, which comes back as
    /// an error for which [`ClientError::is_not_found`] holds (time an echo
    /// instead).
    ///
    /// ```no_run
    /// # async fn demo(client: framewire::client::Client) -> Result<(), framewire::client::ClientError> {
    /// let rtt = client.ping().await?;
    /// println!("{rtt:?}");
    /// # Ok(()) }
    /// ```
    pub async fn ping(&self) -> Result<Duration, ClientError> {
        let started = tokio::time::Instant::now();
        self.call(crate::protocol::ping()).await?;
        Ok(started.elapsed())
    }

    /// Subscribes to `topic` (SUBSCRIBE_URI, confirmed by
    /// CONFIRM_SUBSCRIBE) and returns the stream of its NOTIFY_URI
    /// messages. Dropping the stream unsubscribes (once no other stream
    /// for the topic is left). Subscriptions are re-sent after a reconnect.
    pub async fn subscribe(&self, topic: impl Into<Bytes>) -> Result<Subscription, ClientError> {
        self.subscribe_in(topic.into(), None).await
    }

    /// Subscribes to `topic` as a member of queue group `group`: each
    /// notification on the topic goes to one member of the group, across
    /// every instance of the service, the members taking turns; plain
    /// subscribers still get them all. A reconnect rejoins the group (a
    /// member is not resumed: what it missed went to the other members).
    /// Refused with [`ClientError::is_subscription`] when the client
    /// already subscribes to `topic` otherwise, or `group` is not 1 to 64
    /// bytes of `[A-Za-z0-9-_.]`. A netaio server ignores the group (every
    /// member then gets everything).
    ///
    /// ```no_run
    /// # async fn demo(client: framewire::client::Client) -> Result<(), framewire::client::ClientError> {
    /// let mut jobs = client.subscribe_group("jobs", "workers").await?;
    /// while let Some(job) = jobs.next().await {
    ///     println!("mine: {:?}", job.content());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn subscribe_group(
        &self,
        topic: impl Into<Bytes>,
        group: impl AsRef<[u8]>,
    ) -> Result<Subscription, ClientError> {
        let group = group.as_ref();
        if !crate::protocol::is_group_name(group) {
            return Err(ClientError::Subscription);
        }
        self.subscribe_in(topic.into(), Some(Bytes::copy_from_slice(group)))
            .await
    }

    async fn subscribe_in(
        &self,
        topic: Bytes,
        group: Option<Bytes>,
    ) -> Result<Subscription, ClientError> {
        let (sub, first) = {
            let mut topics = lock(&self.inner.topics);
            topics
                .add(
                    topic.clone(),
                    group.clone(),
                    self.inner.config.subscription_buffer,
                    Arc::downgrade(&self.inner),
                )
                .ok_or(ClientError::Subscription)?
        };
        if first {
            let mut request = Message::new(MessageType::SUBSCRIBE_URI, topic, Bytes::new());
            if let Some(g) = &group {
                crate::protocol::set_group(&mut request, g);
            }
            if let Err(e) = self.call(request).await {
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
        lock(&self.inner.outlet).current.is_some()
    }

    /// The server's address, while connected.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        lock(&self.inner.outlet).current.as_ref().map(|c| c.peer)
    }

    /// Frames and bytes queued on the connection and not yet written to
    /// the socket (0 while disconnected): a server that reads slowly shows
    /// here first, before senders wait for room (at most 4096 frames and
    /// 16 MiB).
    ///
    /// ```no_run
    /// # async fn demo(client: framewire::client::Client) {
    /// let (frames, bytes) = client.queued();
    /// println!("{frames} frames ({bytes} bytes) not yet sent");
    /// # }
    /// ```
    pub fn queued(&self) -> (usize, usize) {
        let current = lock(&self.inner.outlet).current.clone();
        current.map_or((0, 0), |c| c.queue.len())
    }

    /// Messages in the offline buffer now (sent while reconnecting).
    pub fn buffered(&self) -> usize {
        lock(&self.inner.outlet).offline.len()
    }

    /// Sends from the offline buffer that were never sent (too old when a
    /// connection came, or the client closed first); see
    /// [`ConnectionEvent::OfflineDropped`].
    pub fn offline_dropped(&self) -> u64 {
        self.inner
            .offline_dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The peers servers announced (with [`ClientBuilder::peer`]), by id;
    /// empty without peer management.
    pub fn peers(&self) -> Vec<crate::peer::Peer> {
        self.inner
            .config
            .peers
            .as_ref()
            .map(|p| p.all())
            .unwrap_or_default()
    }

    /// Requests waiting for a reply.
    pub fn pending_requests(&self) -> usize {
        self.inner.budget.used()
    }

    /// Sends what is queued, shuts the socket down cleanly and stops the
    /// background task. Requests still waiting fail with
    /// [`ClientError::Closed`].
    pub async fn close(&self) {
        if let Some(peers) = &self.inner.config.peers {
            if self.is_connected() {
                // Best effort, bounded: a goodbye is not worth a hang.
                let bye = peers.local().message(MessageType::DISCONNECT);
                let _ = tokio::time::timeout(self.inner.config.write_timeout, self.send(bye)).await;
            }
        }
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

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("servers", &self.inner.config.servers.list())
            .field("connected", &self.is_connected())
            .finish()
    }
}
