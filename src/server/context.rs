//! The per-connection context handed to every server handler.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use crate::auth::Identity;
use crate::wire::Message;

use super::registry::{Conn, ConnectionId};
use super::SubscribeError;
use super::{SendError, ServerHandle};

/// The connection a message arrived on, and the server behind it.
/// Cheap to clone; valid after the connection closed (sends then fail with
/// [`SendError::Closed`]).
#[derive(Clone)]
pub struct Context {
    // One allocation per connection: cloning a Context for every message
    // touches only this connection's reference count, not the server's,
    // which all connections share.
    inner: Arc<Inner>,
}

struct Inner {
    conn: Arc<Conn>,
    server: ServerHandle,
}

impl Context {
    pub(crate) fn new(conn: Arc<Conn>, server: ServerHandle) -> Self {
        Context {
            inner: Arc::new(Inner { conn, server }),
        }
    }

    pub(crate) fn conn(&self) -> &Arc<Conn> {
        &self.inner.conn
    }

    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.inner.conn.id
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.inner.conn.peer
    }

    /// Who the peer proved to be, if anyone: with mutual TLS
    /// ([`tls::server_config`](crate::tls::server_config) given a client
    /// CA), the verified client certificate's [`Identity`]. Fixed before
    /// the first message is read; `None` without such proof.
    ///
    /// ```
    /// use framewire::server::Context;
    /// use framewire::Message;
    ///
    /// async fn whoami(_m: Message, ctx: Context) -> Message {
    ///     let name = ctx.identity().map(|i| i.name().to_owned()).unwrap_or_default();
    ///     Message::respond("whoami", name)
    /// }
    /// # let _ = whoami;
    /// ```
    pub fn identity(&self) -> Option<&Identity> {
        self.inner.conn.identity()
    }

    /// The connection's tags, sorted.
    pub fn tags(&self) -> Vec<String> {
        self.inner.conn.tags()
    }

    /// Whether the connection has `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.inner.conn.has_tag(tag)
    }

    /// Tags the connection (e.g. `name:alice` after a login message), for
    /// [`ServerHandle::send_to_tag`]. Returns false if it already had it.
    pub fn add_tag(&self, tag: impl Into<String>) -> bool {
        self.inner.conn.add_tag(tag.into())
    }

    /// Removes a tag. Returns whether it was set.
    pub fn remove_tag(&self, tag: &str) -> bool {
        self.inner.conn.remove_tag(tag)
    }

    /// Sends `msg` to this connection (through the instance plugins),
    /// without waiting; a full queue applies the slow-consumer policy.
    pub fn send(&self, mut msg: Message) -> Result<(), SendError> {
        crate::trace::attach_current(&mut msg);
        let pipeline = &self.inner.server.shared.pipeline;
        let frame = pipeline.seal(msg, &self.inner.conn.link(pipeline.tag()))?;
        self.inner.server.shared.deliver(&self.inner.conn, frame)
    }

    /// Sends `msg` to this connection as it is (no trace context of the
    /// current handler): a kept notification sent again.
    pub(crate) fn send_unchanged(&self, msg: Message) -> Result<(), SendError> {
        let pipeline = &self.inner.server.shared.pipeline;
        let frame = pipeline.seal(msg, &self.inner.conn.link(pipeline.tag()))?;
        self.inner.server.shared.deliver(&self.inner.conn, frame)
    }

    /// Subscribes this connection to `key`.
    pub fn subscribe(&self, key: impl Into<Bytes>) -> Result<(), SubscribeError> {
        self.inner.server.subscribe(key, self.inner.conn.id)
    }

    /// Subscribes this connection to `key` as a member of queue group
    /// `group` (see [`ServerHandle::subscribe_group`](super::ServerHandle::subscribe_group)).
    pub fn subscribe_group(
        &self,
        key: impl Into<Bytes>,
        group: impl AsRef<[u8]>,
    ) -> Result<(), SubscribeError> {
        self.inner
            .server
            .subscribe_group(key, group, self.inner.conn.id)
    }

    /// Unsubscribes this connection from `key`; returns whether it was
    /// subscribed (not being subscribed is not an error).
    pub fn unsubscribe(&self, key: &[u8]) -> bool {
        self.inner.server.unsubscribe(key, self.inner.conn.id)
    }

    /// Whether this connection is subscribed to `key`.
    pub fn is_subscribed(&self, key: &[u8]) -> bool {
        self.inner.conn.is_subscribed(key)
    }

    /// Closes this connection once the current reply is written.
    pub fn disconnect(&self) {
        self.inner.conn.cancel.cancel();
    }

    /// The server, for notify, broadcast and the connection registry.
    pub fn server(&self) -> &ServerHandle {
        &self.inner.server
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("id", &self.inner.conn.id)
            .field("peer", &self.inner.conn.peer)
            .field("identity", &self.inner.conn.identity())
            .finish()
    }
}
