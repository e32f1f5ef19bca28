//! Why a node operation failed ([`NodeError`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::auth::AuthError;
use crate::pipeline::SealError;
use crate::wire::{EncodeError, Message, MessageType};

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
    /// The peer answered NOT_FOUND.
    #[error("not found: {}", text(.0))]
    NotFound(Message),
    /// The peer answered NOT_PERMITTED.
    #[error("not permitted: {}", text(.0))]
    NotPermitted(Message),
    /// The peer answered AUTH_ERROR.
    #[error("authentication rejected by the peer: {}", text(.0))]
    AuthRejected(Message),
    /// The peer answered ERROR.
    #[error("peer error: {}", text(.0))]
    Remote(Message),
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

fn text(m: &Message) -> String {
    String::from_utf8_lossy(m.content()).into_owned()
}

crate::error::predicates!(NodeError {
    /// Whether no reply came in time.
    is_timeout => NodeError::Timeout { .. },
    /// Whether the peer said NOT_FOUND.
    is_not_found => NodeError::NotFound(_),
    /// Whether the peer said NOT_PERMITTED.
    is_not_permitted => NodeError::NotPermitted(_),
    /// Whether the peer refused authentication.
    is_auth_rejected => NodeError::AuthRejected(_),
    /// Whether the peer answered ERROR.
    is_remote => NodeError::Remote(_),
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
    /// Whether a plugin could not sign or encrypt the message.
    is_auth => NodeError::Auth(_),
    /// Whether the peer answered with an error reply: see
    /// [`reply`](Self::reply).
    is_error_reply => NodeError::NotFound(_)
        | NodeError::NotPermitted(_)
        | NodeError::AuthRejected(_)
        | NodeError::Remote(_),
});

impl NodeError {
    /// The peer's reply, for the error kinds that carry one.
    pub fn reply(&self) -> Option<&Message> {
        match self {
            NodeError::NotFound(m)
            | NodeError::NotPermitted(m)
            | NodeError::AuthRejected(m)
            | NodeError::Remote(m) => Some(m),
            _ => None,
        }
    }

    /// A reply as the caller's result: error types become errors.
    pub(crate) fn classify(reply: Message) -> Result<Message, NodeError> {
        match reply.message_type {
            MessageType::NOT_FOUND => Err(NodeError::NotFound(reply)),
            MessageType::NOT_PERMITTED => Err(NodeError::NotPermitted(reply)),
            MessageType::AUTH_ERROR => Err(NodeError::AuthRejected(reply)),
            MessageType::ERROR => Err(NodeError::Remote(reply)),
            _ => Ok(reply),
        }
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
                NodeError::is_auth_rejected,
                "authentication rejected by the peer: ",
            ),
            (MessageType::ERROR, NodeError::is_remote, "peer error: "),
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
