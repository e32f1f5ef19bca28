//! [`PackValue`]: any value packify (netaio 0.0.9's serializer) encodes
//! that netaio peers exchange outside the auth fields: peer ids and peer
//! data (`packify.pack((peer.id, peer.data))`, the data itself a packed
//! dict). Decoding is bounded like [`AuthFields`](super::AuthFields):
//! every length is checked against what arrived before anything is
//! allocated, nesting is limited to [`MAX_PACK_DEPTH`], and an encoding must
//! fill its bytes exactly (one byte string, one meaning).

use bytes::{BufMut, Bytes, BytesMut};

use super::auth_value::decode_value;
use super::packify::{
    category, item_width, put_len, Reader, CAT_MASK, TYPE_MASK, T_BYTES, T_DICT, T_INT, T_NEG_INT,
    T_STR, T_TUPLE,
};
use super::{AuthFieldsError, AuthValue};

const T_NONE: u8 = 0;
const T_BYTEARRAY: u8 = 2;
const T_BOOL: u8 = 6;
const T_FLOAT: u8 = 7;
const T_LIST: u8 = 10;
const T_SET: u8 = 11;

/// Deepest nesting of containers a decoded value may have.
pub const MAX_PACK_DEPTH: usize = 16;

/// One packify value.
///
/// ```
/// use framewire::wire::PackValue;
///
/// // netaio's peer announcement content: (peer id, peer data).
/// let v = PackValue::Tuple(vec![PackValue::from(&b"id-1"[..]), PackValue::from(&b"data"[..])]);
/// let bytes = v.to_bytes();
/// assert_eq!(PackValue::decode(bytes).unwrap(), v);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PackValue {
    /// `None`.
    None,
    /// `bool`.
    Bool(bool),
    /// `int` (framewire decodes up to 128 bits).
    Int(i128),
    /// `float` (an IEEE 754 double).
    Float(f64),
    /// `bytes` (and `bytearray`, decoded as bytes).
    Bytes(Bytes),
    /// `str`.
    Str(String),
    /// `list`.
    List(Vec<PackValue>),
    /// `tuple`.
    Tuple(Vec<PackValue>),
    /// `set` (kept in wire order; encoded sorted, as packify does).
    Set(Vec<PackValue>),
    /// `dict` as key/value pairs (encoded sorted by packed pair, as
    /// packify does).
    Dict(Vec<(PackValue, PackValue)>),
}

/// Why bytes are not one packify value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// A code byte framewire does not decode (an unassigned type, a
    /// `Decimal`, a `Packable` class, an int wider than 128 bits).
    #[error("unsupported packify code 0x{0:02x}")]
    UnsupportedCode(u8),
    /// Containers nested deeper than [`MAX_PACK_DEPTH`].
    #[error("packify value nested deeper than {0}")]
    TooDeep(usize),
    /// A dict entry that is not a (key, value) tuple.
    #[error("packify dict entry is not a key/value pair")]
    NotAPair,
    /// Text that is not UTF-8.
    #[error("packify str is not UTF-8")]
    InvalidUtf8,
    /// Lengths that disagree with the bytes (truncated, a length table
    /// that does not add up, an int too large).
    #[error("malformed packify value: {0}")]
    Malformed(#[source] AuthFieldsError),
    /// Bytes after the value.
    #[error("{0} trailing bytes after the packify value")]
    TrailingBytes(usize),
}

crate::predicates::predicates!(PackError {
    /// An unsupported code byte.
    is_unsupported_code => PackError::UnsupportedCode(_),
    /// Nested too deep.
    is_too_deep => PackError::TooDeep(_),
    /// A dict entry that is not a pair.
    is_not_a_pair => PackError::NotAPair,
    /// Text that is not UTF-8.
    is_invalid_utf8 => PackError::InvalidUtf8,
    /// Lengths that disagree with the bytes.
    is_malformed => PackError::Malformed(_),
    /// Bytes after the value.
    is_trailing_bytes => PackError::TrailingBytes(_),
});

impl From<AuthFieldsError> for PackError {
    fn from(e: AuthFieldsError) -> Self {
        match e {
            AuthFieldsError::InvalidUtf8 => PackError::InvalidUtf8,
            other => PackError::Malformed(other),
        }
    }
}

impl From<&[u8]> for PackValue {
    fn from(b: &[u8]) -> Self {
        PackValue::Bytes(Bytes::copy_from_slice(b))
    }
}

impl From<Bytes> for PackValue {
    fn from(b: Bytes) -> Self {
        PackValue::Bytes(b)
    }
}

impl From<&str> for PackValue {
    fn from(s: &str) -> Self {
        PackValue::Str(s.to_owned())
    }
}

impl From<i128> for PackValue {
    fn from(i: i128) -> Self {
        PackValue::Int(i)
    }
}

impl PackValue {
    /// Decodes exactly one value filling `src`.
    pub fn decode(src: impl Into<Bytes>) -> Result<PackValue, PackError> {
        decode_item(&src.into(), 0)
    }

    /// The value's packify encoding.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }

    /// Appends the value's packify encoding to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            PackValue::None => dst.put_u8(T_NONE),
            PackValue::Bool(b) => {
                dst.put_u8(T_BOOL);
                dst.put_u8(u8::from(*b));
            }
            PackValue::Int(i) => AuthValue::Int(*i).pack(dst),
            PackValue::Float(f) => {
                dst.put_u8(T_FLOAT);
                dst.put_f64(*f);
            }
            PackValue::Bytes(b) => AuthValue::Bytes(b.clone()).pack(dst),
            PackValue::Str(s) => {
                let cat = category(s.len() as u64);
                dst.put_u8(cat | T_STR);
                put_len(dst, cat, s.len() as u64);
                dst.put_slice(s.as_bytes());
            }
            PackValue::List(items) => {
                container(dst, T_LIST, items.iter().map(PackValue::to_bytes).collect())
            }
            PackValue::Tuple(items) => container(
                dst,
                T_TUPLE,
                items.iter().map(PackValue::to_bytes).collect(),
            ),
            PackValue::Set(items) => {
                let mut packed: Vec<Bytes> = items.iter().map(PackValue::to_bytes).collect();
                packed.sort();
                container(dst, T_SET, packed);
            }
            PackValue::Dict(pairs) => {
                let mut packed: Vec<Bytes> = pairs
                    .iter()
                    .map(|(k, v)| PackValue::Tuple(vec![k.clone(), v.clone()]).to_bytes())
                    .collect();
                packed.sort();
                container(dst, T_DICT, packed);
            }
        }
    }

    /// The bytes, if this is a `bytes` value.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            PackValue::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The text, if this is a `str` value.
    ///
    /// ```
    /// use framewire::wire::PackValue;
    ///
    /// assert_eq!(PackValue::from("fw").as_str(), Some("fw"));
    /// assert_eq!(PackValue::Int(1).as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PackValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value under the `str` key `name`, if this is a dict that has one.
    pub fn get(&self, name: &str) -> Option<&PackValue> {
        match self {
            PackValue::Dict(pairs) => pairs
                .iter()
                .find(|(k, _)| matches!(k, PackValue::Str(s) if s == name))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// packify's container: code, item category, count, length table, items.
fn container(dst: &mut BytesMut, ty: u8, items: Vec<Bytes>) {
    let cat = category(items.len() as u64);
    let longest = items.iter().map(Bytes::len).max().unwrap_or(0);
    let item_cat = category(longest as u64);
    dst.put_u8(cat | ty);
    dst.put_u8(item_cat);
    put_len(dst, cat, items.len() as u64);
    for item in &items {
        put_len(dst, item_cat, item.len() as u64);
    }
    for item in &items {
        dst.put_slice(item);
    }
}

fn decode_item(src: &Bytes, depth: usize) -> Result<PackValue, PackError> {
    let mut r = Reader::new(src);
    let code = r.u8()?;
    let cat = code & CAT_MASK;
    let ty = code & TYPE_MASK;
    let value = match (ty, cat) {
        (T_BYTES | T_INT | T_NEG_INT, _) if !(ty == T_BYTES && cat == 0) => {
            // Shared with the auth fields, which fill their slice exactly.
            return Ok(match decode_value(src, 0..src.len())? {
                AuthValue::Bytes(b) => PackValue::Bytes(b),
                AuthValue::Int(i) => PackValue::Int(i),
            });
        }
        (T_BYTEARRAY, c) if c != 0 => PackValue::Bytes(r.exact_payload(c)?),
        (T_STR, c) if c != 0 => {
            let text = r.exact_payload(c)?;
            PackValue::Str(String::from_utf8(text.to_vec()).map_err(|_| PackError::InvalidUtf8)?)
        }
        (T_NONE, 0) => PackValue::None,
        (T_BOOL, 0) => PackValue::Bool(r.u8()? != 0),
        (T_FLOAT, 0) => {
            r.need(8)?;
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&src[r.pos..r.pos + 8]);
            r.pos += 8;
            PackValue::Float(f64::from_be_bytes(raw))
        }
        (T_LIST | T_SET | T_TUPLE | T_DICT, c) if c != 0 => {
            if depth >= MAX_PACK_DEPTH {
                return Err(PackError::TooDeep(MAX_PACK_DEPTH));
            }
            let items = decode_items(&mut r, c, depth)?;
            match ty {
                T_LIST => PackValue::List(items),
                T_SET => PackValue::Set(items),
                T_TUPLE => PackValue::Tuple(items),
                _ => PackValue::Dict(
                    items
                        .into_iter()
                        .map(|pair| match pair {
                            PackValue::Tuple(mut kv) if kv.len() == 2 => {
                                let v = kv.pop().unwrap_or(PackValue::None);
                                let k = kv.pop().unwrap_or(PackValue::None);
                                Ok((k, v))
                            }
                            _ => Err(PackError::NotAPair),
                        })
                        .collect::<Result<_, _>>()?,
                ),
            }
        }
        _ => return Err(PackError::UnsupportedCode(code)),
    };
    if r.pos != src.len() {
        return Err(PackError::TrailingBytes(src.len() - r.pos));
    }
    Ok(value)
}

/// A container's items: the count and length table are checked against
/// the bytes left before any item is decoded or any vector sized.
fn decode_items(r: &mut Reader<'_>, cat: u8, depth: usize) -> Result<Vec<PackValue>, PackError> {
    let item_cat = r.u8()?;
    let count = usize::try_from(r.len(cat)?).unwrap_or(usize::MAX);
    let w = item_width(item_cat)?;
    r.need(count.saturating_mul(w))?;
    let mut lens = Vec::with_capacity(count);
    for _ in 0..count {
        lens.push(usize::try_from(r.len(item_cat)?).unwrap_or(usize::MAX));
    }
    let total = lens
        .iter()
        .try_fold(0usize, |acc, n| acc.checked_add(*n))
        .unwrap_or(usize::MAX);
    r.need(total)?;
    let mut items = Vec::with_capacity(count);
    for n in lens {
        let item = r.src.slice(r.pos..r.pos + n);
        r.pos += n;
        items.push(decode_item(&item, depth + 1)?);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn dict_matches_packify_worked_example() {
        // WIRE.md §4: {'a': b'1'}.
        let v = PackValue::Dict(vec![("a".into(), (&b"1"[..]).into())]);
        assert_eq!(
            v.to_bytes()[..],
            hex("4d40010b4c4002030343016141013100")[..15]
        );
        assert_eq!(PackValue::decode(v.to_bytes()).unwrap(), v);
    }

    #[test]
    fn scalars_round_trip() {
        for v in [
            PackValue::None,
            PackValue::Bool(true),
            PackValue::Bool(false),
            PackValue::Int(-5),
            PackValue::Int(1 << 40),
            PackValue::Float(1.5),
            PackValue::Str("héllo".into()),
            PackValue::Bytes(Bytes::from_static(b"")),
            PackValue::List(vec![]),
            PackValue::Set(vec![PackValue::Int(2), PackValue::Int(1)]),
        ] {
            let back = PackValue::decode(v.to_bytes()).unwrap();
            match (&v, &back) {
                // Sets are encoded sorted.
                (PackValue::Set(_), PackValue::Set(b)) => {
                    assert_eq!(b, &[PackValue::Int(1), PackValue::Int(2)])
                }
                _ => assert_eq!(back, v),
            }
        }
    }

    #[test]
    fn hostile_encodings_are_refused_without_allocating() {
        // A list claiming 2^32-1 items of 4-byte lengths in 7 bytes.
        assert!(
            PackValue::decode(hex("ca c0 ffffffff".replace(' ', "").as_str()))
                .unwrap_err()
                .is_malformed()
        );
        // Nesting beyond the limit.
        let mut v = PackValue::None;
        for _ in 0..=MAX_PACK_DEPTH {
            v = PackValue::List(vec![v]);
        }
        assert!(PackValue::decode(v.to_bytes()).unwrap_err().is_too_deep());
        // Trailing bytes, a non-pair dict entry, unsupported codes.
        assert!(PackValue::decode(hex("0000"))
            .unwrap_err()
            .is_trailing_bytes());
        assert!(PackValue::decode(hex("4d40010100"))
            .unwrap_err()
            .is_not_a_pair());
        for code in ["08", "14", "09", "01", "43"] {
            assert!(PackValue::decode(hex(code)).is_err(), "{code}");
        }
        assert!(PackValue::decode(hex("4302c328"))
            .unwrap_err()
            .is_invalid_utf8());
    }

    #[test]
    fn accessors_answer_only_for_their_own_variant() {
        let s = PackValue::from("fw");
        let b = PackValue::from(&b"raw"[..]);
        assert_eq!(s.as_str(), Some("fw"));
        assert_eq!(b.as_str(), None);
        assert_eq!(b.as_bytes().map(|b| &b[..]), Some(&b"raw"[..]));
        assert_eq!(s.as_bytes(), None);
        let d = PackValue::Dict(vec![
            (PackValue::from(&b"name"[..]), PackValue::Int(1)),
            (PackValue::from("name"), PackValue::Int(2)),
        ]);
        // Only a str key matches a name; a bytes key spelling it does not.
        assert_eq!(d.get("name"), Some(&PackValue::Int(2)));
        assert_eq!(d.get("other"), None);
        assert_eq!(PackValue::List(vec![s.clone()]).get("fw"), None);
        assert_eq!(PackValue::from(Bytes::from_static(b"raw")), b);
        assert_eq!(PackValue::from(7i128), PackValue::Int(7));
    }

    #[test]
    fn a_length_needs_a_category_and_bytearrays_decode_as_bytes() {
        // bytes need a length category too (code 0x01 alone is nothing).
        assert!(PackValue::decode(hex("010161"))
            .unwrap_err()
            .is_unsupported_code());
        // bytearray(b'ab'), as packify writes it: code 0x42, 1-byte length.
        assert_eq!(
            PackValue::decode(hex("42026162")).unwrap(),
            PackValue::Bytes(Bytes::from_static(b"ab"))
        );
        // The same codes with no length category (the high bits 0) are not
        // values: bytearray, str, list, set, tuple, dict.
        for code in ["02", "03", "0a", "0b", "0c", "0d"] {
            let e = PackValue::decode(hex(&format!("{code}000000000000"))).unwrap_err();
            assert!(e.is_unsupported_code(), "{code}: {e:?}");
        }
        // ...and the categoryless scalars take no length.
        assert_eq!(
            PackValue::decode(hex("0601")).unwrap(),
            PackValue::Bool(true)
        );
        assert_eq!(
            PackValue::decode(hex("0600")).unwrap(),
            PackValue::Bool(false)
        );
        assert!(PackValue::decode(hex("4600"))
            .unwrap_err()
            .is_unsupported_code());
    }

    #[test]
    fn containers_keep_their_kind_and_order() {
        let items = vec![PackValue::Int(2), PackValue::from("a"), PackValue::None];
        for v in [
            PackValue::List(items.clone()),
            PackValue::Tuple(items.clone()),
        ] {
            assert_eq!(PackValue::decode(v.to_bytes()).unwrap(), v);
        }
        let set = PackValue::decode(PackValue::Set(items.clone()).to_bytes()).unwrap();
        assert!(matches!(&set, PackValue::Set(s) if s.len() == 3), "{set:?}");
        // A 300-byte str needs a 2-byte length: category 0x80.
        let long = PackValue::from("x".repeat(300).as_str());
        let bytes = long.to_bytes();
        assert_eq!(&bytes[..3], &[0x83, 0x01, 0x2c]);
        assert_eq!(PackValue::decode(bytes).unwrap(), long);
        // Truncated floats and trailing bytes after a container.
        assert!(PackValue::decode(hex("07000000"))
            .unwrap_err()
            .is_malformed());
        let mut list = PackValue::List(vec![PackValue::None]).to_bytes().to_vec();
        list.extend_from_slice(&[0, 0, 0]);
        assert_eq!(
            PackValue::decode(list).unwrap_err(),
            PackError::TrailingBytes(3)
        );
        // A dict entry must be a tuple of exactly two.
        for entry in [vec![PackValue::Int(1)], vec![PackValue::Int(1); 3]] {
            let mut dict = BytesMut::new();
            container(&mut dict, T_DICT, vec![PackValue::Tuple(entry).to_bytes()]);
            assert!(PackValue::decode(dict.freeze())
                .unwrap_err()
                .is_not_a_pair());
        }
    }
}

#[cfg(test)]
mod predicate_tests {
    use super::*;

    #[test]
    fn each_predicate_holds_for_its_variants_only() {
        crate::predicates::check(
            PackError::PREDICATES,
            &[
                (PackError::UnsupportedCode(9), &["is_unsupported_code"]),
                (PackError::TooDeep(9), &["is_too_deep"]),
                (PackError::NotAPair, &["is_not_a_pair"]),
                (PackError::InvalidUtf8, &["is_invalid_utf8"]),
                (
                    PackError::Malformed(AuthFieldsError::InvalidUtf8),
                    &["is_malformed"],
                ),
                (PackError::TrailingBytes(1), &["is_trailing_bytes"]),
            ],
        );
    }
}
