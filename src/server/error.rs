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
    /// [`notify`](super::ServerHandle::notify) was given a message its
    /// topic's subscribers would never see: a subscriber takes NOTIFY_URI
    /// messages whose uri is the topic (build it with
    /// [`Message::notify`](crate::Message::notify)).
    #[error("a notification on topic {topic:?} must be NOTIFY_URI with uri {topic:?}, not {message_type} with uri {uri:?}")]
    TopicMismatch {
        /// The topic notified (lossy UTF-8, at most 64 characters).
        topic: String,
        /// The message's type.
        message_type: crate::MessageType,
        /// The message's uri (lossy UTF-8, at most 64 characters).
        uri: String,
    },
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
    /// Whether a plugin could not sign or encrypt it (a local failure).
    is_signing => SendError::Auth(_),
    /// Whether a notification's type or uri did not match its topic.
    is_topic_mismatch => SendError::TopicMismatch { .. },
});

impl SendError {
    /// Renamed [`is_signing`](Self::is_signing) (see CHANGELOG.md), kept
    /// for one release.
    #[deprecated(since = "0.2.0", note = "renamed is_signing: a local plugin failure")]
    pub fn is_auth(&self) -> bool {
        self.is_signing()
    }
}

/// Refuses a notification no subscriber of `topic` would see.
pub(crate) fn check_topic(topic: &[u8], msg: &crate::Message) -> Result<(), SendError> {
    if msg.message_type == crate::MessageType::NOTIFY_URI && msg.uri()[..] == *topic {
        return Ok(());
    }
    let short = |b: &[u8]| String::from_utf8_lossy(b).chars().take(64).collect();
    Err(SendError::TopicMismatch {
        topic: short(topic),
        message_type: msg.message_type,
        uri: short(msg.uri()),
    })
}

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
    /// The queue-group name is not 1 to
    /// [`MAX_GROUP_LEN`](crate::protocol::MAX_GROUP_LEN) bytes of
    /// `[A-Za-z0-9-_.]`.
    #[error("queue-group name must be 1 to 64 bytes of [A-Za-z0-9-_.]")]
    BadGroup,
    /// The server holds as many queue groups (topic and group) as
    /// [`Limits::max_queue_groups`](super::Limits::max_queue_groups).
    #[error("server already holds the maximum of {max} queue groups")]
    TooManyGroups {
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
    /// Whether the queue-group name was refused.
    is_bad_group => SubscribeError::BadGroup,
    /// Whether the server is at its queue-group cap.
    is_too_many_groups => SubscribeError::TooManyGroups { .. },
});

#[cfg(test)]
mod predicate_tests {
    use super::*;
    use crate::wire::Section;

    #[test]
    #[allow(deprecated)]
    fn the_old_name_answers_as_the_new_one() {
        assert!(SendError::Auth(AuthError::BadMac).is_auth());
        assert!(!SendError::Closed.is_auth());
    }

    #[test]
    fn a_notification_must_be_notify_uri_on_its_topic() {
        use crate::{Message, MessageType};
        assert!(check_topic(b"t", &Message::notify("t", "x")).is_ok());
        let wrong_uri = check_topic(b"t", &Message::notify("u", "x")).unwrap_err();
        assert_eq!(
            wrong_uri.to_string(),
            "a notification on topic \"t\" must be NOTIFY_URI with uri \"t\", not NOTIFY_URI with uri \"u\""
        );
        let wrong_type = check_topic(b"t", &Message::new(MessageType::PUBLISH_URI, "t", "x"));
        assert!(wrong_type.unwrap_err().is_topic_mismatch());
        let long = "é".repeat(100);
        let SendError::TopicMismatch { topic, .. } =
            check_topic(long.as_bytes(), &Message::notify("u", "")).unwrap_err()
        else {
            unreachable!()
        };
        assert_eq!(topic.chars().count(), 64);
    }

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
                (SendError::Auth(AuthError::BadMac), &["is_signing"]),
                (
                    check_topic(b"t", &crate::Message::ok("t", "")).unwrap_err(),
                    &["is_topic_mismatch"],
                ),
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
                (SubscribeError::BadGroup, &["is_bad_group"]),
                (
                    SubscribeError::TooManyGroups { max: 1 },
                    &["is_too_many_groups"],
                ),
            ],
        );
    }
}
