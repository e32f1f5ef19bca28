//! The auth section: netaio's packify-encoded `dict[str, bytes]`.
//!
//! Only the shape netaio's plugins use is decoded (a dict of `(str, bytes)`
//! or `(str, int)` pairs), by straight-line code with no recursion, so
//! hostile input cannot nest or allocate its way past the limits.

use std::fmt;

use bytes::{BufMut, Bytes};

use super::AuthFieldsError;

// packify type codes (low 6 bits) and length categories (high 2 bits).
const T_BYTES: u8 = 1;
const T_STR: u8 = 3;
const T_INT: u8 = 4;
const T_NEG_INT: u8 = 5;
const T_TUPLE: u8 = 12;
const T_DICT: u8 = 13;
const TYPE_MASK: u8 = 0x3f;
const CAT_MASK: u8 = 0xc0;

/// Default limit on the number of auth fields in a received frame. netaio's
/// bundled plugins send at most four (`iv`, `nonce`, `ts`, `hmac`).
pub const DEFAULT_MAX_AUTH_FIELDS: usize = 32;

/// The length category (as code bits) packify picks for a length or count.
fn category(n: u64) -> u8 {
    if n < 1 << 8 {
        0x40
    } else if n < 1 << 16 {
        0x80
    } else {
        0xc0
    }
}

/// Bytes a length of category `cat` takes.
fn width(cat: u8) -> usize {
    match cat {
        0x40 => 1,
        0x80 => 2,
        _ => 4,
    }
}

fn put_len(dst: &mut impl BufMut, cat: u8, n: u64) {
    match cat {
        0x40 => dst.put_u8(n as u8),
        0x80 => dst.put_u16(n as u16),
        _ => dst.put_u32(n as u32),
    }
}

/// The name of an auth field: UTF-8 text stored as [`Bytes`], so decoding
/// slices it from the frame without copying.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FieldName(Bytes);

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

    fn as_bytes(&self) -> &[u8] {
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

    fn packed_len(&self) -> usize {
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

    fn pack(&self, dst: &mut impl BufMut) {
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

/// The auth section of a frame: an ordered map of field name → value.
///
/// Order is insertion (or wire) order in memory; on the wire the pairs are
/// sorted as packify sorts them, so two maps with the same entries encode to
/// the same bytes — and compare equal, whatever their order in memory.
///
/// ```
/// use bytes::BytesMut;
/// use framewire::AuthFields;
///
/// let mut fields = AuthFields::new();
/// fields.insert("a", b"1".as_slice());
/// let mut buf = BytesMut::new();
/// fields.encode(&mut buf);
/// assert_eq!(&buf[..], b"\x4d\x40\x01\x0b\x4c\x40\x02\x03\x03\x43\x01a\x41\x011");
///
/// let back = AuthFields::decode(buf.freeze(), 32).unwrap();
/// assert_eq!(back.get_bytes("a").map(|b| &b[..]), Some(&b"1"[..]));
/// ```
#[derive(Clone, Default)]
pub struct AuthFields {
    fields: Vec<(FieldName, AuthValue)>,
}

impl PartialEq for AuthFields {
    fn eq(&self, other: &Self) -> bool {
        // Names are unique (insert replaces, decode rejects duplicates), so
        // equal lengths plus inclusion is set equality.
        self.fields.len() == other.fields.len()
            && self
                .fields
                .iter()
                .all(|(k, v)| other.fields.iter().any(|(k2, v2)| k == k2 && v == v2))
    }
}

impl Eq for AuthFields {}

impl AuthFields {
    /// No fields (encodes to netaio's empty dict, `4d 40 00`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&AuthValue> {
        self.fields
            .iter()
            .find(|(n, _)| n.as_bytes() == name.as_bytes())
            .map(|(_, v)| v)
    }

    /// The value of `name` if it is bytes.
    pub fn get_bytes(&self, name: &str) -> Option<&Bytes> {
        self.get(name).and_then(AuthValue::as_bytes)
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` to `value`, replacing (in place) any earlier value.
    pub fn insert(&mut self, name: impl Into<FieldName>, value: impl Into<AuthValue>) {
        let name = name.into();
        let value = value.into();
        match self.fields.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name, value)),
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<AuthValue> {
        let i = self
            .fields
            .iter()
            .position(|(n, _)| n.as_bytes() == name.as_bytes())?;
        Some(self.fields.remove(i).1)
    }

    /// The fields in memory order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AuthValue)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v))
    }

    fn pair_parts(name: &FieldName, value: &AuthValue) -> (usize, usize) {
        let k = name.as_bytes().len();
        let key_len = 1 + width(category(k as u64)) + k;
        (key_len, value.packed_len())
    }

    fn pair_len(name: &FieldName, value: &AuthValue) -> usize {
        let (k, v) = Self::pair_parts(name, value);
        // TUPLE code, item category, count (2 < 256), two table entries.
        3 + 2 * width(category(k.max(v) as u64)) + k + v
    }

    /// Length of the packed dict.
    pub fn encoded_len(&self) -> usize {
        let n = self.fields.len();
        let pairs: Vec<usize> = self
            .fields
            .iter()
            .map(|(k, v)| Self::pair_len(k, v))
            .collect();
        let max = pairs.iter().copied().max().unwrap_or(0);
        2 + width(category(n as u64))
            + n * width(category(max as u64))
            + pairs.iter().sum::<usize>()
    }

    /// Appends the packify encoding to `dst`, byte-exact with
    /// `packify.pack(dict)` in netaio 0.0.9.
    pub fn encode(&self, dst: &mut impl BufMut) {
        if self.fields.is_empty() {
            // The general path below writes exactly this (DICT, item and
            // count categories 1, count 0) but builds scratch vectors first;
            // most frames carry no fields.
            dst.put_slice(&[0x40 | T_DICT, 0x40, 0]);
            return;
        }
        // packify sorts the *packed* pairs as byte strings, so pack first.
        let mut scratch =
            Vec::with_capacity(self.fields.iter().map(|(k, v)| Self::pair_len(k, v)).sum());
        let mut ranges = Vec::with_capacity(self.fields.len());
        for (name, value) in &self.fields {
            let start = scratch.len();
            let (k, v) = Self::pair_parts(name, value);
            let cat = category(k.max(v) as u64);
            scratch.put_u8(0x40 | T_TUPLE);
            scratch.put_u8(cat);
            scratch.put_u8(2);
            put_len(&mut scratch, cat, k as u64);
            put_len(&mut scratch, cat, v as u64);
            let key = name.as_bytes();
            let kcat = category(key.len() as u64);
            scratch.put_u8(kcat | T_STR);
            put_len(&mut scratch, kcat, key.len() as u64);
            scratch.put_slice(key);
            value.pack(&mut scratch);
            ranges.push(start..scratch.len());
        }
        ranges.sort_by(|a, b| scratch[a.clone()].cmp(&scratch[b.clone()]));

        let n = ranges.len() as u64;
        let ncat = category(n);
        let item_cat = category(ranges.iter().map(|r| r.len()).max().unwrap_or(0) as u64);
        dst.put_u8(ncat | T_DICT);
        dst.put_u8(item_cat);
        put_len(dst, ncat, n);
        for r in &ranges {
            put_len(dst, item_cat, r.len() as u64);
        }
        for r in ranges {
            dst.put_slice(&scratch[r]);
        }
    }

    /// Decodes a packed dict. Names and byte values are slices of `src`
    /// (no copies). At most `max_fields` fields are accepted; every length
    /// is checked against the bytes present before it is used.
    pub fn decode(src: Bytes, max_fields: usize) -> Result<AuthFields, AuthFieldsError> {
        let mut r = Reader { src: &src, pos: 0 };
        let code = r.u8()?;
        let cat = code & CAT_MASK;
        if code & TYPE_MASK != T_DICT || cat == 0 {
            return Err(AuthFieldsError::UnexpectedCode {
                code,
                expected: "a dict",
            });
        }
        let item_cat = r.u8()?;
        let count = r.len(cat)?;
        if count > max_fields as u64 {
            return Err(AuthFieldsError::TooManyFields {
                count,
                max: max_fields,
            });
        }
        let item_w = item_width(item_cat)?;
        // count <= max_fields, so this cannot overflow.
        r.need(count as usize * item_w)?;
        let mut lens = Vec::with_capacity(count as usize);
        for _ in 0..count {
            lens.push(r.len(item_cat)?);
        }
        let mut fields: Vec<(FieldName, AuthValue)> = Vec::with_capacity(lens.len());
        for declared in lens {
            let declared = usize::try_from(declared).unwrap_or(usize::MAX);
            r.need(declared)?;
            let item = src.slice(r.pos..r.pos + declared);
            r.pos += declared;
            let (name, value) = decode_pair(&item)?;
            if fields.iter().any(|(n, _)| *n == name) {
                return Err(AuthFieldsError::DuplicateField(name.as_str().to_owned()));
            }
            fields.push((name, value));
        }
        let trailing = src.len() - r.pos;
        if trailing != 0 {
            return Err(AuthFieldsError::TrailingBytes(trailing));
        }
        Ok(AuthFields { fields })
    }
}

fn item_width(item_cat: u8) -> Result<usize, AuthFieldsError> {
    match item_cat {
        0x40 | 0x80 | 0xc0 => Ok(width(item_cat)),
        other => Err(AuthFieldsError::InvalidItemCategory(other)),
    }
}

/// Decodes one dict entry, which must fill `item` exactly.
fn decode_pair(item: &Bytes) -> Result<(FieldName, AuthValue), AuthFieldsError> {
    let mut r = Reader { src: item, pos: 0 };
    let code = r.u8()?;
    let cat = code & CAT_MASK;
    if code & TYPE_MASK != T_TUPLE || cat == 0 {
        return Err(AuthFieldsError::UnexpectedCode {
            code,
            expected: "a (name, value) tuple",
        });
    }
    let item_cat = r.u8()?;
    let count = r.len(cat)?;
    if count != 2 {
        return Err(AuthFieldsError::NotAPair(count));
    }
    item_width(item_cat)?;
    let key_len = r.len(item_cat)?;
    let value_len = r.len(item_cat)?;
    let key_len = usize::try_from(key_len).unwrap_or(usize::MAX);
    let value_len = usize::try_from(value_len).unwrap_or(usize::MAX);
    r.need(key_len)?;
    let key = item.slice(r.pos..r.pos + key_len);
    r.pos += key_len;
    r.need(value_len)?;
    let value = item.slice(r.pos..r.pos + value_len);
    r.pos += value_len;
    if r.pos != item.len() {
        return Err(AuthFieldsError::ItemLengthMismatch {
            declared: item.len(),
            actual: r.pos,
        });
    }
    Ok((decode_key(&key)?, decode_value(&value)?))
}

fn decode_key(src: &Bytes) -> Result<FieldName, AuthFieldsError> {
    let mut r = Reader { src, pos: 0 };
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

fn decode_value(src: &Bytes) -> Result<AuthValue, AuthFieldsError> {
    let mut r = Reader { src, pos: 0 };
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
    if r.pos != src.len() {
        return Err(AuthFieldsError::ItemLengthMismatch {
            declared: src.len(),
            actual: r.pos,
        });
    }
    Ok(value)
}

/// A bounds-checked cursor: every read states what it needs first.
struct Reader<'a> {
    src: &'a Bytes,
    pos: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.src.len() - self.pos
    }

    fn need(&self, n: usize) -> Result<(), AuthFieldsError> {
        if n > self.remaining() {
            Err(AuthFieldsError::Truncated {
                needed: n,
                available: self.remaining(),
            })
        } else {
            Ok(())
        }
    }

    fn u8(&mut self) -> Result<u8, AuthFieldsError> {
        self.need(1)?;
        let b = self.src[self.pos];
        self.pos += 1;
        Ok(b)
    }

    /// A length or count of category `cat` (0x40, 0x80 or 0xc0).
    fn len(&mut self, cat: u8) -> Result<u64, AuthFieldsError> {
        let w = width(cat);
        self.need(w)?;
        let v = self.src[self.pos..self.pos + w]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        self.pos += w;
        Ok(v)
    }

    /// A length-prefixed payload that must end exactly where the enclosing
    /// item ends.
    fn exact_payload(&mut self, cat: u8) -> Result<Bytes, AuthFieldsError> {
        let n = usize::try_from(self.len(cat)?).unwrap_or(usize::MAX);
        self.need(n)?;
        let payload = self.src.slice(self.pos..self.pos + n);
        self.pos += n;
        if self.pos != self.src.len() {
            return Err(AuthFieldsError::ItemLengthMismatch {
                declared: self.src.len(),
                actual: self.pos,
            });
        }
        Ok(payload)
    }
}

impl fmt::Debug for AuthFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.fields.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(f: &AuthFields) -> Vec<u8> {
        let mut v = Vec::new();
        f.encode(&mut v);
        assert_eq!(v.len(), f.encoded_len());
        v
    }

    #[test]
    fn empty_dict() {
        assert_eq!(encode(&AuthFields::new()), [0x4d, 0x40, 0x00]);
        let d = AuthFields::decode(Bytes::from_static(&[0x4d, 0x40, 0x00]), 0).unwrap();
        assert!(d.is_empty());
    }

    #[test]
    fn ints_round_trip_with_packify_encoding() {
        // packify.pack({'ts': 1700000000}) style value: c4 6553f100.
        let mut f = AuthFields::new();
        f.insert("ts", 1_700_000_000i128);
        let bytes = encode(&f);
        assert!(bytes
            .windows(5)
            .any(|w| w == [0xc4, 0x65, 0x53, 0xf1, 0x00]));
        for v in [
            0i128,
            255,
            256,
            -1,
            -70000,
            1 << 40,
            i128::MIN + 1,
            i128::MAX,
        ] {
            let mut f = AuthFields::new();
            f.insert("n", v);
            let back = AuthFields::decode(Bytes::from(encode(&f)), 4).unwrap();
            assert_eq!(back.get("n").and_then(AuthValue::as_int), Some(v), "{v}");
        }
    }

    #[test]
    fn insert_replaces_in_place() {
        let mut f = AuthFields::new();
        f.insert("a", b"1".as_slice());
        f.insert("b", b"2".as_slice());
        f.insert("a", b"3".as_slice());
        let names: Vec<_> = f.iter().map(|(n, _)| n.to_owned()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            f.remove("a").and_then(|v| v.as_bytes().cloned()),
            Some(Bytes::from_static(b"3"))
        );
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn rejects_duplicates_and_limits() {
        let mut f = AuthFields::new();
        f.insert("a", b"1".as_slice());
        let pair = &encode(&f)[4..];
        let mut dup = vec![0x4d, 0x40, 0x02, pair.len() as u8, pair.len() as u8];
        dup.extend_from_slice(pair);
        dup.extend_from_slice(pair);
        assert_eq!(
            AuthFields::decode(Bytes::from(dup.clone()), 8),
            Err(AuthFieldsError::DuplicateField("a".into()))
        );
        assert_eq!(
            AuthFields::decode(Bytes::from(dup), 1),
            Err(AuthFieldsError::TooManyFields { count: 2, max: 1 })
        );
    }
}
