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
