//! The bytes one instance hands the backplane for every other instance:
//! who sent it (origin name and incarnation), its sequence number, what
//! it targets (every connection, a topic's subscribers, a tag) and the
//! message itself as one unsealed `wide` frame. Pure: no I/O, no plugins.
//!
//! ```text
//! "FWB1" | origin len u8 | origin | incarnation u64 | seq u64
//!        | target kind u8 | target len u32 | target
//!        [ kind 3 only: count u16 | (group len u8 | group | owner u64)* ]
//!        | frame (the rest)
//! ```
//!
//! Kind 3 is a topic whose queue groups the publisher assigned, each to
//! the instance (its incarnation) that delivers it to one member; kind 5
//! is the same for the groups only (an instance handing on what was
//! assigned to it after its members left); kind 4 carries an instance's
//! queue-group table (`groups.rs`) and an empty notification.
//!
//! All integers big-endian. Lengths are checked against what is left
//! before anything is sliced; the frame is decoded with the `wide`
//! profile's own limits, so a hostile or corrupt envelope is an error,
//! never a panic or an allocation it asked for.

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::{
    decode_exact, encode_frame, DecodeError, EncodeError, FrameConfig, Message, Profile,
};

const MAGIC: &[u8; 4] = b"FWB1";

/// Longest origin name: one length byte.
pub(crate) const MAX_ORIGIN: usize = u8::MAX as usize;

/// Who receives a relayed message on each instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// Every connection (`broadcast`).
    All,
    /// The subscribers of a topic (`notify`).
    Topic(Bytes),
    /// The connections with a tag (`send_to_tag`).
    Tag(Bytes),
    /// A topic's subscribers, with each of its queue groups assigned to
    /// the instance (incarnation) that serves it this time.
    Grouped(Bytes, Vec<(Bytes, u64)>),
    /// The sender's queue-group table (`groups::encode_table`).
    Members(Bytes),
    /// Only the named queue groups of a topic (not its plain
    /// subscribers): handed on by an instance assigned a group it has no
    /// member of any more. Never handed on again.
    Handoff(Bytes, Vec<(Bytes, u64)>),
}

impl Target {
    fn kind(&self) -> u8 {
        match self {
            Target::All => 0,
            Target::Topic(_) => 1,
            Target::Tag(_) => 2,
            Target::Grouped(..) => 3,
            Target::Members(_) => 4,
            Target::Handoff(..) => 5,
        }
    }

    fn key(&self) -> &[u8] {
        match self {
            Target::All => &[],
            Target::Topic(k)
            | Target::Tag(k)
            | Target::Grouped(k, _)
            | Target::Members(k)
            | Target::Handoff(k, _) => k,
        }
    }
}

/// One relayed message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Envelope {
    pub(crate) origin: Bytes,
    pub(crate) incarnation: u64,
    pub(crate) seq: u64,
    pub(crate) target: Target,
    pub(crate) msg: Message,
}

/// Why bytes from the backplane are not an envelope.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EnvelopeError {
    #[error("not a framewire backplane envelope")]
    Magic,
    #[error("envelope truncated")]
    Truncated,
    #[error("unknown target kind {0}")]
    Target(u8),
    #[error("origin name longer than {MAX_ORIGIN} bytes")]
    Origin,
    #[error("queue-group assignment malformed")]
    Groups,
    #[error(transparent)]
    Frame(#[from] DecodeError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

fn frame_config() -> FrameConfig {
    FrameConfig::new(Profile::Wide)
}

impl Envelope {
    /// The envelope's bytes, encoded once for every other instance.
    pub(crate) fn encode(&self) -> Result<Bytes, EnvelopeError> {
        if self.origin.len() > MAX_ORIGIN {
            return Err(EnvelopeError::Origin);
        }
        let key = self.target.key();
        let key_len = u32::try_from(key.len()).map_err(|_| EnvelopeError::Truncated)?;
        let mut out = BytesMut::with_capacity(
            32 + self.origin.len() + key.len() + self.msg.body.encoded_len(),
        );
        out.put_slice(MAGIC);
        out.put_u8(self.origin.len() as u8);
        out.put_slice(&self.origin);
        out.put_u64(self.incarnation);
        out.put_u64(self.seq);
        out.put_u8(self.target.kind());
        out.put_u32(key_len);
        out.put_slice(key);
        if let Target::Grouped(_, groups) | Target::Handoff(_, groups) = &self.target {
            let n = u16::try_from(groups.len()).map_err(|_| EnvelopeError::Groups)?;
            out.put_u16(n);
            for (name, owner) in groups {
                let len = u8::try_from(name.len()).map_err(|_| EnvelopeError::Groups)?;
                out.put_u8(len);
                out.put_slice(name);
                out.put_u64(*owner);
            }
        }
        encode_frame(&self.msg, &frame_config(), &mut out)?;
        Ok(out.freeze())
    }

    /// Parses an envelope; uri, content and keys are slices of `src`.
    pub(crate) fn decode(src: Bytes) -> Result<Envelope, EnvelopeError> {
        let mut r = Reader { src, at: 0 };
        if r.take(MAGIC.len())? != MAGIC[..] {
            return Err(EnvelopeError::Magic);
        }
        let origin_len = usize::from(r.u8()?);
        let origin = r.take(origin_len)?;
        let incarnation = r.u64()?;
        let seq = r.u64()?;
        let kind = r.u8()?;
        let key_len = usize::try_from(r.u32()?).map_err(|_| EnvelopeError::Truncated)?;
        let key = r.take(key_len)?;
        let target = match kind {
            0 if key.is_empty() => Target::All,
            1 => Target::Topic(key),
            2 => Target::Tag(key),
            3 | 5 => {
                let n = u16::from_be_bytes(r.array()?);
                // Each entry is at least 10 bytes: the count cannot ask
                // for more room than the envelope has.
                let mut groups = Vec::with_capacity(usize::from(n).min(r.left() / 10));
                for _ in 0..n {
                    let len = usize::from(r.u8()?);
                    let name = r.take(len)?;
                    if !crate::protocol::is_group_name(&name) {
                        return Err(EnvelopeError::Groups);
                    }
                    groups.push((name, r.u64()?));
                }
                match kind {
                    3 => Target::Grouped(key, groups),
                    _ => Target::Handoff(key, groups),
                }
            }
            4 => Target::Members(key),
            other => return Err(EnvelopeError::Target(other)),
        };
        let msg = decode_exact(r.rest(), &frame_config())?;
        Ok(Envelope {
            origin,
            incarnation,
            seq,
            target,
            msg,
        })
    }
}

/// A cursor that checks every length against what is left.
pub(super) struct Reader {
    pub(super) src: Bytes,
    pub(super) at: usize,
}

impl Reader {
    /// Bytes not read yet.
    pub(super) fn left(&self) -> usize {
        self.src.len().saturating_sub(self.at)
    }

    pub(super) fn take(&mut self, n: usize) -> Result<Bytes, EnvelopeError> {
        let end = self.at.checked_add(n).ok_or(EnvelopeError::Truncated)?;
        if end > self.src.len() {
            return Err(EnvelopeError::Truncated);
        }
        let out = self.src.slice(self.at..end);
        self.at = end;
        Ok(out)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], EnvelopeError> {
        let b = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&b);
        Ok(out)
    }

    pub(super) fn u8(&mut self) -> Result<u8, EnvelopeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(super) fn u32(&mut self) -> Result<u32, EnvelopeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(super) fn u64(&mut self) -> Result<u64, EnvelopeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn rest(self) -> Bytes {
        self.src.slice(self.at..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MessageType;

    fn sample(target: Target) -> Envelope {
        let mut msg = Message::new(MessageType::NOTIFY_URI, "news", "hello");
        msg.auth.insert("k", b"v".as_slice());
        Envelope {
            origin: Bytes::from_static(b"eu-1"),
            incarnation: 0x0102_0304_0506_0708,
            seq: 42,
            target,
            msg,
        }
    }

    #[test]
    fn round_trips_every_target() {
        for target in [
            Target::All,
            Target::Topic(Bytes::from_static(b"news")),
            Target::Tag(Bytes::from_static(b"ops")),
            Target::Grouped(
                Bytes::from_static(b"jobs"),
                vec![
                    (Bytes::from_static(b"w"), 7),
                    (Bytes::from_static(b"x.y"), u64::MAX),
                ],
            ),
            Target::Grouped(Bytes::from_static(b"jobs"), vec![]),
            Target::Handoff(
                Bytes::from_static(b"jobs"),
                vec![(Bytes::from_static(b"w"), 3)],
            ),
            Target::Members(Bytes::from_static(b"\0\0\0\0")),
        ] {
            let env = sample(target);
            let bytes = env.encode().unwrap();
            assert_eq!(Envelope::decode(bytes).unwrap(), env);
        }
    }

    #[test]
    fn every_truncation_and_bad_header_is_an_error() {
        let bytes = sample(Target::Topic(Bytes::from_static(b"news")))
            .encode()
            .unwrap();
        for cut in 0..bytes.len() {
            assert!(Envelope::decode(bytes.slice(..cut)).is_err(), "cut {cut}");
        }
        let mut bad = BytesMut::from(&bytes[..]);
        bad[0] = b'X';
        assert!(matches!(
            Envelope::decode(bad.freeze()),
            Err(EnvelopeError::Magic)
        ));
        // Target kind byte: after magic, origin, incarnation and seq.
        let kind_at = 4 + 1 + 4 + 8 + 8;
        let mut bad = BytesMut::from(&bytes[..]);
        bad[kind_at] = 9;
        assert!(matches!(
            Envelope::decode(bad.freeze()),
            Err(EnvelopeError::Target(9))
        ));
        // A key length far past the end is refused before slicing.
        let mut bad = BytesMut::from(&bytes[..]);
        bad[kind_at + 1..kind_at + 5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            Envelope::decode(bad.freeze()),
            Err(EnvelopeError::Truncated)
        ));
        // "All" with a key is malformed, not silently "All".
        let mut all = sample(Target::All).encode().unwrap().to_vec();
        all[kind_at] = 0;
        all[kind_at + 1..kind_at + 5].copy_from_slice(&1u32.to_be_bytes());
        all.insert(kind_at + 5, b'x');
        assert!(Envelope::decode(Bytes::from(all)).is_err());
    }

    #[test]
    fn group_assignments_are_checked_before_anything_is_kept() {
        let grouped = |groups| sample(Target::Grouped(Bytes::from_static(b"jobs"), groups));
        let bytes = grouped(vec![(Bytes::from_static(b"w"), 7)])
            .encode()
            .unwrap();
        for cut in 0..bytes.len() {
            assert!(Envelope::decode(bytes.slice(..cut)).is_err(), "cut {cut}");
        }
        // A name that is not a group name is refused, not kept.
        let bad = grouped(vec![(Bytes::from_static(b"a b"), 7)])
            .encode()
            .unwrap();
        assert!(matches!(Envelope::decode(bad), Err(EnvelopeError::Groups)));
        // A count far past what follows fails on the first missing entry.
        let kind_at = 4 + 1 + 4 + 8 + 8;
        let mut many = bytes.to_vec();
        let count_at = kind_at + 1 + 4 + 4;
        many[count_at..count_at + 2].copy_from_slice(&u16::MAX.to_be_bytes());
        assert!(Envelope::decode(Bytes::from(many)).is_err());
        // More groups or a longer name than the format holds: refused on
        // encode.
        let long = Bytes::from(vec![b'w'; 256]);
        assert!(matches!(
            grouped(vec![(long, 1)]).encode(),
            Err(EnvelopeError::Groups)
        ));
        let w = (Bytes::from_static(b"w"), 1);
        assert!(matches!(
            grouped(vec![w; 65_536]).encode(),
            Err(EnvelopeError::Groups)
        ));
    }

    #[test]
    fn long_origins_are_refused_on_encode() {
        let mut env = sample(Target::All);
        env.origin = Bytes::from(vec![b'a'; MAX_ORIGIN + 1]);
        assert!(matches!(env.encode(), Err(EnvelopeError::Origin)));
        env.origin = Bytes::from(vec![b'a'; MAX_ORIGIN]);
        assert!(Envelope::decode(env.encode().unwrap()).is_ok());
    }

    /// A notification of more than netaio's 64 KiB sections crosses too:
    /// envelopes carry the Wide profile.
    #[test]
    fn a_message_past_netaios_section_limit_round_trips() {
        let mut env = sample(Target::All);
        env.msg.body.content = Bytes::from(vec![7u8; 70_000]);
        assert_eq!(Envelope::decode(env.encode().unwrap()).unwrap(), env);
    }

    #[test]
    fn a_reader_takes_up_to_exactly_its_end() {
        let mut r = Reader {
            src: Bytes::from_static(b"abc"),
            at: 1,
        };
        assert_eq!(&r.take(2).unwrap()[..], b"bc");
        assert!(r.take(1).is_err());
        assert!(r.take(usize::MAX).is_err());
    }
}
