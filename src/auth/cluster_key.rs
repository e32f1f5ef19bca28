//! The cluster key: an HMAC-SHA256 tag over every envelope, so only
//! instances that hold the key can put messages on the backplane. Pure:
//! no I/O.
//!
//! ```text
//! payload = envelope | tag (32 bytes)
//! tag     = HMAC-SHA256(key, "framewire-backplane-v1" | channel len u32 | channel | envelope)
//! ```
//!
//! The channel name is inside the tag, so an envelope captured on one
//! channel is refused on another that shares the key. Tags are compared in
//! constant time (`verify_slice`).

use bytes::{BufMut, Bytes, BytesMut};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the tag appended to each envelope.
pub(crate) const TAG_LEN: usize = 32;

/// Shortest cluster key accepted: 128 bits, the least an HMAC key
/// should have against brute force.
pub const MIN_BACKPLANE_SECRET_LEN: usize = 16;

const DOMAIN: &[u8] = b"framewire-backplane-v1";

/// Why a cluster key was refused.
///
/// ```
/// use framewire::server::RedisBackplane;
///
/// let e = RedisBackplane::new("redis://127.0.0.1").unwrap().secret("short").unwrap_err();
/// assert!(e.to_string().contains("at least 16 bytes"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackplaneSecretError {
    /// Fewer than [`MIN_BACKPLANE_SECRET_LEN`] bytes.
    #[error("backplane secret must have at least {MIN_BACKPLANE_SECRET_LEN} bytes (has {0})")]
    TooShort(usize),
}

/// Why a payload from the backplane was refused before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MacError {
    #[error("envelope without a MAC (shorter than its tag)")]
    Missing,
    #[error("envelope MAC does not verify (forged, or another cluster key)")]
    Wrong,
}

/// A keyed HMAC state for one channel, cloned per envelope (the key's
/// setup is done once).
#[derive(Clone)]
pub(crate) struct ClusterKey {
    keyed: HmacSha256,
}

impl ClusterKey {
    pub(crate) fn new(secret: &[u8], channel: &str) -> Result<ClusterKey, BackplaneSecretError> {
        if secret.len() < MIN_BACKPLANE_SECRET_LEN {
            return Err(BackplaneSecretError::TooShort(secret.len()));
        }
        // Any key length is valid for HMAC: this cannot fail.
        let Ok(mut keyed) = HmacSha256::new_from_slice(secret) else {
            return Err(BackplaneSecretError::TooShort(secret.len()));
        };
        keyed.update(DOMAIN);
        // The channel name is at most what Redis takes; u32 is plenty and
        // a longer one (never sent) only weakens its own separation.
        keyed.update(
            &u32::try_from(channel.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        keyed.update(channel.as_bytes());
        Ok(ClusterKey { keyed })
    }

    /// `envelope` with its tag appended.
    pub(crate) fn seal(&self, envelope: &[u8]) -> Bytes {
        let mut mac = self.keyed.clone();
        mac.update(envelope);
        let tag = mac.finalize().into_bytes();
        let mut out = BytesMut::with_capacity(envelope.len() + TAG_LEN);
        out.put_slice(envelope);
        out.put_slice(&tag);
        out.freeze()
    }

    /// The envelope inside `payload` if its tag verifies.
    pub(crate) fn open<'a>(&self, payload: &'a [u8]) -> Result<&'a [u8], MacError> {
        let Some(split) = payload.len().checked_sub(TAG_LEN) else {
            return Err(MacError::Missing);
        };
        let (envelope, tag) = payload.split_at(split);
        let mut mac = self.keyed.clone();
        mac.update(envelope);
        mac.verify_slice(tag).map_err(|_| MacError::Wrong)?;
        Ok(envelope)
    }
}

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn sealed_envelopes_open_and_every_change_is_refused() {
        let key = ClusterKey::new(SECRET, "framewire").unwrap();
        let sealed = key.seal(b"FWB1 envelope");
        assert_eq!(sealed.len(), 13 + TAG_LEN);
        assert_eq!(key.open(&sealed).unwrap(), b"FWB1 envelope");
        // Any flipped bit, in the envelope or the tag, is refused.
        for i in 0..sealed.len() {
            let mut bad = sealed.to_vec();
            bad[i] ^= 1;
            assert_eq!(key.open(&bad), Err(MacError::Wrong), "byte {i}");
        }
        // Cut or missing tags.
        assert_eq!(key.open(&sealed[..sealed.len() - 1]), Err(MacError::Wrong));
        assert_eq!(key.open(b"short"), Err(MacError::Missing));
        assert_eq!(key.open(b""), Err(MacError::Missing));
        // An unsealed envelope (what an instance without a key sends).
        assert!(key.open(&[b'x'; 40]).is_err());
    }

    #[test]
    fn another_key_or_channel_does_not_verify() {
        let key = ClusterKey::new(SECRET, "framewire").unwrap();
        let sealed = key.seal(b"hello");
        let other = ClusterKey::new(b"another secret of 32 bytes......", "framewire").unwrap();
        assert_eq!(other.open(&sealed), Err(MacError::Wrong));
        let channel = ClusterKey::new(SECRET, "framewire2").unwrap();
        assert_eq!(channel.open(&sealed), Err(MacError::Wrong));
    }

    #[test]
    fn short_secrets_are_refused_and_debug_hides_the_key() {
        assert!(matches!(
            ClusterKey::new(&SECRET[..MIN_BACKPLANE_SECRET_LEN - 1], "c"),
            Err(BackplaneSecretError::TooShort(15))
        ));
        let key = ClusterKey::new(&SECRET[..MIN_BACKPLANE_SECRET_LEN], "c").unwrap();
        assert_eq!(format!("{key:?}"), "ClusterKey(<redacted>)");
    }
}
