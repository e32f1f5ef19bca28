//! Why a plugin refused a message or could not sign one ([`AuthError`]),
//! and which field it was about ([`AuthFieldRole`]).

use std::fmt;

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
    /// The user a frame is signed as ([`USER_FIELD`](super::USER_FIELD)).
    User,
}

impl fmt::Display for AuthFieldRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthFieldRole::Nonce => "nonce",
            AuthFieldRole::Timestamp => "ts",
            AuthFieldRole::Mac => "mac",
            AuthFieldRole::Iv => "iv",
            AuthFieldRole::User => "user",
        })
    }
}

/// Why a plugin refused a message or could not sign one.
///
/// The `Display` text of every receive-side failure is deliberately the same
/// ("authentication failed", or "decryption failed" for the ciphers), so a
/// peer learns nothing about which field or rule its frame failed; match on
/// the variant or log with `{:?}` for the detail. (The peer-key errors say
/// only that this node has no usable key for the peer, which depends on
/// what the peer advertised, never on the frame.)
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
    /// A verified frame signed as a different user than the one the
    /// connection authenticated as.
    #[error("authentication failed")]
    IdentityChanged,
    /// Sending: the connection has no identity yet, so there is no user
    /// key to sign with.
    #[error("cannot sign: the connection has not authenticated")]
    NoIdentity,
    /// A per-peer cipher (the
    /// [`X25519CipherPlugin`](super::X25519CipherPlugin)) has no key for the
    /// other end: the [`Link`](super::Link) carries no peer data, or the
    /// data is not a dict with a `pubkey` entry (netaio: "peer pubkey not
    /// found"). Either direction.
    #[error("no usable public key for the peer")]
    MissingPeerKey,
    /// The peer data does not decode, or its `pubkey` is not 32 bytes, or
    /// is a low-order point (PyNaCl refuses such a box). Either direction.
    #[error("no usable public key for the peer")]
    MalformedPeerKey,
    /// An authenticated cipher could not open the body: shorter than its
    /// nonce and MAC, or the MAC does not verify (tampered, truncated, or
    /// sealed for another key).
    #[error("decryption failed")]
    DecryptFailed,
}

fn generic_text(role: AuthFieldRole) -> &'static str {
    match role {
        AuthFieldRole::Iv => "decryption failed",
        _ => "authentication failed",
    }
}

crate::predicates::predicates!(AuthError {
    /// A required field is missing.
    is_missing_field => AuthError::MissingField(_),
    /// A field is present but unusable.
    is_malformed_field => AuthError::MalformedField(_),
    /// The MAC did not verify.
    is_bad_mac => AuthError::BadMac,
    /// The timestamp is outside the window.
    is_stale => AuthError::Stale { .. },
    /// The nonce was seen before.
    is_replayed => AuthError::Replayed,
    /// The nonce cache is full.
    is_replay_cache_full => AuthError::ReplayCacheFull { .. },
    /// The timestamp to sign does not fit.
    is_timestamp_out_of_range => AuthError::TimestampOutOfRange { .. },
    /// The uri is too long to sign or encrypt.
    is_uri_too_long => AuthError::UriTooLong { .. },
    /// The body is too long for the stream cipher.
    is_cipher_too_long => AuthError::CipherTooLong,
    /// A frame was signed as another user than the connection's.
    is_identity_changed => AuthError::IdentityChanged,
    /// There was no user key to sign with yet.
    is_no_identity => AuthError::NoIdentity,
    /// No public key for the peer.
    is_missing_peer_key => AuthError::MissingPeerKey,
    /// The peer's advertised public key is unusable.
    is_malformed_peer_key => AuthError::MalformedPeerKey,
    /// The body did not decrypt.
    is_decrypt_failed => AuthError::DecryptFailed,
    /// Any refusal by replay protection (stale, replayed, cache full).
    is_replay_protection => AuthError::Stale { .. }
        | AuthError::Replayed
        | AuthError::ReplayCacheFull { .. },
    /// A failure while preparing an outgoing message (not the peer's doing).
    is_send_side => AuthError::TimestampOutOfRange { .. }
        | AuthError::UriTooLong { .. }
        | AuthError::CipherTooLong
        | AuthError::NoIdentity,
});

impl AuthError {
    /// The field a missing/malformed error is about.
    pub fn field(&self) -> Option<AuthFieldRole> {
        match self {
            AuthError::MissingField(r) | AuthError::MalformedField(r) => Some(*r),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLES: [(AuthFieldRole, &str); 5] = [
        (AuthFieldRole::Nonce, "nonce"),
        (AuthFieldRole::Timestamp, "ts"),
        (AuthFieldRole::Mac, "mac"),
        (AuthFieldRole::Iv, "iv"),
        (AuthFieldRole::User, "user"),
    ];

    #[test]
    fn roles_print_as_netaio_names_their_fields() {
        for (role, name) in ROLES {
            assert_eq!(role.to_string(), name);
        }
    }

    #[test]
    fn field_errors_name_their_field_and_say_only_failed() {
        for (role, _) in ROLES {
            for e in [
                AuthError::MissingField(role),
                AuthError::MalformedField(role),
            ] {
                assert_eq!(e.field(), Some(role));
                // An IV belongs to a cipher: the text is the cipher's.
                let text = if role == AuthFieldRole::Iv {
                    "decryption failed"
                } else {
                    "authentication failed"
                };
                assert_eq!(e.to_string(), text);
            }
        }
        assert_eq!(AuthError::BadMac.field(), None);
        assert_eq!(AuthError::DecryptFailed.field(), None);
    }
}

#[cfg(test)]
mod predicate_tests {
    use super::*;

    #[test]
    fn each_predicate_holds_for_its_variants_only() {
        crate::predicates::check(
            AuthError::PREDICATES,
            &[
                (
                    AuthError::MissingField(AuthFieldRole::Mac),
                    &["is_missing_field"],
                ),
                (
                    AuthError::MalformedField(AuthFieldRole::Nonce),
                    &["is_malformed_field"],
                ),
                (AuthError::BadMac, &["is_bad_mac"]),
                (
                    AuthError::Stale { ts: 1, now: 2 },
                    &["is_stale", "is_replay_protection"],
                ),
                (
                    AuthError::Replayed,
                    &["is_replayed", "is_replay_protection"],
                ),
                (
                    AuthError::ReplayCacheFull { capacity: 1 },
                    &["is_replay_cache_full", "is_replay_protection"],
                ),
                (
                    AuthError::TimestampOutOfRange { ts: 1 },
                    &["is_timestamp_out_of_range", "is_send_side"],
                ),
                (
                    AuthError::UriTooLong { len: 1 },
                    &["is_uri_too_long", "is_send_side"],
                ),
                (
                    AuthError::CipherTooLong,
                    &["is_cipher_too_long", "is_send_side"],
                ),
                (AuthError::IdentityChanged, &["is_identity_changed"]),
                (AuthError::NoIdentity, &["is_no_identity", "is_send_side"]),
                (AuthError::MissingPeerKey, &["is_missing_peer_key"]),
                (AuthError::MalformedPeerKey, &["is_malformed_peer_key"]),
                (AuthError::DecryptFailed, &["is_decrypt_failed"]),
            ],
        );
    }
}
