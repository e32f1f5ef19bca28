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
//! | [`StrictHmac`] | framewire | type, direction, uri, content, every other auth field (nonce, ts, rid, sid, iv, ...), optionally the server's name | on by default, per session |
//! | [`UserHmac`] | framewire | as `StrictHmac`, keyed per user (the `user` field names the key); fixes the connection's identity | on by default, per user and session |
//! | [`NetaioStreamCipher`] | netaio 0.0.9 (byte-exact) | nothing: pair it with an HMAC | — |
//! | [`X25519CipherPlugin`] | netaio 0.0.9 (byte-exact) | the encrypted body (Poly1305), keyed per peer pair; not the type or auth fields | — |
//!
//! Plugins are `Send + Sync` and hold no lock across calls, so one instance
//! can serve every connection; each call gets the message's [`Link`] (role,
//! connection, session). Their clock and randomness come from a
//! [`PluginEnv`], which tests replace to reproduce netaio's golden vectors.
//! Plugins are pure: no I/O, nothing about sockets or tasks.
//!
//! Every failed check is an [`AuthError`]. Its `Display` text is the same
//! generic "authentication failed" for every reason, so it is safe to show
//! to a peer; the variant (and `Debug`) says which field or rule failed, for
//! local logs.
//!
//! ```
//! use framewire::auth::Role;
//! use framewire::{Message, MessageType, NetaioHmac, PluginLayer, PluginStack, Profile};
//!
//! let stack = PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new("test-secret")));
//! let sealed = stack.seal(Message::new(MessageType::REQUEST_URI, "echo", "hello")).unwrap();
//! let wire = sealed.to_bytes(Profile::Netaio).unwrap();
//!
//! // The receiving side has its own plugin instance (and nonce cache).
//! let peer = PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new("test-secret")))
//!     .role(Role::Server);
//! let received = Message::decode(Profile::Netaio, wire.clone()).unwrap();
//! let opened = peer.open(received).unwrap();
//! assert_eq!(&opened.content()[..], b"hello");
//!
//! // The same frame again is a replay.
//! let again = peer.open(Message::decode(Profile::Netaio, wire).unwrap()).unwrap_err();
//! assert!(again.error.is_replayed());
//! assert_eq!(again.reply.unwrap().content().as_ref(), b"HMAC auth failed");
//! ```

// The cluster key that seals what instances share through Redis (the
// backplane's envelopes, the store's values).
#[cfg(feature = "redis")]
pub(crate) mod cluster_key;
pub mod crypto;

mod env;
mod error;
mod identity;
mod link;
mod mac_fields;
mod netaio_hmac;
mod nonce_tag;
mod pattern;
mod policy;
mod replay;
mod replay_config;
mod secret_file;
mod stack;
mod stream_cipher;
mod strict_hmac;
#[cfg(test)]
pub(crate) mod test_plugin;
mod user_hmac;
mod users;
#[cfg(feature = "users-file")]
mod users_file;
mod x25519;

use std::fmt;

pub use env::{
    Clock, FixedRandom, ManualClock, PluginEnv, RandomSource, SystemClock, SystemRandom,
};
pub use error::{AuthError, AuthFieldRole};
pub use identity::{Identity, IdentitySource};
pub use link::{Link, Role};
pub use netaio_hmac::NetaioHmac;
pub use nonce_tag::NonceTag;
pub use pattern::{Params, Pattern, PatternError, Permissions, Rule};
pub use policy::AuthFailurePolicy;
pub use replay::{ReplayConfig, ReplayGuard, ReplayScope};
pub use secret_file::read_secret_file;
pub(crate) use stack::Stack;
pub use stack::{Layer, PluginLayer, PluginStack, Rejection, RejectionKind};
pub use stream_cipher::NetaioStreamCipher;
pub use strict_hmac::StrictHmac;
pub use user_hmac::{UserHmac, USER_FIELD};
pub use users::{MemoryUsers, User, UserStore};
#[cfg(feature = "users-file")]
pub use users_file::UsersFileError;
pub use x25519::X25519CipherPlugin;

use crate::wire::Message;

/// The content of netaio's `HMACAuthPlugin.error()`: the reply to a message
/// that fails its HMAC check, whatever the reason.
pub const HMAC_AUTH_FAILED: &str = "HMAC auth failed";

/// Signs outgoing messages and verifies incoming ones.
///
/// Implementations must be cheap to call concurrently (`&self`), and
/// `check` must never panic on peer data: every failure is an
/// [`AuthError`]. Both calls get the message's [`Link`]: this end's role,
/// and the connection and session when there is one (netaio hands its
/// plugins the node and the peer for the same reason).
///
/// ```
/// use framewire::auth::{AuthError, Link, Role};
/// use framewire::{AuthPlugin, Message, MessageType};
///
/// /// Accepts messages carrying a fixed token (an illustration, not security).
/// #[derive(Debug)]
/// struct Token;
///
/// impl AuthPlugin for Token {
///     fn make(&self, message: &mut Message, _link: &Link<'_>) -> Result<(), AuthError> {
///         message.auth.insert("token", b"let-me-in".as_slice());
///         Ok(())
///     }
///     fn check(&self, message: &Message, _link: &Link<'_>) -> Result<(), AuthError> {
///         match message.auth.get_bytes("token") {
///             Some(t) if &t[..] == b"let-me-in" => Ok(()),
///             _ => Err(AuthError::BadMac),
///         }
///     }
/// }
///
/// let mut m = Message::new(MessageType::OK, "", "");
/// Token.make(&mut m, &Link::new(Role::Client)).unwrap();
/// assert!(Token.check(&m, &Link::new(Role::Server)).is_ok());
/// assert_eq!(Token.error_message().message_type, MessageType::AUTH_ERROR);
/// ```
pub trait AuthPlugin: Send + Sync + fmt::Debug {
    /// Sets this plugin's auth fields on an outgoing message (after any
    /// cipher of the same layer has run, so it signs the body as sent).
    /// Stacked plugins share the `nonce` and `ts` fields: write them only
    /// when absent, and never touch another plugin's fields. `link.role` is
    /// the signer's.
    fn make(&self, message: &mut Message, link: &Link<'_>) -> Result<(), AuthError>;

    /// Verifies an incoming message. `link.role` is the receiver's; the
    /// message claims to come from [`Role::opposite`].
    fn check(&self, message: &Message, link: &Link<'_>) -> Result<(), AuthError>;

    /// After a successful `check`, removes the fields only this plugin
    /// writes (its MAC), which plugins of inner layers did not see when
    /// they signed. Default: removes nothing.
    fn strip(&self, _message: &mut Message) {}

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

    /// Who a message that passed [`check`](Self::check) proves its sender
    /// to be, if this plugin knows identities (as
    /// [`UserHmac`] does). The pipeline asks once
    /// per connection, on its first verified frame; the answer is the
    /// connection's identity from then on (in every [`Link`] and in
    /// handlers' `Context`). Default: none.
    fn identity(&self, _message: &Message) -> Option<Identity> {
        None
    }
}

/// Encrypts outgoing bodies and decrypts incoming ones.
///
/// ```
/// use framewire::auth::{Link, Role};
/// use framewire::{CipherPlugin, Message, MessageType, NetaioStreamCipher};
///
/// let cipher = NetaioStreamCipher::new("test-key");
/// let link = Link::new(Role::Client);
/// let sealed = cipher.encrypt(Message::new(MessageType::REQUEST_URI, "echo", "hello"), &link).unwrap();
/// assert!(sealed.auth.contains("iv"));
/// let opened = cipher.decrypt(sealed, &Link::new(Role::Server)).unwrap();
/// assert_eq!((&opened.uri()[..], &opened.content()[..]), (&b"echo"[..], &b"hello"[..]));
/// assert!(!opened.auth.contains("iv")); // consumed
/// ```
pub trait CipherPlugin: Send + Sync + fmt::Debug {
    /// The message with its body encrypted (and any IV field added).
    fn encrypt(&self, message: Message, link: &Link<'_>) -> Result<Message, AuthError>;

    /// The message with its body decrypted and its IV field removed (inner
    /// layers did not see it when they signed). netaio drops a message
    /// whose decryption fails, without replying.
    fn decrypt(&self, message: Message, link: &Link<'_>) -> Result<Message, AuthError>;

    /// Whether ciphertexts depend on the receiving peer (see
    /// [`AuthPlugin::is_peer_specific`]).
    fn is_peer_specific(&self) -> bool {
        false
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

/// The body a cipher sends for ciphertext `ct` (both netaio ciphers): the
/// ciphertext as content under the original `uri`, or with `encrypt_uri`
/// split at netaio's `randint(1, len(ct) - 1)` into uri and content. The
/// split also stays within a u16, so a large (wide-profile) body still has
/// an encodable uri (netaio-sized bodies never reach it), and is clamped
/// again in case the random source misbehaves. `ct` is never empty here:
/// the stream cipher's holds the 2-byte uri prefix, the box its 40 bytes
/// of nonce and MAC.
pub(crate) fn ciphertext_body(
    ct: bytes::Bytes,
    uri: &bytes::Bytes,
    encrypt_uri: bool,
    env: &PluginEnv,
) -> crate::wire::Body {
    if !encrypt_uri {
        return crate::wire::Body {
            uri: uri.clone(),
            content: ct,
        };
    }
    let high = ct.len().saturating_sub(1).clamp(1, usize::from(u16::MAX));
    let split = env.randint(1, high).clamp(1, high).min(ct.len());
    crate::wire::Body {
        uri: ct.slice(..split),
        content: ct.slice(split..),
    }
}

/// The body an `encrypt_uri` cipher's plaintext stands for. netaio (both
/// ciphers): `uri_len = int.from_bytes(p[:2])`, `uri = p[2:uri_len+2]`,
/// `content = p[uri_len+2:]` — Python slices clamp, so a short or lying
/// plaintext yields a short uri and empty content instead of an error.
pub(crate) fn split_plaintext(p: bytes::Bytes) -> crate::wire::Body {
    let n = p.len();
    let uri_len = p
        .iter()
        .take(2)
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    let uri_start = n.min(2);
    let uri_end = n.min(2 + uri_len);
    crate::wire::Body {
        uri: p.slice(uri_start..uri_end),
        content: p.slice(uri_end..),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plaintext_splits_at_its_big_endian_uri_length() {
        // A uri of 300 bytes: the length's high byte matters (0x01 0x2c).
        let uri = vec![b'u'; 300];
        let mut p = 300u16.to_be_bytes().to_vec();
        p.extend_from_slice(&uri);
        p.extend_from_slice(b"content");
        let body = split_plaintext(bytes::Bytes::from(p));
        assert_eq!(&body.uri[..], &uri[..]);
        assert_eq!(&body.content[..], b"content");
    }

    #[test]
    fn a_lying_plaintext_clamps_like_python_slices() {
        let body = split_plaintext(bytes::Bytes::from_static(b"\xff\xffab"));
        assert_eq!(&body.uri[..], b"ab");
        assert!(body.content.is_empty());
        let body = split_plaintext(bytes::Bytes::from_static(b"\x00"));
        assert!(body.uri.is_empty() && body.content.is_empty());
    }
}
