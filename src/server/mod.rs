//! The TCP server: routing, auth plugins, pub/sub, a connection registry,
//! limits and graceful shutdown.
//!
//! This module owns connections on the server side — accepting them,
//! their registry, their I/O shells, fan-out — and the server's public
//! API. What a message means (plugins, control messages, request ids,
//! replies) is the shared pipeline (`src/pipeline/`)'s; the server does
//! not import anything from `client/`.
//!
//! # Metrics
//!
//! With feature `metrics`, every [`Stats`] counter is also recorded
//! through the [`metrics`](https://docs.rs/metrics) facade, for whatever
//! recorder the application installs (with none installed nothing is
//! recorded; without the feature the calls compile to nothing). `framewire serve
//! --metrics HOST:PORT` serves them in Prometheus text format. Labels have
//! small fixed value sets; the handler latency is labelled with the
//! registered route key, never a peer's uri.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `framewire_connections_open` | gauge | |
//! | `framewire_connections_accepted_total` | counter | |
//! | `framewire_connections_refused_total` | counter | `reason`: `max_connections`, `per_address` |
//! | `framewire_frames_received_total`, `framewire_frames_sent_total` | counter | |
//! | `framewire_received_bytes_total`, `framewire_sent_bytes_total` | counter | |
//! | `framewire_outbound_queue_frames` | histogram | (frames a writer found queued, per write) |
//! | `framewire_frames_rejected_total` | counter | `reason`: `checksum`, `auth`, `replay_capacity`, `decrypt`, `permission`, `decode` |
//! | `framewire_logins_refused_total` | counter | |
//! | `framewire_handler_errors_total` | counter | `kind`: `error`, `panic` |
//! | `framewire_handler_duration_seconds` | histogram | `route`: the registered route key, or `default` (off with `ServerBuilder::handler_timing(false)`) |
//! | `framewire_slow_consumer_total` | counter | `action`: `drop`, `disconnect` |
//! | `framewire_timeouts_total` | counter | `kind`: `deadline`, `write`, `auth`, `first_frame`, `tls_handshake` |
//! | `framewire_tls_handshakes_total` | counter | `result`: `ok`, `failed` |
//! | `framewire_backplane_messages_total` | counter | `event`: `published`, `publish_failed`, `received`, `lost`, `duplicate`, `invalid`, `unauthenticated` |
//! | `framewire_backplane_connected` | gauge | |
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

mod accept;
mod backplane;
mod builder;
mod connection;
mod context;
mod error;
pub mod extract;
mod handle;
mod handler;
mod history;
mod layers;
mod limits;
mod listen;
mod login;
mod metrics;
mod peers;
mod pubsub;
mod readme_routes;
mod registry;
mod shared;
mod stats;
#[cfg(test)]
mod tests;
#[cfg(feature = "tower")]
pub mod tower;

use std::sync::Arc;

use crate::auth::PluginLayer;

/// Also [`transport::TcpKeepalive`](crate::transport::TcpKeepalive), where
/// the TCP acceptor that applies it lives.
pub use crate::transport::TcpKeepalive;
pub use backplane::{Backplane, Inbound, MemoryBackplane};
#[cfg(feature = "redis")]
pub use backplane::{
    BackplaneSecretError, RedisBackplane, RedisUrlError, MIN_BACKPLANE_SECRET_LEN,
};
pub use builder::ServerBuilder;
pub use context::Context;
pub use error::{SendError, SubscribeError};
pub use extract::{FromRequest, IntoHandler, Path, Request, State};
pub use handler::{Handler, SyncHandler};
pub use history::History;
pub use limits::{Limits, SlowConsumerPolicy};
pub use listen::IntoAcceptor;
pub use listen::Server;
pub use login::{Hello, LoginGate, LoginRefused};
pub use readme_routes::{readme_routes, readme_routes_with, STORE_MAX_BYTES};
pub use registry::{ConnectionId, ConnectionInfo};
pub use shared::ServerHandle;
pub use stats::Stats;

/// A handler plus the per-handler plugin layer stacked on the instance one.
#[derive(Clone)]
pub(crate) struct Route {
    handler: Call,
    layer: Option<Arc<PluginLayer>>,
    /// The registered key, as the handler-latency metric's label (never
    /// a peer's uri or address: its values are the routes registered).
    label: Arc<str>,
}

/// How a route's handler is called.
#[derive(Clone)]
pub(crate) enum Call {
    /// A future, polled on the reader's task.
    Async(Arc<dyn Handler>),
    /// A plain call, no future at all.
    Sync(Arc<dyn SyncHandler>),
}

impl crate::proto::pipeline::Route for Route {
    fn layer(&self) -> Option<&PluginLayer> {
        self.layer.as_deref()
    }
}

fn route<A>(
    handler: impl IntoHandler<A>,
    pattern: Option<crate::auth::Pattern>,
    layer: Option<PluginLayer>,
) -> Route {
    Route {
        handler: Call::Async(handler.into_handler(pattern)),
        layer: layer.map(Arc::new),
        label: Arc::from("default"),
    }
}

fn sync_route(handler: impl SyncHandler, layer: Option<PluginLayer>) -> Route {
    Route {
        handler: Call::Sync(Arc::new(handler)),
        layer: layer.map(Arc::new),
        label: Arc::from("default"),
    }
}

impl Route {
    /// The route with its handler inside `layers` (a sync handler made
    /// async for them).
    pub(crate) fn layered(mut self, layers: &layers::Layers) -> Route {
        if layers.is_empty() {
            return self;
        }
        let handler = match self.handler {
            Call::Async(h) => h,
            Call::Sync(h) => Arc::new(layers::SyncAsAsync(h)),
        };
        self.handler = Call::Async(layers.wrap(handler));
        self
    }
}

/// `handler` as an async route on `key`, labelled with it.
fn keyed_async<A>(
    key: impl Into<crate::router::RouteKey>,
    handler: impl IntoHandler<A>,
    layer: Option<PluginLayer>,
) -> (crate::router::RouteKey, Route) {
    let key = key.into();
    let r = route(handler, key.as_pattern().cloned(), layer);
    keyed(key, r)
}

/// `route` registered on `key`, labelled with it.
fn keyed(
    key: impl Into<crate::router::RouteKey>,
    mut route: Route,
) -> (crate::router::RouteKey, Route) {
    use crate::router::RouteKey;
    let key = key.into();
    let uri = |u: &bytes::Bytes| {
        let text = String::from_utf8_lossy(u);
        text.chars().take(64).collect::<String>()
    };
    route.label = Arc::from(match &key {
        RouteKey::Type(t) => t.to_string(),
        RouteKey::TypeUri(t, u) => format!("{t} {}", uri(u)),
        RouteKey::TypeUriPeer(t, u, _) => format!("{t} {} (peer)", uri(u)),
        RouteKey::TypePattern(t, p) => format!("{t} {p}"),
    });
    (key, route)
}
