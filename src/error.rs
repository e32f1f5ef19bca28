//! The top-level error type, [`Error`]: one of the lower layers' errors.

use crate::auth::AuthError;
use crate::wire::{DecodeError, EncodeError};

/// Any framewire failure. Match on it, or ask with the `is_*` helpers.
///
/// ```
/// use framewire::{DecodeError, Error};
///
/// let e = Error::from(DecodeError::UnknownMessageType { value: 14 });
/// assert!(e.is_decode());
/// assert!(!e.is_io());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Socket or other I/O failure.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Received bytes that are not a valid frame.
    #[error("decode error: {0}")]
    Decode(#[from] DecodeError),
    /// A message that cannot be framed.
    #[error("encode error: {0}")]
    Encode(#[from] EncodeError),
    /// An auth or cipher plugin refused a message or could not sign one.
    /// Its `Display` is generic ("authentication failed"); the variant
    /// says why.
    #[error("auth error: {0}")]
    Auth(#[from] AuthError),
}

impl From<crate::auth::Rejection> for Error {
    fn from(r: crate::auth::Rejection) -> Self {
        Error::Auth(r.error)
    }
}

crate::predicates::predicates!(Error {
    /// Whether this is an I/O error.
    is_io => Error::Io(_),
    /// Whether received bytes failed to decode.
    is_decode => Error::Decode(_),
    /// Whether a message could not be encoded.
    is_encode => Error::Encode(_),
    /// Whether an auth or cipher plugin failed.
    is_auth => Error::Auth(_),
});

impl Error {
    /// The auth error, if this is one.
    pub fn as_auth(&self) -> Option<&AuthError> {
        match self {
            Error::Auth(e) => Some(e),
            _ => None,
        }
    }

    /// The decode error, if this is one.
    pub fn as_decode(&self) -> Option<&DecodeError> {
        match self {
            Error::Decode(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{NetaioHmac, PluginLayer, PluginStack};
    use crate::wire::{Message, MessageType};

    #[test]
    fn a_rejection_is_its_auth_error_and_each_accessor_finds_only_its_own() {
        let stack = PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new("k")));
        let rejected = stack
            .open(Message::new(MessageType::REQUEST_URI, "echo", ""))
            .unwrap_err();
        let expected = rejected.error.clone();
        let e = Error::from(rejected);
        assert!(e.is_auth());
        assert_eq!(e.as_auth(), Some(&expected));
        assert!(e.as_decode().is_none());

        let decode = DecodeError::UnknownMessageType { value: 14 };
        let e = Error::from(decode.clone());
        assert_eq!(e.as_decode(), Some(&decode));
        assert!(e.as_auth().is_none());
        let io = Error::from(std::io::Error::other("x"));
        assert!(io.as_auth().is_none() && io.as_decode().is_none());
    }
}

#[cfg(test)]
mod predicate_tests {
    use super::*;
    use crate::wire::Section;

    #[test]
    fn each_predicate_holds_for_its_variants_only() {
        crate::predicates::check(
            Error::PREDICATES,
            &[
                (Error::Io(std::io::ErrorKind::Other.into()), &["is_io"]),
                (Error::Decode(DecodeError::TrailingBytes(1)), &["is_decode"]),
                (
                    Error::Encode(EncodeError::TooLarge {
                        section: Section::Body,
                        length: 2,
                        max: 1,
                    }),
                    &["is_encode"],
                ),
                (Error::Auth(AuthError::BadMac), &["is_auth"]),
            ],
        );
    }
}
