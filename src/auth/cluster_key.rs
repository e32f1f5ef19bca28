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
//!
//! The Redis store (`store/redis.rs`) seals its values with the same key
//! in a domain of its own, the value's key inside the tag, so a value
//! cannot be moved to another key, nor an envelope passed off as a value:
//!
//! ```text
//! stored = value | tag
//! tag    = HMAC-SHA256(key, "framewire-store-v1" | prefix len u32 | prefix | key len u32 | key | value)
//! ```

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
const STORE_DOMAIN: &[u8] = b"framewire-store-v1";

/// `len` as the 4 bytes a tag hashes before a name. Names are at most
/// what Redis takes; a longer one (never sent) only weakens its own
/// separation.
fn len_be(len: usize) -> [u8; 4] {
    u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes()
}

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
        Self::in_domain(DOMAIN, secret, channel)
    }

    /// The key that seals a store's values under `prefix` (see the
    /// module docs): another domain than the backplane's.
    pub(crate) fn for_store(
        secret: &[u8],
        prefix: &str,
    ) -> Result<ClusterKey, BackplaneSecretError> {
        Self::in_domain(STORE_DOMAIN, secret, prefix)
    }

    fn in_domain(
        domain: &[u8],
        secret: &[u8],
        name: &str,
    ) -> Result<ClusterKey, BackplaneSecretError> {
        if secret.len() < MIN_BACKPLANE_SECRET_LEN {
            return Err(BackplaneSecretError::TooShort(secret.len()));
        }
        // Any key length is valid for HMAC: this cannot fail.
        let Ok(mut keyed) = HmacSha256::new_from_slice(secret) else {
            return Err(BackplaneSecretError::TooShort(secret.len()));
        };
        keyed.update(domain);
        keyed.update(&len_be(name.len()));
        keyed.update(name.as_bytes());
        Ok(ClusterKey { keyed })
    }

    /// A store's `value` under `key`, with its tag appended.
    pub(crate) fn seal_value(&self, key: &[u8], value: &[u8]) -> Bytes {
        let tag = self.value_mac(key, value).finalize().into_bytes();
        let mut out = BytesMut::with_capacity(value.len() + TAG_LEN);
        out.put_slice(value);
        out.put_slice(&tag);
        out.freeze()
    }

    /// The value in `stored` if its tag verifies for `key`.
    pub(crate) fn open_value<'a>(
        &self,
        key: &[u8],
        stored: &'a [u8],
    ) -> Result<&'a [u8], MacError> {
        let Some(split) = stored.len().checked_sub(TAG_LEN) else {
            return Err(MacError::Missing);
        };
        let (value, tag) = stored.split_at(split);
        self.value_mac(key, value)
            .verify_slice(tag)
            .map_err(|_| MacError::Wrong)?;
        Ok(value)
    }

    fn value_mac(&self, key: &[u8], value: &[u8]) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(&len_be(key.len()));
        mac.update(key);
        mac.update(value);
        mac
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

    /// The tags as the module docs write them, computed independently.
    #[test]
    fn tags_are_what_the_docs_say() {
        let tag = |parts: &[&[u8]]| {
            let mut mac = HmacSha256::new_from_slice(SECRET).unwrap();
            for p in parts {
                mac.update(p);
            }
            mac.finalize().into_bytes().to_vec()
        };
        let sealed = ClusterKey::new(SECRET, "chat").unwrap().seal(b"env");
        let want = tag(&[
            b"framewire-backplane-v1",
            &4u32.to_be_bytes(),
            b"chat",
            b"env",
        ]);
        assert_eq!(&sealed[..3], b"env");
        assert_eq!(&sealed[3..], &want[..]);
        let stored = ClusterKey::for_store(SECRET, "kv")
            .unwrap()
            .seal_value(b"k1", b"value");
        let want = tag(&[
            b"framewire-store-v1",
            &2u32.to_be_bytes(),
            b"kv",
            &2u32.to_be_bytes(),
            b"k1",
            b"value",
        ]);
        assert_eq!(&stored[..5], b"value");
        assert_eq!(&stored[5..], &want[..]);
    }

    #[test]
    fn sealed_values_open_only_under_their_key_prefix_and_secret() {
        let key = ClusterKey::for_store(SECRET, "kv").unwrap();
        let stored = key.seal_value(b"k1", b"value");
        assert_eq!(key.open_value(b"k1", &stored), Ok(&b"value"[..]));
        assert_eq!(
            key.open_value(b"k2", &stored),
            Err(MacError::Wrong),
            "moved"
        );
        for i in 0..stored.len() {
            let mut bad = stored.to_vec();
            bad[i] ^= 0x80;
            assert_eq!(
                key.open_value(b"k1", &bad),
                Err(MacError::Wrong),
                "byte {i}"
            );
        }
        let empty = key.seal_value(b"k1", b"");
        assert_eq!(key.open_value(b"k1", &empty), Ok(&b""[..]));
        assert_eq!(key.open_value(b"k1", &empty[1..]), Err(MacError::Missing));
        let prefix = ClusterKey::for_store(SECRET, "kv2").unwrap();
        assert_eq!(prefix.open_value(b"k1", &stored), Err(MacError::Wrong));
        // An envelope of a channel named like the prefix is not a value.
        let envelope = ClusterKey::new(SECRET, "kv").unwrap().seal(b"value");
        assert_eq!(key.open_value(b"", &envelope), Err(MacError::Wrong));
        assert!(matches!(
            ClusterKey::for_store(&SECRET[..MIN_BACKPLANE_SECRET_LEN - 1], "kv"),
            Err(BackplaneSecretError::TooShort(15))
        ));
    }
}
