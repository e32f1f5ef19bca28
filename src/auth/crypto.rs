//! netaio 0.0.9's home-grown primitives (`netaio/crypto.py`), rebuilt from
//! SHA-256, plus a constant-time comparison.
//!
//! These exist for wire compatibility. They are *not* standard constructions:
//! [`netaio_hmac`] is HMAC-shaped but uses a 136-byte block and a per-nonce
//! derived key, and [`apply_keystream`] is an unauthenticated SHA-256 counter
//! stream. Use [`StrictHmac`](crate::StrictHmac) between framewire peers.
//!
//! ```
//! use framewire::auth::crypto::{derive_key, netaio_hmac, sha256};
//!
//! let k = sha256(b"test-secret");
//! let nonce: Vec<u8> = (0u8..16).collect();
//! let mac = netaio_hmac(&k, &nonce, &[b"\x65\x53\xf1\x00", b"\x00\x04echohello"]);
//! assert_eq!(mac[..4], [0x43, 0x46, 0xb7, 0x20]);
//! assert_eq!(derive_key(&[&k, &nonce, b"mac"])[..2], [0x2f, 0x4d]);
//! ```

use sha2::{Digest, Sha256};

/// Length of netaio's nonces and IVs (`IV_SIZE`).
pub const NONCE_LEN: usize = 16;

/// netaio's HMAC block size. Standard HMAC-SHA256 uses 64; netaio pads the
/// key to 136 bytes, so standard libraries give different MACs.
pub const NETAIO_HMAC_BLOCK: usize = 136;

const IPAD: u8 = 0x36;
const OPAD: u8 = 0x5c;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// netaio `derive_key(*parts)`: `SHA256(SHA256(p1) ‖ SHA256(p2) ‖ …)`.
pub fn derive_key(parts: &[&[u8]]) -> [u8; 32] {
    let mut outer = Sha256::new();
    for part in parts {
        outer.update(Sha256::digest(part));
    }
    outer.finalize().into()
}

/// The per-nonce MAC key netaio derives: `derive_key(key, nonce, b"mac")`,
/// where `key` is the plugin key `SHA256(secret)`.
pub fn netaio_mac_key(key: &[u8; 32], nonce: &[u8]) -> [u8; 32] {
    derive_key(&[key, nonce, b"mac"])
}

/// netaio `crypto.hmac(key, nonce, message)`, with the message given as
/// pieces (hashed in order, as if concatenated) so callers need not build
/// `ts ‖ body` in memory.
pub fn netaio_hmac(key: &[u8; 32], nonce: &[u8], message: &[&[u8]]) -> [u8; 32] {
    netaio_hmac_with_mac_key(&netaio_mac_key(key, nonce), message)
}

/// The outer part of [`netaio_hmac`], for a MAC key already derived.
pub fn netaio_hmac_with_mac_key(mac_key: &[u8; 32], message: &[&[u8]]) -> [u8; 32] {
    let (ipad, opad) = pads(mac_key);
    let mut inner = Sha256::new();
    inner.update(ipad);
    for piece in message {
        inner.update(piece);
    }
    let mut outer = Sha256::new();
    outer.update(opad);
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The 136-byte inner and outer pads: the key zero-extended to the block,
/// XORed with 0x36 / 0x5c.
fn pads(mac_key: &[u8; 32]) -> ([u8; NETAIO_HMAC_BLOCK], [u8; NETAIO_HMAC_BLOCK]) {
    let mut ipad = [IPAD; NETAIO_HMAC_BLOCK];
    let mut opad = [OPAD; NETAIO_HMAC_BLOCK];
    for ((i, o), k) in ipad.iter_mut().zip(opad.iter_mut()).zip(mac_key) {
        *i ^= k;
        *o ^= k;
    }
    (ipad, opad)
}

/// netaio's stream-cipher key for one message: `derive_key(key, iv, b"enc")`.
pub fn netaio_enc_key(key: &[u8; 32], iv: &[u8]) -> [u8; 32] {
    derive_key(&[key, iv, b"enc"])
}

/// Why a keystream could not be produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeystreamTooLong;

/// XORs `data` in place with the keystream
/// `SHA256(enc_key ‖ u32be(0)) ‖ SHA256(enc_key ‖ u32be(1)) ‖ …`.
///
/// The counter is 32 bits as in netaio, so at most 2³² blocks (128 GiB) can
/// be encrypted; longer input is refused rather than wrapping the counter.
pub fn apply_keystream(enc_key: &[u8; 32], data: &mut [u8]) -> Result<(), KeystreamTooLong> {
    if !keystream_covers(data.len()) {
        return Err(KeystreamTooLong);
    }
    // The key fills half a SHA-256 block, so the hasher state after it can
    // be copied per block instead of re-hashing the key.
    let mut keyed = Sha256::new();
    keyed.update(enc_key);
    for (counter, chunk) in (0u32..=u32::MAX).zip(data.chunks_mut(32)) {
        let mut h = keyed.clone();
        h.update(counter.to_be_bytes());
        let block = h.finalize();
        for (d, k) in chunk.iter_mut().zip(block.iter()) {
            *d ^= k;
        }
    }
    Ok(())
}

/// Whether the 32-bit block counter reaches `len` bytes: at most 2³² blocks
/// of 32 bytes. A function of the length alone so that the bound can be
/// tested without 128 GiB of input.
fn keystream_covers(len: usize) -> bool {
    (len as u64).div_ceil(32) <= u64::from(u32::MAX) + 1
}

/// The first `len` keystream bytes for `enc_key` (what [`apply_keystream`]
/// XORs in). Mostly useful for checking against netaio's intermediates.
pub fn keystream(enc_key: &[u8; 32], len: usize) -> Result<Vec<u8>, KeystreamTooLong> {
    let mut out = vec![0u8; len];
    apply_keystream(enc_key, &mut out)?;
    Ok(out)
}

/// Constant-time equality: the time taken depends only on the lengths, never
/// on where the inputs differ. Lengths are not secret (a MAC is always 32
/// bytes), so a length mismatch returns early.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut acc = 0u8;
    for (x, y) in a.iter().zip(b) {
        // black_box stops the optimiser from turning the fold into an
        // early-exit comparison.
        acc = std::hint::black_box(acc | (x ^ y));
    }
    acc == 0
}

/// Hashes that do not depend on the message, precomputed once per plugin so
/// each message pays for the nonce/IV hash and the final hash only. Key
/// material: `Zeroizing` wipes it on drop.
#[derive(Clone)]
pub(crate) struct DerivePrefix {
    key_hash: zeroize::Zeroizing<[u8; 32]>,
    label_hash: zeroize::Zeroizing<[u8; 32]>,
}

impl DerivePrefix {
    pub(crate) fn new(key: &[u8; 32], label: &[u8]) -> Self {
        DerivePrefix {
            key_hash: zeroize::Zeroizing::new(sha256(key)),
            label_hash: zeroize::Zeroizing::new(sha256(label)),
        }
    }

    /// `DerivePrefix::new(SHA256(secret), label)`, wiping the intermediate
    /// key.
    pub(crate) fn for_secret(secret: &[u8], label: &[u8]) -> Self {
        let key = zeroize::Zeroizing::new(sha256(secret));
        Self::new(&key, label)
    }

    /// `derive_key(key, middle, label)`.
    pub(crate) fn derive(&self, middle: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(*self.key_hash);
        h.update(Sha256::digest(middle));
        h.update(*self.label_hash);
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn ct_eq_compares_every_byte_and_length() {
        let a = [7u8; 32];
        assert!(ct_eq(&a, &a));
        for i in 0..32 {
            for bit in 0..8 {
                let mut b = a;
                b[i] ^= 1 << bit;
                assert!(!ct_eq(&a, &b), "byte {i} bit {bit}");
            }
        }
        // Differences must accumulate, not cancel: two bytes that differ
        // by the same bits still differ.
        assert!(!ct_eq(&[0, 0], &[1, 1]));
        assert!(!ct_eq(&[0xf0, 0x0f, 0], &[0x0f, 0xf0, 0xff]));
        assert!(!ct_eq(&a, &a[..31]));
        assert!(!ct_eq(&a[..1], &[]));
        assert!(ct_eq(&[], &[]));
    }

    #[test]
    fn the_keystream_covers_exactly_two_to_the_32_blocks() {
        let most = (1u64 << 32) * 32;
        assert!(keystream_covers(0));
        assert!(keystream_covers(usize::try_from(most).unwrap()));
        // One byte more needs block 2^32, which the counter cannot name.
        assert!(!keystream_covers(usize::try_from(most + 1).unwrap()));
        assert!(!keystream_covers(usize::MAX));
    }

    #[test]
    fn derive_prefix_matches_derive_key() {
        let k = sha256(b"k");
        let p = DerivePrefix::new(&k, b"mac");
        assert_eq!(p.derive(b"nonce"), derive_key(&[&k, b"nonce", b"mac"]));
    }

    #[test]
    fn keystream_is_counter_blocks() {
        let ek = [1u8; 32];
        let ks = keystream(&ek, 70).unwrap();
        let mut b0 = ek.to_vec();
        b0.extend_from_slice(&0u32.to_be_bytes());
        let mut b2 = ek.to_vec();
        b2.extend_from_slice(&2u32.to_be_bytes());
        assert_eq!(&ks[..32], &sha256(&b0));
        assert_eq!(&ks[64..], &sha256(&b2)[..6]);
        assert!(keystream(&ek, 0).unwrap().is_empty());
    }

    #[test]
    fn netaio_hmac_known_answer() {
        // vectors.json hmac_default_fields, computed by netaio 0.0.9.
        let k = sha256(b"test-secret");
        let nonce: Vec<u8> = (0u8..16).collect();
        let mac = netaio_hmac(
            &k,
            &nonce,
            &[&[0x65, 0x53, 0xf1, 0x00], b"\x00\x04echo", b"hello"],
        );
        assert_eq!(
            hex(&mac),
            "4346b720a9cd898213a532caab6395d292c2d03da84e0061799665a8e0691bd3"
        );
    }
}
