//! What can go wrong in a test through the kit, typed like every other
//! framewire error (docs/conventions.md), so a test can assert on the
//! failure it expects.

use std::time::Duration;

use crate::wire::{DecodeError, Message};

/// Why a [`TestPeer`](super::TestPeer) or [`TestServer`](super::TestServer)
/// wait did not give what was asked.
///
/// ```
/// use framewire::server::Server;
/// use framewire::testing::TestServer;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// tokio::time::pause(); // the 10 s wait below passes in no real time
/// let server = TestServer::new(Server::builder().build());
/// let mut peer = server.peer().unwrap();
/// let e = peer.recv().await.unwrap_err(); // nothing was sent: nothing comes
/// assert!(e.is_timeout());
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestError {
    /// Nothing (or not what was waited for) arrived within the kit's
    /// timeout ([`TestServer::timeout`](super::TestServer::timeout)).
    #[error("nothing arrived within {0:?}")]
    Timeout(Duration),
    /// The server closed the connection before the next message; `before`
    /// holds what it sent after the last message already returned.
    #[error("the server closed the connection")]
    Closed {
        /// Messages that arrived before the close (usually empty).
        before: Vec<Message>,
    },
    /// The connection stayed open (and sent `got`) when a close was
    /// expected.
    #[error("the connection stayed open")]
    NotClosed {
        /// What arrived instead.
        got: Vec<Message>,
    },
    /// The server sent bytes that do not decode as a frame (or whose
    /// checksum is wrong): a bug in the server, never a peer's doing.
    #[error("the server sent a damaged frame: {0}")]
    Damaged(#[source] DecodeError),
    /// The server did not take the connection: it is at its connection
    /// limit (or the limit for the peer's address), or shutting down.
    #[error("the server refused the connection")]
    Refused,
    /// The in-memory stream or the codec failed (a message too large for
    /// the profile, say).
    #[error(transparent)]
    Codec(#[from] crate::Error),
}

crate::predicates::predicates!(TestError {
    /// Whether the wait ran out.
    is_timeout => TestError::Timeout(_),
    /// Whether the server closed the connection.
    is_closed => TestError::Closed { .. },
    /// Whether a connection expected to close stayed open.
    is_not_closed => TestError::NotClosed { .. },
    /// Whether the server sent a damaged frame.
    is_damaged => TestError::Damaged(_),
    /// Whether the server refused the connection.
    is_refused => TestError::Refused,
    /// Whether the stream or codec failed.
    is_codec => TestError::Codec(_),
});

#[cfg(test)]
mod predicate_tests {
    use super::*;

    #[test]
    fn each_predicate_holds_for_its_variants_only() {
        crate::predicates::check(
            TestError::PREDICATES,
            &[
                (TestError::Timeout(Duration::from_secs(1)), &["is_timeout"]),
                (TestError::Closed { before: Vec::new() }, &["is_closed"]),
                (TestError::NotClosed { got: Vec::new() }, &["is_not_closed"]),
                (
                    TestError::Damaged(DecodeError::TrailingBytes(1)),
                    &["is_damaged"],
                ),
                (TestError::Refused, &["is_refused"]),
                (
                    TestError::Codec(crate::Error::Io(std::io::ErrorKind::Other.into())),
                    &["is_codec"],
                ),
            ],
        );
    }
}
