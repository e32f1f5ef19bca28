//! `arbitrary::Arbitrary` for the wire types (feature `arbitrary`), so a
//! fuzz target can turn its input into messages in one line. What they
//! make stays inside the decoder's default limits: every arbitrary
//! [`Message`] encodes in both profiles and decodes back with
//! [`FrameConfig::default`](super::FrameConfig).
//!
//! ```
//! use arbitrary::{Arbitrary, Unstructured};
//! use framewire::{Message, Profile};
//!
//! let noise = [7u8; 64];
//! let msg = Message::arbitrary(&mut Unstructured::new(&noise)).unwrap();
//! assert!(msg.to_bytes(Profile::Netaio).is_ok());
//! ```

use arbitrary::{Arbitrary, Result, Unstructured};
use bytes::Bytes;

use super::{AuthFields, AuthValue, FieldName, Message, MessageType, DEFAULT_MAX_AUTH_FIELDS};

/// Longest arbitrary uri, in bytes.
const MAX_URI: usize = 1024;
/// Longest arbitrary content: with [`MAX_URI`] and the 2-byte uri length,
/// the body fits the netaio header's 16-bit length.
const MAX_CONTENT: usize = u16::MAX as usize - 2 - MAX_URI;
/// Longest arbitrary auth field name and bytes value: 32 of each stay far
/// under the auth section's 65 535 bytes.
const MAX_NAME: usize = 32;
const MAX_VALUE: usize = 256;

impl<'a> Arbitrary<'a> for MessageType {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let v = u8::arbitrary(u)?;
        // Values with no meaning (14..=19, ...) fold onto netaio's types.
        Ok(MessageType::try_from(v).unwrap_or_else(|_| {
            let netaio: Vec<_> = MessageType::netaio_types().collect();
            netaio[usize::from(v) % netaio.len()]
        }))
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (1, Some(1))
    }
}

impl<'a> Arbitrary<'a> for FieldName {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(FieldName::new(truncated(String::arbitrary(u)?, MAX_NAME)))
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn truncated(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl<'a> Arbitrary<'a> for AuthValue {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(if bool::arbitrary(u)? {
            AuthValue::from(i128::arbitrary(u)?)
        } else {
            AuthValue::from(bytes(u, MAX_VALUE)?)
        })
    }
}

impl<'a> Arbitrary<'a> for AuthFields {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let n = u.int_in_range(0..=DEFAULT_MAX_AUTH_FIELDS)?;
        let mut fields = AuthFields::new();
        for _ in 0..n {
            // A repeated name replaces the earlier value: never more
            // fields than the decoder accepts.
            fields.insert(FieldName::arbitrary(u)?, AuthValue::arbitrary(u)?);
        }
        Ok(fields)
    }
}

impl<'a> Arbitrary<'a> for Message {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let message_type = MessageType::arbitrary(u)?;
        let uri = bytes(u, MAX_URI)?;
        let auth = AuthFields::arbitrary(u)?;
        let content = bytes(u, MAX_CONTENT)?;
        Ok(Message::new(message_type, uri, content).with_auth(auth))
    }
}

/// Up to `max` bytes, length chosen by the input.
fn bytes(u: &mut Unstructured<'_>, max: usize) -> Result<Bytes> {
    let len = u.arbitrary_len::<u8>()?.min(max);
    Ok(Bytes::copy_from_slice(u.bytes(len)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise (xorshift), `len` bytes.
    fn noise(seed: &mut u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                *seed as u8
            })
            .collect()
    }

    #[test]
    fn the_largest_body_fits_the_netaio_length_field() {
        assert_eq!(MAX_URI + 2 + MAX_CONTENT, usize::from(u16::MAX));
        // Input to spare: lengths reach their maximum, never more.
        let all = [0xffu8; 100_000];
        assert_eq!(
            bytes(&mut Unstructured::new(&all), MAX_CONTENT)
                .unwrap()
                .len(),
            MAX_CONTENT
        );
        assert_eq!(bytes(&mut Unstructured::new(&all), 5).unwrap().len(), 5);
    }

    #[test]
    fn every_byte_is_a_type_and_meaningless_ones_fold_onto_netaio_types() {
        let netaio: Vec<_> = MessageType::netaio_types().collect();
        for v in 0..=255u8 {
            let t = MessageType::arbitrary(&mut Unstructured::new(&[v])).unwrap();
            match MessageType::try_from(v) {
                Ok(valid) => assert_eq!(t, valid),
                Err(_) => assert_eq!(t, netaio[usize::from(v) % netaio.len()], "{v}"),
            }
        }
        assert_eq!(MessageType::size_hint(0), (1, Some(1)));
    }

    #[test]
    fn names_are_cut_to_the_limit_on_a_character_boundary() {
        assert_eq!(truncated("a".repeat(40), MAX_NAME), "a".repeat(32));
        assert_eq!(truncated("a".repeat(32), MAX_NAME), "a".repeat(32));
        assert_eq!(truncated("short".into(), MAX_NAME), "short");
        // 'é' is two bytes: one at 31..33 does not fit in 32.
        let s = format!("{}é{}", "a".repeat(31), "b".repeat(8));
        assert_eq!(truncated(s, MAX_NAME), "a".repeat(31));
    }

    #[test]
    fn noise_makes_every_kind_of_value() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let (mut ints, mut bytes_values, mut names, mut uris, mut contents, mut fielded) =
            (0, 0, 0, 0, 0, 0);
        for round in 0..200usize {
            let input = noise(&mut seed, 64 + round * 13);
            let mut u = Unstructured::new(&input);
            match AuthValue::arbitrary(&mut u).unwrap() {
                AuthValue::Int(_) => ints += 1,
                AuthValue::Bytes(_) => bytes_values += 1,
            }
            if !FieldName::arbitrary(&mut u).unwrap().as_str().is_empty() {
                names += 1;
            }
            let Ok(m) = Message::arbitrary(&mut Unstructured::new(&input)) else {
                continue;
            };
            uris += usize::from(!m.uri().is_empty());
            contents += usize::from(!m.content().is_empty());
            fielded += usize::from(!m.auth.is_empty());
        }
        for (what, n) in [
            ("int values", ints),
            ("bytes values", bytes_values),
            ("names", names),
            ("uris", uris),
            ("contents", contents),
            ("auth fields", fielded),
        ] {
            assert!(n >= 20, "only {n} {what} in 200 inputs");
        }
    }
}
