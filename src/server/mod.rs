//! The TCP server: routing, auth plugins, pub/sub, a connection registry,
//! limits and graceful shutdown.
//!
//! This module owns connections on the server side — accepting them,
//! their registry, their I/O shells, fan-out — and the server's public
//! API. What a message means (plugins, control messages, request ids,
//! replies) is the shared pipeline (`src/pipeline/`)'s; the server does
//! not import anything from `client/`.
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

mod backplane;
mod builder;
mod connection;
mod context;
mod error;
mod handle;
mod handler;
mod limits;
mod listen;
mod login;
mod pubsub;
mod readme_routes;
mod registry;
mod stats;
#[cfg(feature = "tls")]
mod tls;

use std::sync::Arc;

use crate::auth::PluginLayer;

pub use backplane::{Backplane, Inbound, MemoryBackplane};
#[cfg(feature = "redis")]
pub use backplane::{RedisBackplane, RedisUrlError};
pub use builder::ServerBuilder;
pub use context::Context;
pub use error::{SendError, SubscribeError};
pub use handle::ServerHandle;
pub use handler::{Handler, SyncHandler};
pub use limits::{Limits, SlowConsumerPolicy, TcpKeepalive};
pub use listen::Server;
pub use login::{Hello, LoginGate, LoginRefused};
pub use readme_routes::{readme_routes, STORE_MAX_BYTES};
pub use registry::{ConnectionId, ConnectionInfo};
pub use stats::Stats;

/// A handler plus the per-handler plugin layer stacked on the instance one.
#[derive(Clone)]
pub(crate) struct Route {
    handler: Call,
    layer: Option<Arc<PluginLayer>>,
}

/// How a route's handler is called.
#[derive(Clone)]
pub(crate) enum Call {
    /// A future, polled on the reader's task.
    Async(Arc<dyn Handler>),
    /// A plain call, no future at all.
    Sync(Arc<dyn SyncHandler>),
}

impl crate::pipeline::Route for Route {
    fn layer(&self) -> Option<&PluginLayer> {
        self.layer.as_deref()
    }
}

fn route(handler: impl Handler, layer: Option<PluginLayer>) -> Route {
    Route {
        handler: Call::Async(Arc::new(handler)),
        layer: layer.map(Arc::new),
    }
}

fn sync_route(handler: impl SyncHandler, layer: Option<PluginLayer>) -> Route {
    Route {
        handler: Call::Sync(Arc::new(handler)),
        layer: layer.map(Arc::new),
    }
}
