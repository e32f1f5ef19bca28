//! Whole frames: limits, streaming decode from a buffer, encode.

use bytes::{Buf, Bytes, BytesMut};

use super::auth_fields::DEFAULT_MAX_AUTH_FIELDS;
use super::header::MAX_HEADER_LEN;
use super::{AuthFields, Body, DecodeError, EncodeError, Header, Message, Profile, Section};

/// The most a decoder reserves ahead of the bytes that have arrived. A
/// header may announce a large frame; memory for it is only committed as
/// its bytes actually come in.
pub const RESERVE_CHUNK: usize = 64 * 1024;

/// Profile and limits for encoding and decoding frames.
///
/// ```
/// use framewire::{FrameConfig, Profile};
///
/// let cfg = FrameConfig::new(Profile::Wide).max_frame_len(1 << 20);
/// assert_eq!(cfg.profile, Profile::Wide);
/// assert_eq!(cfg.max_frame_len, 1 << 20);
/// assert_eq!(cfg.max_auth_fields, 32);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrameConfig {
    /// The frame layout both ends speak.
    pub profile: Profile,
    /// Largest whole frame (header + auth + body) accepted or sent.
    pub max_frame_len: usize,
    /// Most auth fields accepted in one frame.
    pub max_auth_fields: usize,
}

impl FrameConfig {
    /// Defaults for `profile`: the largest frame its header can describe for
    /// `netaio` (131 079 bytes), 16 MiB for `wide`; at most 32 auth fields.
    pub const fn new(profile: Profile) -> Self {
        FrameConfig {
            profile,
            max_frame_len: profile.default_max_frame_len(),
            max_auth_fields: DEFAULT_MAX_AUTH_FIELDS,
        }
    }

    /// Sets [`FrameConfig::max_frame_len`].
    pub const fn max_frame_len(mut self, n: usize) -> Self {
        self.max_frame_len = n;
        self
    }

    /// Sets [`FrameConfig::max_auth_fields`].
    pub const fn max_auth_fields(mut self, n: usize) -> Self {
        self.max_auth_fields = n;
        self
    }
}

impl Default for FrameConfig {
    fn default() -> Self {
        Self::new(Profile::Netaio)
    }
}

/// Reads the header at the front of `src` and checks every length in it
/// against the limits, before anything is allocated for the frame.
#[inline(always)]
fn checked_header(src: &[u8], cfg: &FrameConfig) -> Result<Option<(Header, usize)>, DecodeError> {
    let Some(header) = Header::decode(cfg.profile, src)? else {
        return Ok(None);
    };
    let frame_len = header.frame_len(cfg.profile);
    if frame_len > cfg.max_frame_len as u64 {
        return Err(DecodeError::TooLarge {
            section: Section::Frame,
            length: frame_len,
            max: cfg.max_frame_len as u64,
        });
    }
    if header.body_length < 2 {
        return Err(DecodeError::BodyTooShort {
            length: header.body_length.into(),
        });
    }
    // frame_len <= max_frame_len, a usize.
    Ok(Some((header, frame_len as usize)))
}

/// Decodes the next frame from the front of a stream buffer.
///
/// * `Ok(Some(message))`: one frame was consumed.
/// * `Ok(None)`: more bytes are needed; at most [`RESERVE_CHUNK`] bytes were
///   reserved ahead of what has arrived.
/// * `Err(e)` with [`e.is_recoverable()`](DecodeError::is_recoverable): the
///   frame was consumed (checksum mismatch); call again for the next one.
/// * any other `Err`: the stream is not decodable any more; close it.
///
/// ```
/// use bytes::BytesMut;
/// use framewire::{wire, FrameConfig, Message, MessageType, Profile};
///
/// let cfg = FrameConfig::new(Profile::Netaio);
/// let frame = Message::new(MessageType::OK, "", "").to_bytes(Profile::Netaio).unwrap();
/// let mut buf = BytesMut::from(&frame[..5]);
/// assert_eq!(wire::decode_frame(&mut buf, &cfg).unwrap(), None);
/// buf.extend_from_slice(&frame[5..]);
/// let msg = wire::decode_frame(&mut buf, &cfg).unwrap().unwrap();
/// assert_eq!(msg.message_type, MessageType::OK);
/// assert!(buf.is_empty());
/// ```
#[inline]
pub fn decode_frame(src: &mut BytesMut, cfg: &FrameConfig) -> Result<Option<Message>, DecodeError> {
    let Some((header, frame_len)) = checked_header(src, cfg)? else {
        src.reserve(cfg.profile.header_len());
        return Ok(None);
    };
    if src.len() < frame_len {
        src.reserve((frame_len - src.len()).min(RESERVE_CHUNK));
        return Ok(None);
    }
    let frame = src.split_to(frame_len).freeze();
    parse(header, frame, cfg).map(Some)
}

/// Decodes a buffer that must hold exactly one frame.
pub(crate) fn decode_exact(src: Bytes, cfg: &FrameConfig) -> Result<Message, DecodeError> {
    let truncated = |needed: u64| DecodeError::Truncated {
        needed,
        available: src.len(),
    };
    let Some((header, frame_len)) = checked_header(&src, cfg)? else {
        return Err(truncated(cfg.profile.header_len() as u64));
    };
    match src.len().cmp(&frame_len) {
        std::cmp::Ordering::Less => Err(truncated(frame_len as u64)),
        std::cmp::Ordering::Greater => Err(DecodeError::TrailingBytes(src.len() - frame_len)),
        std::cmp::Ordering::Equal => parse(header, src, cfg),
    }
}

/// Splits a complete frame. The CRC is checked first: it is the one error
/// that leaves the stream usable, and a damaged body could otherwise show up
/// as a misleading structural error.
#[inline(always)]
fn parse(header: Header, mut frame: Bytes, cfg: &FrameConfig) -> Result<Message, DecodeError> {
    let auth_start = cfg.profile.header_len();
    let body_start = auth_start + header.auth_length as usize;
    let computed = super::body::crc32(&frame[body_start..]);
    if computed != header.checksum {
        // public: a CRC of the body, sent in clear beside it (not a MAC)
        return Err(DecodeError::ChecksumMismatch {
            message_type: header.message_type,
            expected: header.checksum,
            computed,
        });
    }
    // Most frames carry netaio's empty dict: skip the general decoder (and
    // its reference-count traffic) for it.
    let auth_bytes = &frame[auth_start..body_start];
    let auth = if auth_bytes == EMPTY_AUTH {
        AuthFields::new()
    } else {
        AuthFields::decode(frame.slice(auth_start..body_start), cfg.max_auth_fields)?
    };
    frame.advance(body_start);
    Ok(Message {
        message_type: header.message_type,
        auth,
        body: Body::decode(frame)?,
    })
}

/// packify's empty dict, the auth section of every unsigned netaio frame.
const EMPTY_AUTH: &[u8] = &[0x4d, 0x40, 0x00];

/// Appends `msg` as one frame to `dst`; on error `dst` is left as it was.
pub fn encode_frame(
    msg: &Message,
    cfg: &FrameConfig,
    dst: &mut BytesMut,
) -> Result<(), EncodeError> {
    let too_large = |section, length: usize, max: u64| EncodeError::TooLarge {
        section,
        length: length as u64,
        max,
    };
    if msg.body.uri.len() > usize::from(u16::MAX) {
        return Err(too_large(Section::Uri, msg.body.uri.len(), u16::MAX.into()));
    }
    if msg.auth.len() > cfg.max_auth_fields {
        // A peer with the same limits would refuse the frame.
        return Err(EncodeError::TooLarge {
            section: Section::AuthFields,
            length: msg.auth.len() as u64,
            max: cfg.max_auth_fields as u64,
        });
    }
    let profile = cfg.profile;
    let max_section = profile.max_section_len();
    let body_len = msg.body.encoded_len();
    if body_len as u64 > max_section {
        return Err(too_large(Section::Body, body_len, max_section));
    }
    if msg.auth.is_empty() {
        return encode_unsigned(msg, cfg, body_len, dst);
    }
    // Every length is known before a byte is written: the frame is
    // reserved once and nothing written has to be taken back.
    let auth_len = msg.auth.encoded_len();
    if auth_len as u64 > max_section {
        return Err(too_large(Section::Auth, auth_len, max_section));
    }
    let hl = profile.header_len();
    let frame_len = hl + auth_len + body_len;
    if frame_len > cfg.max_frame_len {
        return Err(too_large(
            Section::Frame,
            frame_len,
            cfg.max_frame_len as u64,
        ));
    }
    dst.reserve(frame_len);
    let start = dst.len();
    // The header goes in last (its checksum covers the body); the fields
    // are packed into their place, where each small write costs a bounds
    // check rather than a `BytesMut` capacity check (a third of a signed
    // frame's encoding went to those).
    dst.resize(start + hl + auth_len, 0);
    let mut slot = &mut dst[start + hl..];
    msg.auth.encode(&mut slot);
    debug_assert!(slot.is_empty(), "encoded_len is what encode writes");
    msg.body.encode(dst);
    let header = Header {
        message_type: msg.message_type,
        auth_length: auth_len as u32,
        body_length: body_len as u32,
        checksum: super::body::crc32(&dst[start + hl + auth_len..]),
    };
    let (head, _) = header.to_array(profile);
    dst[start..start + hl].copy_from_slice(&head[..hl]);
    Ok(())
}

/// Uris up to this long go into [`encode_unsigned`]'s prefix, copied
/// with it (most are a few bytes: a topic, a route).
const SHORT_URI: usize = 48;

/// [`encode_unsigned`]'s stack prefix: the longer header, the empty dict,
/// the uri's length and a short uri. Its size only decides which uris
/// are copied with the prefix (the bytes written are the same either
/// way), so a mutant of it changes nothing a test can see.
const PREFIX_ROOM: usize = MAX_HEADER_LEN + EMPTY_AUTH.len() + 2 + SHORT_URI;

/// [`encode_frame`] for a message without auth fields, most frames: every
/// length is known before a byte is written, so the frame is reserved
/// once, its header, netaio's empty dict, the uri's length and (when
/// short) the uri go in as one copy from the stack, the content as a
/// second, and the checksum is written into the header last. The general
/// path made five copies of a few bytes each, every one with its own
/// capacity check (a fifth of a 64-byte round trip's instructions).
fn encode_unsigned(
    msg: &Message,
    cfg: &FrameConfig,
    body_len: usize,
    dst: &mut BytesMut,
) -> Result<(), EncodeError> {
    let profile = cfg.profile;
    let frame_len = profile.header_len() + EMPTY_AUTH.len() + body_len;
    if frame_len > cfg.max_frame_len {
        return Err(EncodeError::TooLarge {
            section: Section::Frame,
            length: frame_len as u64,
            max: cfg.max_frame_len as u64,
        });
    }
    let header = Header {
        message_type: msg.message_type,
        auth_length: EMPTY_AUTH.len() as u32,
        body_length: body_len as u32,
        // Written below, once the body is in place.
        checksum: 0,
    };
    let (head, hl) = header.to_array(profile);
    let mut prefix = [0u8; PREFIX_ROOM];
    prefix[..MAX_HEADER_LEN].copy_from_slice(&head);
    let uri = &msg.body.uri[..];
    let body_at = hl + EMPTY_AUTH.len();
    prefix[hl..body_at].copy_from_slice(EMPTY_AUTH);
    // The caller checked that the uri's length fits in a u16.
    prefix[body_at..body_at + 2].copy_from_slice(&(uri.len() as u16).to_be_bytes());
    let mut len = body_at + 2;
    let start = dst.len();
    dst.reserve(frame_len);
    if let Some(room) = prefix.get_mut(len..len + uri.len()) {
        room.copy_from_slice(uri);
        len += uri.len();
        dst.extend_from_slice(&prefix[..len]);
    } else {
        dst.extend_from_slice(&prefix[..len]);
        dst.extend_from_slice(uri);
    }
    dst.extend_from_slice(&msg.body.content);
    let checksum = super::body::crc32(&dst[start + body_at..]);
    dst[start + hl - 4..start + hl].copy_from_slice(&checksum.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageType;

    #[test]
    fn huge_claim_costs_nothing() {
        // Wide header claiming ~8 GiB, with a limit that allows it: the
        // decoder must wait for bytes, reserving only a bounded chunk.
        let cfg = FrameConfig::new(Profile::Wide).max_frame_len(usize::MAX);
        let mut hdr = Vec::new();
        Header {
            message_type: MessageType::OK,
            auth_length: u32::MAX,
            body_length: u32::MAX,
            checksum: 0,
        }
        .encode(Profile::Wide, &mut hdr);
        let mut buf = BytesMut::from(&hdr[..]);
        assert_eq!(decode_frame(&mut buf, &cfg).unwrap(), None);
        assert!(
            buf.capacity() <= hdr.len() + RESERVE_CHUNK + 64,
            "{}",
            buf.capacity()
        );
        // ... and the whole chunk, so the frame's bytes arrive in 64 KiB
        // reads rather than one small reallocation after another.
        assert!(
            buf.capacity() >= hdr.len() + 64 * 1024,
            "{}",
            buf.capacity()
        );

        // With the default limit the same header is refused at once.
        let cfg = FrameConfig::new(Profile::Wide);
        let err = decode_frame(&mut buf, &cfg).unwrap_err();
        assert!(err.is_too_large(), "{err}");
    }

    #[test]
    fn an_auth_section_of_exactly_the_section_limit_encodes() {
        let cfg = FrameConfig::new(Profile::Netaio);
        let sized = |n: usize| {
            let mut m = Message::new(MessageType::OK, "", "");
            m.auth.insert("f", bytes::Bytes::from(vec![0u8; n]));
            m
        };
        let auth_len = |m: &Message| {
            let mut b = BytesMut::new();
            m.auth.encode(&mut b);
            b.len()
        };
        let max = usize::from(u16::MAX);
        let n = (max - 64..max)
            .find(|&n| auth_len(&sized(n)) == max)
            .expect("a field size that packs to exactly 65 535 bytes");
        let mut frame = BytesMut::new();
        encode_frame(&sized(n), &cfg, &mut frame).unwrap();
        assert_eq!(decode_exact(frame.freeze(), &cfg).unwrap(), sized(n));
        assert_eq!(auth_len(&sized(n + 1)), max + 1);
        let e = encode_frame(&sized(n + 1), &cfg, &mut BytesMut::new()).unwrap_err();
        assert!(
            matches!(
                e,
                EncodeError::TooLarge {
                    section: Section::Auth,
                    ..
                }
            ),
            "{e}"
        );
    }

    /// Auth sections to encode: none (most frames), one field (a request
    /// id), several (sorted as packify sorts them), a value past one
    /// length byte.
    fn auth_variants() -> Vec<AuthFields> {
        let mut one = AuthFields::new();
        one.insert("rid", bytes::Bytes::from_static(&[1, 2, 3, 4, 5, 6, 7, 8]));
        let mut three = AuthFields::new();
        three.insert("z", 7i128);
        three.insert("hmac", vec![0xaau8; 32]);
        three.insert("a", -70_000i128);
        let mut long = AuthFields::new();
        long.insert("big", vec![1u8; 300]);
        vec![AuthFields::new(), one, three, long]
    }

    #[test]
    fn frames_are_the_sections_laid_end_to_end() {
        // Both encoders (without fields: the header, empty dict and a
        // short uri from one stack array; with fields: packed in place)
        // against the frame built section by section, for every uri
        // length around the prefix's room (54 bytes after netaio's
        // header, 49 after wide's).
        for profile in [Profile::Netaio, Profile::Wide] {
            let cfg = FrameConfig::new(profile);
            for (auth, uri_len) in auth_variants()
                .into_iter()
                .flat_map(|a| (0..=80).map(move |n| (a.clone(), n)))
            {
                let uri: Vec<u8> = (0..uri_len).map(|i| b'a' + (i % 26) as u8).collect();
                let mut msg = Message::new(MessageType::NOTIFY_URI, uri, vec![9u8; 70]);
                msg.auth = auth;
                let mut packed = Vec::new();
                msg.auth.encode(&mut packed);
                assert_eq!(packed.len(), msg.auth.encoded_len());
                let mut want = Vec::new();
                Header {
                    message_type: msg.message_type,
                    auth_length: packed.len() as u32,
                    body_length: msg.body.encoded_len() as u32,
                    checksum: msg.body.checksum(),
                }
                .encode(profile, &mut want);
                want.extend_from_slice(&packed);
                msg.body.encode(&mut want);
                let mut dst = BytesMut::from(&b"before"[..]);
                encode_frame(&msg, &cfg, &mut dst).unwrap();
                assert_eq!(&dst[..6], b"before");
                assert_eq!(&dst[6..], &want[..], "{profile:?}, uri of {uri_len}");
                assert_eq!(decode_exact(dst.split_off(6).freeze(), &cfg).unwrap(), msg);
            }
        }
    }

    #[test]
    fn encoding_reserves_about_one_frame() {
        let msg = Message::new(MessageType::OK, "k", vec![7u8; 200]);
        let mut dst = BytesMut::new();
        encode_frame(&msg, &FrameConfig::new(Profile::Netaio), &mut dst).unwrap();
        // One allocation of the frame plus a little room for the auth
        // fields, not a multiple of the body.
        assert!(
            dst.capacity() <= 2 * (dst.len() + 64),
            "{} for {}",
            dst.capacity(),
            dst.len()
        );
    }

    #[test]
    fn a_partial_frame_reserves_no_more_than_its_rest() {
        let msg = Message::new(MessageType::OK, "k", vec![7u8; 200]);
        let frame = msg.to_bytes(Profile::Netaio).unwrap();
        let half = frame.len() / 2;
        let mut buf = BytesMut::from(&frame[..half]);
        assert_eq!(
            decode_frame(&mut buf, &FrameConfig::new(Profile::Netaio)).unwrap(),
            None
        );
        // Room for the rest of this frame (or the buffer's own doubling),
        // not a whole chunk.
        assert!(buf.capacity() >= frame.len(), "{}", buf.capacity());
        assert!(
            buf.capacity() <= frame.len().max(2 * half),
            "{}",
            buf.capacity()
        );
    }

    #[test]
    fn a_frame_of_exactly_the_limit_passes_and_one_byte_more_does_not() {
        // Without auth fields and with one (the encoder has a path for
        // each).
        let plain = Message::new(MessageType::OK, "k", "value");
        let mut signed = plain.clone();
        signed.auth.insert("rid", b"12345678".as_slice());
        for (profile, msg) in [Profile::Netaio, Profile::Wide]
            .into_iter()
            .flat_map(|p| [(p, plain.clone()), (p, signed.clone())])
        {
            let mut frame = BytesMut::new();
            encode_frame(&msg, &FrameConfig::new(profile), &mut frame).unwrap();
            let n = frame.len();
            let exact = FrameConfig::new(profile).max_frame_len(n);
            let under = FrameConfig::new(profile).max_frame_len(n - 1);
            // Decoding, streamed and whole.
            let mut buf = frame.clone();
            assert_eq!(decode_frame(&mut buf, &exact).unwrap(), Some(msg.clone()));
            let mut buf = frame.clone();
            assert!(decode_frame(&mut buf, &under).unwrap_err().is_too_large());
            assert_eq!(decode_exact(frame.clone().freeze(), &exact).unwrap(), msg);
            assert!(decode_exact(frame.clone().freeze(), &under)
                .unwrap_err()
                .is_too_large());
            // Encoding.
            assert!(encode_frame(&msg, &exact, &mut BytesMut::new()).is_ok());
            assert!(encode_frame(&msg, &under, &mut BytesMut::new()).is_err());
        }
        // The uri's u16 length: 65 535 bytes go, one more does not.
        let wide = FrameConfig::new(Profile::Wide);
        let longest = Message::new(MessageType::OK, vec![b'u'; 65_535], "");
        assert!(encode_frame(&longest, &wide, &mut BytesMut::new()).is_ok());
        let over = Message::new(MessageType::OK, vec![b'u'; 65_536], "");
        let e = encode_frame(&over, &wide, &mut BytesMut::new()).unwrap_err();
        assert!(
            matches!(
                e,
                EncodeError::TooLarge {
                    section: Section::Uri,
                    ..
                }
            ),
            "{e}"
        );
        // The auth field count: as many as the limit go, one more does not.
        let mut two = Message::new(MessageType::OK, "", "");
        two.auth.insert("a", b"1".as_slice());
        two.auth.insert("b", b"2".as_slice());
        let (at_two, at_one) = (wide.max_auth_fields(2), wide.max_auth_fields(1));
        let mut frame = BytesMut::new();
        encode_frame(&two, &at_two, &mut frame).unwrap();
        assert!(encode_frame(&two, &at_one, &mut BytesMut::new()).is_err());
        assert_eq!(decode_exact(frame.clone().freeze(), &at_two).unwrap(), two);
        assert!(decode_exact(frame.freeze(), &at_one).is_err());
    }

    #[test]
    fn encode_failure_leaves_buffer_untouched() {
        let cfg = FrameConfig::new(Profile::Netaio).max_frame_len(20);
        let mut dst = BytesMut::from(&b"keep"[..]);
        let msg = Message::new(MessageType::OK, "", vec![0u8; 100]);
        assert!(encode_frame(&msg, &cfg, &mut dst).is_err());
        assert_eq!(&dst[..], b"keep");
        let long_uri = Message::new(MessageType::OK, vec![0u8; 70_000], "");
        let err = encode_frame(&long_uri, &FrameConfig::new(Profile::Wide), &mut dst).unwrap_err();
        assert!(matches!(
            err,
            EncodeError::TooLarge {
                section: Section::Uri,
                ..
            }
        ));
        assert_eq!(&dst[..], b"keep");
    }

    #[test]
    fn checksum_mismatch_consumes_one_frame() {
        let cfg = FrameConfig::default();
        let good = Message::ok("a", "b").to_bytes(Profile::Netaio).unwrap();
        let mut bad = good.to_vec();
        bad[5] ^= 1;
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&bad);
        buf.extend_from_slice(&good);
        let err = decode_frame(&mut buf, &cfg).unwrap_err();
        assert!(err.is_recoverable());
        assert_eq!(
            decode_frame(&mut buf, &cfg).unwrap(),
            Some(Message::ok("a", "b"))
        );
        assert!(buf.is_empty());
    }
}
