//! `decode_frame`: one-shot and streaming decode of arbitrary bytes.

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

/// Arbitrary bytes: one-shot [`Message::decode`] in both profiles agrees with
/// the streaming decoder's first step; [`wire::decode_frame`] loops over the
/// buffer in every [`configs`] entry, consuming at least a header per step;
/// every decoded message survives [`check_reencode`]; memory stays bounded.
pub fn check_decode_frame(data: &[u8]) {
    assert_counting_allocator();
    let n = data.len();
    for profile in [Profile::Netaio, Profile::Wide] {
        let cfg = FrameConfig::new(profile);
        let src = Bytes::copy_from_slice(data);
        let (one_shot, extra) = measure(|| Message::decode(profile, src.clone()));
        assert!(
            extra <= n + overhead(&cfg),
            "one-shot {profile} decode of {n} bytes allocated {extra}"
        );
        if let Ok(msg) = &one_shot {
            check_reencode(msg, profile, data);
        }

        let mut buf = BytesMut::from(data);
        let first = wire::decode_frame(&mut buf, &cfg);
        match &one_shot {
            Ok(msg) => {
                assert_eq!(first.as_ref().ok(), Some(&Some(msg.clone())));
                assert!(buf.is_empty(), "{} bytes left after the frame", buf.len());
            }
            Err(DecodeError::Truncated { .. }) => {
                assert_eq!(first, Ok(None), "one-shot says truncated");
            }
            Err(DecodeError::TrailingBytes(k)) => {
                assert!(!matches!(first, Ok(None)), "one-shot saw a whole frame");
                assert_eq!(buf.len(), *k, "trailing byte count");
            }
            Err(e) => assert_eq!(first.as_ref().err(), Some(e)),
        }
    }
    for cfg in configs() {
        decode_loop(data, &cfg);
    }
}

fn decode_loop(data: &[u8], cfg: &FrameConfig) {
    decode_loop_with(data, cfg, wire::decode_frame);
}

/// A streaming decoder under test: [`wire::decode_frame`]'s signature.
pub type DecodeFn = fn(&mut BytesMut, &FrameConfig) -> Result<Option<Message>, DecodeError>;

/// [`decode_loop`]'s properties for any decoder with `decode_frame`'s
/// contract, so `tests/fuzz_corpus.rs` can show that broken decoders (one
/// that allocates what a header claims, one that alters a body, one that
/// consumes bytes and asks for more) make these checks fail.
pub fn decode_loop_with(data: &[u8], cfg: &FrameConfig, decode: DecodeFn) {
    let profile = cfg.profile;
    let bound = data.len() + RESERVE_CHUNK + overhead(cfg);
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.clone().freeze();
        let (step, extra) = measure(|| decode(&mut buf, cfg));
        assert!(
            extra <= bound,
            "decode_frame ({profile}) allocated {extra} bytes on a {}-byte input (bound {bound}); result {step:?}",
            data.len()
        );
        let consumed = before.len() - buf.len();
        match step {
            Ok(None) => {
                assert_eq!(consumed, 0, "Ok(None) consumed bytes");
                break;
            }
            Ok(Some(msg)) => {
                assert!(consumed >= profile.header_len() + 5);
                check_reencode(&msg, profile, &before[..consumed]);
            }
            Err(e) if e.is_recoverable() => {
                assert!(
                    consumed >= profile.header_len() + 2,
                    "{e}: consumed {consumed}"
                );
            }
            Err(_) => break,
        }
    }
}
