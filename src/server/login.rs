//! The login gate (hoist's model): with [`ServerBuilder::login`], a
//! connection's first message must be a login, which the gate answers with
//! an [`Identity`] or a refusal before anything is routed. Until then
//! every other message is refused (AUTH_ERROR `login required`), and the
//! connection is closed at [`Limits::auth_timeout`](super::Limits::auth_timeout)
//! if no login succeeds.
//!
//! [`ServerBuilder::login`]: super::ServerBuilder::login

use std::future::Future;

use bytes::Bytes;

use super::ConnectionInfo;
use crate::auth::Identity;
use crate::handler::BoxFuture;

/// What a client sends to log in: the content of its login message (a
/// token, a password, a signed blob: the gate decides), and the protocol
/// version it speaks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Hello {
    /// The login message's content (its own copy, not the read buffer).
    pub content: Bytes,
    /// The protocol version the client announced, if any
    /// ([`PROTOCOL_VERSION`](crate::protocol::PROTOCOL_VERSION) for
    /// framewire clients).
    pub version: Option<u64>,
}

/// A gate's "no": the reason goes back to the client (in an AUTH_ERROR),
/// then the connection is closed.
///
/// ```
/// use framewire::server::LoginRefused;
///
/// let no = LoginRefused::new("unknown token");
/// assert_eq!(no.reason(), "unknown token");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRefused {
    reason: String,
}

impl LoginRefused {
    /// A refusal saying `reason` (sent to the client: say no more than it
    /// may know).
    pub fn new(reason: impl Into<String>) -> Self {
        LoginRefused {
            reason: reason.into(),
        }
    }

    /// What the client is told.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Decides who a connection is from its [`Hello`] (and what the server
/// knows of the connection: its address, and an identity already proved by
/// mutual TLS or a [`UserHmac`](crate::auth::UserHmac) frame). Implemented
/// for async closures `Fn(Hello, ConnectionInfo) -> Result<Identity, LoginRefused>`.
/// Compare tokens with [`ct_eq`](crate::auth::crypto::ct_eq), not `==`.
pub trait LoginGate: Send + Sync + 'static {
    /// Logs the connection in, or refuses it.
    fn login(
        &self,
        hello: Hello,
        info: ConnectionInfo,
    ) -> BoxFuture<Result<Identity, LoginRefused>>;
}

impl<F, Fut> LoginGate for F
where
    F: Fn(Hello, ConnectionInfo) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Identity, LoginRefused>> + Send + 'static,
{
    fn login(
        &self,
        hello: Hello,
        info: ConnectionInfo,
    ) -> BoxFuture<Result<Identity, LoginRefused>> {
        Box::pin(self(hello, info))
    }
}
