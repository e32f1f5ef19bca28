//! The node's handler trait and what a handler knows about a datagram's
//! source ([`Origin`]). The types it shares with the other sides' handlers
//! live in [`crate::handler`].

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;

use crate::handler::{BoxFuture, HandlerError, IntoReply};
use crate::peer::Peer;
use crate::wire::Message;

use super::{NodeError, NodeHandle};

/// Where a datagram came from, and the node that received it. Cheap to
/// clone.
///
/// ```
/// use framewire::node::Origin;
/// use framewire::Message;
///
/// async fn whoami(_m: Message, from: Origin) -> Message {
///     Message::respond("whoami", from.addr().to_string())
/// }
/// # let _ = whoami;
/// ```
#[derive(Clone, Debug)]
pub struct Origin {
    addr: SocketAddr,
    node: NodeHandle,
}

impl Origin {
    pub(crate) fn new(addr: SocketAddr, node: NodeHandle) -> Self {
        Origin { addr, node }
    }

    /// The source address (spoofable: see the module docs).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The peer last heard from this address, if the node knows one.
    pub fn peer(&self) -> Option<Peer> {
        self.node.peer_at(self.addr)
    }

    /// Whether the source is verified: a known peer on a node whose
    /// instance auth plugin checked the datagram, or a trusted loopback
    /// address (see the module docs).
    pub fn is_verified(&self) -> bool {
        self.node.shared.is_verified(self.addr)
    }

    /// Subscribes the source to `key` for [`NodeHandle::notify`] (again:
    /// renews it). A spoofed datagram could have made it, so unlike a
    /// subscription the application makes: unless the source is verified,
    /// notifications to it spend what its IP sent
    /// ([`NodeLimits::unverified_credit`](super::NodeLimits::unverified_credit))
    /// and are rate-limited; one source IP may make only so many
    /// ([`NodeLimits::max_source_subscriptions`](super::NodeLimits::max_source_subscriptions)
    /// and `_bytes`); and it expires unless renewed within
    /// [`NodeLimits::subscription_ttl`](super::NodeLimits::subscription_ttl)
    /// (or kept by its peer).
    pub fn subscribe(&self, key: impl Into<Bytes>) -> Result<(), NodeError> {
        let made = super::subscriptions::Made::Datagram;
        self.node.shared.subscribe(key.into(), self.addr, made)
    }

    /// Unsubscribes the source from `key`; whether it was subscribed.
    pub fn unsubscribe(&self, key: &[u8]) -> bool {
        self.node.unsubscribe(key, self.addr)
    }

    /// The node, for sends, notifications and the peer table.
    pub fn node(&self) -> &NodeHandle {
        &self.node
    }
}

/// A node's message handler: an async function of a message and its
/// [`Origin`], whose result becomes the reply (sent back to the source).
/// Implemented for every `Fn(Message, Origin) -> impl Future<Output = impl
/// IntoReply>` that is `Send + Sync + 'static`.
///
/// ```
/// use framewire::node::{Node, Origin};
/// use framewire::{Message, MessageType};
///
/// let node = Node::builder()
///     .on((MessageType::REQUEST_URI, "time"), |_m: Message, _o: Origin| async {
///         Message::respond("time", "12:00")
///     })
///     .build();
/// # drop(node);
/// ```
pub trait NodeHandler: Send + Sync + 'static {
    /// Handles one message.
    fn call(&self, msg: Message, from: Origin) -> BoxFuture<Result<Option<Message>, HandlerError>>;
}

impl<F, Fut, R> NodeHandler for F
where
    F: Fn(Message, Origin) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoReply,
{
    fn call(&self, msg: Message, from: Origin) -> BoxFuture<Result<Option<Message>, HandlerError>> {
        let fut = self(msg, from);
        Box::pin(async move { fut.await.into_reply() })
    }
}
