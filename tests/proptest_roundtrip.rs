//! Property tests: random messages survive encode → decode in both profiles,
//! and a stream of frames decodes to the same items however it is split.

use bytes::{Bytes, BytesMut};
use framewire::wire::{self, DecodeError};
use framewire::{AuthFields, AuthValue, FrameConfig, Message, MessageType, Profile};
use proptest::prelude::*;

const PROFILES: [Profile; 2] = [Profile::Netaio, Profile::Wide];

fn message_type() -> impl Strategy<Value = MessageType> {
    prop_oneof![
        proptest::sample::select(MessageType::netaio_types().collect::<Vec<_>>()),
        (31u8..=255).prop_map(|v| MessageType::custom(v).expect("custom range")),
    ]
}

fn auth_value(max_bytes: usize) -> impl Strategy<Value = AuthValue> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..=max_bytes).prop_map(AuthValue::from),
        any::<i128>().prop_map(AuthValue::from),
        (-70_000i128..70_000).prop_map(AuthValue::from),
    ]
}

/// Up to `max` fields with unique names, inserted in random order.
fn auth_fields(
    max: usize,
    name: &'static str,
    max_bytes: usize,
) -> impl Strategy<Value = AuthFields> {
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
/// netaio profile's 65 535-byte body limit, fine for the wide profile.
fn content() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        12 => proptest::collection::vec(any::<u8>(), 0..=2048).prop_map(Bytes::from),
        1 => (65_000usize..70_000, any::<u8>()).prop_map(|(n, seed)| {
            (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect::<Vec<_>>().into()
        }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        message_type(),
        proptest::collection::vec(any::<u8>(), 0..=300),
        content(),
        auth_fields(6, "\\PC{0,12}", 64),
    )
        .prop_map(|(t, uri, content, auth)| Message::new(t, uri, content).with_auth(auth))
}

/// A message small enough that 2–4 of them stay under ~400 bytes.
fn small_message() -> impl Strategy<Value = Message> {
    (
        message_type(),
        proptest::collection::vec(any::<u8>(), 0..=12),
        proptest::collection::vec(any::<u8>(), 0..=24),
        auth_fields(2, "[a-z]{0,5}", 8),
    )
        .prop_map(|(t, uri, content, auth)| Message::new(t, uri, content).with_auth(auth))
}

/// Auth fields as a map (`AuthFields == ` compares in memory order; a
/// decoded copy has the wire's packify order).
fn same_fields(a: &AuthFields, b: &AuthFields) -> bool {
    a.len() == b.len() && a.iter().all(|(name, value)| b.get(name) == Some(value))
}

fn same_message(a: &Message, b: &Message) -> bool {
    a.message_type == b.message_type && a.body == b.body && same_fields(&a.auth, &b.auth)
}

/// Decodes frames from `buf` until it needs more bytes, recording each item.
fn drain(
    buf: &mut BytesMut,
    cfg: &FrameConfig,
    out: &mut Vec<Result<Message, DecodeError>>,
) -> Result<(), TestCaseError> {
    loop {
        match wire::decode_frame(buf, cfg) {
            Ok(Some(msg)) => out.push(Ok(msg)),
            Ok(None) => return Ok(()),
            Err(e) if e.is_recoverable() => out.push(Err(e)),
            Err(e) => return Err(TestCaseError::fail(format!("fatal decode error: {e}"))),
        }
    }
}

proptest! {
    #[test]
    fn encode_decode_round_trip(msg in message()) {
        for profile in PROFILES {
            let hl = profile.header_len();
            let body_len = msg.body.encoded_len();
            let auth_len = msg.auth.encoded_len();
            let fits = body_len as u64 <= profile.max_section_len();
            let encoded = msg.to_bytes(profile);
            prop_assert_eq!(encoded.is_ok(), fits, "{} body {}: {:?}", profile, body_len, encoded);
            let Ok(frame) = encoded else { continue };
            prop_assert_eq!(frame.len(), hl + auth_len + body_len);

            let back = Message::decode(profile, frame.clone()).expect("own frame decodes");
            prop_assert!(same_message(&back, &msg), "{:?}\nvs\n{:?}", back, msg);
            // Encoding does not depend on field insertion order, and the
            // decoded (packify-ordered) copy is a fixed point.
            prop_assert_eq!(&back.to_bytes(profile).unwrap(), &frame);
            let mut reversed = AuthFields::new();
            for (name, value) in msg.auth.iter().collect::<Vec<_>>().into_iter().rev() {
                reversed.insert(name.to_owned(), value.clone());
            }
            let reversed = msg.clone().with_auth(reversed);
            prop_assert_eq!(&reversed.to_bytes(profile).unwrap(), &frame);
            prop_assert_eq!(&Message::decode(profile, frame.clone()).unwrap(), &back);

            // Through the stream decoder too, with a byte of the next frame.
            let mut buf = BytesMut::from(&frame[..]);
            buf.extend_from_slice(&frame[..1]);
            let cfg = FrameConfig::new(profile);
            prop_assert_eq!(wire::decode_frame(&mut buf, &cfg), Ok(Some(back)));
            prop_assert_eq!(wire::decode_frame(&mut buf, &cfg), Ok(None));
            prop_assert_eq!(buf.len(), 1);

            // The other profile refuses the frame at its first byte.
            let other = if profile == Profile::Netaio { Profile::Wide } else { Profile::Netaio };
            let refused = Message::decode(other, frame);
            prop_assert!(
                matches!(refused, Err(DecodeError::ProfileMismatch { .. })),
                "{:?}", refused
            );
        }
    }

    #[test]
    fn stream_split_anywhere_decodes_the_same(
        msgs in proptest::collection::vec(small_message(), 2..=4),
        wide in any::<bool>(),
        corrupt in proptest::option::of(0usize..4),
    ) {
        let profile = if wide { Profile::Wide } else { Profile::Netaio };
        let cfg = FrameConfig::new(profile);
        let crc_at = profile.header_len() - 1; // last checksum byte
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (i, msg) in msgs.iter().enumerate() {
            let mut frame = msg.to_bytes(profile).expect("small message encodes").to_vec();
            if corrupt == Some(i) {
                frame[crc_at] ^= 0x01;
                expected.push(Err(()));
            } else {
                expected.push(Ok(msg));
            }
            stream.extend_from_slice(&frame);
        }
        prop_assert!(stream.len() <= 600, "{} bytes", stream.len());

        let check = |got: &[Result<Message, DecodeError>]| -> Result<(), TestCaseError> {
            prop_assert_eq!(got.len(), expected.len());
            for (g, e) in got.iter().zip(&expected) {
                match (g, e) {
                    (Ok(g), Ok(e)) => prop_assert!(same_message(g, e), "{:?}\nvs\n{:?}", g, e),
                    (Err(g), Err(())) => prop_assert!(g.is_checksum_mismatch(), "{}", g),
                    _ => prop_assert!(false, "got {:?}, expected {:?}", g, e),
                }
            }
            Ok(())
        };

        let mut whole = Vec::new();
        let mut buf = BytesMut::from(&stream[..]);
        drain(&mut buf, &cfg, &mut whole)?;
        prop_assert!(buf.is_empty());
        check(&whole)?;

        for k in 0..=stream.len() {
            let mut got = Vec::new();
            let mut buf = BytesMut::new();
            buf.extend_from_slice(&stream[..k]);
            drain(&mut buf, &cfg, &mut got)?;
            buf.extend_from_slice(&stream[k..]);
            drain(&mut buf, &cfg, &mut got)?;
            prop_assert!(buf.is_empty(), "split at {}: {} bytes left", k, buf.len());
            prop_assert_eq!(&got, &whole, "split at {}", k);
        }

        let mut got = Vec::new();
        let mut buf = BytesMut::new();
        for byte in &stream {
            buf.extend_from_slice(std::slice::from_ref(byte));
            drain(&mut buf, &cfg, &mut got)?;
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(&got, &whole, "byte at a time");
    }
}
