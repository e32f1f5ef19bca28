//! The fixed-size frame header and the two frame profiles.

use std::fmt;

use bytes::BufMut;

use super::{DecodeError, MessageType};

/// The first byte of every `wide` frame. 29 is in netaio's reserved range and
/// unassigned, so a netaio peer (or a framewire peer on the `netaio` profile)
/// rejects a wide frame at its first byte with "unknown message type" instead
/// of misreading its lengths.
pub(crate) const WIDE_MARKER: u8 = 29;

/// The longer of the two profiles' headers.
pub(crate) const MAX_HEADER_LEN: usize = 14;

/// Which frame layout both ends speak. It is configuration, not negotiation:
/// both ends must be set the same, and a mismatch is detected at the first
/// byte ([`DecodeError::ProfileMismatch`]).
///
/// ```text
/// netaio (9-byte header, byte-exact with netaio 0.0.9):
/// +------+----------+----------+----------+
/// | type | auth_len | body_len | crc32    |
/// | u8   | u16      | u16      | u32      |
/// +------+----------+----------+----------+
///
/// wide (14-byte header, framewire <-> framewire):
/// +------+------+----------+----------+----------+
/// | 0x1d | type | auth_len | body_len | crc32    |
/// | u8   | u8   | u32      | u32      | u32      |
/// +------+------+----------+----------+----------+
/// ```
///
/// Auth fields and body are the same in both profiles (the uri length stays
/// a u16), so auth plugins sign identical bytes whatever the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Profile {
    /// netaio 0.0.9's layout: each section at most 65 535 bytes.
    #[default]
    Netaio,
    /// 32-bit section lengths for large payloads between framewire peers.
    Wide,
}

impl Profile {
    /// Header size in bytes.
    pub const fn header_len(self) -> usize {
        match self {
            Profile::Netaio => 9,
            Profile::Wide => 14,
        }
    }

    /// Largest auth or body section the header can describe.
    pub const fn max_section_len(self) -> u64 {
        match self {
            Profile::Netaio => u16::MAX as u64,
            Profile::Wide => u32::MAX as u64,
        }
    }

    /// Default limit on a whole frame: everything the header can describe
    /// for `netaio` (9 + 2 × 65 535 bytes), 16 MiB for `wide`.
    pub const fn default_max_frame_len(self) -> usize {
        match self {
            Profile::Netaio => 9 + 2 * u16::MAX as usize,
            Profile::Wide => 16 * 1024 * 1024,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::Netaio => "netaio",
            Profile::Wide => "wide",
        })
    }
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "netaio" => Ok(Profile::Netaio),
            "wide" => Ok(Profile::Wide),
            other => Err(format!(
                "unknown profile {other:?} (expected netaio or wide)"
            )),
        }
    }
}

/// A decoded frame header. Lengths are stored as `u32` for both profiles.
///
/// ```
/// use framewire::{Header, MessageType, Profile};
///
/// let bytes = [0x0a, 0x00, 0x03, 0x00, 0x02, 0x41, 0xd9, 0x12, 0xff];
/// let h = Header::decode(Profile::Netaio, &bytes).unwrap().unwrap();
/// assert_eq!(h.message_type, MessageType::OK);
/// assert_eq!((h.auth_length, h.body_length), (3, 2));
/// assert_eq!(h.frame_len(Profile::Netaio), 14);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The message type.
    pub message_type: MessageType,
    /// Length of the auth section.
    pub auth_length: u32,
    /// Length of the body section.
    pub body_length: u32,
    /// CRC-32 (IEEE) of the body bytes.
    pub checksum: u32,
}

impl Header {
    /// Decodes a header from the start of `src`; `Ok(None)` if `src` is
    /// shorter than the profile's header.
    #[inline]
    pub fn decode(profile: Profile, src: &[u8]) -> Result<Option<Header>, DecodeError> {
        let Some(first) = src.first() else {
            return Ok(None);
        };
        // Checked on the first byte alone so a mismatch is reported at once,
        // even before the rest of a header has arrived.
        let is_wide = *first == WIDE_MARKER;
        if is_wide != (profile == Profile::Wide) {
            let found = if is_wide {
                Profile::Wide
            } else {
                Profile::Netaio
            };
            return Err(DecodeError::ProfileMismatch {
                expected: profile,
                found,
            });
        }
        let Some(h) = src.get(..profile.header_len()) else {
            return Ok(None);
        };
        let be16 = |i: usize| u32::from(u16::from_be_bytes([h[i], h[i + 1]]));
        let be32 = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let header = match profile {
            Profile::Netaio => Header {
                message_type: MessageType::try_from(h[0])?,
                auth_length: be16(1),
                body_length: be16(3),
                checksum: be32(5),
            },
            Profile::Wide => Header {
                message_type: MessageType::try_from(h[1])?,
                auth_length: be32(2),
                body_length: be32(6),
                checksum: be32(10),
            },
        };
        Ok(Some(header))
    }

    /// Appends the encoded header to `dst`.
    ///
    /// The caller guarantees the lengths fit the profile
    /// ([`Message::encode`](crate::Message::encode) checks them); for the
    /// `netaio` profile only the low 16 bits of each length are written.
    pub fn encode(&self, profile: Profile, dst: &mut impl BufMut) {
        let (bytes, len) = self.to_array(profile);
        dst.put_slice(&bytes[..len]);
    }

    /// The encoded header in the first [`Profile::header_len`] bytes of
    /// an array (the rest zero), and that length: one copy for the
    /// caller, who may go on writing after it in the same array. The
    /// checksum is always the last four bytes.
    pub(crate) fn to_array(self, profile: Profile) -> ([u8; MAX_HEADER_LEN], usize) {
        let mut b = [0u8; MAX_HEADER_LEN];
        match profile {
            Profile::Netaio => {
                b[0] = self.message_type.value();
                b[1..3].copy_from_slice(&(self.auth_length as u16).to_be_bytes());
                b[3..5].copy_from_slice(&(self.body_length as u16).to_be_bytes());
                b[5..9].copy_from_slice(&self.checksum.to_be_bytes());
                (b, 9)
            }
            Profile::Wide => {
                b[0] = WIDE_MARKER;
                b[1] = self.message_type.value();
                b[2..6].copy_from_slice(&self.auth_length.to_be_bytes());
                b[6..10].copy_from_slice(&self.body_length.to_be_bytes());
                b[10..14].copy_from_slice(&self.checksum.to_be_bytes());
                (b, 14)
            }
        }
    }

    /// Total frame length this header announces (header + auth + body).
    /// Computed in `u64`, so it cannot overflow for either profile.
    pub fn frame_len(&self, profile: Profile) -> u64 {
        profile.header_len() as u64 + u64::from(self.auth_length) + u64::from(self.body_length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_print_and_parse_by_name() {
        for p in [Profile::Netaio, Profile::Wide] {
            assert_eq!(p.to_string().parse::<Profile>(), Ok(p));
        }
        assert_eq!(Profile::Wide.to_string(), "wide");
        assert_eq!("netaio".parse::<Profile>(), Ok(Profile::Netaio));
        let e = "wider".parse::<Profile>().unwrap_err();
        assert!(e.contains("\"wider\""), "{e}");
    }

    #[test]
    fn round_trip_both_profiles() {
        let h = Header {
            message_type: MessageType::NOTIFY_URI,
            auth_length: 3,
            body_length: 65535,
            checksum: 0xdead_beef,
        };
        for p in [Profile::Netaio, Profile::Wide] {
            let mut buf = Vec::new();
            h.encode(p, &mut buf);
            assert_eq!(buf.len(), p.header_len());
            assert_eq!(Header::decode(p, &buf).unwrap(), Some(h));
            for cut in 1..buf.len() {
                assert_eq!(Header::decode(p, &buf[..cut]).unwrap(), None);
            }
        }
    }

    #[test]
    fn profile_mismatch_is_seen_at_the_first_byte() {
        let wide = [WIDE_MARKER];
        assert_eq!(
            Header::decode(Profile::Netaio, &wide),
            Err(DecodeError::ProfileMismatch {
                expected: Profile::Netaio,
                found: Profile::Wide
            })
        );
        assert_eq!(
            Header::decode(Profile::Wide, &[0x00]),
            Err(DecodeError::ProfileMismatch {
                expected: Profile::Wide,
                found: Profile::Netaio
            })
        );
        assert_eq!(Header::decode(Profile::Wide, &[]), Ok(None));
    }

    #[test]
    fn unknown_type_in_either_profile() {
        let netaio = [14, 0, 3, 0, 2, 0, 0, 0, 0];
        assert_eq!(
            Header::decode(Profile::Netaio, &netaio),
            Err(DecodeError::UnknownMessageType { value: 14 })
        );
        let wide = [WIDE_MARKER, 21, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 0];
        assert_eq!(
            Header::decode(Profile::Wide, &wide),
            Err(DecodeError::UnknownMessageType { value: 21 })
        );
    }

    #[test]
    fn wide_lengths_use_32_bits() {
        let wide = [
            WIDE_MARKER,
            0,
            0xff,
            0xff,
            0xff,
            0xff,
            0,
            1,
            0,
            0,
            1,
            2,
            3,
            4,
        ];
        let h = Header::decode(Profile::Wide, &wide).unwrap().unwrap();
        assert_eq!(h.auth_length, u32::MAX);
        assert_eq!(h.body_length, 65536);
        assert_eq!(h.checksum, 0x0102_0304);
        assert_eq!(h.frame_len(Profile::Wide), 14 + u64::from(u32::MAX) + 65536);
    }
}
