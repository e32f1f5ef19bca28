//! The body section: `uri_length u16 ‖ uri ‖ content`.

use bytes::{Buf, BufMut, Bytes};

use super::DecodeError;

/// A message body: a uri (raw bytes, not necessarily UTF-8) and content.
///
/// Both are [`Bytes`]: a decoded body slices them out of the received frame
/// without copying. The uri is at most 65 535 bytes in both profiles.
///
/// ```
/// use framewire::Body;
///
/// let body = Body::new("echo", "hello");
/// assert_eq!(body.encoded_len(), 2 + 4 + 5);
/// assert_eq!(body.checksum(), 0x9b35_9cb3); // zlib.crc32 of the encoded body
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Body {
    /// The uri (routing key).
    pub uri: Bytes,
    /// The payload.
    pub content: Bytes,
}

impl Body {
    /// A body from anything convertible to [`Bytes`] (`&'static str`,
    /// `Vec<u8>`, `String`, `Bytes`, ...).
    pub fn new(uri: impl Into<Bytes>, content: impl Into<Bytes>) -> Self {
        Body {
            uri: uri.into(),
            content: content.into(),
        }
    }

    /// Length of the encoded body.
    pub fn encoded_len(&self) -> usize {
        2 + self.uri.len() + self.content.len()
    }

    /// CRC-32 (IEEE, as `zlib.crc32`) of the encoded body, computed without
    /// building it.
    pub fn checksum(&self) -> u32 {
        let mut h = hasher();
        h.update(&(self.uri.len() as u16).to_be_bytes());
        h.update(&self.uri);
        h.update(&self.content);
        h.finalize()
    }

    /// Appends the encoded body. The caller has checked that the uri fits
    /// in a u16 ([`Message::encode`](crate::Message::encode) does).
    pub(crate) fn encode(&self, dst: &mut impl BufMut) {
        dst.put_u16(self.uri.len() as u16);
        dst.put_slice(&self.uri);
        dst.put_slice(&self.content);
    }

    /// Splits an encoded body; uri and content are slices of `src`.
    #[inline]
    pub fn decode(mut src: Bytes) -> Result<Body, DecodeError> {
        let [hi, lo, ..] = src[..] else {
            return Err(DecodeError::BodyTooShort {
                length: src.len() as u64,
            });
        };
        let uri_length = usize::from(u16::from_be_bytes([hi, lo]));
        let available = src.len() - 2;
        if uri_length > available {
            return Err(DecodeError::UriOutOfBounds {
                uri_length: uri_length as u16,
                available: available as u64,
            });
        }
        // Split in place: one handle becomes the uri, the rest the content.
        src.advance(2);
        let uri = src.split_to(uri_length);
        Ok(Body { uri, content: src })
    }
}

/// A fresh CRC-32 hasher. `crc32fast::Hasher::new` (and so
/// `crc32fast::hash`) asks which CPU features there are on every call,
/// about 44 instructions, a fifth of a 64-byte frame's checksum; a copy
/// of one made once asks nothing.
pub(crate) fn hasher() -> crc32fast::Hasher {
    static MADE: std::sync::OnceLock<crc32fast::Hasher> = std::sync::OnceLock::new();
    MADE.get_or_init(crc32fast::Hasher::new).clone()
}

/// CRC-32 (IEEE, as `zlib.crc32`) of `bytes`; see [`hasher`].
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut h = hasher();
    h.update(bytes);
    h.finalize()
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("uri", &self.uri)
            .field("content", &self.content)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_hasher_is_crc32fasts() {
        for data in [&b""[..], b"a", &[7u8; 1000][..]] {
            assert_eq!(crc32(data), crc32fast::hash(data));
            assert_eq!(crc32(data), crc32(data), "a fresh copy every time");
        }
    }

    #[test]
    fn a_body_debugs_its_uri_and_content() {
        let body = Body::new("echo", "hi");
        assert_eq!(
            format!("{body:?}"),
            "Body { uri: b\"echo\", content: b\"hi\" }"
        );
    }

    #[test]
    fn decode_slices_without_copy() {
        let src = Bytes::from_static(b"\x00\x04echohello");
        let body = Body::decode(src.clone()).unwrap();
        assert_eq!(&body.uri[..], b"echo");
        assert_eq!(&body.content[..], b"hello");
        assert_eq!(body.content.as_ptr(), src[6..].as_ptr());
        let mut out = Vec::new();
        body.encode(&mut out);
        assert_eq!(out, &src[..]);
    }

    #[test]
    fn structural_errors() {
        assert_eq!(
            Body::decode(Bytes::from_static(b"\x00")),
            Err(DecodeError::BodyTooShort { length: 1 })
        );
        assert_eq!(
            Body::decode(Bytes::from_static(b"\x00\x0aabc")),
            Err(DecodeError::UriOutOfBounds {
                uri_length: 10,
                available: 3
            })
        );
        let empty = Body::decode(Bytes::from_static(b"\x00\x00")).unwrap();
        assert!(empty.uri.is_empty() && empty.content.is_empty());
    }
}
