//! Authentication and encryption plugins, netaio 0.0.9 style.
//!
//! An [`AuthPlugin`] signs outgoing messages (`make`) and verifies incoming
//! ones (`check`); a [`CipherPlugin`] encrypts and decrypts bodies. A
//! [`PluginStack`] applies an instance-wide layer and an optional
//! per-handler layer in netaio's order:
//!
//! ```text
//! send:    handler cipher.encrypt → handler auth.make → instance cipher.encrypt → instance auth.make
//! receive: instance auth.check → instance cipher.decrypt → handler auth.check → handler cipher.decrypt
//! ```
//!
//! | plugin | peer | integrity covers | replay protection |
//! |---|---|---|---|
//! | [`NetaioHmac`] | netaio 0.0.9 (byte-exact) | `ts ‖ body` (not the type) | on by default (off = netaio) |
//! | [`StrictHmac`] | framewire | type, uri, content, nonce, ts | on by default |
//! | [`NetaioStreamCipher`] | netaio 0.0.9 (byte-exact) | nothing: pair it with an HMAC | — |
//!
//! Plugins are `Send + Sync` and hold no lock across calls, so one instance
//! can serve every connection. Their clock and randomness come from a
//! [`Context`], which tests replace to reproduce netaio's golden vectors.
//!
//! Every failed check is an [`AuthError`]. Its `Display` text is the same
//! generic "authentication failed" for every reason, so it is safe to show
//! to a peer; the variant (and `Debug`) says which field or rule failed, for
//! local logs.
//!
//! ```
//! use framewire::{AuthPlugin, Message, MessageType, NetaioHmac, PluginLayer, PluginStack, Profile};
//!
//! let stack = PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new("test-secret")));
//! let sealed = stack.seal(Message::new(MessageType::REQUEST_URI, "echo", "hello")).unwrap();
//! let wire = sealed.to_bytes(Profile::Netaio).unwrap();
//!
//! // The receiving side has its own plugin instance (and nonce cache).
//! let peer = PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new("test-secret")));
//! let received = Message::decode(Profile::Netaio, wire.clone()).unwrap();
//! let opened = peer.open(received).unwrap();
//! assert_eq!(&opened.content()[..], b"hello");
//!
//! // The same frame again is a replay.
//! let again = peer.open(Message::decode(Profile::Netaio, wire).unwrap()).unwrap_err();
//! assert!(again.error.is_replayed());
//! assert_eq!(again.reply.unwrap().content().as_ref(), b"HMAC auth failed");
//! ```

pub mod crypto;

mod context;
mod mac_fields;
mod netaio_hmac;
mod replay;
mod stack;
mod stream_cipher;
mod strict_hmac;

use std::fmt;

pub use context::{
    Clock, Context, FixedRandom, ManualClock, RandomSource, SystemClock, SystemRandom,
};
pub use netaio_hmac::NetaioHmac;
pub use replay::{ReplayConfig, ReplayGuard};
pub use stack::{Layer, PluginLayer, PluginStack, Rejection};
pub use stream_cipher::NetaioStreamCipher;
pub use strict_hmac::StrictHmac;

use crate::wire::Message;

/// The content of netaio's `HMACAuthPlugin.error()`: the reply to a message
/// that fails its HMAC check, whatever the reason.
pub const HMAC_AUTH_FAILED: &str = "HMAC auth failed";

/// Signs outgoing messages and verifies incoming ones.
///
/// Implementations must be cheap to call concurrently (`&self`), and
/// `check` must never panic on peer data: every failure is an
/// [`AuthError`].
///
/// ```
/// use framewire::auth::AuthError;
/// use framewire::{AuthPlugin, Message, MessageType};
///
/// /// Accepts messages carrying a fixed token (an illustration, not security).
/// #[derive(Debug)]
/// struct Token;
///
/// impl AuthPlugin for Token {
///     fn make(&self, message: &mut Message) -> Result<(), AuthError> {
///         message.auth.insert("token", b"let-me-in".as_slice());
///         Ok(())
///     }
///     fn check(&self, message: &Message) -> Result<(), AuthError> {
///         match message.auth.get_bytes("token") {
///             Some(t) if &t[..] == b"let-me-in" => Ok(()),
///             _ => Err(AuthError::BadMac),
///         }
///     }
/// }
///
/// let mut m = Message::new(MessageType::OK, "", "");
/// Token.make(&mut m).unwrap();
/// assert!(Token.check(&m).is_ok());
/// assert_eq!(Token.error_message().message_type, MessageType::AUTH_ERROR);
/// ```
pub trait AuthPlugin: Send + Sync + fmt::Debug {
    /// Sets this plugin's auth fields on an outgoing message (after any
    /// cipher of the same layer has run, so it signs the body as sent).
    /// Stacked plugins share the `nonce` and `ts` fields: write them only
    /// when absent, and never touch another plugin's fields.
    fn make(&self, message: &mut Message) -> Result<(), AuthError>;

    /// Verifies an incoming message.
    fn check(&self, message: &Message) -> Result<(), AuthError>;

    /// The reply sent, unsigned and unencrypted, when `check` fails (unless
    /// the failing message is itself an error report). Defaults to netaio's
    /// `AUTH_ERROR` / uri `ERROR` / content `HMAC auth failed`; it never says
    /// what failed.
    fn error_message(&self) -> Message {
        Message::error(HMAC_AUTH_FAILED)
    }

    /// Whether signatures depend on the receiving peer. If not, a broadcast
    /// is signed once and the same bytes go to every receiver.
    fn is_peer_specific(&self) -> bool {
        false
    }
}

/// Encrypts outgoing bodies and decrypts incoming ones.
///
/// ```
/// use framewire::{CipherPlugin, Message, MessageType, NetaioStreamCipher};
///
/// let cipher = NetaioStreamCipher::new("test-key");
/// let sealed = cipher.encrypt(Message::new(MessageType::REQUEST_URI, "echo", "hello")).unwrap();
/// assert!(sealed.auth.contains("iv"));
/// let opened = cipher.decrypt(sealed).unwrap();
/// assert_eq!((&opened.uri()[..], &opened.content()[..]), (&b"echo"[..], &b"hello"[..]));
/// ```
pub trait CipherPlugin: Send + Sync + fmt::Debug {
    /// The message with its body encrypted (and any IV field added).
    fn encrypt(&self, message: Message) -> Result<Message, AuthError>;

    /// The message with its body decrypted. netaio drops a message whose
    /// decryption fails, without replying.
    fn decrypt(&self, message: Message) -> Result<Message, AuthError>;

    /// Whether ciphertexts depend on the receiving peer (see
    /// [`AuthPlugin::is_peer_specific`]).
    fn is_peer_specific(&self) -> bool {
        false
    }
}

/// Which auth field an [`AuthError`] is about.
///
/// ```
/// use framewire::auth::AuthFieldRole;
///
/// assert_eq!(AuthFieldRole::Nonce.to_string(), "nonce");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthFieldRole {
    /// The per-message nonce.
    Nonce,
    /// The timestamp.
    Timestamp,
    /// The MAC.
    Mac,
    /// The cipher IV.
    Iv,
}

impl fmt::Display for AuthFieldRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthFieldRole::Nonce => "nonce",
            AuthFieldRole::Timestamp => "ts",
            AuthFieldRole::Mac => "mac",
            AuthFieldRole::Iv => "iv",
        })
    }
}

/// Why a plugin refused a message or could not sign one.
///
/// The `Display` text of every receive-side failure is deliberately the same
/// ("authentication failed", or "decryption failed" for the cipher), so a
/// peer learns nothing about which field or rule failed; match on the
/// variant or log with `{:?}` for the detail.
///
/// ```
/// use framewire::auth::{AuthError, AuthFieldRole};
///
/// let e = AuthError::MissingField(AuthFieldRole::Nonce);
/// assert!(e.is_missing_field());
/// assert_eq!(e.field(), Some(AuthFieldRole::Nonce));
/// assert_eq!(e.to_string(), AuthError::BadMac.to_string());
/// assert!(!e.to_string().contains("nonce"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A field the plugin needs is absent (netaio treats `ts = 0` as absent).
    #[error("{}", generic_text(*.0))]
    MissingField(AuthFieldRole),
    /// A field has the wrong type or size (an int where bytes are needed, a
    /// nonce or IV that is not 16 bytes, a ts that does not fit).
    #[error("{}", generic_text(*.0))]
    MalformedField(AuthFieldRole),
    /// The MAC does not match.
    #[error("authentication failed")]
    BadMac,
    /// The timestamp is outside the replay window.
    #[error("authentication failed")]
    Stale {
        /// The message's ts (saturated to `u64`).
        ts: u64,
        /// The local time it was judged against.
        now: u64,
    },
    /// The nonce was already accepted inside the window.
    #[error("authentication failed")]
    Replayed,
    /// The nonce cache is full: the message is not newer than the nonces
    /// it had to evict (or than every cached one), so it cannot be told
    /// from a replay and is refused. See the `replay` module docs.
    #[error("authentication failed")]
    ReplayCacheFull {
        /// The configured bound.
        capacity: usize,
    },
    /// Sending: the timestamp to sign does not fit netaio's 4-byte `ts`.
    #[error("cannot sign: timestamp {ts} does not fit in 4 bytes")]
    TimestampOutOfRange {
        /// The timestamp.
        ts: i128,
    },
    /// Sending: the uri is longer than the 65 535 bytes a body can carry.
    #[error("cannot sign or encrypt: uri of {len} bytes exceeds 65535")]
    UriTooLong {
        /// The uri length.
        len: usize,
    },
    /// The body is too long for the stream cipher's 32-bit block counter.
    #[error("body too long for the stream cipher")]
    CipherTooLong,
}

fn generic_text(role: AuthFieldRole) -> &'static str {
    match role {
        AuthFieldRole::Iv => "decryption failed",
        _ => "authentication failed",
    }
}

impl AuthError {
    /// A required field is missing.
    pub fn is_missing_field(&self) -> bool {
        matches!(self, AuthError::MissingField(_))
    }

    /// A field is present but unusable.
    pub fn is_malformed_field(&self) -> bool {
        matches!(self, AuthError::MalformedField(_))
    }

    /// The MAC did not verify.
    pub fn is_bad_mac(&self) -> bool {
        matches!(self, AuthError::BadMac)
    }

    /// The timestamp is outside the window.
    pub fn is_stale(&self) -> bool {
        matches!(self, AuthError::Stale { .. })
    }

    /// The nonce was seen before.
    pub fn is_replayed(&self) -> bool {
        matches!(self, AuthError::Replayed)
    }

    /// The nonce cache is full.
    pub fn is_replay_cache_full(&self) -> bool {
        matches!(self, AuthError::ReplayCacheFull { .. })
    }

    /// Any refusal by replay protection (stale, replayed, cache full).
    pub fn is_replay_protection(&self) -> bool {
        self.is_stale() || self.is_replayed() || self.is_replay_cache_full()
    }

    /// A failure while preparing an outgoing message (not the peer's doing).
    pub fn is_send_side(&self) -> bool {
        matches!(
            self,
            AuthError::TimestampOutOfRange { .. }
                | AuthError::UriTooLong { .. }
                | AuthError::CipherTooLong
        )
    }

    /// The field a missing/malformed error is about.
    pub fn field(&self) -> Option<AuthFieldRole> {
        match self {
            AuthError::MissingField(r) | AuthError::MalformedField(r) => Some(*r),
            _ => None,
        }
    }
}

/// A secret kept out of `Debug` output.
#[derive(Clone)]
pub(crate) struct Redacted<T>(pub(crate) T);

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Bytes of an auth field that must be bytes.
pub(crate) fn bytes_field<'a>(
    message: &'a Message,
    name: &str,
    role: AuthFieldRole,
) -> Result<&'a bytes::Bytes, AuthError> {
    match message.auth.get(name) {
        None => Err(AuthError::MissingField(role)),
        Some(v) => v.as_bytes().ok_or(AuthError::MalformedField(role)),
    }
}

/// The uri length prefix, refusing uris a body cannot carry instead of
/// truncating the length (which would let two bodies share a MAC input).
pub(crate) fn uri_len_prefix(message: &Message) -> Result<[u8; 2], AuthError> {
    u16::try_from(message.body.uri.len())
        .map(u16::to_be_bytes)
        .map_err(|_| AuthError::UriTooLong {
            len: message.body.uri.len(),
        })
}
