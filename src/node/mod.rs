//! netaio's UDP node (`UDPNode`): one frame per datagram, unicast,
//! multicast and broadcast to known peers, subscriptions by address,
//! requests with timeouts, and automatic peer advertisement — through the
//! same plugins, routing and handlers as TCP (the shared
//! `pipeline`, on its [`Role::Peer`](crate::auth::Role::Peer) side).
//!
//! This module owns the node's socket, its tasks and its public API; it
//! imports neither `server/` nor `client/`.
//!
//! ```no_run
//! use std::time::Duration;
//! use framewire::node::{Node, Origin};
//! use framewire::peer::LocalPeer;
//! use framewire::{Message, MessageType};
//!
//! # #[tokio::main] async fn main() -> Result<(), framewire::node::NodeError> {
//! let a = Node::builder()
//!     .on((MessageType::REQUEST_URI, "echo"), |m: Message, _o: Origin| async move {
//!         Message::respond("echo", m.content().clone())
//!     })
//!     .bind("127.0.0.1:0")
//!     .await?;
//! let b = Node::builder().peers(LocalPeer::random()).bind("127.0.0.1:0").await?;
//! let reply = b.request(a.local_addr(), "echo", "hi").await?;
//! assert_eq!(&reply.content()[..], b"hi");
//! b.stop().await;
//! # Ok(()) }
//! ```
//!
//! # UDP is spoofable
//!
//! Anyone can send a datagram with any source address, so a node must not
//! be a tool for flooding someone else (reflection and amplification):
//!
//! - **No amplification.** The node never sends an unverified source IP
//!   more bytes than it received from it: each datagram earns its source
//!   IP a credit of its size ([`NodeLimits::amplification`] times it, up
//!   to [`NodeLimits::unverified_credit`]), and every reply, notification
//!   and broadcast to that IP spends it; a reply is also never larger than
//!   its own request. A *verified* address is exempt: a known peer (its
//!   announcement is in the table) on a node with an instance auth plugin,
//!   whose every accepted datagram passed that plugin — or a loopback
//!   address, which no other host can send from
//!   ([`NodeLimits::trust_loopback`]). Otherwise, without an auth plugin,
//!   no source is verified: a node cannot tell a peer from a spoofer.
//!   Echo-shaped replies fit; larger ones (a stored value to a bare
//!   REQUEST_URI, a notification larger than the subscriber's SUBSCRIBE)
//!   are dropped and counted (`amplification_dropped`): give a node
//!   reachable from other hosts an auth plugin. A subscriber that cannot
//!   be verified earns room for its notifications by what it sends (a
//!   SUBSCRIBE padded with content renews it and earns its size). One
//!   notify or broadcast sends at most [`NodeLimits::max_unverified_fanout`]
//!   bytes to unverified addresses in all (`fanout_capped`).
//! - **Rate limits.** Replies to unverified sources, broadcasts to
//!   unverified peers, and notifications to subscriptions that a received
//!   datagram made, are limited per source
//!   IP address by a token bucket ([`NodeLimits::replies_per_second`],
//!   [`NodeLimits::reply_burst`]) over a bounded table of sources.
//! - **Subscriptions by datagram** are bounded per source IP (count and
//!   bytes of topics: [`NodeLimits::max_source_subscriptions`],
//!   [`NodeLimits::max_source_subscription_bytes`]) and in all
//!   ([`NodeLimits::max_subscriptions`],
//!   [`NodeLimits::max_subscription_bytes`]), and expire unless a new
//!   SUBSCRIBE renews them within [`NodeLimits::subscription_ttl`] (one
//!   whose address is a peer in the table lasts as long as the peer).
//!   netaio's `UDPNode` never expires one: it keeps it until UNSUBSCRIBE,
//!   or until its peer says DISCONNECT or times out. A netaio subscriber
//!   that this node knows as a peer (both manage peers with one app id,
//!   and its advertisements reach this node) keeps its subscriptions
//!   here too; any other must send SUBSCRIBE again within the ttl (netaio
//!   itself never does: its application must).
//! - **Bounded state.** The peer table is bounded by count
//!   ([`LocalPeer::with_max_peers`](crate::peer::LocalPeer::with_max_peers))
//!   and bytes ([`NodeLimits::max_peer_bytes`]), making room by evicting
//!   the peer heard from least recently; peers silent for longer than the
//!   peer timeout are dropped. Waiting requests, subscriptions and
//!   handler calls in flight are bounded too.
//! - **Bad datagrams** (oversized, truncated, trailing bytes, undecodable)
//!   are dropped and counted; a damaged checksum is answered with ERROR
//!   `invalid message` as netaio does (under the same two rules).
//! - **Replay.** With netaio-compatible HMAC, what a receiver acts on is
//!   not all bound by the MAC (netaio signs `ts ‖ body`, not the type), and
//!   the source address never is: use [`StrictHmac`](crate::StrictHmac)
//!   between framewire nodes.
//!
//! Two nodes never answer each other's answers: a reply type (OK,
//! RESPOND_URI, ERROR, NOT_FOUND, ...) that no request waits for and no
//! handler takes is dropped (`unrouted`), never answered NOT_FOUND — two
//! netaio nodes can bounce a stray reply between them forever.

mod builder;
mod error;
mod guard;
mod handle;
mod handler;
mod limits;
mod peers;
mod pending;
mod receive;
mod requests;
mod routes;
mod stats;
mod subscriptions;

use std::sync::Arc;

use crate::auth::PluginLayer;

pub use builder::{Node, NodeBuilder};
pub use error::NodeError;
pub use handle::NodeHandle;
pub use handler::{NodeHandler, Origin};
pub use limits::NodeLimits;
pub use routes::readme_routes;
pub use stats::NodeStats;

/// netaio's multicast group (`UDPNode`'s default `224.0.0.1`).
pub const DEFAULT_MULTICAST_GROUP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(224, 0, 0, 1);

/// A handler plus the per-handler plugin layer stacked on the instance one.
#[derive(Clone)]
pub(crate) struct Route {
    handler: Arc<dyn NodeHandler>,
    layer: Option<Arc<PluginLayer>>,
}

impl crate::proto::pipeline::Route for Route {
    fn layer(&self) -> Option<&PluginLayer> {
        self.layer.as_deref()
    }
}

impl Route {
    fn new(handler: impl NodeHandler, layer: Option<PluginLayer>) -> Self {
        Route {
            handler: Arc::new(handler),
            layer: layer.map(Arc::new),
        }
    }
}
