//! Sans-I/O frame codec: bytes in, [`Message`]s out, and back.
//!
//! Nothing here touches a socket or an async runtime; the
//! [`FrameCodec`](crate::FrameCodec) adapter drives it from `tokio_util`'s
//! `Framed`, and the fuzz targets drive it directly.

mod auth_fields;
mod body;
mod error;
mod frame;
mod header;
mod message;
mod message_type;

pub use auth_fields::{AuthFields, AuthValue, FieldName, DEFAULT_MAX_AUTH_FIELDS};
pub use body::Body;
pub use error::{AuthFieldsError, DecodeError, EncodeError, Section};
pub use frame::{decode_frame, encode_frame, FrameConfig, RESERVE_CHUNK};
pub use header::{Header, Profile};
pub use message::Message;
pub use message_type::MessageType;

/// Auth field carrying a request id. A framewire client sets it on a
/// request and a framewire server copies it into the reply, so replies can
/// be matched to requests even when several share a uri; netaio peers
/// ignore unknown fields.
pub const REQUEST_ID_FIELD: &str = "rid";
