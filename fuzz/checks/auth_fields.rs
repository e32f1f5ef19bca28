//! `auth_fields`: arbitrary bytes as a packify dict.

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

/// Arbitrary bytes as an auth section: decoding with the default field limit
/// and with none agree (except for the limit itself) and stay within memory
/// bounds; a decoded map re-encodes ([`check_fields_roundtrip`]).
pub fn check_auth_fields(data: &[u8]) {
    assert_counting_allocator();
    let n = data.len();
    let src = Bytes::copy_from_slice(data);
    let (limited, extra) = measure(|| AuthFields::decode(src.clone(), DEFAULT_MAX_AUTH_FIELDS));
    let bound = n + fields_overhead(DEFAULT_MAX_AUTH_FIELDS) + 1024;
    assert!(
        extra <= bound,
        "auth decode of {n} bytes allocated {extra} (bound {bound})"
    );

    // Without a limit the announced count is still checked against the
    // bytes present (one length-table entry each) before anything is
    // reserved for it: memory grows with the input, not with the claim.
    let (unlimited, extra) = measure(|| AuthFields::decode(src.clone(), usize::MAX));
    let bound = n + fields_overhead(n) + 1024;
    assert!(
        extra <= bound,
        "unlimited auth decode of {n} bytes allocated {extra} (bound {bound})"
    );

    match (&limited, &unlimited) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(AuthFieldsError::TooManyFields { count, max }), _) => {
            assert!(*count > *max as u64);
            if let Ok(b) = &unlimited {
                assert_eq!(b.len() as u64, *count);
            }
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("field limit changed the outcome: {a:?} vs {b:?}"),
    }
    if let Ok(fields) = &unlimited {
        check_fields_roundtrip(fields, Some(n));
    }
}

/// `fields` encodes to `encoded_len()` bytes (no more than `original_len`,
/// the size of a received encoding: packify's canonical form is the
/// shortest), decodes to the same map, and the canonical encoding is a
/// fixed point.
pub fn check_fields_roundtrip(fields: &AuthFields, original_len: Option<usize>) {
    let mut enc = Vec::new();
    fields.encode(&mut enc);
    assert_eq!(enc.len(), fields.encoded_len(), "encoded_len is wrong");
    if let Some(n) = original_len {
        assert!(
            enc.len() <= n,
            "canonical encoding is longer: {} > {n}",
            enc.len()
        );
    }
    let back = AuthFields::decode(Bytes::from(enc.clone()), usize::MAX)
        .unwrap_or_else(|e| panic!("encoded fields do not decode: {e}\n{fields:?}"));
    assert!(
        same_fields(&back, fields),
        "fields changed:\n{back:?}\nvs\n{fields:?}"
    );
    let mut again = Vec::new();
    back.encode(&mut again);
    assert_eq!(again, enc, "canonical encoding is not stable");
    assert_eq!(
        AuthFields::decode(Bytes::from(again), usize::MAX).expect("canonical fields decode"),
        back
    );
}
