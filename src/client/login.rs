//! The login a client sends first on each connection (when configured):
//! queued with its entry for the pending table before the connection is
//! published, so nothing goes out ahead of it, and its answer.

use bytes::Bytes;

use crate::io::outbound::Backpressure;
use crate::protocol;
use crate::sync::lock;
use crate::wire::Message;

use super::pending::Outgoing;
use super::{ClientError, Current, Inner};

/// A login message sent on a new connection, and how its answer arrives.
pub(super) struct Login {
    id: protocol::RequestId,
    reply: tokio::sync::oneshot::Receiver<Result<Message, ClientError>>,
}

impl Login {
    /// Queues the login message on `current` (before it is published, so
    /// nothing can go out ahead of it) and registers its waiter.
    pub(super) fn send(inner: &Inner, current: &Current, content: Bytes) -> Option<Login> {
        let mut msg = protocol::login(content);
        let (tx, reply) = tokio::sync::oneshot::channel();
        let out = Outgoing::new(&mut msg, Some(tx), None).on(current.id);
        let id = out.id();
        let frame = current.seal(inner, msg).ok()?;
        // A control frame: dropped rather than waited for (the queue of a
        // new connection is empty).
        current
            .queue
            .push_marked(frame, out, Backpressure::Drop)
            .ok()?;
        Some(Login { id, reply })
    }

    /// The server's answer: OK, or the refusal as an error.
    pub(super) async fn outcome(self, inner: &Inner) -> Result<(), ClientError> {
        let timeout = inner.config.request_timeout;
        let answer = tokio::time::timeout(timeout, self.reply).await;
        lock(&inner.pending).remove(self.id);
        match answer {
            Ok(Ok(result)) => ClientError::classify(result?).map(drop),
            Ok(Err(_)) => Err(ClientError::ConnectionLost),
            Err(_) => Err(ClientError::Timeout {
                uri: protocol::LOGIN_URI.to_owned(),
                after: timeout,
            }),
        }
    }
}
