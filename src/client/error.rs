//! The client's errors ([`ClientError`]) and why a connection ended
//! ([`DisconnectReason`]).

use std::time::Duration;

use crate::auth::AuthError;
use crate::proto::pipeline::SealError;
use crate::proto::requests::ReplyError;
use crate::wire::{DecodeError, EncodeError, Message};

/// Why a client operation failed.
///
/// ```
/// use std::time::Duration;
/// use framewire::client::ClientError;
///
/// let e = ClientError::Timeout { uri: "echo".into(), after: Duration::from_secs(1) };
/// assert!(e.is_timeout() && !e.is_connection_lost());
/// assert!(e.reply().is_none());
/// assert_eq!(e.to_string(), "no reply to \"echo\" within 1s");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No reply within the timeout.
    #[error("no reply to {uri:?} within {after:?}")]
    Timeout {
        /// The request's uri (lossy UTF-8).
        uri: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The server answered with an error reply: NOT_FOUND, NOT_PERMITTED,
    /// AUTH_ERROR or ERROR (the classification the node shares; ask with
    /// [`is_not_found`](Self::is_not_found) and friends, or
    /// [`reply`](Self::reply)).
    #[error("{}", .0.describe("server"))]
    Reply(ReplyError),
    /// The connection was lost while the request was in flight, or there is
    /// no connection right now (reconnection may be under way).
    #[error("connection lost")]
    ConnectionLost,
    /// The client was closed.
    #[error("client closed")]
    Closed,
    /// As many requests as
    /// [`ClientBuilder::max_pending_requests`](super::ClientBuilder::max_pending_requests)
    /// allows are already waiting.
    #[error("{max} requests already waiting for replies")]
    TooManyPending {
        /// The limit in force.
        max: usize,
    },
    /// The client is reconnecting and its
    /// [offline buffer](super::ClientBuilder::offline_buffer) is full: the
    /// message was not kept.
    #[error("not connected and the offline buffer is full ({messages} messages, {bytes} bytes)")]
    OfflineBufferFull {
        /// Messages in the buffer.
        messages: usize,
        /// Bytes in the buffer.
        bytes: usize,
    },
    /// The builder was given an empty server list.
    #[error("no server address given")]
    NoServers,
    /// Connecting failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The message cannot be framed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A plugin could not sign or encrypt the message.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The client already subscribes to the topic in another way (plainly
    /// or in another queue group), or the group name is not 1 to 64 bytes
    /// of `[A-Za-z0-9-_.]`: one connection holds one subscription per
    /// topic.
    #[error("topic already subscribed otherwise, or a bad queue-group name")]
    Subscription,
    /// A typed call's value could not be encoded, or the reply's content
    /// is not the type asked for (what was wrong, as the server would
    /// say it).
    #[cfg(any(feature = "json", feature = "msgpack"))]
    #[error("reply content: {0}")]
    Content(#[from] crate::content::ContentError),
}

crate::predicates::predicates!(ClientError {
    /// Whether no reply came in time.
    is_timeout => ClientError::Timeout { .. },
    /// Whether the server said NOT_FOUND.
    is_not_found => ClientError::Reply(ReplyError::NotFound(_)),
    /// Whether the server said NOT_PERMITTED.
    is_not_permitted => ClientError::Reply(ReplyError::NotPermitted(_)),
    /// Whether the server answered AUTH_ERROR (it refused our
    /// credentials). Reply predicates are named after the reply's type.
    is_auth_error => ClientError::Reply(ReplyError::AuthRejected { .. }),
    /// Whether the server answered ERROR.
    is_error => ClientError::Reply(ReplyError::Remote(_)),
    /// Whether the connection went away (or is down right now).
    is_connection_lost => ClientError::ConnectionLost,
    /// Whether the client was closed.
    is_closed => ClientError::Closed,
    /// Whether too many requests were already waiting.
    is_too_many_pending => ClientError::TooManyPending { .. },
    /// Whether the offline buffer was full.
    is_offline_buffer_full => ClientError::OfflineBufferFull { .. },
    /// Whether connecting failed (or there was no server to try).
    is_connect => ClientError::Connect { .. } | ClientError::NoServers,
    /// Whether the message could not be framed.
    is_encode => ClientError::Encode(_),
    /// Whether one of our plugins could not sign or encrypt the message
    /// (a local failure, not an AUTH_ERROR reply).
    is_signing => ClientError::Auth(_),
    /// Whether a subscription conflicts with one the client holds, or
    /// names a bad queue group.
    is_subscription => ClientError::Subscription,
    /// Whether the server answered with an error reply (NOT_FOUND,
    /// NOT_PERMITTED, AUTH_ERROR or ERROR): see [`reply`](Self::reply).
    is_error_reply => ClientError::Reply(_),
});

crate::predicates::renamed_reply_predicates!(ClientError, signing);

impl ClientError {
    /// Whether a typed call's content could not be encoded, or the reply's
    /// could not be decoded (features `json`, `msgpack`).
    #[cfg(any(feature = "json", feature = "msgpack"))]
    pub fn is_content(&self) -> bool {
        matches!(self, ClientError::Content(_))
    }

    /// What the server said was wrong, for an error reply: its content as
    /// text (a typed handler's reason, such as `text: must be 1..=500
    /// characters`).
    ///
    /// ```
    /// use framewire::client::ClientError;
    /// use framewire::{Message, ReplyError};
    ///
    /// let e = ClientError::from(ReplyError::Remote(Message::error("text: too long")));
    /// assert_eq!(e.reason().as_deref(), Some("text: too long"));
    /// assert!(ClientError::Closed.reason().is_none());
    /// ```
    pub fn reason(&self) -> Option<String> {
        self.reply()
            .map(|m| String::from_utf8_lossy(m.content()).into_owned())
    }

    /// The server's reply, for the error kinds that carry one.
    pub fn reply(&self) -> Option<&Message> {
        self.as_reply_error().map(ReplyError::reply)
    }

    /// The error reply, if the server answered with one.
    ///
    /// ```
    /// use framewire::client::ClientError;
    /// use framewire::{Message, ReplyError};
    ///
    /// let e = ClientError::from(ReplyError::Remote(Message::error("cannot overwrite")));
    /// assert!(e.as_reply_error().is_some_and(ReplyError::is_error));
    /// assert_eq!(e.to_string(), "server error: cannot overwrite");
    /// ```
    pub fn as_reply_error(&self) -> Option<&ReplyError> {
        match self {
            ClientError::Reply(e) => Some(e),
            _ => None,
        }
    }

    /// Turns error replies into typed errors.
    pub(crate) fn classify(reply: Message) -> Result<Message, ClientError> {
        Ok(ReplyError::classify(reply)?)
    }
}

impl From<ReplyError> for ClientError {
    fn from(e: ReplyError) -> Self {
        ClientError::Reply(e)
    }
}

impl From<SealError> for ClientError {
    fn from(e: SealError) -> Self {
        match e {
            SealError::Auth(e) => ClientError::Auth(e),
            SealError::Encode(e) => ClientError::Encode(e),
        }
    }
}

/// Why a connection to the server ended, in
/// [`ConnectionEvent::Disconnected`](super::ConnectionEvent::Disconnected).
///
/// ```
/// use framewire::client::DisconnectReason;
///
/// let r = DisconnectReason::KeepaliveTimeout;
/// assert!(r.is_keepalive_timeout());
/// assert_eq!(r.to_string(), "keepalive: the server did not answer");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The server closed the connection between frames.
    #[error("the server closed the connection")]
    ClosedByServer,
    /// The server closed the connection part way through a frame.
    #[error("the server closed the connection inside a frame ({pending} bytes pending)")]
    ClosedInFrame {
        /// Bytes of the unfinished frame.
        pending: usize,
    },
    /// The server sent bytes that are not a frame.
    #[error("invalid frame from the server: {0}")]
    InvalidFrame(DecodeError),
    /// Reading from the socket failed.
    #[error("read failed: {0}")]
    ReadFailed(std::io::ErrorKind),
    /// Writing to the socket failed or stalled past the write timeout.
    #[error("write failed")]
    WriteFailed,
    /// Nothing came back within the keepalive timeout after a ping.
    #[error("keepalive: the server did not answer")]
    KeepaliveTimeout,
    /// [`Client::close`](super::Client::close) was called.
    #[error("closed")]
    Closed,
    /// The server is shutting down and asked its clients to move
    /// ([`DRAIN_URI`](crate::protocol::DRAIN_URI)): the client goes on to
    /// the next server, while replies still due on this connection are
    /// read before it is closed.
    #[error("the server is draining")]
    Draining,
}

crate::predicates::predicates!(DisconnectReason {
    /// Whether the server closed the connection between frames.
    is_closed_by_server => DisconnectReason::ClosedByServer,
    /// Whether the server closed the connection inside a frame.
    is_closed_in_frame => DisconnectReason::ClosedInFrame { .. },
    /// Whether the server sent an invalid frame.
    is_invalid_frame => DisconnectReason::InvalidFrame(_),
    /// Whether reading failed.
    is_read_failed => DisconnectReason::ReadFailed(_),
    /// Whether writing failed or stalled.
    is_write_failed => DisconnectReason::WriteFailed,
    /// Whether the keepalive timed out.
    is_keepalive_timeout => DisconnectReason::KeepaliveTimeout,
    /// Whether the client was closed.
    is_closed => DisconnectReason::Closed,
    /// Whether the server asked its clients to move.
    is_draining => DisconnectReason::Draining,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_error_reply_carries_the_servers_message() {
        let e = ClientError::from(ReplyError::Remote(Message::error("no")));
        assert_eq!(
            e.reply().map(|m| m.content().to_vec()),
            Some(b"no".to_vec())
        );
        assert!(e.as_reply_error().is_some_and(ReplyError::is_error));
        assert!(ClientError::Closed.reply().is_none());
        assert!(ClientError::Closed.as_reply_error().is_none());
    }
}

#[cfg(test)]
mod predicate_tests {
    use super::*;
    use crate::wire::Section;

    #[test]
    fn each_client_error_predicate_holds_for_its_variants_only() {
        let too_large = EncodeError::TooLarge {
            section: Section::Body,
            length: 2,
            max: 1,
        };
        let mut cases = crate::proto::requests::predicate_tests::wrapped(ClientError::Reply);
        let others: [(ClientError, &[&'static str]); 10] = [
            (ClientError::Subscription, &["is_subscription"]),
            (
                ClientError::Timeout {
                    uri: "u".into(),
                    after: Duration::from_secs(1),
                },
                &["is_timeout"],
            ),
            (ClientError::ConnectionLost, &["is_connection_lost"]),
            (ClientError::Closed, &["is_closed"]),
            (
                ClientError::TooManyPending { max: 1 },
                &["is_too_many_pending"],
            ),
            (
                ClientError::OfflineBufferFull {
                    messages: 1,
                    bytes: 1,
                },
                &["is_offline_buffer_full"],
            ),
            (ClientError::NoServers, &["is_connect"]),
            (
                ClientError::Connect {
                    addr: "a".into(),
                    source: std::io::ErrorKind::ConnectionRefused.into(),
                },
                &["is_connect"],
            ),
            (ClientError::Encode(too_large), &["is_encode"]),
            (ClientError::Auth(AuthError::BadMac), &["is_signing"]),
        ];
        cases.extend(others.map(|(e, holding)| (e, holding.to_vec())));
        crate::predicates::check_with(ClientError::PREDICATES, &cases);
    }

    #[test]
    fn each_disconnect_predicate_holds_for_its_variants_only() {
        crate::predicates::check(
            DisconnectReason::PREDICATES,
            &[
                (DisconnectReason::ClosedByServer, &["is_closed_by_server"]),
                (
                    DisconnectReason::ClosedInFrame { pending: 1 },
                    &["is_closed_in_frame"],
                ),
                (
                    DisconnectReason::InvalidFrame(DecodeError::TrailingBytes(1)),
                    &["is_invalid_frame"],
                ),
                (
                    DisconnectReason::ReadFailed(std::io::ErrorKind::BrokenPipe),
                    &["is_read_failed"],
                ),
                (DisconnectReason::WriteFailed, &["is_write_failed"]),
                (
                    DisconnectReason::KeepaliveTimeout,
                    &["is_keepalive_timeout"],
                ),
                (DisconnectReason::Closed, &["is_closed"]),
                (DisconnectReason::Draining, &["is_draining"]),
            ],
        );
    }
}

#[cfg(test)]
mod renamed_tests {
    use super::*;

    #[test]
    #[allow(deprecated)]
    fn the_old_names_answer_as_the_new_ones() {
        let cases = [
            ClientError::from(ReplyError::AuthRejected {
                message: Message::error("no"),
                verified: true,
            }),
            ClientError::from(ReplyError::Remote(Message::error("x"))),
            ClientError::Auth(AuthError::BadMac),
            ClientError::Closed,
        ];
        let got: Vec<_> = cases
            .iter()
            .map(|e| (e.is_auth_rejected(), e.is_remote(), e.is_auth()))
            .collect();
        assert_eq!(
            got,
            [
                (true, false, false),
                (false, true, false),
                (false, false, true),
                (false, false, false)
            ]
        );
    }
}
