//! proptest strategies for framewire's wire types (feature `proptest`):
//! random messages a property test can send through your routes, encode,
//! or compare. Every message they make encodes in both profiles and
//! decodes within the default limits (at most 32 auth fields).
//!
//! ```
//! use framewire::testing::strategy;
//! use framewire::{Message, Profile};
//! use proptest::prelude::*;
//!
//! proptest!(|(msg in strategy::message())| {
//!     let bytes = msg.to_bytes(Profile::Wide).unwrap();
//!     let back = Message::decode(Profile::Wide, bytes).unwrap();
//!     prop_assert_eq!(back.uri(), msg.uri());
//! });
//! ```

use bytes::Bytes;
use proptest::prelude::*;

use crate::wire::{AuthFields, AuthValue, Message, MessageType, DEFAULT_MAX_AUTH_FIELDS};

/// Any valid message type: one of netaio's, or a custom value 31..=255.
pub fn message_type() -> impl Strategy<Value = MessageType> {
    prop_oneof![
        proptest::sample::select(MessageType::netaio_types().collect::<Vec<_>>()),
        (31u8..=255).prop_map(|v| MessageType::custom(v).expect("custom range")),
    ]
}

/// An auth value: bytes (up to `max_bytes`) or an integer, small and
/// huge (packify's length categories).
pub fn auth_value(max_bytes: usize) -> impl Strategy<Value = AuthValue> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..=max_bytes).prop_map(AuthValue::from),
        any::<i128>().prop_map(AuthValue::from),
        (-70_000i128..70_000).prop_map(AuthValue::from),
    ]
}

/// Up to `max` fields (capped at the decoder's default of 32) with unique
/// names drawn from the regex `name`, inserted in random order.
pub fn auth_fields(
    max: usize,
    name: &'static str,
    max_bytes: usize,
) -> impl Strategy<Value = AuthFields> {
    let max = max.min(DEFAULT_MAX_AUTH_FIELDS);
    proptest::collection::btree_map(name, auth_value(max_bytes), 0..=max)
        .prop_map(|m| m.into_iter().collect::<Vec<_>>())
        .prop_shuffle()
        .prop_map(|pairs| {
            let mut fields = AuthFields::new();
            for (name, value) in pairs {
                fields.insert(name, value);
            }
            fields
        })
}

/// Content up to 2 KiB, and now and then 65 000..70 000 bytes: around the
/// netaio profile's 65 535-byte body limit (such messages only encode in
/// the wide profile).
pub fn content() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        12 => proptest::collection::vec(any::<u8>(), 0..=2048).prop_map(Bytes::from),
        1 => (65_000usize..70_000, any::<u8>()).prop_map(|(n, seed)| {
            (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect::<Vec<_>>().into()
        }),
    ]
}

/// A message of any type with a uri up to 300 bytes, [`content`] and up
/// to 6 auth fields.
pub fn message() -> impl Strategy<Value = Message> {
    (
        message_type(),
        proptest::collection::vec(any::<u8>(), 0..=300),
        content(),
        auth_fields(6, "\\PC{0,12}", 64),
    )
        .prop_map(|(t, uri, content, auth)| Message::new(t, uri, content).with_auth(auth))
}

/// A message small enough that a handful stay under ~400 bytes (for
/// streams split at every byte): uri up to 12 bytes, content up to 24,
/// at most 2 short auth fields.
pub fn small_message() -> impl Strategy<Value = Message> {
    (
        message_type(),
        proptest::collection::vec(any::<u8>(), 0..=12),
        proptest::collection::vec(any::<u8>(), 0..=24),
        auth_fields(2, "[a-z]{0,5}", 8),
    )
        .prop_map(|(t, uri, content, auth)| Message::new(t, uri, content).with_auth(auth))
}

/// A request (REQUEST_URI) to one of `uris`, with content up to
/// `max_content` bytes: what a property test of a service's own routes
/// sends.
pub fn request_to(
    uris: &'static [&'static str],
    max_content: usize,
) -> impl Strategy<Value = Message> {
    (
        proptest::sample::select(uris),
        proptest::collection::vec(any::<u8>(), 0..=max_content),
    )
        .prop_map(|(uri, content)| Message::new(MessageType::REQUEST_URI, uri, content))
}
