//! Helpers the properties share: limits, configurations, message
//! comparison, the re-encode property.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::mem::size_of;

use bytes::{Bytes, BytesMut};
use framewire::wire::{self, FieldName, DEFAULT_MAX_AUTH_FIELDS, RESERVE_CHUNK};
use framewire::{
    AuthFields, AuthFieldsError, AuthValue, Body, DecodeError, Error, FrameCodec, FrameConfig,
    Header, Message, MessageType, Profile,
};
use tokio_util::codec::{Decoder, Encoder};

use super::*;

/// The configurations every byte input is decoded with: both profiles with
/// their defaults, the wide profile with no frame limit (so a header may
/// claim ~8 GiB and the decoder must wait for it without allocating it),
/// and tight limits.
pub fn configs() -> [FrameConfig; 4] {
    [
        FrameConfig::new(Profile::Netaio),
        FrameConfig::new(Profile::Wide),
        FrameConfig::new(Profile::Wide).max_frame_len(usize::MAX),
        FrameConfig::new(Profile::Netaio)
            .max_frame_len(64)
            .max_auth_fields(2),
    ]
}

/// Auth fields as a map: same names with the same values, whatever order.
///
/// `AuthFields`' derived `PartialEq` compares in memory order, and decoding
/// keeps wire order while encoding sorts the pairs as packify does, so a
/// message built with fields in another order does not compare `==` to its
/// own decoded copy.
pub fn same_fields(a: &AuthFields, b: &AuthFields) -> bool {
    a.len() == b.len() && a.iter().all(|(name, value)| b.get(name) == Some(value))
}

/// Messages equal up to the order of their auth fields.
pub fn same_message(a: &Message, b: &Message) -> bool {
    a.message_type == b.message_type && a.body == b.body && same_fields(&a.auth, &b.auth)
}

pub(super) fn header_of(profile: Profile, frame: &[u8]) -> Header {
    Header::decode(profile, frame)
        .expect("header of an encoded frame decodes")
        .expect("encoded frame holds a whole header")
}

/// A message decoded from `original` (one whole frame of `profile`):
/// re-encoding works, changes at most the auth section (packify order and
/// widths become canonical, never longer), and the canonical frame is a
/// fixed point of decode → encode.
pub(super) fn check_reencode(msg: &Message, profile: Profile, original: &[u8]) {
    let frame = msg
        .to_bytes(profile)
        .unwrap_or_else(|e| panic!("decoded message does not re-encode: {e}\n{msg:?}"));
    let mut via_codec = BytesMut::new();
    FrameCodec::new(profile)
        .encode(msg.clone(), &mut via_codec)
        .expect("FrameCodec encodes what to_bytes encodes");
    assert_eq!(via_codec, frame, "FrameCodec and to_bytes disagree");

    let hl = profile.header_len();
    let old = header_of(profile, original);
    let new = header_of(profile, &frame);
    assert_eq!(new.message_type, old.message_type);
    assert_eq!(new.body_length, old.body_length);
    assert_eq!(new.checksum, old.checksum);
    assert!(
        new.auth_length <= old.auth_length,
        "canonical auth is longer than the received one: {} > {}",
        new.auth_length,
        old.auth_length
    );
    let old_body = &original[hl + old.auth_length as usize..];
    let new_body = &frame[hl + new.auth_length as usize..];
    assert_eq!(new_body, old_body, "re-encoding changed the body");

    let back = Message::decode(profile, frame.clone())
        .unwrap_or_else(|e| panic!("re-encoded frame does not decode: {e}\n{msg:?}"));
    assert!(
        same_message(&back, msg),
        "re-encoded frame decodes to another message:\n{back:?}\nvs\n{msg:?}"
    );
    let again = back
        .to_bytes(profile)
        .expect("canonical message re-encodes");
    assert_eq!(again, frame, "canonical encoding is not stable");
    assert_eq!(
        Message::decode(profile, again).expect("canonical frame decodes"),
        back,
        "canonical frame does not decode to an identical message"
    );
}
