//! The TCP server: routing, auth plugins, pub/sub, a connection registry,
//! limits and graceful shutdown.
//!
//! ```no_run
//! use framewire::server::{Context, Server};
//! use framewire::{Message, MessageType};
//!
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! let server = Server::builder()
//!     .on((MessageType::REQUEST_URI, "echo"), |msg: Message, _ctx: Context| async move {
//!         Message::respond("echo", msg.content().clone())
//!     })
//!     .build();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8888").await?;
//! server.serve(listener, async { tokio::signal::ctrl_c().await.ok(); }).await
//! # }
//! ```

mod connection;
mod context;
mod handler;
mod limits;
mod pubsub;
mod registry;
mod stats;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::auth::{AuthError, PluginLayer};
use crate::router::{RouteKey, Router};
use crate::wire::{self, EncodeError, FrameConfig, Message, MessageType, Profile};

pub use context::Context;
pub use handler::{BoxFuture, Handler, HandlerError, IntoReply};

pub(crate) use handler::{catch_panics, panic_text};
pub use limits::{Limits, SlowConsumerPolicy, TcpKeepalive};
pub use registry::{ConnectionId, ConnectionInfo, SubscribeError};
pub use stats::Stats;

use crate::outbound::PushError;
use registry::{Conn, Registry};
use stats::Counters;

/// Why a message could not be sent to a connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No such connection.
    #[error("no connection {0}")]
    NoSuchConnection(ConnectionId),
    /// The connection is closing.
    #[error("connection closed")]
    Closed,
    /// The connection's outbound queue is full (slow consumer); the policy
    /// was applied.
    #[error("outbound queue full")]
    QueueFull,
    /// The message cannot be framed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A plugin could not sign or encrypt it.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// A handler plus the per-handler plugin layer stacked on the instance one.
#[derive(Clone)]
pub(crate) struct Route {
    handler: Arc<dyn Handler>,
    layer: Option<Arc<PluginLayer>>,
}

type Hook = Arc<dyn Fn(&ConnectionInfo, &ServerHandle) + Send + Sync>;

pub(crate) struct Shared {
    registry: Registry,
    router: Router<Route>,
    default: Route,
    layer: PluginLayer,
    frame: FrameConfig,
    pre_auth_frame: FrameConfig,
    limits: Limits,
    counters: Counters,
    on_join: Option<Hook>,
    on_leave: Option<Hook>,
    /// Cancelled when shutdown starts: stop accepting and reading.
    shutdown: CancellationToken,
    /// Cancelled when the grace period is over: abort what is left.
    abort: CancellationToken,
    tracker: TaskTracker,
}

impl Shared {
    /// Seals `msg` through the per-handler layer (if any) then the instance
    /// layer, and frames it.
    pub(crate) fn prepare(
        &self,
        msg: Message,
        inner: Option<&PluginLayer>,
    ) -> Result<Bytes, SendError> {
        self.prepare_into(msg, inner, &mut BytesMut::new())
    }

    /// [`prepare`](Self::prepare) encoding into `scratch`, whose memory is
    /// reused once the frames split off it have been written.
    pub(crate) fn prepare_into(
        &self,
        msg: Message,
        inner: Option<&PluginLayer>,
        scratch: &mut BytesMut,
    ) -> Result<Bytes, SendError> {
        let msg = match inner {
            Some(layer) => layer.seal(msg)?,
            None => msg,
        };
        let msg = self.layer.seal(msg)?;
        wire::encode_frame(&msg, &self.frame, scratch)?;
        Ok(scratch.split().freeze())
    }

    /// Frames `msg` as is (no plugins): netaio sends auth errors unsigned.
    pub(crate) fn encode(&self, msg: &Message) -> Result<Bytes, SendError> {
        let mut buf = BytesMut::new();
        wire::encode_frame(msg, &self.frame, &mut buf)?;
        Ok(buf.freeze())
    }

    /// Queues a frame for `conn` without waiting, applying the
    /// slow-consumer policy when its queue is full.
    pub(crate) fn deliver(&self, conn: &Conn, frame: Bytes) -> Result<(), SendError> {
        match conn.outbound.try_push(frame) {
            Ok(()) => Ok(()),
            Err(PushError::Closed) => Err(SendError::Closed),
            Err(PushError::Full) => {
                self.counters.slow_consumer(conn, self.limits.slow_consumer);
                if self.limits.slow_consumer == SlowConsumerPolicy::Disconnect {
                    conn.outbound.close();
                    conn.cancel.cancel();
                }
                Err(SendError::QueueFull)
            }
        }
    }

    /// Sends one prepared frame to each connection; returns how many
    /// accepted it.
    fn fan_out(&self, conns: &[Arc<Conn>], msg: Message) -> Result<usize, SendError> {
        if conns.is_empty() {
            return Ok(0);
        }
        let mut delivered = 0;
        if self.layer.is_peer_specific() {
            for conn in conns {
                let frame = self.prepare(msg.clone(), None)?;
                delivered += usize::from(self.deliver(conn, frame).is_ok());
            }
        } else {
            // Sealed and encoded once; every receiver shares the same bytes.
            let frame = self.prepare(msg, None)?;
            for conn in conns {
                delivered += usize::from(self.deliver(conn, frame.clone()).is_ok());
            }
        }
        Ok(delivered)
    }
}

/// A cloneable handle to a running (or not yet started) server, usable from
/// handlers and other tasks.
#[derive(Clone)]
pub struct ServerHandle {
    pub(crate) shared: Arc<Shared>,
}

impl ServerHandle {
    /// Sends `msg` to every connection subscribed to `key`. Sealed and
    /// encoded once when the plugins allow; never waits for a slow
    /// receiver. Returns the number of receivers that accepted it.
    pub fn notify(&self, key: impl AsRef<[u8]>, msg: Message) -> Result<usize, SendError> {
        let conns = self.shared.registry.subscribers(key.as_ref());
        self.shared.fan_out(&conns, msg)
    }

    /// Sends `msg` to every connection.
    pub fn broadcast(&self, msg: Message) -> Result<usize, SendError> {
        let conns = self.shared.registry.all();
        self.shared.fan_out(&conns, msg)
    }

    /// Sends `msg` to every connection tagged `tag`.
    pub fn send_to_tag(&self, tag: &str, msg: Message) -> Result<usize, SendError> {
        let conns = self.shared.registry.with_tag(tag);
        self.shared.fan_out(&conns, msg)
    }

    /// Sends `msg` to one connection.
    pub fn send_to(&self, id: ConnectionId, msg: Message) -> Result<(), SendError> {
        let conn = self
            .shared
            .registry
            .get(id)
            .ok_or(SendError::NoSuchConnection(id))?;
        let frame = self.shared.prepare(msg, None)?;
        self.shared.deliver(&conn, frame)
    }

    /// Subscribes connection `id` to `key` (already subscribed is fine).
    pub fn subscribe(&self, key: impl Into<Bytes>, id: ConnectionId) -> Result<(), SubscribeError> {
        self.shared.registry.subscribe(key.into(), id)
    }

    /// Unsubscribes `id` from `key`; returns whether it was subscribed.
    pub fn unsubscribe(&self, key: &[u8], id: ConnectionId) -> bool {
        self.shared.registry.unsubscribe(key, id)
    }

    /// Connections open now.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let mut v: Vec<_> = self
            .shared
            .registry
            .all()
            .iter()
            .map(|c| c.info())
            .collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// Number of connections open now.
    pub fn connection_count(&self) -> usize {
        self.shared.registry.len()
    }

    /// Closes connection `id` after what is queued for it is written.
    /// Returns false if there is no such connection.
    pub fn disconnect(&self, id: ConnectionId) -> bool {
        match self.shared.registry.get(id) {
            Some(conn) => {
                conn.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Registers a handler while the server runs (replacing one on the
    /// same key).
    pub fn on(&self, key: impl Into<RouteKey>, handler: impl Handler) {
        self.shared.router.on(key.into(), route(handler, None));
    }

    /// Registers a one-shot handler while the server runs.
    pub fn once(&self, key: impl Into<RouteKey>, handler: impl Handler) {
        self.shared.router.once(key.into(), route(handler, None));
    }

    /// Removes the handlers registered on `key`.
    pub fn remove_handler(&self, key: impl Into<RouteKey>) -> bool {
        self.shared.router.remove(&key.into())
    }

    /// Counters since the server was built.
    pub fn stats(&self) -> Stats {
        self.shared
            .counters
            .snapshot(self.shared.registry.len(), self.shared.registry.topics())
    }

    /// Serves one connection over any byte stream (a TLS stream, a Unix
    /// socket, an in-memory duplex in tests...) exactly as an accepted TCP
    /// connection: same limits, plugins, registry and shutdown. `peer` is
    /// the address handlers and routes see. Returns false (and drops the
    /// stream) if the server is at its connection limit or shutting down.
    ///
    /// ```
    /// use framewire::server::Server;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = Server::builder().build();
    /// let (ours, _theirs) = tokio::io::duplex(64 * 1024);
    /// assert!(server.handle().serve_stream(ours, "127.0.0.1:9".parse().unwrap()));
    /// # }
    /// ```
    pub fn serve_stream<S>(&self, stream: S, peer: SocketAddr) -> bool
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        let shared = &self.shared;
        if shared.shutdown.is_cancelled() || shared.registry.len() >= shared.limits.max_connections
        {
            shared.counters.rejected();
            return false;
        }
        shared.counters.accepted();
        let (rd, wr) = tokio::io::split(stream);
        connection::spawn(self.clone(), rd, wr, peer);
        true
    }

    /// Starts a graceful shutdown, as the `shutdown` future passed to
    /// [`Server::serve`] does.
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel();
    }
}

fn route(handler: impl Handler, layer: Option<PluginLayer>) -> Route {
    Route {
        handler: Arc::new(handler),
        layer: layer.map(Arc::new),
    }
}

/// netaio's `not_found_handler`: NOT_FOUND, uri `""`, content `not found`.
async fn not_found(_msg: Message, _ctx: Context) -> Message {
    Message::not_found("")
}

/// Builds a [`Server`].
pub struct Builder {
    router: Router<Route>,
    default: Route,
    layer: PluginLayer,
    profile: Profile,
    limits: Limits,
    on_join: Option<Hook>,
    on_leave: Option<Hook>,
}

impl Builder {
    /// Answers SUBSCRIBE_URI and UNSUBSCRIBE_URI the way netaio's readme
    /// does: (un)subscribes the connection to the message's uri and replies
    /// CONFIRM_SUBSCRIBE / CONFIRM_UNSUBSCRIBE with that uri. A subscription
    /// past [`Limits::max_subscriptions_per_connection`] is answered with an
    /// ERROR carrying the uri. Later [`on`](Self::on) calls for those types
    /// replace these.
    ///
    /// ```
    /// use framewire::server::Server;
    /// use framewire::{Message, MessageType};
    ///
    /// let server = Server::builder().subscriptions().build();
    /// let handle = server.handle();
    /// // Nobody has subscribed yet.
    /// let note = Message::new(MessageType::NOTIFY_URI, "news", "hello");
    /// assert_eq!(handle.notify("news", note).unwrap(), 0);
    /// ```
    pub fn subscriptions(self) -> Self {
        self.on(MessageType::SUBSCRIBE_URI, pubsub::subscribe)
            .on(MessageType::UNSUBSCRIBE_URI, pubsub::unsubscribe)
    }

    /// Handles messages matching `key` (see [`RouteKey`]).
    pub fn on(self, key: impl Into<RouteKey>, handler: impl Handler) -> Self {
        self.router.on(key.into(), route(handler, None));
        self
    }

    /// Like [`on`](Self::on), with a per-handler plugin layer stacked on the
    /// instance one (netaio's per-handler auth/cipher plugins).
    pub fn on_with(
        self,
        key: impl Into<RouteKey>,
        handler: impl Handler,
        layer: PluginLayer,
    ) -> Self {
        self.router.on(key.into(), route(handler, Some(layer)));
        self
    }

    /// Handles the next message matching `key`, then forgets the handler.
    pub fn once(self, key: impl Into<RouteKey>, handler: impl Handler) -> Self {
        self.router.once(key.into(), route(handler, None));
        self
    }

    /// Handles messages no route matches (default: netaio's NOT_FOUND).
    pub fn default_handler(mut self, handler: impl Handler) -> Self {
        self.default = route(handler, None);
        self
    }

    /// The instance-wide plugin layer (auth and/or cipher) every message
    /// passes.
    pub fn plugins(mut self, layer: PluginLayer) -> Self {
        self.layer = layer;
        self
    }

    /// The frame profile (default `netaio`).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// Limits (default [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Called after a connection is accepted and registered.
    pub fn on_join(
        mut self,
        hook: impl Fn(&ConnectionInfo, &ServerHandle) + Send + Sync + 'static,
    ) -> Self {
        self.on_join = Some(Arc::new(hook));
        self
    }

    /// Called after a connection closed and was removed from the registry.
    pub fn on_leave(
        mut self,
        hook: impl Fn(&ConnectionInfo, &ServerHandle) + Send + Sync + 'static,
    ) -> Self {
        self.on_leave = Some(Arc::new(hook));
        self
    }

    /// The server, ready to [`serve`](Server::serve).
    pub fn build(self) -> Server {
        let max_frame = self
            .limits
            .max_frame_len
            .unwrap_or(self.profile.default_max_frame_len());
        let frame = FrameConfig::new(self.profile).max_frame_len(max_frame);
        let pre_auth = if self.layer.auth().is_some() {
            max_frame.min(self.limits.pre_auth_max_frame_len)
        } else {
            max_frame
        };
        Server {
            handle: ServerHandle {
                shared: Arc::new(Shared {
                    registry: Registry::new(self.limits.max_subscriptions_per_connection),
                    router: self.router,
                    default: self.default,
                    layer: self.layer,
                    frame,
                    pre_auth_frame: frame.max_frame_len(pre_auth),
                    limits: self.limits,
                    counters: Counters::default(),
                    on_join: self.on_join,
                    on_leave: self.on_leave,
                    shutdown: CancellationToken::new(),
                    abort: CancellationToken::new(),
                    tracker: TaskTracker::new(),
                }),
            },
        }
    }
}

/// A framewire server. Build it with [`Server::builder`], take a
/// [`handle`](Server::handle) if other tasks need one, then run
/// [`serve`](Server::serve).
pub struct Server {
    handle: ServerHandle,
}

impl Server {
    /// A builder with netaio's defaults: `netaio` profile, no plugins,
    /// NOT_FOUND for unrouted messages.
    pub fn builder() -> Builder {
        Builder {
            router: Router::new(),
            default: route(not_found, None),
            layer: PluginLayer::new(),
            profile: Profile::Netaio,
            limits: Limits::default(),
            on_join: None,
            on_leave: None,
        }
    }

    /// A handle for notify, broadcast, the registry and shutdown.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Serves connections from `listener` until `shutdown` completes (or
    /// [`ServerHandle::shutdown`] is called). Then it stops accepting, lets
    /// in-flight handlers finish and queued frames flush, closes every
    /// connection, and returns; whatever is still running after
    /// [`Limits::shutdown_grace`] is aborted.
    ///
    /// Accept errors (such as running out of file descriptors) are logged
    /// and retried with a growing pause instead of spinning.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let shared = self.handle.shared.clone();
        let local = listener.local_addr()?;
        info!(%local, "serving");
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(5);
        loop {
            let accepted = tokio::select! {
                _ = &mut shutdown => break,
                _ = shared.shutdown.cancelled() => break,
                r = listener.accept() => r,
            };
            match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(5);
                    self.accept(stream, peer);
                }
                Err(e) => {
                    warn!(error = %e, pause_ms = backoff.as_millis() as u64, "accept failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shared.shutdown.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
        drop(listener);
        info!("shutting down");
        shared.shutdown.cancel();
        shared.tracker.close();
        if tokio::time::timeout(shared.limits.shutdown_grace, shared.tracker.wait())
            .await
            .is_err()
        {
            warn!(
                remaining = shared.tracker.len(),
                "grace period over, aborting connections"
            );
            shared.abort.cancel();
            shared.tracker.wait().await;
        }
        info!("stopped");
        Ok(())
    }

    fn accept(&self, stream: tokio::net::TcpStream, peer: SocketAddr) {
        let shared = &self.handle.shared;
        if shared.registry.len() >= shared.limits.max_connections {
            shared.counters.rejected();
            debug!(%peer, "connection limit reached, closing");
            // Dropping the stream closes it; nothing was allocated for it.
            return;
        }
        shared.counters.accepted();
        connection::spawn_tcp(self.handle.clone(), stream, peer);
    }
}
