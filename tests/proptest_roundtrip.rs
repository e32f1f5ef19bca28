//! Property tests: random messages survive encode → decode in both profiles,
//! and a stream of frames decodes to the same items however it is split.

use bytes::BytesMut;
use framewire::testing::strategy::{message, small_message};
use framewire::wire::{self, DecodeError};
use framewire::{AuthFields, FrameConfig, Message, Profile};
use proptest::prelude::*;

const PROFILES: [Profile; 2] = [Profile::Netaio, Profile::Wide];

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
