//! Where the client's messages go out: the connection of the moment
//! ([`Current`]: its queue, and what plugins bind to it), or, while there
//! is none, the offline buffer, behind one lock ([`Outlet`]) so a message
//! is either buffered before the buffer is flushed or sent after.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use crate::auth::{Link, Role};
use crate::io::outbound::{Backpressure, Outbound, PushError};
use crate::protocol::SessionId;
use crate::sync::lock;
use crate::wire::Message;

use super::offline::{Offline, OfflineBuffer};
use super::pending::Outgoing;
use super::{ClientError, Inner};

/// The connection messages go out on right now, if connected, and what
/// waits for the next one otherwise. One lock for both, so a message is
/// either buffered before the buffer is flushed or sent after.
pub(crate) struct Outlet {
    pub(super) current: Option<Arc<Current>>,
    pub(super) offline: Offline,
}

impl Outlet {
    pub(super) fn new(limits: Option<OfflineBuffer>) -> Outlet {
        Outlet {
            current: None,
            offline: Offline::new(limits),
        }
    }
}

/// What [`Inner::route_out`] hands back to send on a live connection:
/// the connection, the message, and the request it is, if one (`None`:
/// kept for the next connection).
pub(super) type Routed = Option<(Arc<Current>, Message, Option<Outgoing>)>;

/// The connection messages go out on: its queue, and what plugins bind to
/// it (a frame sealed for one connection is only sent on that one).
pub(crate) struct Current {
    /// Requests travel in it with their entries for the pending table.
    pub(super) queue: Arc<Outbound<Outgoing>>,
    pub(super) peer: SocketAddr,
    pub(super) id: u64,
    pub(super) session: SessionId,
    /// What the server first announced on this connection (peer
    /// management), for per-peer ciphers: a reconnection learns it anew.
    pub(super) peer_data: std::sync::OnceLock<Bytes>,
}

impl Current {
    pub(super) fn link<'a>(&'a self, inner: &'a Inner) -> Link<'a> {
        Link::new(Role::Client)
            .peer(Some(self.peer))
            .connection(Some(self.id))
            .session(Some(&self.session))
            .tag(Some(inner.pipeline.tag()))
            .peer_data(self.peer_data.get())
    }

    /// Seals `msg` for this connection.
    pub(super) fn seal(&self, inner: &Inner, msg: Message) -> Result<Bytes, ClientError> {
        Ok(inner.pipeline.seal(msg, &self.link(inner))?)
    }

    /// Queues `frame` under [`Backpressure::Wait`]: the caller waits for
    /// room.
    pub(super) async fn push(&self, frame: Bytes) -> Result<(), ClientError> {
        match self.queue.push(frame, Backpressure::Wait) {
            Ok(()) => Ok(()),
            Err(PushError::Full(Some(frame))) => self
                .queue
                .push_waiting(&mut vec![frame.into()])
                .await
                .map_err(|_| ClientError::ConnectionLost),
            Err(_) => Err(ClientError::ConnectionLost),
        }
    }

    /// Queues request `frame` with its entry for the pending table (the
    /// writer records it as it writes the frame), under
    /// [`Backpressure::Wait`].
    pub(super) async fn push_request(
        &self,
        frame: Bytes,
        out: Outgoing,
    ) -> Result<(), ClientError> {
        let out = out.on(self.id);
        match self.queue.push_marked(frame, out, Backpressure::Wait) {
            Ok(()) => Ok(()),
            Err((PushError::Full(Some(frame)), out)) => self
                .queue
                .push_marked_waiting(frame, out)
                .await
                .map_err(|_| ClientError::ConnectionLost),
            Err(_) => Err(ClientError::ConnectionLost),
        }
    }

    /// Queues a control frame (a login, a ping, an announcement, leaving a
    /// topic) under [`Backpressure::Drop`]: whether it was queued.
    pub(super) fn push_control(&self, frame: Bytes) -> bool {
        self.queue.push(frame, Backpressure::Drop).is_ok()
    }
}

impl Inner {
    /// The connection to send on, or why there is none.
    pub(super) fn current(&self) -> Result<Arc<Current>, ClientError> {
        if self.closed.is_cancelled() {
            return Err(ClientError::Closed);
        }
        lock(&self.outlet)
            .current
            .clone()
            .ok_or(ClientError::ConnectionLost)
    }

    /// The connection to send `msg` on, or, while there is none, the
    /// offline buffer (`request`: the waiting request it is). Nothing else
    /// is ordered here: the writer records requests in wire order.
    pub(super) fn route_out(
        &self,
        msg: Message,
        request: Option<Outgoing>,
    ) -> Result<Routed, ClientError> {
        if self.closed.is_cancelled() {
            return Err(ClientError::Closed);
        }
        let mut outlet = lock(&self.outlet);
        if let Some(current) = &outlet.current {
            return Ok(Some((current.clone(), msg, request)));
        }
        outlet.offline.push(msg, request)?;
        Ok(None)
    }

    /// Seals `msg` for the current connection and queues it there (or
    /// keeps it for the next one).
    pub(super) async fn send_message(&self, msg: Message) -> Result<(), ClientError> {
        match self.route_out(msg, None)? {
            Some((current, msg, _)) => {
                let frame = current.seal(self, msg)?;
                current.push(frame).await
            }
            None => Ok(()),
        }
    }
}
