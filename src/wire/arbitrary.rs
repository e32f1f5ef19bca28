//! `arbitrary::Arbitrary` for the wire types (feature `arbitrary`), so a
//! fuzz target can turn its input into messages in one line. What they
//! make stays inside the decoder's default limits: every arbitrary
//! [`Message`] encodes in both profiles and decodes back with
//! [`FrameConfig::default`](super::FrameConfig).
//!
//! ```
//! use arbitrary::{Arbitrary, Unstructured};
//! use framewire::{Message, Profile};
//!
//! let noise = [7u8; 64];
//! let msg = Message::arbitrary(&mut Unstructured::new(&noise)).unwrap();
//! assert!(msg.to_bytes(Profile::Netaio).is_ok());
//! ```

use arbitrary::{Arbitrary, Result, Unstructured};
use bytes::Bytes;

use super::{AuthFields, AuthValue, FieldName, Message, MessageType, DEFAULT_MAX_AUTH_FIELDS};

/// Longest arbitrary uri, in bytes.
const MAX_URI: usize = 1024;
/// Longest arbitrary content: with [`MAX_URI`] and the 2-byte uri length,
/// the body fits the netaio header's 16-bit length.
const MAX_CONTENT: usize = u16::MAX as usize - 2 - MAX_URI;
/// Longest arbitrary auth field name and bytes value: 32 of each stay far
/// under the auth section's 65 535 bytes.
const MAX_NAME: usize = 32;
const MAX_VALUE: usize = 256;

impl<'a> Arbitrary<'a> for MessageType {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let v = u8::arbitrary(u)?;
        // Values with no meaning (14..=19, ...) fold onto netaio's types.
        Ok(MessageType::try_from(v).unwrap_or_else(|_| {
            let netaio: Vec<_> = MessageType::netaio_types().collect();
            netaio[usize::from(v) % netaio.len()]
        }))
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (1, Some(1))
    }
}

impl<'a> Arbitrary<'a> for FieldName {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut name = String::arbitrary(u)?;
        if name.len() > MAX_NAME {
            let mut end = MAX_NAME;
            while !name.is_char_boundary(end) {
                end -= 1;
            }
            name.truncate(end);
        }
        Ok(FieldName::new(name))
    }
}

impl<'a> Arbitrary<'a> for AuthValue {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(if bool::arbitrary(u)? {
            AuthValue::from(i128::arbitrary(u)?)
        } else {
            AuthValue::from(bytes(u, MAX_VALUE)?)
        })
    }
}

impl<'a> Arbitrary<'a> for AuthFields {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let n = u.int_in_range(0..=DEFAULT_MAX_AUTH_FIELDS)?;
        let mut fields = AuthFields::new();
        for _ in 0..n {
            // A repeated name replaces the earlier value: never more
            // fields than the decoder accepts.
            fields.insert(FieldName::arbitrary(u)?, AuthValue::arbitrary(u)?);
        }
        Ok(fields)
    }
}

impl<'a> Arbitrary<'a> for Message {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let message_type = MessageType::arbitrary(u)?;
        let uri = bytes(u, MAX_URI)?;
        let auth = AuthFields::arbitrary(u)?;
        let content = bytes(u, MAX_CONTENT)?;
        Ok(Message::new(message_type, uri, content).with_auth(auth))
    }
}

/// Up to `max` bytes, length chosen by the input.
fn bytes(u: &mut Unstructured<'_>, max: usize) -> Result<Bytes> {
    let len = u.arbitrary_len::<u8>()?.min(max);
    Ok(Bytes::copy_from_slice(u.bytes(len)?))
}
