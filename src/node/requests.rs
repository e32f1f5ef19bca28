//! A node's requests ([`NodeHandle::call`] and its helpers): sent through
//! the plugins, matched to their replies by `pending`, bounded by the
//! request timeout. Nothing here touches the guard: the application chose
//! where its requests go.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::auth::PluginLayer;
use crate::proto::requests::is_error_report;
use crate::wire::{Message, MessageType};

use super::{NodeError, NodeHandle};

impl NodeHandle {
    /// Sends `msg` to `to` as a request and waits (up to
    /// [`NodeLimits::request_timeout`](super::NodeLimits::request_timeout)) for its reply; error replies
    /// become typed errors. Matching: framewire peers echo the request id
    /// (random, so a spoofer must guess it), and whatever reply carries it
    /// and the request's uri, from `to`, completes the request; netaio peers are matched as
    /// netaio does, by address, reply type and uri, oldest request first,
    /// so a reply netaio would not wait for (NOT_FOUND after CREATE_URI, a
    /// reply for another uri) is not matched and the request times out —
    /// the same rules as [`Client::call`](crate::client::Client::call).
    pub async fn call(&self, to: SocketAddr, msg: Message) -> Result<Message, NodeError> {
        let timeout = self.shared.limits.request_timeout;
        self.call_raw(to, msg, timeout, None).await
    }

    /// [`call`](Self::call) with its own timeout.
    pub async fn call_timeout(
        &self,
        to: SocketAddr,
        msg: Message,
        timeout: Duration,
    ) -> Result<Message, NodeError> {
        self.call_raw(to, msg, timeout, None).await
    }

    /// [`call`](Self::call) with a per-call plugin layer inside the
    /// instance one (netaio's per-call plugins, such as an
    /// [`X25519CipherPlugin`](crate::auth::X25519CipherPlugin) keyed by the
    /// peer's advertised `pubkey`): the request is sealed with it, and a
    /// reply that is not an error report must pass it.
    pub async fn call_with(
        &self,
        to: SocketAddr,
        msg: Message,
        layer: &PluginLayer,
    ) -> Result<Message, NodeError> {
        let timeout = self.shared.limits.request_timeout;
        self.call_raw(to, msg, timeout, Some(layer)).await
    }

    async fn call_raw(
        &self,
        to: SocketAddr,
        mut msg: Message,
        timeout: Duration,
        layer: Option<&PluginLayer>,
    ) -> Result<Message, NodeError> {
        self.live()?;
        let uri = String::from_utf8_lossy(msg.uri()).into_owned();
        let (ticket, rx) = self.shared.pending.register(to, &mut msg)?;
        let sent = match self.shared.seal(msg, to, layer) {
            Ok(frame) => self.shared.send_frame(&frame, to).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            self.shared.pending.forget(ticket);
            return Err(e);
        }
        let reply = tokio::select! {
            r = tokio::time::timeout(timeout, rx) => r,
            _ = self.shared.stop.cancelled() => {
                self.shared.pending.forget(ticket);
                return Err(NodeError::Stopped);
            }
        };
        let reply = match reply {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => return Err(NodeError::Stopped),
            Err(_) => {
                self.shared.pending.forget(ticket);
                return Err(NodeError::Timeout {
                    uri,
                    to,
                    after: timeout,
                });
            }
        };
        let reply = match layer {
            Some(layer) if !is_error_report(reply.message_type) => {
                let data = self.shared.peer_data(to);
                let link = self
                    .shared
                    .pipeline
                    .link()
                    .peer(Some(to))
                    .peer_data(data.as_ref());
                self.shared.pipeline.open_with(reply, layer, &link)?
            }
            _ => reply,
        };
        NodeError::classify(reply)
    }

    /// REQUEST_URI `uri` with `content` to `to`; the RESPOND_URI reply, or
    /// a typed error for NOT_FOUND, ERROR, AUTH_ERROR, NOT_PERMITTED and
    /// timeout.
    pub async fn request(
        &self,
        to: SocketAddr,
        uri: impl Into<Bytes>,
        content: impl Into<Bytes>,
    ) -> Result<Message, NodeError> {
        self.call(to, Message::new(MessageType::REQUEST_URI, uri, content))
            .await
    }

    /// CREATE_URI to `to`; the OK reply.
    pub async fn create(
        &self,
        to: SocketAddr,
        uri: impl Into<Bytes>,
        data: impl Into<Bytes>,
    ) -> Result<Message, NodeError> {
        self.call(to, Message::new(MessageType::CREATE_URI, uri, data))
            .await
    }

    /// UPDATE_URI to `to`; the OK reply.
    pub async fn update(
        &self,
        to: SocketAddr,
        uri: impl Into<Bytes>,
        data: impl Into<Bytes>,
    ) -> Result<Message, NodeError> {
        self.call(to, Message::new(MessageType::UPDATE_URI, uri, data))
            .await
    }

    /// DELETE_URI to `to`; the OK reply.
    pub async fn delete(
        &self,
        to: SocketAddr,
        uri: impl Into<Bytes>,
    ) -> Result<Message, NodeError> {
        self.call(to, Message::new(MessageType::DELETE_URI, uri, Bytes::new()))
            .await
    }
}
