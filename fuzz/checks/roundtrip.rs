//! `roundtrip`: structured messages survive encode and decode.

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

/// A message to build, as the `roundtrip` target describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoundtripInput {
    /// The type byte (may be a reserved, unassigned value).
    pub type_byte: u8,
    /// The uri.
    pub uri: Vec<u8>,
    /// The content.
    pub content: Vec<u8>,
    /// Pad selector: see [`pad_len`]; appended to the content.
    pub pad: u8,
    /// Auth fields in insertion order (a repeated name replaces).
    pub fields: Vec<(String, FieldInput)>,
}

/// An auth field value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldInput {
    /// Bytes.
    Bytes(Vec<u8>),
    /// An integer.
    Int(i128),
}

/// Extra content bytes for pad selector `pad`: none below 240, else
/// 65 400..=65 640, straddling the netaio profile's 65 535-byte body limit
/// so the wide profile gets large frames the netaio one must refuse.
pub fn pad_len(pad: u8) -> usize {
    match pad {
        0..=239 => 0,
        p => 65_400 + usize::from(p - 240) * 16,
    }
}

impl RoundtripInput {
    /// Parses the replayable byte form (every byte string is accepted;
    /// missing bytes read as zero/empty):
    ///
    /// ```text
    /// type u8 | pad u8 | uri_len u16 | uri | content_len u16 | content |
    /// n_fields u8 | n × (name_len u8 | name (lossy UTF-8) | tag u8 |
    ///                    tag even: len u16 | bytes ; tag odd: i128 BE)
    /// ```
    ///
    /// The `roundtrip` target runs both this form and `arbitrary`'s
    /// structured form of its input; only this one can be replayed by the
    /// stable test, so regression inputs are stored in it ([`Self::to_bytes`]).
    pub fn from_bytes(data: &[u8]) -> Self {
        let mut r = Cursor(data);
        let type_byte = r.u8();
        let pad = r.u8();
        let uri = r.prefixed();
        let content = r.prefixed();
        let count = r.u8();
        let mut fields = Vec::new();
        for _ in 0..count {
            let name_len = usize::from(r.u8());
            let name = String::from_utf8_lossy(r.take(name_len)).into_owned();
            let value = if r.u8() % 2 == 0 {
                FieldInput::Bytes(r.prefixed())
            } else {
                let mut b = [0u8; 16];
                let got = r.take(16);
                b[..got.len()].copy_from_slice(got);
                FieldInput::Int(i128::from_be_bytes(b))
            };
            fields.push((name, value));
        }
        RoundtripInput {
            type_byte,
            uri,
            content,
            pad,
            fields,
        }
    }

    /// The byte form [`Self::from_bytes`] reads (lengths are truncated to
    /// their field widths).
    pub fn to_bytes(&self) -> Vec<u8> {
        fn put(out: &mut Vec<u8>, b: &[u8]) {
            let b = &b[..b.len().min(usize::from(u16::MAX))];
            out.extend_from_slice(&(b.len() as u16).to_be_bytes());
            out.extend_from_slice(b);
        }
        let mut out = vec![self.type_byte, self.pad];
        put(&mut out, &self.uri);
        put(&mut out, &self.content);
        let fields = &self.fields[..self.fields.len().min(255)];
        out.push(fields.len() as u8);
        for (name, value) in fields {
            let name = &name.as_bytes()[..name.len().min(255)];
            out.push(name.len() as u8);
            out.extend_from_slice(name);
            match value {
                FieldInput::Bytes(b) => {
                    out.push(0);
                    put(&mut out, b);
                }
                FieldInput::Int(i) => {
                    out.push(1);
                    out.extend_from_slice(&i.to_be_bytes());
                }
            }
        }
        out
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.0.split_at(n.min(self.0.len()));
        self.0 = tail;
        head
    }

    fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    fn u16(&mut self) -> u16 {
        (u16::from(self.u8()) << 8) | u16::from(self.u8())
    }

    /// `len u16 ‖ bytes`.
    fn prefixed(&mut self) -> Vec<u8> {
        let n = usize::from(self.u16());
        self.take(n).to_vec()
    }
}

/// [`check_roundtrip`] on [`RoundtripInput::from_bytes`]`(data)`.
pub fn check_roundtrip_bytes(data: &[u8]) {
    check_roundtrip(&RoundtripInput::from_bytes(data));
}

const UNASSIGNED: [u8; 12] = [14, 15, 16, 17, 18, 19, 21, 22, 26, 27, 28, 29];

/// Builds the message, encodes it in both profiles and decodes it back.
/// Encoding fails exactly when a length exceeds the profile or limit (and
/// then leaves the buffer untouched); otherwise the frame has the announced
/// layout, `FrameCodec` and `to_bytes` agree, the frame decodes (one-shot
/// and streamed, twice back to back) to the same message, and re-encoding
/// the decoded copy gives the same bytes. An unassigned type byte cannot be
/// built and is refused when received.
pub fn check_roundtrip(input: &RoundtripInput) {
    assert_counting_allocator();
    let mut content = input.content.clone();
    content.extend((0..pad_len(input.pad)).map(|i| (i % 251) as u8));
    let mut auth = AuthFields::new();
    for (name, value) in &input.fields {
        let value = match value {
            FieldInput::Bytes(b) => AuthValue::from(b.clone()),
            FieldInput::Int(i) => AuthValue::from(*i),
        };
        auth.insert(name.clone(), value);
    }

    let Ok(message_type) = MessageType::try_from(input.type_byte) else {
        assert!(
            UNASSIGNED.contains(&input.type_byte),
            "{} refused",
            input.type_byte
        );
        check_unassigned_type(input.type_byte);
        return;
    };
    assert!(!UNASSIGNED.contains(&input.type_byte));
    let msg = Message {
        message_type,
        auth,
        body: Body::new(input.uri.clone(), content),
    };

    for profile in [Profile::Netaio, Profile::Wide] {
        let cfg = FrameConfig::new(profile);
        let hl = profile.header_len();
        let uri_len = msg.body.uri.len();
        let body_len = msg.body.encoded_len();
        let auth_len = msg.auth.encoded_len();
        let frame_len = hl + auth_len + body_len;
        let max_section = profile.max_section_len() as usize;
        let fits = uri_len <= usize::from(u16::MAX)
            && msg.auth.len() <= cfg.max_auth_fields
            && body_len <= max_section
            && auth_len <= max_section
            && frame_len <= cfg.max_frame_len;

        let mut dst = BytesMut::from(&b"prefix"[..]);
        let result = wire::encode_frame(&msg, &cfg, &mut dst);
        assert_eq!(
            result.is_ok(),
            fits,
            "{profile}: uri {uri_len}, auth {auth_len}, body {body_len}: {result:?}"
        );
        if result.is_err() {
            assert_eq!(&dst[..], b"prefix", "failed encode changed the buffer");
            assert!(msg.to_bytes(profile).is_err());
            continue;
        }
        assert_eq!(&dst[..6], b"prefix", "encode overwrote existing bytes");
        let frame = dst.split_off(6).freeze();
        assert_eq!(frame.len(), frame_len, "frame length");
        let header = header_of(profile, &frame);
        assert_eq!(header.message_type, msg.message_type);
        assert_eq!(header.auth_length as usize, auth_len);
        assert_eq!(header.body_length as usize, body_len);
        assert_eq!(header.checksum, msg.body.checksum());
        match profile {
            Profile::Netaio => assert_eq!(frame[0], input.type_byte),
            _ => assert_eq!(frame[1], input.type_byte),
        }
        assert_eq!(msg.to_bytes(profile).as_ref(), Ok(&frame));
        let mut via_codec = BytesMut::new();
        FrameCodec::new(profile)
            .encode(msg.clone(), &mut via_codec)
            .expect("FrameCodec encodes");
        assert_eq!(via_codec, frame);

        // Encode refuses more fields than the limit, so whatever it sends
        // a decoder with the same limits accepts.
        let back = Message::decode(profile, frame.clone())
            .unwrap_or_else(|e| panic!("{profile}: own frame does not decode: {e}"));
        assert!(
            same_message(&back, &msg),
            "{profile}: one-shot decode differs"
        );
        let dcfg = cfg;

        let mut buf = BytesMut::from(&frame[..]);
        let (back, extra) = measure(|| wire::decode_frame(&mut buf, &dcfg));
        let back = back
            .unwrap_or_else(|e| panic!("{profile}: own frame does not decode: {e}"))
            .expect("a whole frame");
        assert!(buf.is_empty());
        assert!(
            extra <= frame.len() + overhead(&dcfg),
            "decode allocated {extra}"
        );
        assert!(
            same_message(&back, &msg),
            "{profile} round trip changed the message:\n{back:?}\nvs\n{msg:?}"
        );
        assert_eq!(
            back.to_bytes(profile).as_ref(),
            Ok(&frame),
            "decoded copy re-encodes differently"
        );
        let mut reversed = AuthFields::new();
        for (name, value) in msg.auth.iter().collect::<Vec<_>>().into_iter().rev() {
            reversed.insert(name.to_owned(), value.clone());
        }
        let reversed = Message {
            auth: reversed,
            ..msg.clone()
        };
        assert_eq!(
            reversed.to_bytes(profile).as_ref(),
            Ok(&frame),
            "encoding depends on field insertion order"
        );

        // Two copies back to back through the streaming decoder.
        buf.extend_from_slice(&frame);
        buf.extend_from_slice(&frame);
        for _ in 0..2 {
            let got = wire::decode_frame(&mut buf, &dcfg);
            assert_eq!(got.as_ref().ok(), Some(&Some(back.clone())));
        }
        assert!(buf.is_empty());
        assert_eq!(wire::decode_frame(&mut buf, &dcfg), Ok(None));
    }
}

fn check_unassigned_type(value: u8) {
    for profile in [Profile::Netaio, Profile::Wide] {
        let mut frame = Message::new(MessageType::OK, "", "")
            .to_bytes(profile)
            .expect("OK encodes")
            .to_vec();
        let at = if profile == Profile::Netaio { 0 } else { 1 };
        frame[at] = value;
        let expected = if profile == Profile::Netaio && value == 29 {
            // 29 is the wide profile's marker byte.
            DecodeError::ProfileMismatch {
                expected: Profile::Netaio,
                found: Profile::Wide,
            }
        } else {
            DecodeError::UnknownMessageType { value }
        };
        assert_eq!(
            Message::decode(profile, frame.clone()),
            Err(expected.clone())
        );
        let mut buf = BytesMut::from(&frame[..]);
        assert_eq!(
            wire::decode_frame(&mut buf, &FrameConfig::new(profile)),
            Err(expected)
        );
    }
}
