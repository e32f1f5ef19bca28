//! Hostile byte strings against the decoder: each gets the typed error it
//! deserves, nothing panics, and nothing large is allocated on a claim.

use bytes::BytesMut;
use framewire::wire::{self, Section, RESERVE_CHUNK};
use framewire::{
    AuthFieldsError, DecodeError, FrameCodec, FrameConfig, Message, MessageType, Profile,
};
use tokio_util::codec::Decoder;

mod common;
use common::{netaio_header, wide_header};

/// Runs the streaming decoder over `bytes` until it stops; returns the
/// messages and the first error.
fn run(cfg: &FrameConfig, bytes: &[u8]) -> (Vec<Message>, Option<DecodeError>, BytesMut) {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    loop {
        match wire::decode_frame(&mut buf, cfg) {
            Ok(Some(m)) => out.push(m),
            Ok(None) => return (out, None, buf),
            Err(e) => return (out, Some(e), buf),
        }
    }
}

fn netaio() -> FrameConfig {
    FrameConfig::new(Profile::Netaio)
}

#[test]
fn four_gib_claims_are_refused_before_allocating() {
    for (auth, body) in [(u32::MAX, 2), (3, u32::MAX), (u32::MAX, u32::MAX)] {
        let bytes = wide_header(0, auth, body, 0);
        let mut buf = BytesMut::from(&bytes[..]);
        let cap = buf.capacity();
        let err = wire::decode_frame(&mut buf, &FrameConfig::new(Profile::Wide)).unwrap_err();
        assert!(
            matches!(err, DecodeError::TooLarge { section: Section::Frame, max, .. } if max == 16 << 20),
            "{err}"
        );
        assert_eq!(buf.capacity(), cap, "reserved memory for a refused frame");
    }
}

#[test]
fn a_large_allowed_claim_reserves_only_a_bounded_chunk() {
    // 1 GiB is allowed here, but only a chunk is reserved until bytes arrive.
    let cfg = FrameConfig::new(Profile::Wide).max_frame_len(2 << 30);
    let mut buf = BytesMut::from(&wide_header(0, 3, 1 << 30, 0)[..]);
    assert_eq!(wire::decode_frame(&mut buf, &cfg).unwrap(), None);
    assert!(
        buf.capacity() <= 14 + RESERVE_CHUNK + 64,
        "{}",
        buf.capacity()
    );
    // More bytes arrive: still bounded relative to what has arrived.
    buf.extend_from_slice(&[0u8; 100_000]);
    assert_eq!(wire::decode_frame(&mut buf, &cfg).unwrap(), None);
    assert!(
        buf.capacity() <= 2 * (buf.len() + RESERVE_CHUNK),
        "{}",
        buf.capacity()
    );
}

#[test]
fn netaio_profile_limit_can_be_lowered() {
    let cfg = netaio().max_frame_len(1024);
    let (_, err, _) = run(&cfg, &netaio_header(0, 3, 2000, 0));
    assert_eq!(
        err,
        Some(DecodeError::TooLarge {
            section: Section::Frame,
            length: 9 + 3 + 2000,
            max: 1024
        })
    );
}

#[test]
fn truncated_frames_wait_and_then_fail_at_eof() {
    let frame = Message::respond("echo", "hello")
        .to_bytes(Profile::Netaio)
        .unwrap();
    for cut in 0..frame.len() {
        let (msgs, err, mut rest) = run(&netaio(), &frame[..cut]);
        assert!(msgs.is_empty() && err.is_none(), "cut {cut}");
        let eof = FrameCodec::new(Profile::Netaio).decode_eof(&mut rest);
        if cut == 0 {
            assert!(eof.unwrap().is_none());
        } else {
            assert!(eof.unwrap_err().is_io(), "cut {cut}");
        }
        // One-shot decoding names the shortfall.
        let err = Message::decode(Profile::Netaio, frame.slice(..cut)).unwrap_err();
        assert!(
            matches!(err, DecodeError::Truncated { .. }),
            "cut {cut}: {err}"
        );
    }
}

#[test]
fn one_shot_decode_refuses_trailing_bytes() {
    let mut frame = Message::ok("", "")
        .to_bytes(Profile::Netaio)
        .unwrap()
        .to_vec();
    frame.push(0);
    assert_eq!(
        Message::decode(Profile::Netaio, frame),
        Err(DecodeError::TrailingBytes(1))
    );
}

#[test]
fn unknown_types_are_typed_errors() {
    for ty in [14u8, 15, 16, 17, 18, 19, 21, 22, 26, 27, 28] {
        let (_, err, _) = run(&netaio(), &netaio_header(ty, 3, 2, 0));
        assert_eq!(err, Some(DecodeError::UnknownMessageType { value: ty }));
    }
    // 29 is the wide profile's marker: reported as a profile mismatch.
    let (_, err, _) = run(&netaio(), &[29]);
    assert_eq!(
        err,
        Some(DecodeError::ProfileMismatch {
            expected: Profile::Netaio,
            found: Profile::Wide
        })
    );
    let (_, err, _) = run(&FrameConfig::new(Profile::Wide), &wide_header(22, 3, 2, 0));
    assert_eq!(err, Some(DecodeError::UnknownMessageType { value: 22 }));
}

#[test]
fn profile_mismatch_both_ways() {
    let msg = Message::respond("echo", "x");
    let netaio_frame = msg.to_bytes(Profile::Netaio).unwrap();
    let wide_frame = msg.to_bytes(Profile::Wide).unwrap();
    let (_, err, _) = run(&FrameConfig::new(Profile::Wide), &netaio_frame);
    assert!(matches!(
        err,
        Some(DecodeError::ProfileMismatch {
            expected: Profile::Wide,
            ..
        })
    ));
    let (_, err, _) = run(&netaio(), &wide_frame);
    assert!(matches!(
        err,
        Some(DecodeError::ProfileMismatch {
            expected: Profile::Netaio,
            ..
        })
    ));
}

/// A frame with the given raw auth bytes and a valid body.
fn with_auth(auth: &[u8]) -> Vec<u8> {
    let body = b"\x00\x04echoping";
    let mut v = netaio_header(
        0,
        auth.len() as u16,
        body.len() as u16,
        crc32fast::hash(body),
    );
    v.extend_from_slice(auth);
    v.extend_from_slice(body);
    v
}

fn auth_error(auth: &[u8]) -> AuthFieldsError {
    match run(&netaio(), &with_auth(auth)).1 {
        Some(DecodeError::AuthFields(e)) => e,
        other => panic!("auth {auth:02x?}: expected an auth fields error, got {other:?}"),
    }
}

#[test]
fn garbage_auth_sections() {
    use AuthFieldsError::*;
    assert!(matches!(auth_error(b""), Truncated { .. }));
    assert!(matches!(
        auth_error(b"\xff\xff\xff"),
        UnexpectedCode { code: 0xff, .. }
    ));
    // packify(b'x'): valid packify, but not a dict.
    assert!(matches!(
        auth_error(b"\x41\x01x"),
        UnexpectedCode { code: 0x41, .. }
    ));
    assert_eq!(auth_error(b"\x4d\x40\x00junk"), TrailingBytes(4));
    assert_eq!(auth_error(b"\x4d\x33\x00"), InvalidItemCategory(0x33));
    // Dict announcing 200 entries in 5 bytes.
    assert_eq!(
        auth_error(b"\x4d\x40\xc8\x01\x02"),
        TooManyFields {
            count: 200,
            max: 32
        }
    );
    // Dict of 2 entries whose length table runs off the end.
    assert!(matches!(
        auth_error(b"\x4d\xc0\x02\xff\xff"),
        Truncated { .. }
    ));
    // Entry length 4 GiB.
    assert!(matches!(
        auth_error(b"\x4d\xc0\x01\xff\xff\xff\xff\x4c"),
        Truncated { .. }
    ));
    // Entry is a 3-tuple.
    assert_eq!(
        auth_error(b"\x4d\x40\x01\x0b\x4c\x40\x03\x01\x01\x01\x00\x00\x00\x00\x00"),
        NotAPair(3)
    );
    // Key is bytes, not str.
    assert!(matches!(
        auth_error(b"\x4d\x40\x01\x0b\x4c\x40\x02\x03\x03\x41\x01a\x41\x011"),
        UnexpectedCode { code: 0x41, .. }
    ));
    // Value is a nested dict (no recursion is attempted).
    assert!(matches!(
        auth_error(b"\x4d\x40\x01\x0b\x4c\x40\x02\x03\x03\x43\x01a\x4d\x40\x00"),
        UnexpectedCode { code: 0x4d, .. }
    ));
    // Key that is not UTF-8.
    assert_eq!(
        auth_error(b"\x4d\x40\x01\x0b\x4c\x40\x02\x03\x03\x43\x01\xff\x41\x011"),
        InvalidUtf8
    );
    // Item shorter than its table entry says.
    assert!(matches!(
        auth_error(b"\x4d\x40\x01\x0c\x4c\x40\x02\x03\x03\x43\x01a\x41\x0112"),
        ItemLengthMismatch { .. }
    ));
    // 17-byte integer.
    let mut big = b"\x4d\x40\x01\x1b\x4c\x40\x02\x03\x13\x43\x01a\x04\x11".to_vec();
    big.extend_from_slice(&[1u8; 17]);
    assert_eq!(auth_error(&big), IntTooLarge(17));
}

#[test]
fn zero_length_and_all_zero_sections() {
    // All-zero header: CRC 0 matches the empty body, then the body is too
    // short to hold its uri length.
    let (_, err, _) = run(&netaio(), &[0u8; 9]);
    assert_eq!(err, Some(DecodeError::BodyTooShort { length: 0 }));
    // Empty auth section with a valid body.
    assert!(matches!(auth_error(b""), AuthFieldsError::Truncated { .. }));
    // Smallest valid frame: empty dict, empty uri and content.
    let (msgs, err, rest) = run(
        &netaio(),
        &Message::ok("", "").to_bytes(Profile::Netaio).unwrap(),
    );
    assert!(err.is_none() && rest.is_empty());
    assert_eq!(msgs, [Message::new(MessageType::OK, "", "")]);
    // uri_length past the body end.
    let body = b"\x00\x0aabc";
    let mut frame = netaio_header(0, 3, 5, crc32fast::hash(body));
    frame.extend_from_slice(b"\x4d\x40\x00");
    frame.extend_from_slice(body);
    let (_, err, _) = run(&netaio(), &frame);
    assert_eq!(
        err,
        Some(DecodeError::UriOutOfBounds {
            uri_length: 10,
            available: 3
        })
    );
}

#[test]
fn checksum_mismatch_keeps_the_stream_in_sync() {
    let good = Message::respond("echo", "one")
        .to_bytes(Profile::Netaio)
        .unwrap();
    let mut bad = good.to_vec();
    *bad.last_mut().unwrap() ^= 0x80;
    let mut stream = bad.clone();
    stream.extend_from_slice(&good);
    stream.extend_from_slice(&bad);
    stream.extend_from_slice(&good);
    let mut codec = FrameCodec::new(Profile::Netaio);
    let mut buf = BytesMut::from(&stream[..]);
    let mut kinds = Vec::new();
    while let Some(item) = codec.decode(&mut buf).unwrap() {
        kinds.push(match item {
            Ok(m) => String::from_utf8_lossy(m.content()).into_owned(),
            Err(e) => {
                assert!(e.is_checksum_mismatch());
                "crc".to_owned()
            }
        });
    }
    assert_eq!(kinds, ["crc", "one", "crc", "one"]);
}

#[test]
fn every_byte_flip_of_a_frame_is_handled_without_panic() {
    let mut auth = framewire::AuthFields::new();
    auth.insert("nonce", [7u8; 16]);
    auth.insert("ts", 1_700_000_000i128);
    let frame = Message::respond("some/uri", "content bytes")
        .with_auth(auth)
        .to_bytes(Profile::Netaio)
        .unwrap();
    for i in 0..frame.len() {
        for bit in 0..8 {
            let mut f = frame.to_vec();
            f[i] ^= 1 << bit;
            // Whatever happens must be a value, not a panic, and must not
            // claim more than one frame's worth of output.
            let (msgs, _err, _rest) = run(&netaio(), &f);
            assert!(msgs.len() <= 1);
        }
    }
}
