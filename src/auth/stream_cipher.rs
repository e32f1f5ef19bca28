//! netaio 0.0.9's `Sha256StreamCipherPlugin`, byte for byte.

use std::fmt;

use bytes::{BufMut, BytesMut};

use super::crypto::{apply_keystream, DerivePrefix, NONCE_LEN};
use super::{
    bytes_field, ciphertext_body, split_plaintext, uri_len_prefix, AuthError, AuthFieldRole,
    CipherPlugin, Link, PluginEnv, Redacted,
};
use crate::wire::{FieldName, Message};

/// netaio 0.0.9's `Sha256StreamCipherPlugin`: a SHA-256 counter-mode
/// keystream XORed over the body.
///
/// **It provides confidentiality only, no integrity.** Flipping a
/// ciphertext bit flips the same plaintext bit, a wrong key or a swapped IV
/// decrypts to garbage without any error, and nothing binds the IV to the
/// message. Always pair it with an HMAC plugin in the same layer (the send
/// order encrypts first, so the MAC covers the ciphertext), and with
/// [`StrictHmac`](crate::StrictHmac) also bind the IV field.
///
/// * key `K = SHA256(key)`; per message a fresh random 16-byte IV in the
///   `iv` field (name configurable), encryption key
///   `derive_key(K, iv, "enc")`;
/// * `encrypt_uri` (default on): `u16(uri_len) ‖ uri ‖ content` is
///   encrypted and the ciphertext split at a random point into the wire uri
///   and content; off: only the content is encrypted.
///
/// Decryption mirrors netaio, including its leniency: if the decrypted uri
/// length exceeds the plaintext, the uri and content are clamped rather
/// than refused. A missing IV, or one that is not 16 bytes, is an
/// [`AuthError`] (netaio drops such messages; it would accept other IV
/// lengths, but never sends them). Size limits are left to the frame
/// encoder: netaio's `Body.prepare` additionally refuses to encrypt or
/// decrypt more than 65 422 bytes of uri + content (65 420 with
/// `encrypt_uri`), and framewire does not mirror that check here.
///
/// ```
/// use framewire::auth::{FixedRandom, Link, ManualClock, PluginEnv, Role};
/// use framewire::{CipherPlugin, Message, MessageType, NetaioStreamCipher};
///
/// // Pinned IV and split point reproduce netaio's vector `cipher_encrypt_uri`.
/// let ctx = PluginEnv::new(ManualClock::new(0), FixedRandom::new((0xa0u8..=0xaf).collect::<Vec<_>>(), 3));
/// let cipher = NetaioStreamCipher::new("test-key").env(ctx);
/// let link = Link::new(Role::Client);
/// let sealed = cipher.encrypt(Message::new(MessageType::REQUEST_URI, "echo", "hello"), &link).unwrap();
/// assert_eq!(&sealed.uri()[..], &[0x7f, 0x6f, 0xe1]);
///
/// let opened = NetaioStreamCipher::new("test-key").decrypt(sealed, &link).unwrap();
/// assert_eq!(&opened.content()[..], b"hello");
/// ```
pub struct NetaioStreamCipher {
    enc_prefix: Redacted<DerivePrefix>,
    iv_field: FieldName,
    encrypt_uri: bool,
    env: PluginEnv,
}

impl NetaioStreamCipher {
    /// A cipher for `key` (netaio `config["key"]`), IV field `iv`,
    /// `encrypt_uri` on, system randomness.
    pub fn new(key: impl AsRef<[u8]>) -> Self {
        NetaioStreamCipher {
            enc_prefix: Redacted(DerivePrefix::for_secret(key.as_ref(), b"enc")),
            iv_field: FieldName::from("iv"),
            encrypt_uri: true,
            env: PluginEnv::system(),
        }
    }

    /// Name of the IV field (netaio `iv_field`, default `iv`).
    pub fn iv_field(mut self, name: impl Into<FieldName>) -> Self {
        self.iv_field = name.into();
        self
    }

    /// Whether the uri is encrypted too (netaio `encrypt_uri`, default on).
    pub fn encrypt_uri(mut self, on: bool) -> Self {
        self.encrypt_uri = on;
        self
    }

    /// Randomness for the IV and split point (the clock is unused).
    pub fn env(mut self, env: PluginEnv) -> Self {
        self.env = env;
        self
    }

    fn xor(&self, iv: &[u8], data: &mut [u8]) -> Result<(), AuthError> {
        let enc_key = self.enc_prefix.0.derive(iv);
        apply_keystream(&enc_key, data).map_err(|_| AuthError::CipherTooLong)
    }
}

impl CipherPlugin for NetaioStreamCipher {
    fn encrypt(&self, mut message: Message, _link: &Link<'_>) -> Result<Message, AuthError> {
        let body = &message.body;
        let mut buf = BytesMut::with_capacity(body.encoded_len());
        if self.encrypt_uri {
            buf.put_slice(&uri_len_prefix(&message)?);
            buf.put_slice(&body.uri);
        }
        buf.put_slice(&body.content);
        let mut iv = [0u8; NONCE_LEN];
        self.env.fill(&mut iv);
        self.xor(&iv, &mut buf)?;
        let ct = buf.freeze();
        message.body = ciphertext_body(ct, &message.body.uri, self.encrypt_uri, &self.env);
        message.auth.insert(self.iv_field.clone(), iv);
        Ok(message)
    }

    fn decrypt(&self, mut message: Message, _link: &Link<'_>) -> Result<Message, AuthError> {
        let iv = bytes_field(&message, self.iv_field.as_str(), AuthFieldRole::Iv)?;
        if iv.len() != NONCE_LEN {
            return Err(AuthError::MalformedField(AuthFieldRole::Iv));
        }
        if self.encrypt_uri {
            let mut buf =
                BytesMut::with_capacity(message.body.uri.len() + message.body.content.len());
            buf.put_slice(&message.body.uri);
            buf.put_slice(&message.body.content);
            self.xor(iv, &mut buf)?;
            message.body = split_plaintext(buf.freeze());
        } else {
            let mut buf = BytesMut::from(&message.body.content[..]);
            self.xor(iv, &mut buf)?;
            message.body.content = buf.freeze();
        }
        // Consumed: an inner layer did not see it when it signed.
        message.auth.remove(self.iv_field.as_str());
        Ok(message)
    }
}

impl fmt::Debug for NetaioStreamCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetaioStreamCipher")
            .field("key", &self.enc_prefix)
            .field("iv_field", &self.iv_field)
            .field("encrypt_uri", &self.encrypt_uri)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::crypto::{keystream, netaio_enc_key, sha256};
    use crate::auth::{FixedRandom, ManualClock};
    use crate::wire::MessageType;
    use bytes::Bytes;

    const L: Link<'static> = Link::new(crate::auth::Role::Client);

    fn raw(uri: &[u8], content: &[u8], iv: [u8; 16]) -> Message {
        let mut m = Message::new(
            MessageType::OK,
            Bytes::copy_from_slice(uri),
            Bytes::copy_from_slice(content),
        );
        m.auth.insert("iv", iv);
        m
    }

    /// Ciphertext whose decryption is `plain`.
    fn encrypt_raw(plain: &[u8], iv: [u8; 16]) -> Vec<u8> {
        let ek = netaio_enc_key(&sha256(b"k"), &iv);
        let ks = keystream(&ek, plain.len()).unwrap();
        plain.iter().zip(ks).map(|(a, b)| a ^ b).collect()
    }

    #[test]
    fn lying_uri_length_is_clamped_like_python() {
        let iv = [5u8; 16];
        let c = NetaioStreamCipher::new("k");
        // uri_len 0xffff but only 3 bytes follow: uri = those 3, content empty.
        let ct = encrypt_raw(b"\xff\xffabc", iv);
        let m = c.decrypt(raw(&ct[..1], &ct[1..], iv), &L).unwrap();
        assert_eq!((&m.uri()[..], &m.content()[..]), (&b"abc"[..], &b""[..]));
        // One byte of plaintext: its value is the uri length, nothing else.
        let ct = encrypt_raw(b"\x07", iv);
        let m = c.decrypt(raw(&ct, b"", iv), &L).unwrap();
        assert!(m.uri().is_empty() && m.content().is_empty());
        let m = c.decrypt(raw(b"", b"", iv), &L).unwrap();
        assert!(m.uri().is_empty() && m.content().is_empty());
    }

    #[test]
    fn iv_must_be_present_and_16_bytes() {
        let c = NetaioStreamCipher::new("k");
        let mut m = raw(b"a", b"b", [0; 16]);
        m.auth.remove("iv");
        assert_eq!(
            c.decrypt(m.clone(), &L).unwrap_err(),
            AuthError::MissingField(AuthFieldRole::Iv)
        );
        m.auth.insert("iv", [0u8; 15]);
        assert_eq!(
            c.decrypt(m.clone(), &L).unwrap_err(),
            AuthError::MalformedField(AuthFieldRole::Iv)
        );
        m.auth.insert("iv", 3i128);
        assert_eq!(
            c.decrypt(m, &L).unwrap_err(),
            AuthError::MalformedField(AuthFieldRole::Iv)
        );
    }

    #[test]
    fn split_point_stays_in_range_whatever_the_source_says() {
        for split in [0usize, 1, 5, 1000] {
            let ctx = PluginEnv::new(ManualClock::new(0), FixedRandom::new(vec![1], split));
            let c = NetaioStreamCipher::new("k").env(ctx);
            let m = c
                .encrypt(Message::new(MessageType::OK, "ab", "cd"), &L)
                .unwrap();
            assert!(!m.uri().is_empty() && !m.content().is_empty(), "{split}");
            let back = NetaioStreamCipher::new("k").decrypt(m, &L).unwrap();
            assert_eq!(
                (&back.uri()[..], &back.content()[..]),
                (&b"ab"[..], &b"cd"[..])
            );
        }
    }

    #[test]
    fn content_only_mode_keeps_the_uri() {
        let c = NetaioStreamCipher::new("k")
            .encrypt_uri(false)
            .iv_field("iv2");
        let m = c
            .encrypt(Message::new(MessageType::OK, "echo", "hello"), &L)
            .unwrap();
        assert_eq!(&m.uri()[..], b"echo");
        assert_ne!(&m.content()[..], b"hello");
        assert!(m.auth.contains("iv2"));
        let back = c.decrypt(m, &L).unwrap();
        assert_eq!(&back.content()[..], b"hello");
    }

    #[test]
    fn debug_names_its_settings_never_its_key() {
        let d = format!(
            "{:?}",
            NetaioStreamCipher::new("hunter2-key").iv_field("iv2")
        );
        assert!(
            d.starts_with("NetaioStreamCipher") && d.contains("iv2"),
            "{d}"
        );
        assert!(!d.contains("hunter2"), "{d}");
    }
}
