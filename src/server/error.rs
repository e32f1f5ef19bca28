//! The server's error types: sending to connections and subscribing them.

use crate::auth::AuthError;
use crate::proto::pipeline::SealError;
use crate::wire::EncodeError;

use super::ConnectionId;

/// Why a message could not be sent to a connection.
///
/// ```
/// use framewire::server::SendError;
///
/// let e = SendError::QueueFull;
/// assert!(e.is_queue_full() && !e.is_closed());
/// assert_eq!(e.to_string(), "outbound queue full");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No such connection.
    #[error("no connection {0}")]
    NoSuchConnection(ConnectionId),
    /// The connection is closing.
    #[error("connection closed")]
    Closed,
    /// The connection's outbound queue is full (slow consumer); the policy
    /// was applied.
    #[error("outbound queue full")]
    QueueFull,
    /// The message cannot be framed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A plugin could not sign or encrypt it.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

crate::predicates::predicates!(SendError {
    /// Whether there was no such connection.
    is_no_such_connection => SendError::NoSuchConnection(_),
    /// Whether the connection is closing.
    is_closed => SendError::Closed,
    /// Whether the connection's queue was full.
    is_queue_full => SendError::QueueFull,
    /// Whether the message could not be framed.
    is_encode => SendError::Encode(_),
    /// Whether a plugin could not sign or encrypt it.
    is_auth => SendError::Auth(_),
});

impl From<SealError> for SendError {
    fn from(e: SealError) -> Self {
        match e {
            SealError::Auth(e) => SendError::Auth(e),
            SealError::Encode(e) => SendError::Encode(e),
        }
    }
}

/// Why a subscription was refused.
///
/// ```
/// use framewire::server::SubscribeError;
///
/// let e = SubscribeError::TooMany { max: 3 };
/// assert!(e.is_too_many());
/// assert_eq!(e.to_string(), "connection already holds the maximum of 3 subscriptions");
/// let e = SubscribeError::TopicTooLong { len: 2000, max: 1024 };
/// assert!(e.is_topic_too_long() && !e.is_server_full());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The connection holds its maximum number of subscriptions.
    #[error("connection already holds the maximum of {max} subscriptions")]
    TooMany {
        /// The limit in force.
        max: usize,
    },
    /// No such connection (it has closed).
    #[error("no connection {0}")]
    NoSuchConnection(ConnectionId),
    /// The topic is longer than
    /// [`Limits::max_topic_len`](super::Limits::max_topic_len).
    #[error("topic of {len} bytes is longer than the maximum of {max}")]
    TopicTooLong {
        /// The topic's length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The connection's subscriptions would pass
    /// [`Limits::max_subscription_bytes_per_connection`](super::Limits::max_subscription_bytes_per_connection).
    #[error("connection's subscriptions would pass the maximum of {max} bytes")]
    TooManyBytes {
        /// The limit in force.
        max: usize,
    },
    /// The server's subscriptions would pass
    /// [`Limits::max_subscription_bytes`](super::Limits::max_subscription_bytes).
    #[error("server's subscriptions would pass its maximum of {max} bytes")]
    ServerFull {
        /// The limit in force.
        max: usize,
    },
}

crate::predicates::predicates!(SubscribeError {
    /// Whether the connection is at its subscription cap.
    is_too_many => SubscribeError::TooMany { .. },
    /// Whether there was no such connection.
    is_no_such_connection => SubscribeError::NoSuchConnection(_),
    /// Whether the topic was too long.
    is_topic_too_long => SubscribeError::TopicTooLong { .. },
    /// Whether the connection is at its subscription byte budget.
    is_too_many_bytes => SubscribeError::TooManyBytes { .. },
    /// Whether the server is at its subscription byte budget.
    is_server_full => SubscribeError::ServerFull { .. },
});

#[cfg(test)]
mod predicate_tests {
    use super::*;
    use crate::wire::Section;

    #[test]
    fn each_send_error_predicate_holds_for_its_variants_only() {
        crate::predicates::check(
            SendError::PREDICATES,
            &[
                (
                    SendError::NoSuchConnection(ConnectionId(1)),
                    &["is_no_such_connection"],
                ),
                (SendError::Closed, &["is_closed"]),
                (SendError::QueueFull, &["is_queue_full"]),
                (
                    SendError::Encode(EncodeError::TooLarge {
                        section: Section::Body,
                        length: 2,
                        max: 1,
                    }),
                    &["is_encode"],
                ),
                (SendError::Auth(AuthError::BadMac), &["is_auth"]),
            ],
        );
    }

    #[test]
    fn each_subscribe_error_predicate_holds_for_its_variants_only() {
        crate::predicates::check(
            SubscribeError::PREDICATES,
            &[
                (SubscribeError::TooMany { max: 1 }, &["is_too_many"]),
                (
                    SubscribeError::NoSuchConnection(ConnectionId(1)),
                    &["is_no_such_connection"],
                ),
                (
                    SubscribeError::TopicTooLong { len: 2, max: 1 },
                    &["is_topic_too_long"],
                ),
                (
                    SubscribeError::TooManyBytes { max: 1 },
                    &["is_too_many_bytes"],
                ),
                (SubscribeError::ServerFull { max: 1 }, &["is_server_full"]),
            ],
        );
    }
}
