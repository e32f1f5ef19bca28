//! Why a node operation failed ([`NodeError`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::auth::AuthError;
use crate::proto::pipeline::SealError;
use crate::proto::requests::ReplyError;
use crate::wire::{EncodeError, Message};

/// Why a node operation failed.
///
/// ```
/// use std::time::Duration;
/// use framewire::node::NodeError;
///
/// let e = NodeError::Timeout {
///     uri: "echo".into(),
///     to: "127.0.0.1:9".parse().unwrap(),
///     after: Duration::from_secs(1),
/// };
/// assert!(e.is_timeout() && !e.is_error_reply());
/// assert_eq!(e.to_string(), "no reply to \"echo\" from 127.0.0.1:9 within 1s");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// No reply within the timeout.
    #[error("no reply to {uri:?} from {to} within {after:?}")]
    Timeout {
        /// The request's uri (lossy UTF-8).
        uri: String,
        /// Where the request went.
        to: SocketAddr,
        /// The timeout that expired.
        after: Duration,
    },
    /// The peer answered with an error reply: NOT_FOUND, NOT_PERMITTED,
    /// AUTH_ERROR or ERROR (the classification the client shares; ask with
    /// [`is_not_found`](Self::is_not_found) and friends, or
    /// [`reply`](Self::reply)).
    #[error("{}", .0.describe("peer"))]
    Reply(ReplyError),
    /// As many requests as [`NodeLimits::max_pending_requests`](super::NodeLimits::max_pending_requests)
    /// allows are already waiting.
    #[error("{max} requests already waiting for replies")]
    TooManyPending {
        /// The limit in force.
        max: usize,
    },
    /// As many subscriptions as [`NodeLimits::max_subscriptions`](super::NodeLimits::max_subscriptions)
    /// allows exist.
    #[error("{max} subscriptions already")]
    TooManySubscriptions {
        /// The limit in force.
        max: usize,
    },
    /// The subscriptions' topics take
    /// [`NodeLimits::max_subscription_bytes`](super::NodeLimits::max_subscription_bytes)
    /// already.
    #[error("subscription topics take {max} bytes already")]
    SubscriptionBytes {
        /// The limit in force.
        max: usize,
    },
    /// Datagrams from this source IP made
    /// [`NodeLimits::max_source_subscriptions`](super::NodeLimits::max_source_subscriptions)
    /// subscriptions already.
    #[error("{ip} has {max} subscriptions already")]
    SourceSubscriptions {
        /// The source IP.
        ip: IpAddr,
        /// The limit in force.
        max: usize,
    },
    /// This source IP's subscriptions take
    /// [`NodeLimits::max_source_subscription_bytes`](super::NodeLimits::max_source_subscription_bytes)
    /// bytes of topics already.
    #[error("{ip}'s subscription topics take {max} bytes already")]
    SourceSubscriptionBytes {
        /// The source IP.
        ip: IpAddr,
        /// The limit in force.
        max: usize,
    },
    /// The frame is larger than [`NodeLimits::max_datagram`](super::NodeLimits::max_datagram).
    #[error("a {len}-byte frame does not fit in a datagram (max {max})")]
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The node was stopped.
    #[error("node stopped")]
    Stopped,
    /// Binding, joining the group or sending failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The message cannot be framed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A plugin could not sign or encrypt the message.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

crate::predicates::predicates!(NodeError {
    /// Whether no reply came in time.
    is_timeout => NodeError::Timeout { .. },
    /// Whether the peer said NOT_FOUND.
    is_not_found => NodeError::Reply(ReplyError::NotFound(_)),
    /// Whether the peer said NOT_PERMITTED.
    is_not_permitted => NodeError::Reply(ReplyError::NotPermitted(_)),
    /// Whether the peer answered AUTH_ERROR (it refused our
    /// credentials). Reply predicates are named after the reply's type.
    is_auth_error => NodeError::Reply(ReplyError::AuthRejected { .. }),
    /// Whether the peer answered ERROR.
    is_error => NodeError::Reply(ReplyError::Remote(_)),
    /// Whether too many requests were already waiting.
    is_too_many_pending => NodeError::TooManyPending { .. },
    /// Whether the subscription table was full.
    is_too_many_subscriptions => NodeError::TooManySubscriptions { .. },
    /// Whether the subscriptions' topics took all their bytes.
    is_subscription_bytes => NodeError::SubscriptionBytes { .. },
    /// Whether the source had all the subscriptions it may make.
    is_source_subscriptions => NodeError::SourceSubscriptions { .. },
    /// Whether the source's topics took all their bytes.
    is_source_subscription_bytes => NodeError::SourceSubscriptionBytes { .. },
    /// Whether a subscription bound refused it (any of the four above).
    is_subscription_limit => NodeError::TooManySubscriptions { .. }
        | NodeError::SubscriptionBytes { .. }
        | NodeError::SourceSubscriptions { .. }
        | NodeError::SourceSubscriptionBytes { .. },
    /// Whether the frame did not fit in a datagram.
    is_too_large => NodeError::TooLarge { .. },
    /// Whether the node was stopped.
    is_stopped => NodeError::Stopped,
    /// Whether a socket operation failed.
    is_io => NodeError::Io(_),
    /// Whether the message could not be framed.
    is_encode => NodeError::Encode(_),
    /// Whether one of our plugins could not sign or encrypt the message
    /// (a local failure, not an AUTH_ERROR reply).
    is_signing => NodeError::Auth(_),
    /// Whether the peer answered with an error reply: see
    /// [`reply`](Self::reply).
    is_error_reply => NodeError::Reply(_),
});

crate::predicates::renamed_reply_predicates!(NodeError, signing);

impl NodeError {
    /// The peer's reply, for the error kinds that carry one.
    pub fn reply(&self) -> Option<&Message> {
        self.as_reply_error().map(ReplyError::reply)
    }

    /// The error reply, if the peer answered with one.
    ///
    /// ```
    /// use framewire::node::NodeError;
    /// use framewire::{Message, ReplyError};
    ///
    /// let e = NodeError::from(ReplyError::NotFound(Message::not_found("k")));
    /// assert!(e.is_not_found() && e.as_reply_error().is_some());
    /// assert_eq!(e.to_string(), "not found");
    /// ```
    pub fn as_reply_error(&self) -> Option<&ReplyError> {
        match self {
            NodeError::Reply(e) => Some(e),
            _ => None,
        }
    }

    /// A reply as the caller's result: error types become errors.
    pub(crate) fn classify(reply: Message) -> Result<Message, NodeError> {
        Ok(ReplyError::classify(reply)?)
    }
}

impl From<ReplyError> for NodeError {
    fn from(e: ReplyError) -> Self {
        NodeError::Reply(e)
    }
}

impl From<SealError> for NodeError {
    fn from(e: SealError) -> Self {
        match e {
            SealError::Auth(e) => NodeError::Auth(e),
            SealError::Encode(e) => NodeError::Encode(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, MessageType};

    #[test]
    fn error_replies_become_errors_that_carry_them() {
        for (t, is, prefix) in [
            (
                MessageType::NOT_FOUND,
                NodeError::is_not_found as fn(&NodeError) -> bool,
                "not found: ",
            ),
            (
                MessageType::NOT_PERMITTED,
                NodeError::is_not_permitted,
                "not permitted: ",
            ),
            (
                MessageType::AUTH_ERROR,
                NodeError::is_auth_error,
                "authentication rejected by the peer: ",
            ),
            (MessageType::ERROR, NodeError::is_error, "peer error: "),
        ] {
            let e = NodeError::classify(Message::new(t, "k", "why")).unwrap_err();
            assert!(is(&e), "{t:?}");
            assert_eq!(e.reply().map(|m| m.message_type), Some(t));
            assert_eq!(e.to_string(), format!("{prefix}why"));
        }
        for t in [
            MessageType::OK,
            MessageType::RESPOND_URI,
            MessageType::NOTIFY_URI,
        ] {
            let m = NodeError::classify(Message::new(t, "k", "v")).unwrap();
            assert_eq!((m.message_type, &m.content()[..]), (t, &b"v"[..]));
        }
        assert!(NodeError::Stopped.reply().is_none());
    }

    #[test]
    fn seal_errors_keep_their_kind() {
        let auth = NodeError::from(SealError::Auth(AuthError::BadMac));
        assert!(matches!(auth, NodeError::Auth(AuthError::BadMac)));
    }
}

#[cfg(test)]
mod predicate_tests {
    use super::*;
    use crate::wire::Section;

    #[test]
    fn each_predicate_holds_for_its_variants_only() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let mut cases = crate::proto::requests::predicate_tests::wrapped(NodeError::Reply);
        let others: [(NodeError, &[&'static str]); 11] = [
            (
                NodeError::Timeout {
                    uri: "u".into(),
                    to: SocketAddr::from((ip, 1)),
                    after: Duration::from_secs(1),
                },
                &["is_timeout"],
            ),
            (
                NodeError::TooManyPending { max: 1 },
                &["is_too_many_pending"],
            ),
            (
                NodeError::TooManySubscriptions { max: 1 },
                &["is_too_many_subscriptions", "is_subscription_limit"],
            ),
            (
                NodeError::SubscriptionBytes { max: 1 },
                &["is_subscription_bytes", "is_subscription_limit"],
            ),
            (
                NodeError::SourceSubscriptions { ip, max: 1 },
                &["is_source_subscriptions", "is_subscription_limit"],
            ),
            (
                NodeError::SourceSubscriptionBytes { ip, max: 1 },
                &["is_source_subscription_bytes", "is_subscription_limit"],
            ),
            (NodeError::TooLarge { len: 2, max: 1 }, &["is_too_large"]),
            (NodeError::Stopped, &["is_stopped"]),
            (NodeError::Io(std::io::ErrorKind::Other.into()), &["is_io"]),
            (
                NodeError::Encode(EncodeError::TooLarge {
                    section: Section::Body,
                    length: 2,
                    max: 1,
                }),
                &["is_encode"],
            ),
            (NodeError::Auth(AuthError::BadMac), &["is_signing"]),
        ];
        cases.extend(others.map(|(e, holding)| (e, holding.to_vec())));
        crate::predicates::check_with(NodeError::PREDICATES, &cases);
    }
}

#[cfg(test)]
mod renamed_tests {
    use super::*;
    use crate::Message;

    #[test]
    #[allow(deprecated)]
    fn the_old_names_answer_as_the_new_ones() {
        let cases = [
            NodeError::from(ReplyError::AuthRejected {
                message: Message::error("no"),
                verified: true,
            }),
            NodeError::from(ReplyError::Remote(Message::error("x"))),
            NodeError::Auth(AuthError::BadMac),
            NodeError::Stopped,
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
        let reply = ReplyError::Remote(Message::error("x"));
        assert!(reply.is_remote() && !reply.is_auth_rejected());
        let auth = ReplyError::AuthRejected {
            message: Message::error("no"),
            verified: false,
        };
        assert!(auth.is_auth_rejected() && !auth.is_remote());
    }
}
