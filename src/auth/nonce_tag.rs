//! How a node knows its own frames when they come back: the nonces it makes
//! carry a mark only it can make ([`NonceTag`]). A frame reflected back to
//! the node that signed it — a reply turned into a request, a request
//! echoed to its sender — is then refused as a replay without the replay
//! cache remembering anything for it.

use std::fmt;

use sha2::{Digest, Sha256};

use super::crypto::{ct_eq, NONCE_LEN};

/// Half the nonce is random, half is the mark.
const RANDOM_LEN: usize = NONCE_LEN / 2;

/// A node's secret for marking the nonces it makes: random per server or
/// client (every plugin of one node shares it, through the
/// [`Link`](super::Link)), never sent. A 16-byte nonce is then 8 random
/// bytes and 8 bytes of `SHA-256(key ‖ those 8)`: as unpredictable to
/// anyone else as a random one, and recognisable by this node alone (a
/// foreign nonce matches by chance with probability 2⁻⁶⁴).
///
/// ```
/// use framewire::auth::NonceTag;
///
/// let tag = NonceTag::random();
/// let nonce = tag.make([7u8; 8]);
/// assert!(tag.is_own(&nonce));
/// assert!(!NonceTag::random().is_own(&nonce));
/// ```
// `Zeroizing` wipes the key on drop (no hand-written `Drop` to get wrong).
#[derive(Clone)]
pub struct NonceTag(zeroize::Zeroizing<[u8; 32]>);

impl NonceTag {
    /// A fresh key from the system's CSPRNG.
    pub fn random() -> Self {
        let mut k = [0u8; 32];
        crate::random::fill(&mut k);
        let tag = NonceTag(zeroize::Zeroizing::new(k));
        zeroize::Zeroize::zeroize(&mut k);
        tag
    }

    fn mark(&self, random: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(*self.0);
        h.update(random);
        h.finalize().into()
    }

    /// A nonce from 8 random bytes, marked as this node's.
    pub fn make(&self, random: [u8; RANDOM_LEN]) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..RANDOM_LEN].copy_from_slice(&random);
        nonce[RANDOM_LEN..].copy_from_slice(&self.mark(&random)[..RANDOM_LEN]);
        nonce
    }

    /// Whether `nonce` was made by this node.
    pub fn is_own(&self, nonce: &[u8]) -> bool {
        nonce.len() == NONCE_LEN
            && ct_eq(
                &nonce[RANDOM_LEN..],
                &self.mark(&nonce[..RANDOM_LEN])[..RANDOM_LEN],
            )
    }
}

impl fmt::Debug for NonceTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceTag(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_never_prints_its_key() {
        assert_eq!(format!("{:?}", NonceTag::random()), "NonceTag(<redacted>)");
    }

    #[test]
    fn a_tag_knows_only_its_own_nonces() {
        let tag = NonceTag::random();
        let nonce = tag.make([7u8; RANDOM_LEN]);
        assert_eq!(nonce.len(), NONCE_LEN);
        assert!(tag.is_own(&nonce));
        assert!(tag.clone().is_own(&nonce), "a clone keeps the key");
        assert!(!NonceTag::random().is_own(&nonce));
        assert!(!tag.is_own(&nonce[..NONCE_LEN - 1]));
        let mut forged = nonce;
        forged[NONCE_LEN - 1] ^= 1;
        assert!(!tag.is_own(&forged));
    }
}
