//! Golden frames made by the real netaio 0.0.9 (`tests/data/vectors.json`,
//! copied from `shared/netaio/`), checked byte for byte in both directions.

use bytes::{Bytes, BytesMut};
use framewire::wire::{self, Section};
use framewire::{
    AuthFields, AuthValue, DecodeError, EncodeError, FrameCodec, FrameConfig, Header, Message,
    MessageType, Profile,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio_util::codec::Decoder;

mod common;
use common::vectors::{self, of_kind as cases};

/// The message a frame case describes, built from its separate fields.
fn message_of(case: &Value) -> Message {
    let ty = MessageType::try_from(case["message_type"]["value"].as_u64().unwrap() as u8).unwrap();
    let mut auth = AuthFields::new();
    for (k, v) in case["auth_fields"].as_object().unwrap() {
        auth.insert(k.clone(), vectors::bytes(v));
    }
    Message::new(
        ty,
        vectors::bytes(&case["uri_hex"]),
        vectors::bytes(&case["content_hex"]),
    )
    .with_auth(auth)
}

#[test]
fn every_frame_case_encodes_byte_for_byte() {
    let frames = cases("frame");
    assert_eq!(frames.len(), 50, "vectors.json should hold 50 frame cases");
    for case in &frames {
        let id = case["id"].as_str().unwrap();
        let msg = message_of(case);
        let bytes = msg.to_bytes(Profile::Netaio).unwrap();
        assert_eq!(
            common::hex(&bytes),
            case["frame_hex"].as_str().unwrap(),
            "{id}: frame"
        );
        assert_eq!(
            bytes.len() as u64,
            case["frame_length"].as_u64().unwrap(),
            "{id}"
        );
        let (h, rest) = bytes.split_at(9);
        let auth_len = case["header"]["auth_length"].as_u64().unwrap() as usize;
        assert_eq!(
            common::hex(h),
            case["header_hex"].as_str().unwrap(),
            "{id}: header"
        );
        assert_eq!(
            common::hex(&rest[..auth_len]),
            case["auth_hex"].as_str().unwrap(),
            "{id}: auth"
        );
        assert_eq!(
            common::hex(&rest[auth_len..]),
            case["body_hex"].as_str().unwrap(),
            "{id}: body"
        );
        assert_eq!(msg.auth.encoded_len(), auth_len, "{id}: encoded_len");
    }
}

#[test]
fn every_frame_case_decodes_to_its_fields() {
    for case in &cases("frame") {
        let id = case["id"].as_str().unwrap();
        let frame = Bytes::from(vectors::bytes(&case["frame_hex"]));
        let header = Header::decode(Profile::Netaio, &frame).unwrap().unwrap();
        let h = &case["header"];
        assert_eq!(
            u64::from(header.message_type.value()),
            h["message_type"].as_u64().unwrap()
        );
        assert_eq!(
            u64::from(header.auth_length),
            h["auth_length"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(
            u64::from(header.body_length),
            h["body_length"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(
            u64::from(header.checksum),
            h["checksum"].as_u64().unwrap(),
            "{id}"
        );

        let msg = Message::decode(Profile::Netaio, frame.clone()).unwrap();
        assert_eq!(
            msg.message_type.name(),
            case["message_type"]["name"].as_str(),
            "{id}: type name"
        );
        assert_eq!(
            msg.uri()[..],
            vectors::bytes(&case["uri_hex"])[..],
            "{id}: uri"
        );
        assert_eq!(
            msg.content()[..],
            vectors::bytes(&case["content_hex"])[..],
            "{id}: content"
        );
        let expected = case["auth_fields"].as_object().unwrap();
        assert_eq!(msg.auth.len(), expected.len(), "{id}: field count");
        for (k, v) in expected {
            assert_eq!(
                msg.auth.get(k),
                Some(&AuthValue::Bytes(vectors::bytes(v).into())),
                "{id}: field {k}"
            );
        }
        // Decoding slices the frame: content points into the input buffer.
        if !msg.content().is_empty() {
            let range = frame.as_ptr_range();
            assert!(
                range.contains(&msg.content().as_ptr()),
                "{id}: content was copied"
            );
        }
        assert_eq!(msg, message_of(case), "{id}: whole message");
    }
}

#[test]
fn all_frame_cases_stream_through_the_codec_back_to_back() {
    let frames = cases("frame");
    let mut stream = BytesMut::new();
    for case in &frames {
        stream.extend_from_slice(&vectors::bytes(&case["frame_hex"]));
    }
    let mut codec = FrameCodec::new(Profile::Netaio);
    for case in &frames {
        let msg = codec.decode(&mut stream).unwrap().unwrap().unwrap();
        assert_eq!(msg, message_of(case), "{}", case["id"]);
    }
    assert!(stream.is_empty());
    assert!(codec.decode_eof(&mut stream).unwrap().is_none());
}

fn generated_content(case: &Value) -> Vec<u8> {
    assert_eq!(
        case["content_generator"],
        "bytes(i % 251 for i in range(content_length))"
    );
    let n = case["content_length"].as_u64().unwrap() as usize;
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
fn large_cases_match_their_digests() {
    let large = cases("large");
    assert_eq!(large.len(), 2);
    for case in &large {
        let id = case["id"].as_str().unwrap();
        let content = generated_content(case);
        if let Some(sha) = case.get("content_sha256") {
            assert_eq!(
                common::hex(&Sha256::digest(&content)),
                sha.as_str().unwrap(),
                "{id}"
            );
        }
        let msg = Message::new(
            MessageType::RESPOND_URI,
            vectors::bytes(&case["uri_hex"]),
            content,
        );
        let bytes = msg.to_bytes(Profile::Netaio).unwrap();
        assert_eq!(
            bytes.len() as u64,
            case["frame_length"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(
            common::hex(&bytes[..9]),
            case["header_hex"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(
            common::hex(&Sha256::digest(&bytes)),
            case["frame_sha256"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(
            Message::decode(Profile::Netaio, bytes).unwrap(),
            msg,
            "{id}"
        );
    }
}

#[test]
fn content_netaio_cannot_carry_is_refused_but_fits_wide() {
    let case = cases("error").pop().expect("one error case");
    assert_eq!(case["id"], "large_70000_unrepresentable");
    let msg = Message::new(MessageType::RESPOND_URI, "", generated_content(&case));
    assert_eq!(
        msg.to_bytes(Profile::Netaio),
        Err(EncodeError::TooLarge {
            section: Section::Body,
            length: 70_002,
            max: 65_535
        })
    );
    let wide = msg.to_bytes(Profile::Wide).unwrap();
    assert_eq!(wide.len(), 14 + 3 + 70_002);
    assert_eq!(Message::decode(Profile::Wide, wide).unwrap(), msg);
}

/// What framewire's decoder makes of each raw input netaio's server was
/// probed with. Where netaio's reaction is sane we match it (CRC mismatch is
/// recoverable, unknown types and broken bodies are fatal); where it is lax
/// (non-dict or trailing auth bytes accepted) framewire refuses the frame.
#[derive(Debug)]
enum Outcome {
    /// Decodes to these (type byte, uri) messages.
    Messages(&'static [(u8, &'static str)]),
    Recoverable,
    UnknownType(u8),
    AuthFields,
    BodyTooShort,
    UriOutOfBounds,
    EofInsideFrame,
}

fn expected_outcome(id: &str) -> Outcome {
    use Outcome::*;
    const ECHO: &[(u8, &str)] = &[(0, "echo")];
    match id {
        "invalid_bad_checksum" | "hmac_bad_checksum" => Recoverable,
        "invalid_unknown_type_14" => UnknownType(14),
        // 255 is a valid custom type for framewire (netaio's enum lacks it).
        "invalid_unknown_type_255" => Messages(&[(255, "echo")]),
        "invalid_auth_length_zero" | "invalid_auth_garbage" => AuthFields,
        "invalid_auth_not_a_dict" | "invalid_auth_trailing_bytes" => AuthFields,
        "invalid_body_length_zero" | "invalid_body_length_one" => BodyTooShort,
        "invalid_uri_length_overflow" => UriOutOfBounds,
        "invalid_truncated_body_then_eof" | "invalid_truncated_header_then_eof" => EofInsideFrame,
        "invalid_two_frames_one_write" | "hmac_replay" => Messages(&[(0, "echo"), (0, "echo")]),
        "hmac_bad_error_message" => Messages(&[(20, "ERROR")]),
        // Well-formed frames whose fate is decided by the auth and cipher
        // plugins, not the codec.
        id if id.starts_with("hmac_") || id.starts_with("cipher_") => Messages(ECHO),
        other => panic!("behaviour case {other} has no expected outcome"),
    }
}

#[test]
fn behaviour_inputs_get_typed_outcomes() {
    let behaviour = cases("behaviour");
    assert_eq!(behaviour.len(), 25);
    let cfg = FrameConfig::new(Profile::Netaio);
    for case in &behaviour {
        let id = case["id"].as_str().unwrap();
        let sent = vectors::bytes(&case["sent_hex"]);
        let mut buf = BytesMut::from(&sent[..]);
        let expected = expected_outcome(id);
        let mut got = Vec::new();
        let err = loop {
            match wire::decode_frame(&mut buf, &cfg) {
                Ok(Some(m)) => got.push(m),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        match (&expected, err) {
            (Outcome::Messages(want), None) => {
                let got: Vec<_> = got
                    .iter()
                    .map(|m| {
                        (
                            m.message_type.value(),
                            String::from_utf8_lossy(m.uri()).into_owned(),
                        )
                    })
                    .collect();
                let want: Vec<_> = want.iter().map(|(t, u)| (*t, u.to_string())).collect();
                // Cipher frames carry an encrypted uri; only the type is fixed.
                if id.starts_with("cipher_") {
                    assert_eq!(got.len(), 1, "{id}");
                    assert_eq!(got[0].0, MessageType::REQUEST_URI.value(), "{id}");
                } else {
                    assert_eq!(got, want, "{id}");
                }
                assert!(buf.is_empty(), "{id}: bytes left over");
            }
            (Outcome::Recoverable, Some(e)) => {
                assert!(e.is_recoverable(), "{id}: {e}");
                assert!(buf.is_empty(), "{id}: frame not consumed");
            }
            (Outcome::UnknownType(v), Some(e)) => {
                assert_eq!(e, DecodeError::UnknownMessageType { value: *v }, "{id}")
            }
            (Outcome::AuthFields, Some(e)) => assert!(e.is_auth_fields(), "{id}: {e}"),
            (Outcome::BodyTooShort, Some(e)) => {
                assert!(matches!(e, DecodeError::BodyTooShort { .. }), "{id}: {e}")
            }
            (Outcome::UriOutOfBounds, Some(e)) => {
                assert!(matches!(e, DecodeError::UriOutOfBounds { .. }), "{id}: {e}")
            }
            (Outcome::EofInsideFrame, None) => {
                assert!(got.is_empty() && !buf.is_empty(), "{id}");
                let mut codec = FrameCodec::new(Profile::Netaio);
                let err = codec.decode_eof(&mut buf).unwrap_err();
                assert!(err.is_io(), "{id}: {err}");
            }
            (want, got) => panic!("{id}: expected {want:?}, got {got:?}"),
        }
    }
}
