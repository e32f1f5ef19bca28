//! The two value types of an auth field: its name ([`FieldName`], UTF-8
//! text) and its value ([`AuthValue`], bytes or an integer), with their
//! packify encodings. The dict that holds them is `auth_fields.rs`.

use std::fmt;

use bytes::{BufMut, Bytes};

use super::packify::{
    category, put_len, width, Reader, CAT_MASK, TYPE_MASK, T_BYTES, T_INT, T_NEG_INT, T_STR,
};
use super::AuthFieldsError;

/// The name of an auth field: UTF-8 text stored as [`Bytes`], so decoding
/// slices it from the frame without copying.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FieldName(pub(super) Bytes);

impl FieldName {
    /// A field name from any string.
    pub fn new(name: impl Into<String>) -> Self {
        Self(Bytes::from(name.into()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        // Every constructor takes or validates UTF-8, so this never falls
        // back; the fallback only avoids a panic path.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&'static str> for FieldName {
    fn from(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }
}

impl From<String> for FieldName {
    fn from(s: String) -> Self {
        Self(Bytes::from(s))
    }
}

impl fmt::Debug for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value of an auth field. netaio's plugins send bytes; a peer may send
/// an integer (older netaio sent `ts` as one).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum AuthValue {
    /// packify `bytes`.
    Bytes(Bytes),
    /// packify `int` (positive or negative, up to 128 bits).
    Int(i128),
}

impl AuthValue {
    /// The bytes, if this is a bytes value.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            AuthValue::Bytes(b) => Some(b),
            AuthValue::Int(_) => None,
        }
    }

    /// The integer, if this is an int value.
    pub fn as_int(&self) -> Option<i128> {
        match self {
            AuthValue::Int(i) => Some(*i),
            AuthValue::Bytes(_) => None,
        }
    }

    pub(super) fn packed_len(&self) -> usize {
        match self {
            AuthValue::Bytes(b) => 1 + width(category(b.len() as u64)) + b.len(),
            AuthValue::Int(i) => {
                let m = i.unsigned_abs();
                if m < 1 << 32 {
                    1 + width(category(m as u64))
                } else {
                    2 + magnitude_len(m)
                }
            }
        }
    }

    pub(super) fn pack(&self, dst: &mut impl BufMut) {
        match self {
            AuthValue::Bytes(b) => {
                let cat = category(b.len() as u64);
                dst.put_u8(cat | T_BYTES);
                put_len(dst, cat, b.len() as u64);
                dst.put_slice(b);
            }
            AuthValue::Int(i) => {
                let ty = if *i < 0 { T_NEG_INT } else { T_INT };
                let m = i.unsigned_abs();
                if m < 1 << 32 {
                    let cat = category(m as u64);
                    dst.put_u8(cat | ty);
                    put_len(dst, cat, m as u64);
                } else {
                    // packify's category 0: explicit byte count, minimal
                    // big-endian magnitude.
                    let n = magnitude_len(m);
                    dst.put_u8(ty);
                    dst.put_u8(n as u8);
                    dst.put_slice(&m.to_be_bytes()[16 - n..]);
                }
            }
        }
    }
}

fn magnitude_len(m: u128) -> usize {
    (128 - m.leading_zeros() as usize).div_ceil(8)
}

impl fmt::Debug for AuthValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthValue::Bytes(b) => {
                f.write_str("0x")?;
                for byte in b.iter() {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
            AuthValue::Int(i) => write!(f, "{i}"),
        }
    }
}

impl From<Bytes> for AuthValue {
    fn from(b: Bytes) -> Self {
        AuthValue::Bytes(b)
    }
}

impl From<Vec<u8>> for AuthValue {
    fn from(b: Vec<u8>) -> Self {
        AuthValue::Bytes(Bytes::from(b))
    }
}

impl From<&'static [u8]> for AuthValue {
    fn from(b: &'static [u8]) -> Self {
        AuthValue::Bytes(Bytes::from_static(b))
    }
}

impl<const N: usize> From<[u8; N]> for AuthValue {
    fn from(b: [u8; N]) -> Self {
        AuthValue::Bytes(Bytes::copy_from_slice(&b))
    }
}

impl From<i128> for AuthValue {
    fn from(i: i128) -> Self {
        AuthValue::Int(i)
    }
}

/// Decodes a packify `str` that fills `src[item]` exactly.
pub(super) fn decode_key(
    src: &Bytes,
    item: std::ops::Range<usize>,
) -> Result<FieldName, AuthFieldsError> {
    let mut r = Reader::within(src, item);
    let code = r.u8()?;
    let cat = code & CAT_MASK;
    if code & TYPE_MASK != T_STR || cat == 0 {
        return Err(AuthFieldsError::UnexpectedCode {
            code,
            expected: "a str field name",
        });
    }
    let text = r.exact_payload(cat)?;
    std::str::from_utf8(&text).map_err(|_| AuthFieldsError::InvalidUtf8)?;
    Ok(FieldName(text))
}

/// Decodes a packify `bytes` or `int` that fills `src[item]` exactly.
pub(super) fn decode_value(
    src: &Bytes,
    item: std::ops::Range<usize>,
) -> Result<AuthValue, AuthFieldsError> {
    let mut r = Reader::within(src, item);
    let code = r.u8()?;
    let cat = code & CAT_MASK;
    let ty = code & TYPE_MASK;
    let value = match ty {
        T_BYTES if cat != 0 => AuthValue::Bytes(r.exact_payload(cat)?),
        T_INT | T_NEG_INT => {
            let magnitude: u128 = if cat == 0 {
                let n = usize::from(r.u8()?);
                if n > 16 {
                    return Err(AuthFieldsError::IntTooLarge(n));
                }
                r.need(n)?;
                let m = src[r.pos..r.pos + n]
                    .iter()
                    .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
                r.pos += n;
                m
            } else {
                u128::from(r.len(cat)?)
            };
            let v = if ty == T_NEG_INT {
                0i128.checked_sub_unsigned(magnitude)
            } else {
                i128::try_from(magnitude).ok()
            };
            AuthValue::Int(v.ok_or(AuthFieldsError::IntTooLarge(16))?)
        }
        _ => {
            return Err(AuthFieldsError::UnexpectedCode {
                code,
                expected: "a bytes or int value",
            })
        }
    };
    r.at_end()?;
    Ok(value)
}
