//! Application headers: named values a message carries beside its uri
//! and content (a trace context, a correlation id, a content type), kept
//! in the frame's auth fields under the prefix `h:` so they never collide
//! with the fields framewire and the plugins use. Pure: no I/O.
//!
//! - Reserved, never headers: framewire's own fields (`rid` request id,
//!   `nid` notification id, `sid` session, `ver` protocol version, `user`)
//!   and the plugins' (`hmac`, `nonce`, `ts`, `iv`, `pubkey`, and any name
//!   you give a plugin field). A header `x` travels as the field `h:x`.
//! - Strict mode (`StrictHmac`, `UserHmac`) signs every auth field, so a
//!   header is as tamper-proof as the content. **netaio's HMAC does not
//!   cover auth fields it does not know**: between netaio-mode peers, a
//!   header can be changed or added on the path unnoticed.
//! - netaio peers decode and ignore them (they are one more dict entry).
//! - Fan-out (`notify`, `broadcast`, tags) and the backplane carry a
//!   message's headers to every receiver.
//!
//! Bounds: a name is 1..=64 bytes of ASCII letters, digits, `-`, `_` or
//! `.`; a value at most [`MAX_HEADER_VALUE`] bytes; at most
//! [`MAX_HEADERS`] per message (what a peer sends is bounded by the frame's
//! auth-field limits as well).

use bytes::Bytes;

use super::{AuthValue, Message};

/// The prefix of a header's auth field name.
pub const HEADER_PREFIX: &str = "h:";
/// The longest header name (bytes).
pub const MAX_HEADER_NAME: usize = 64;
/// The longest header value (bytes).
pub const MAX_HEADER_VALUE: usize = 1024;
/// The most headers a message may be given.
pub const MAX_HEADERS: usize = 16;

/// Why a header was refused.
///
/// ```
/// use framewire::Message;
///
/// let e = Message::ok("k", "").with_header("bad name", "v").unwrap_err();
/// assert!(e.is_bad_name());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The name is empty, too long, or has a byte outside
    /// `[A-Za-z0-9-_.]`.
    #[error("header name {0:?}: 1..=64 ASCII letters, digits, '-', '_' or '.'")]
    BadName(String),
    /// The value is longer than [`MAX_HEADER_VALUE`].
    #[error("header {name:?}: value of {len} bytes, at most {max}")]
    TooLong {
        /// The header.
        name: String,
        /// Its value's length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The message already has [`MAX_HEADERS`] headers.
    #[error("at most {max} headers per message")]
    TooMany {
        /// The bound.
        max: usize,
    },
}

crate::predicates::predicates!(HeaderError {
    /// Whether the name was refused.
    is_bad_name => HeaderError::BadName(_),
    /// Whether the value was too long.
    is_too_long => HeaderError::TooLong { .. },
    /// Whether the message had as many headers as allowed.
    is_too_many => HeaderError::TooMany { .. },
});

fn valid_name(name: &str) -> bool {
    (1..=MAX_HEADER_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn field(name: &str) -> String {
    format!("{HEADER_PREFIX}{name}")
}

impl Message {
    /// The value of header `name`, if the message has it.
    ///
    /// ```
    /// use framewire::Message;
    ///
    /// let m = Message::ok("k", "").with_header("request-source", "billing").unwrap();
    /// assert_eq!(m.header("request-source"), Some(&b"billing"[..]));
    /// assert_eq!(m.header("other"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        if self.auth.is_empty() {
            return None;
        }
        self.auth
            .iter()
            .find(|(f, _)| f.strip_prefix(HEADER_PREFIX) == Some(name))
            .and_then(|(_, v)| v.as_bytes())
            .map(|b| &b[..])
    }

    /// Sets header `name` (replacing its value if it had one).
    pub fn set_header(&mut self, name: &str, value: impl Into<Bytes>) -> Result<(), HeaderError> {
        if !valid_name(name) {
            let shown: String = name.chars().take(MAX_HEADER_NAME).collect();
            return Err(HeaderError::BadName(shown));
        }
        let value = value.into();
        if value.len() > MAX_HEADER_VALUE {
            return Err(HeaderError::TooLong {
                name: name.to_owned(),
                len: value.len(),
                max: MAX_HEADER_VALUE,
            });
        }
        if self.header(name).is_none() && self.headers().count() >= MAX_HEADERS {
            return Err(HeaderError::TooMany { max: MAX_HEADERS });
        }
        self.auth.insert(field(name), AuthValue::Bytes(value));
        Ok(())
    }

    /// The message with header `name` set.
    pub fn with_header(mut self, name: &str, value: impl Into<Bytes>) -> Result<Self, HeaderError> {
        self.set_header(name, value)?;
        Ok(self)
    }

    /// Removes header `name`, returning whether it was there.
    pub fn remove_header(&mut self, name: &str) -> bool {
        self.auth.remove(&field(name)).is_some()
    }

    /// Every header (name without the prefix, value), in the frame's order.
    ///
    /// ```
    /// use framewire::Message;
    ///
    /// let m = Message::ok("k", "")
    ///     .with_header("a", "1").unwrap()
    ///     .with_header("b", "2").unwrap();
    /// let all: Vec<(&str, &[u8])> = m.headers().collect();
    /// assert_eq!(all, [("a", &b"1"[..]), ("b", &b"2"[..])]);
    /// ```
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.auth.iter().filter_map(|(f, v)| {
            let name = f.strip_prefix(HEADER_PREFIX)?;
            Some((name, &v.as_bytes()?[..]))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageType;

    #[test]
    fn headers_live_beside_other_fields_and_are_bounded() {
        let mut m = Message::new(MessageType::NOTIFY_URI, "t", "c");
        m.auth.insert("rid", b"1".as_slice());
        m.auth.insert("h:num", AuthValue::Int(5)); // not bytes: not a header
        assert_eq!(m.headers().count(), 0);
        assert_eq!(
            m.header("rid"),
            None,
            "framewire's own fields are not headers"
        );
        m.set_header("trace.id", "x").unwrap();
        m.set_header("trace.id", "y").unwrap();
        assert_eq!(m.header("trace.id"), Some(&b"y"[..]));
        assert_eq!(
            m.auth.get_bytes("h:trace.id").map(|b| &b[..]),
            Some(&b"y"[..])
        );
        assert!(m.remove_header("trace.id") && !m.remove_header("trace.id"));
        for bad in ["", "a b", "ü", "a:b", &"n".repeat(MAX_HEADER_NAME + 1)] {
            assert!(m.set_header(bad, "v").unwrap_err().is_bad_name(), "{bad:?}");
        }
        assert!(m.set_header(&"n".repeat(MAX_HEADER_NAME), "v").is_ok());
        let e = m
            .set_header("big", vec![0u8; MAX_HEADER_VALUE + 1])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "header \"big\": value of 1025 bytes, at most 1024"
        );
        assert!(m.set_header("big", vec![0u8; MAX_HEADER_VALUE]).is_ok());
        for i in m.headers().count()..MAX_HEADERS {
            m.set_header(&format!("k{i}"), "v").unwrap();
        }
        assert!(m.set_header("one-more", "v").unwrap_err().is_too_many());
        assert!(
            m.set_header("k3", "replaced").is_ok(),
            "replacing is not adding"
        );
        let long_name = "ü".repeat(100);
        let HeaderError::BadName(shown) = m.set_header(&long_name, "v").unwrap_err() else {
            unreachable!()
        };
        assert_eq!(shown.chars().count(), MAX_HEADER_NAME);
    }

    #[test]
    fn each_predicate_holds_for_its_variants_only() {
        crate::predicates::check(
            HeaderError::PREDICATES,
            &[
                (HeaderError::BadName(String::new()), &["is_bad_name"]),
                (
                    HeaderError::TooLong {
                        name: String::new(),
                        len: 2,
                        max: 1,
                    },
                    &["is_too_long"],
                ),
                (HeaderError::TooMany { max: 1 }, &["is_too_many"]),
            ],
        );
    }
}
