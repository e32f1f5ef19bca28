//! netaio 0.0.9's `X25519CipherPlugin` (`netaio.asymmetric`), byte for
//! byte: a NaCl box (X25519 + XSalsa20-Poly1305) between this node and
//! the peer whose advertised data carries its public key.

use std::fmt;

use bytes::{BufMut, BytesMut};
use crypto_box::aead::AeadInPlace;
use crypto_box::{Nonce, PublicKey, SalsaBox, SecretKey, Tag};
use curve25519_dalek::EdwardsPoint;
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, Zeroizing};

use super::{
    ciphertext_body, split_plaintext, uri_len_prefix, AuthError, CipherPlugin, Link, PluginEnv,
    Redacted,
};
use crate::wire::{Message, PackValue};

/// The box nonce: 24 random bytes in front of every ciphertext.
const BOX_NONCE_LEN: usize = 24;
/// The Poly1305 MAC, between the nonce and the ciphertext.
const BOX_TAG_LEN: usize = 16;
/// What a box adds to its plaintext (PyNaCl's `Box.encrypt` output is
/// `nonce ‖ MAC ‖ ciphertext`).
const BOX_OVERHEAD: usize = BOX_NONCE_LEN + BOX_TAG_LEN;
/// The peer data entry netaio reads the peer's key from.
const PUBKEY_FIELD: &str = "pubkey";

/// netaio 0.0.9's `X25519CipherPlugin`: the body sealed in a NaCl
/// `crypto_box` for one peer, as PyNaCl's `Box(my_key, peer_key)` does.
///
/// * keys: the 32-byte `seed` (netaio `config["seed"]`) is an Ed25519
///   signing seed; the X25519 private key is its Curve25519 conversion
///   (`SigningKey(seed).to_curve25519_private_key()`: the first half of
///   SHA-512(seed), clamped). [`public_key`](Self::public_key) is what a
///   peer needs; netaio peers advertise it in their peer data as
///   `{"pubkey": bytes}` ([`peer_data`](Self::peer_data)).
/// * the peer's key comes from [`Link::peer_data`], the other end's packed
///   peer data (a packify dict with a 32-byte `pubkey`). No data, no key or
///   an unusable key is [`AuthError::MissingPeerKey`] or
///   [`AuthError::MalformedPeerKey`], in either direction.
/// * encrypt: the plaintext is the content, or with `encrypt_uri`
///   `u16(uri_len) ‖ uri ‖ content`; the ciphertext is
///   `nonce(24, random) ‖ MAC(16) ‖ XSalsa20(plaintext)`. Without
///   `encrypt_uri` (the default, as in netaio) it replaces the content and
///   the uri stays; with it, it is split at a random point into the wire uri
///   and content. Auth fields are untouched: the box carries its own nonce.
/// * decrypt: the reverse. A body shorter than nonce and MAC, or one whose
///   MAC does not verify, is [`AuthError::DecryptFailed`]; the decrypted
///   uri length is clamped like Python slices, as netaio does.
///
/// The MAC covers only the encrypted bytes: the message type, the auth
/// fields and (without `encrypt_uri`) the uri are not authenticated, and
/// nothing stops a replay. Pair it with an auth plugin for those.
///
/// ```
/// use framewire::auth::{FixedRandom, Link, ManualClock, PluginEnv, Role};
/// use framewire::peer::LocalPeer;
/// use framewire::{CipherPlugin, Message, MessageType, X25519CipherPlugin};
///
/// let alice = X25519CipherPlugin::new([1; 32]);
/// let bob = X25519CipherPlugin::new([2; 32]);
/// // Each advertises its key in its peer data; a node hands the data of
/// // the peer it talks to to its plugins in the Link.
/// let alice_data = LocalPeer::random().with_data_value(alice.peer_data()).data().clone();
/// let bob_data = LocalPeer::random().with_data_value(bob.peer_data()).data().clone();
///
/// // A pinned nonce (tests, golden vectors): the content starts with it.
/// let pinned = PluginEnv::new(ManualClock::new(0), FixedRandom::new(vec![0xa5], 0));
/// let alice = alice.env(pinned);
/// let to_bob = Link::new(Role::Client).peer_data(Some(&bob_data));
/// let sealed = alice.encrypt(Message::new(MessageType::REQUEST_URI, "echo", "hello"), &to_bob).unwrap();
/// assert_eq!(&sealed.uri()[..], b"echo");
/// assert_eq!(&sealed.content()[..24], &[0xa5; 24]);
/// assert_eq!(sealed.content().len(), 24 + 16 + 5);
///
/// let from_alice = Link::new(Role::Server).peer_data(Some(&alice_data));
/// let opened = bob.decrypt(sealed, &from_alice).unwrap();
/// assert_eq!(&opened.content()[..], b"hello");
/// ```
pub struct X25519CipherPlugin {
    secret: Redacted<BoxKey>,
    public: [u8; 32],
    verify: [u8; 32],
    encrypt_uri: bool,
    env: PluginEnv,
}

impl X25519CipherPlugin {
    /// A cipher for the Ed25519 signing seed `seed` (netaio
    /// `config["seed"]`), `encrypt_uri` off, system randomness. The seed is
    /// wiped once the keys are derived.
    ///
    /// ```
    /// use framewire::X25519CipherPlugin;
    ///
    /// let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
    /// let c = X25519CipherPlugin::new(seed);
    /// // PyNaCl: bytes(SigningKey(seed).to_curve25519_private_key().public_key)
    /// assert_eq!(c.public_key()[..4], [0x47, 0x01, 0xd0, 0x84]);
    /// // PyNaCl: bytes(SigningKey(seed).verify_key)
    /// assert_eq!(c.verify_key()[..4], [0x03, 0xa1, 0x07, 0xbf]);
    /// ```
    pub fn new(seed: [u8; 32]) -> Self {
        let mut seed = seed;
        let digest = Zeroizing::new(<[u8; 64]>::from(Sha512::digest(seed)));
        seed.zeroize();
        // libsodium's crypto_sign_ed25519_sk_to_curve25519: the Ed25519
        // secret scalar (first half of SHA-512(seed)), clamped.
        let mut scalar = Zeroizing::new([0u8; 32]);
        scalar.copy_from_slice(&digest[..32]);
        scalar[0] &= 248;
        scalar[31] &= 127;
        scalar[31] |= 64;
        // The Ed25519 public key is the same scalar times the Edwards base
        // point; its Montgomery form is the X25519 public key.
        let point = EdwardsPoint::mul_base_clamped(*scalar);
        let secret = SecretKey::from_bytes(*scalar);
        let public = secret.public_key().to_bytes();
        debug_assert_eq!(public, point.to_montgomery().to_bytes());
        X25519CipherPlugin {
            secret: Redacted(BoxKey(secret)),
            public,
            verify: point.compress().to_bytes(),
            encrypt_uri: false,
            env: PluginEnv::system(),
        }
    }

    /// Whether the uri is encrypted too (netaio `encrypt_uri`, default off).
    pub fn encrypt_uri(mut self, on: bool) -> Self {
        self.encrypt_uri = on;
        self
    }

    /// Randomness for the box nonce and the split point (the clock is
    /// unused).
    pub fn env(mut self, env: PluginEnv) -> Self {
        self.env = env;
        self
    }

    /// This node's X25519 public key (netaio `bytes(plugin.pubk)`): what
    /// peers need in their data for this node, under `pubkey`.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// This node's Ed25519 public key (netaio `bytes(plugin.vkey)`), which
    /// netaio suggests advertising as `vkey` for signature-based auth. The
    /// cipher does not use it.
    pub fn verify_key(&self) -> [u8; 32] {
        self.verify
    }

    /// The peer data that lets netaio peers (and framewire's) encrypt for
    /// this node: the dict `{"pubkey": public_key}`. Pass it to
    /// [`LocalPeer::with_data_value`](crate::peer::LocalPeer::with_data_value),
    /// or add entries of your own first.
    ///
    /// ```
    /// use framewire::wire::PackValue;
    /// use framewire::X25519CipherPlugin;
    ///
    /// let c = X25519CipherPlugin::new([7; 32]);
    /// let data = c.peer_data();
    /// let key = data.get("pubkey").and_then(PackValue::as_bytes).unwrap();
    /// assert_eq!(&key[..], &c.public_key());
    /// ```
    pub fn peer_data(&self) -> PackValue {
        PackValue::Dict(vec![(
            PackValue::from(PUBKEY_FIELD),
            PackValue::from(&self.public[..]),
        )])
    }

    /// The box between this node and the peer of `link`.
    fn boxed_for(&self, link: &Link<'_>) -> Result<SalsaBox, AuthError> {
        let peer = peer_public_key(link)?;
        Ok(SalsaBox::new(&peer, &self.secret.0 .0))
    }
}

/// The other end's X25519 key from its packed peer data (netaio:
/// `PublicKey(peer_plugin.parse_data(peer)["pubkey"])`).
fn peer_public_key(link: &Link<'_>) -> Result<PublicKey, AuthError> {
    let data = link.peer_data.ok_or(AuthError::MissingPeerKey)?;
    let value = PackValue::decode(data.clone()).map_err(|_| AuthError::MalformedPeerKey)?;
    let key = value
        .get(PUBKEY_FIELD)
        .ok_or(AuthError::MissingPeerKey)?
        .as_bytes()
        .ok_or(AuthError::MalformedPeerKey)?;
    let key = <[u8; 32]>::try_from(&key[..]).map_err(|_| AuthError::MalformedPeerKey)?;
    if is_low_order(&key) {
        return Err(AuthError::MalformedPeerKey);
    }
    Ok(PublicKey::from_bytes(key))
}

/// libsodium's `has_small_order`: the X25519 points (u-coordinates, top
/// bit ignored) whose shared secret is all zeros with any key. PyNaCl's
/// `Box` refuses them; so does this plugin, instead of sealing with a key
/// anyone can compute.
fn is_low_order(key: &[u8; 32]) -> bool {
    const P_MINUS_1: [u8; 32] = p_plus(0xec);
    const SMALL_ORDER: [[u8; 32]; 7] = [
        // 0 (order 4), 1 (order 1)
        [0; 32],
        {
            let mut one = [0; 32];
            one[0] = 1;
            one
        },
        // The two points of order 8.
        [
            0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f,
            0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16,
            0x5f, 0x49, 0xb8, 0x00,
        ],
        [
            0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83,
            0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd,
            0xd0, 0x9f, 0x11, 0x57,
        ],
        // p - 1 (order 2), and p, p + 1: non-canonical 0 and 1.
        P_MINUS_1,
        p_plus(0xed),
        p_plus(0xee),
    ];
    /// `2^255 - 19 - 0xed + low`: the field prime's neighbours.
    const fn p_plus(low: u8) -> [u8; 32] {
        let mut v = [0xff; 32];
        v[0] = low;
        v[31] = 0x7f;
        v
    }
    let mut masked = *key;
    masked[31] &= 0x7f;
    SMALL_ORDER.contains(&masked)
}

impl CipherPlugin for X25519CipherPlugin {
    fn encrypt(&self, mut message: Message, link: &Link<'_>) -> Result<Message, AuthError> {
        let sealer = self.boxed_for(link)?;
        let body = &message.body;
        let mut buf = BytesMut::with_capacity(BOX_OVERHEAD + body.encoded_len());
        buf.put_bytes(0, BOX_OVERHEAD);
        if self.encrypt_uri {
            buf.put_slice(&uri_len_prefix(&message)?);
            buf.put_slice(&body.uri);
        }
        buf.put_slice(&body.content);
        let mut nonce = Nonce::default();
        self.env.fill(&mut nonce);
        let (head, plaintext) = buf.split_at_mut(BOX_OVERHEAD);
        // XSalsa20 cannot run out of keystream for a frame and there is no
        // associated data, so this never fails; mapped rather than unwrapped.
        let tag = sealer
            .encrypt_in_place_detached(&nonce, b"", plaintext)
            .map_err(|_| AuthError::CipherTooLong)?;
        head[..BOX_NONCE_LEN].copy_from_slice(&nonce);
        head[BOX_NONCE_LEN..].copy_from_slice(&tag);
        let ct = buf.freeze();
        message.body = ciphertext_body(ct, &message.body.uri, self.encrypt_uri, &self.env);
        Ok(message)
    }

    fn decrypt(&self, mut message: Message, link: &Link<'_>) -> Result<Message, AuthError> {
        let opener = self.boxed_for(link)?;
        let body = &message.body;
        let mut buf = if self.encrypt_uri {
            let mut buf = BytesMut::with_capacity(body.uri.len() + body.content.len());
            buf.put_slice(&body.uri);
            buf.put_slice(&body.content);
            buf
        } else {
            BytesMut::from(&body.content[..])
        };
        if buf.len() < BOX_OVERHEAD {
            return Err(AuthError::DecryptFailed);
        }
        let (head, ciphertext) = buf.split_at_mut(BOX_OVERHEAD);
        let nonce = Nonce::clone_from_slice(&head[..BOX_NONCE_LEN]);
        let tag = Tag::clone_from_slice(&head[BOX_NONCE_LEN..]);
        opener
            .decrypt_in_place_detached(&nonce, b"", ciphertext, &tag)
            .map_err(|_| AuthError::DecryptFailed)?;
        let plaintext = buf.freeze().slice(BOX_OVERHEAD..);
        if self.encrypt_uri {
            message.body = split_plaintext(plaintext);
        } else {
            message.body.content = plaintext;
        }
        Ok(message)
    }

    /// `true`: every ciphertext is sealed for one peer's key.
    fn is_peer_specific(&self) -> bool {
        true
    }
}

impl fmt::Debug for X25519CipherPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X25519CipherPlugin")
            .field("key", &self.secret)
            .field("public_key", &Hex(&self.public))
            .field("encrypt_uri", &self.encrypt_uri)
            .finish_non_exhaustive()
    }
}

/// The public key in `Debug` output, as hex.
struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// The X25519 private key, wiped on drop. crypto_box 0.9's `SecretKey`
/// wipes its scalar when dropped but not its copy of the key bytes, so the
/// whole key is overwritten here first.
struct BoxKey(SecretKey);

impl Drop for BoxKey {
    fn drop(&mut self) {
        // The assignment drops the real key in place (wiping its scalar)
        // and writes an all-zero key over it; `black_box` keeps that write
        // from being removed as dead.
        self.0 = SecretKey::from_bytes([0; 32]);
        std::hint::black_box(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{FixedRandom, ManualClock, Role};
    use crate::wire::MessageType;
    use bytes::Bytes;

    /// Seeds `bytes(range(32))` and `bytes(range(0x80, 0xa0))`, as in
    /// tests/data/x25519_vectors.json.
    fn seed(start: u8) -> [u8; 32] {
        std::array::from_fn(|i| start + i as u8)
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn data_of(c: &X25519CipherPlugin) -> Bytes {
        c.peer_data().to_bytes()
    }

    fn data_with(pubkey: PackValue) -> Bytes {
        PackValue::Dict(vec![(PackValue::from("pubkey"), pubkey)]).to_bytes()
    }

    fn pinned(nonce: u8, split: usize) -> PluginEnv {
        PluginEnv::new(ManualClock::new(0), FixedRandom::new(vec![nonce], split))
    }

    #[test]
    fn keys_match_pynacl() {
        // /work/main/.venv/bin/python: X25519CipherPlugin({"seed": seed}),
        // bytes(p.pubk).hex(), bytes(p.vkey).hex().
        let cases = [
            (
                seed(0),
                "4701d08488451f545a409fb58ae3e58581ca40ac3f7f114698cd71deac73ca01",
                "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8",
            ),
            (
                [7; 32],
                "761d88ec830413919dfe9d4d1d56f17e653c8c994082df5b137b90a0ae6edf74",
                "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c",
            ),
        ];
        for (seed, pubk, vkey) in cases {
            let c = X25519CipherPlugin::new(seed);
            assert_eq!(c.public_key().to_vec(), unhex(pubk));
            assert_eq!(c.verify_key().to_vec(), unhex(vkey));
        }
    }

    #[test]
    fn round_trip_with_and_without_encrypt_uri() {
        let (a, b) = (
            X25519CipherPlugin::new(seed(0)),
            X25519CipherPlugin::new(seed(0x80)),
        );
        let (ad, bd) = (data_of(&a), data_of(&b));
        let to_b = Link::new(Role::Client).peer_data(Some(&bd));
        let from_a = Link::new(Role::Server).peer_data(Some(&ad));
        for encrypt_uri in [false, true] {
            let a = X25519CipherPlugin::new(seed(0)).encrypt_uri(encrypt_uri);
            let b = X25519CipherPlugin::new(seed(0x80)).encrypt_uri(encrypt_uri);
            for (uri, content) in [("echo", "hello"), ("", ""), ("a/b", "")] {
                let mut m = Message::new(MessageType::REQUEST_URI, uri, content);
                m.auth.insert("rid", [1u8, 2, 3, 4]);
                let sealed = a.encrypt(m.clone(), &to_b).unwrap();
                assert_eq!(sealed.auth, m.auth, "auth fields untouched");
                assert_eq!(
                    sealed.uri().len() + sealed.content().len(),
                    BOX_OVERHEAD
                        + content.len()
                        + if encrypt_uri {
                            2 + uri.len()
                        } else {
                            uri.len()
                        }
                );
                if encrypt_uri {
                    assert!(!sealed.uri().is_empty() && !sealed.content().is_empty());
                } else {
                    assert_eq!(&sealed.uri()[..], uri.as_bytes());
                }
                let opened = b.decrypt(sealed, &from_a).unwrap();
                assert_eq!(opened, m, "{encrypt_uri} {uri:?} {content:?}");
            }
        }
    }

    #[test]
    fn split_point_comes_from_the_env_and_stays_in_range() {
        let a = X25519CipherPlugin::new(seed(0));
        let b = X25519CipherPlugin::new(seed(0x80)).encrypt_uri(true);
        let (ad, bd) = (data_of(&a), data_of(&b));
        // ct = 24 + 16 + 2 + 2 + 2 = 46 bytes: splits 1..=45.
        for (asked, got) in [(0, 1), (1, 1), (7, 7), (45, 45), (1000, 45)] {
            let c = X25519CipherPlugin::new(seed(0))
                .encrypt_uri(true)
                .env(pinned(9, asked));
            let m = c
                .encrypt(
                    Message::new(MessageType::OK, "ab", "cd"),
                    &Link::new(Role::Client).peer_data(Some(&bd)),
                )
                .unwrap();
            assert_eq!(m.uri().len(), got, "{asked}");
            assert_eq!(&m.uri()[..1], &[9]);
            let back = b
                .decrypt(m, &Link::new(Role::Server).peer_data(Some(&ad)))
                .unwrap();
            assert_eq!(
                (&back.uri()[..], &back.content()[..]),
                (&b"ab"[..], &b"cd"[..])
            );
        }
    }

    #[test]
    fn tampered_short_or_wrong_key_ciphertexts_fail_to_decrypt() {
        let a = X25519CipherPlugin::new(seed(0));
        let b = X25519CipherPlugin::new(seed(0x80));
        let (ad, bd) = (data_of(&a), data_of(&b));
        let from_a = Link::new(Role::Server).peer_data(Some(&ad));
        let sealed = a
            .encrypt(
                Message::new(MessageType::OK, "u", "hello"),
                &Link::new(Role::Client).peer_data(Some(&bd)),
            )
            .unwrap();
        let ct = sealed.content().clone();
        for i in [0, 24, 39, 40, ct.len() - 1] {
            let mut bad = ct.to_vec();
            bad[i] ^= 1;
            let mut m = sealed.clone();
            m.body.content = bad.into();
            assert_eq!(
                b.decrypt(m, &from_a).unwrap_err(),
                AuthError::DecryptFailed,
                "{i}"
            );
        }
        for len in [0, 1, 24, 39, 40, ct.len() - 1] {
            let mut m = sealed.clone();
            m.body.content = ct.slice(..len);
            let e = b.decrypt(m, &from_a).unwrap_err();
            assert!(e.is_decrypt_failed(), "{len}: {e:?}");
            assert_eq!(e.to_string(), "decryption failed");
        }
        // Sealed for bob, opened by someone else.
        let eve = X25519CipherPlugin::new([3; 32]);
        assert!(eve
            .decrypt(sealed.clone(), &from_a)
            .unwrap_err()
            .is_decrypt_failed());
        // encrypt_uri on the receiving side only: uri ‖ content is not a box.
        let b_uri = X25519CipherPlugin::new(seed(0x80)).encrypt_uri(true);
        assert!(b_uri
            .decrypt(sealed, &from_a)
            .unwrap_err()
            .is_decrypt_failed());
    }

    #[test]
    fn peer_key_must_be_there_and_32_usable_bytes() {
        let c = X25519CipherPlugin::new(seed(0));
        let m = Message::new(MessageType::OK, "u", vec![0u8; 64]);
        let check = |data: Option<&Bytes>, want: AuthError| {
            let link = Link::new(Role::Server).peer_data(data);
            assert_eq!(c.encrypt(m.clone(), &link).unwrap_err(), want, "{data:?}");
            assert_eq!(c.decrypt(m.clone(), &link).unwrap_err(), want, "{data:?}");
        };
        check(None, AuthError::MissingPeerKey);
        let empty_dict = PackValue::Dict(Vec::new()).to_bytes();
        check(Some(&empty_dict), AuthError::MissingPeerKey);
        let other = PackValue::Dict(vec![(PackValue::from("name"), PackValue::from("x"))]);
        check(Some(&other.to_bytes()), AuthError::MissingPeerKey);
        let not_a_dict = PackValue::from(&[5u8; 32][..]).to_bytes();
        check(Some(&not_a_dict), AuthError::MissingPeerKey);
        check(
            Some(&Bytes::from_static(b"\xff\x00garbage")),
            AuthError::MalformedPeerKey,
        );
        check(
            Some(&data_with(PackValue::from(&[5u8; 31][..]))),
            AuthError::MalformedPeerKey,
        );
        check(
            Some(&data_with(PackValue::from(&[5u8; 33][..]))),
            AuthError::MalformedPeerKey,
        );
        check(
            Some(&data_with(PackValue::from("x".repeat(32).as_str()))),
            AuthError::MalformedPeerKey,
        );
        check(
            Some(&data_with(PackValue::from(5i128))),
            AuthError::MalformedPeerKey,
        );
        assert!(AuthError::MissingPeerKey.is_missing_peer_key());
        assert!(AuthError::MalformedPeerKey.is_malformed_peer_key());
        assert!(!AuthError::MalformedPeerKey.to_string().contains("pubkey"));
    }

    #[test]
    fn low_order_peer_keys_are_refused_as_pynacl_does() {
        // PyNaCl 1.6.2's Box(...) raises for each of these, top bit set or not.
        let c = X25519CipherPlugin::new(seed(0));
        let m = Message::new(MessageType::OK, "u", "c");
        let mut one = [0u8; 32];
        one[0] = 1;
        let mut p = [0xffu8; 32];
        p[31] = 0x7f;
        let mut keys = vec![[0u8; 32], one];
        for low in [0xec, 0xed, 0xee] {
            p[0] = low;
            keys.push(p);
        }
        keys.push(
            unhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
                .try_into()
                .unwrap(),
        );
        keys.push(
            unhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157")
                .try_into()
                .unwrap(),
        );
        for key in keys {
            for top in [0, 0x80] {
                let mut k = key;
                k[31] |= top;
                let data = data_with(PackValue::from(&k[..]));
                let link = Link::new(Role::Client).peer_data(Some(&data));
                assert_eq!(
                    c.encrypt(m.clone(), &link).unwrap_err(),
                    AuthError::MalformedPeerKey
                );
            }
        }
        // A real key's neighbour is fine.
        let mut k = X25519CipherPlugin::new([7; 32]).public_key();
        k[31] |= 0x80;
        let data = data_with(PackValue::from(&k[..]));
        assert!(c
            .encrypt(m, &Link::new(Role::Client).peer_data(Some(&data)))
            .is_ok());
    }

    #[test]
    fn lying_uri_length_is_clamped_like_python() {
        let a = X25519CipherPlugin::new(seed(0));
        let b = X25519CipherPlugin::new(seed(0x80)).encrypt_uri(true);
        let (ad, bd) = (data_of(&a), data_of(&b));
        // A content-only sealing of `\xff\xffabc`, read as encrypt_uri.
        let sealed = a
            .encrypt(
                Message::new(MessageType::OK, "", &b"\xff\xffabc"[..]),
                &Link::new(Role::Client).peer_data(Some(&bd)),
            )
            .unwrap();
        let m = b
            .decrypt(sealed, &Link::new(Role::Server).peer_data(Some(&ad)))
            .unwrap();
        assert_eq!((&m.uri()[..], &m.content()[..]), (&b"abc"[..], &b""[..]));
    }

    #[test]
    fn uri_too_long_to_prefix_is_a_send_error() {
        let a = X25519CipherPlugin::new(seed(0)).encrypt_uri(true);
        let bd = data_of(&X25519CipherPlugin::new(seed(0x80)));
        let m = Message::new(MessageType::OK, vec![b'u'; 70_000], "");
        let e = a
            .encrypt(m, &Link::new(Role::Client).peer_data(Some(&bd)))
            .unwrap_err();
        assert!(e.is_uri_too_long());
    }

    #[test]
    fn debug_hides_the_key_and_the_cipher_is_peer_specific() {
        let c = X25519CipherPlugin::new([7; 32]);
        let dbg = format!("{c:?}");
        assert!(
            dbg.contains("<redacted>") && dbg.contains("761d88ec"),
            "{dbg}"
        );
        assert!(c.is_peer_specific());
    }
}
