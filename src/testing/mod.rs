//! A kit for testing a service that embeds framewire (feature `testing`):
//! your own [`ServerBuilder`](crate::server::ServerBuilder), served over
//! in-memory streams. No ports, no sockets, no sleeps; under
//! `tokio::time::pause()` every deadline passes in virtual time.
//!
//! - [`TestServer`] wraps the built server: [`peer`](TestServer::peer)
//!   opens a raw connection ([`TestPeer`]: send frames or any bytes, read
//!   what the server sent, wait for it to close and see why),
//!   [`client`](TestServer::client) a real [`Client`](crate::client::Client),
//!   and [`stats_when`](TestServer::stats_when) with
//!   [`Stats::since`](crate::server::Stats::since) asserts on counter
//!   deltas.
//! - [`check_kv_store`]: the behaviour every
//!   [`KvStore`](crate::store::KvStore) shares, for your own.
//! - [`strategy`] (feature `proptest`): proptest strategies for messages.
//! - With feature `arbitrary`, [`Message`](crate::Message),
//!   [`AuthFields`](crate::AuthFields), [`MessageType`](crate::MessageType)
//!   and their parts implement `arbitrary::Arbitrary`, for fuzz targets.
//!
//! `docs/testing-your-service.md` walks through a handler test, a
//! virtual-time timeout test, a hostile-bytes test and a fuzz target.
//!
//! A virtual-time test: the idle timeout is 5 minutes, the test takes
//! none of them.
//!
//! ```
//! use std::time::Duration;
//! use framewire::server::{Limits, Server};
//! use framewire::testing::TestServer;
//! use framewire::{Message, MessageType};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! tokio::time::pause();
//! let limits = Limits::default().idle_timeout(Duration::from_secs(300));
//! let server = TestServer::new(Server::builder().limits(limits).build())
//!     .timeout(Duration::from_secs(600));
//! let mut peer = server.peer().unwrap();
//! peer.call(Message::new(MessageType::REQUEST_URI, "x", "")).await.unwrap();
//! let started = tokio::time::Instant::now();
//! let closed = peer.closed().await.unwrap();
//! assert!(started.elapsed() >= Duration::from_secs(300));
//! assert!(closed.reason().unwrap().contains("idle"));
//! # }
//! ```

mod error;
mod peer;
mod server;
mod store;
#[cfg(feature = "proptest")]
pub mod strategy;

/// Deterministic simulation (feature `sim`): the current thread's random
/// choices from a seed. See [`seed_thread_randomness`].
#[cfg(feature = "sim")]
pub use crate::random::{seed_thread as seed_thread_randomness, SeededRandomness};
pub use error::TestError;
pub use peer::{Closed, TestPeer};
pub use server::{MemoryConnector, TestServer};
pub use store::check_kv_store;
