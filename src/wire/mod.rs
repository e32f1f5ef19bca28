//! Sans-I/O frame codec: bytes in, [`Message`]s out, and back.
//!
//! Nothing here touches a socket or an async runtime; the
//! [`FrameCodec`](crate::FrameCodec) adapter drives it from `tokio_util`'s
//! `Framed`, and the fuzz targets drive it directly.

#[cfg(feature = "arbitrary")]
mod arbitrary;
mod auth_fields;
mod auth_value;
mod body;
mod error;
mod frame;
mod header;
mod headers;
mod message;
mod message_type;
mod pack_value;
mod packify;

pub use auth_fields::{AuthFields, DEFAULT_MAX_AUTH_FIELDS};
pub use auth_value::{AuthValue, FieldName};
pub use body::Body;
pub use error::{AuthFieldsError, DecodeError, EncodeError, Section};
pub(crate) use frame::decode_exact;
pub use frame::{decode_frame, encode_frame, FrameConfig, RESERVE_CHUNK};
pub use header::{Header, Profile};
pub use headers::{HeaderError, HEADER_PREFIX, MAX_HEADERS, MAX_HEADER_NAME, MAX_HEADER_VALUE};
pub use message::Message;
pub use message_type::MessageType;
pub use pack_value::{PackError, PackValue, MAX_PACK_DEPTH};
