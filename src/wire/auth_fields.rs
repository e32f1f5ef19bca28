//! The auth section: netaio's packify-encoded `dict[str, bytes]`.
//!
//! Only the shape netaio's plugins use is decoded (a dict of `(str, bytes)`
//! or `(str, int)` pairs), by straight-line code with no recursion, so
//! hostile input cannot nest or allocate its way past the limits.

use std::fmt;

use bytes::{BufMut, Bytes};

use super::auth_value::{decode_key, decode_value};
use super::packify::{
    category, item_width, put_len, width, Reader, CAT_MASK, TYPE_MASK, T_DICT, T_STR, T_TUPLE,
};
use super::{AuthFieldsError, AuthValue, FieldName};

/// Default limit on the number of auth fields in a received frame. netaio's
/// bundled plugins send at most four (`iv`, `nonce`, `ts`, `hmac`).
pub const DEFAULT_MAX_AUTH_FIELDS: usize = 32;

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
#[derive(Default)]
pub struct AuthFields {
    fields: Vec<(FieldName, AuthValue)>,
}

impl Clone for AuthFields {
    fn clone(&self) -> Self {
        // Most messages have no fields: `Vec::clone` of an empty vector
        // still goes through its allocation path (~20 instructions).
        if self.fields.is_empty() {
            return AuthFields::default();
        }
        AuthFields {
            fields: self.fields.clone(),
        }
    }
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

    /// Packs one (name, value) pair: [`pair_len`](Self::pair_len) bytes.
    fn put_pair(dst: &mut impl BufMut, name: &FieldName, value: &AuthValue) {
        let (k, v) = Self::pair_parts(name, value);
        let cat = category(k.max(v) as u64);
        dst.put_u8(0x40 | T_TUPLE);
        dst.put_u8(cat);
        dst.put_u8(2);
        put_len(dst, cat, k as u64);
        put_len(dst, cat, v as u64);
        let key = name.as_bytes();
        let kcat = category(key.len() as u64);
        dst.put_u8(kcat | T_STR);
        put_len(dst, kcat, key.len() as u64);
        dst.put_slice(key);
        value.pack(dst);
    }

    fn pair_len(name: &FieldName, value: &AuthValue) -> usize {
        let (k, v) = Self::pair_parts(name, value);
        // TUPLE code, item category, count (2 < 256), two table entries.
        3 + 2 * width(category(k.max(v) as u64)) + k + v
    }

    /// Length of the packed dict.
    pub fn encoded_len(&self) -> usize {
        let n = self.fields.len();
        let (max, sum) = self
            .fields
            .iter()
            .map(|(k, v)| Self::pair_len(k, v))
            .fold((0, 0), |(max, sum), len| (usize::max(max, len), sum + len));
        2 + width(category(n as u64)) + n * width(category(max as u64)) + sum
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
        if let [(name, value)] = &self.fields[..] {
            // One field (a request id, a session tag): nothing to sort, so
            // no scratch copy (two allocations) to sort it in.
            let item_len = Self::pair_len(name, value);
            let item_cat = category(item_len as u64);
            dst.put_u8(0x40 | T_DICT);
            dst.put_u8(item_cat);
            dst.put_u8(1);
            put_len(dst, item_cat, item_len as u64);
            Self::put_pair(dst, name, value);
            return;
        }
        // packify sorts the *packed* pairs as byte strings, so pack first.
        let mut scratch =
            Vec::with_capacity(self.fields.iter().map(|(k, v)| Self::pair_len(k, v)).sum());
        let mut ranges = Vec::with_capacity(self.fields.len());
        for (name, value) in &self.fields {
            let start = scratch.len();
            Self::put_pair(&mut scratch, name, value);
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
        let mut r = Reader::new(&src);
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
        let table = count as usize * item_w;
        r.need(table)?;
        // The lengths are read from the table as the items are (no vector
        // of them): `lengths` walks the table, `r` the items after it.
        let mut lengths = Reader::within(&src, r.pos..r.pos + table);
        r.pos += table;
        let mut fields: Vec<(FieldName, AuthValue)> = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let declared = lengths.len(item_cat)?;
            let declared = usize::try_from(declared).unwrap_or(usize::MAX);
            r.need(declared)?;
            let item = r.pos..r.pos + declared;
            r.pos += declared;
            let (name, value) = decode_pair(&src, item)?;
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

/// Decodes one dict entry, which must fill `src[item]` exactly. Read in
/// place: only the name and a bytes value are sliced out.
fn decode_pair(
    src: &Bytes,
    item: std::ops::Range<usize>,
) -> Result<(FieldName, AuthValue), AuthFieldsError> {
    let mut r = Reader::within(src, item);
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
    let key = r.pos..r.pos + key_len;
    r.pos += key_len;
    r.need(value_len)?;
    let value = r.pos..r.pos + value_len;
    r.pos += value_len;
    r.at_end()?;
    Ok((decode_key(src, key)?, decode_value(src, value)?))
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

    /// `packify.pack({'n': v}).hex()`, printed by packify (netaio 0.0.9's
    /// dependency): every integer width boundary and both signs.
    const PACKIFY_INTS: [(i128, &str); 10] = [
        (0, "4d40010a4c4002030243016e4400"),
        (1, "4d40010a4c4002030243016e4401"),
        (-1, "4d40010a4c4002030243016e4501"),
        (255, "4d40010a4c4002030243016e44ff"),
        (256, "4d40010b4c4002030343016e840100"),
        (65535, "4d40010b4c4002030343016e84ffff"),
        (65536, "4d40010d4c4002030543016ec400010000"),
        (4294967295, "4d40010d4c4002030543016ec4ffffffff"),
        (4294967296, "4d40010f4c4002030743016e04050100000000"),
        (-4294967296, "4d40010f4c4002030743016e05050100000000"),
    ];

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn ints_encode_byte_exact_with_packify_at_every_width() {
        for (v, want) in PACKIFY_INTS {
            let mut f = AuthFields::new();
            f.insert("n", v);
            let bytes = encode(&f);
            assert_eq!(hex(&bytes), want, "{v}");
            let back = AuthFields::decode(Bytes::from(bytes), 1).unwrap();
            assert_eq!(back, f, "{v}");
        }
        // And a bytes value, empty and past one length byte.
        let mut f = AuthFields::new();
        f.insert("n", b"".as_slice());
        assert_eq!(hex(&encode(&f)), "4d40010a4c4002030243016e4100");
        let mut f = AuthFields::new();
        f.insert("n", vec![b'x'; 256]);
        assert!(hex(&encode(&f)).starts_with("4d8001010d4c80020003"));
    }

    #[test]
    fn equality_is_by_names_and_values_in_any_order() {
        let fields = |pairs: &[(&str, &[u8])]| {
            let mut f = AuthFields::new();
            for (k, v) in pairs {
                f.insert(k.to_string(), v.to_vec());
            }
            f
        };
        let ab = fields(&[("a", b"1"), ("b", b"2")]);
        assert_eq!(ab, fields(&[("b", b"2"), ("a", b"1")]));
        assert_ne!(ab, fields(&[("a", b"1")]));
        assert_ne!(ab, fields(&[("a", b"1"), ("b", b"3")]));
        assert_ne!(ab, fields(&[("a", b"1"), ("c", b"2")]));
        assert_ne!(ab, fields(&[("a", b"1"), ("b", b"2"), ("c", b"3")]));
        assert!(!ab.is_empty());
        assert_eq!(format!("{ab:?}"), format!("{:?}", ab.clone()));
        assert!(format!("{ab:?}").starts_with("{\"a\": "), "{ab:?}");
    }

    #[test]
    fn an_entry_that_is_not_a_tuple_is_refused() {
        // A dict of one item whose item is a bytes value (41 01 'x'), not
        // a (name, value) tuple.
        let d = AuthFields::decode(
            Bytes::from_static(&[0x4d, 0x40, 0x01, 0x03, 0x41, 0x01, b'x']),
            4,
        );
        assert!(
            matches!(d, Err(AuthFieldsError::UnexpectedCode { code: 0x41, .. })),
            "{d:?}"
        );
        // A tuple code with category 0 is refused too.
        let d = AuthFields::decode(
            Bytes::from_static(&[0x4d, 0x40, 0x01, 0x03, 0x0c, 0x40, 0x02]),
            4,
        );
        assert!(
            matches!(d, Err(AuthFieldsError::UnexpectedCode { code: 0x0c, .. })),
            "{d:?}"
        );
    }

    #[test]
    fn values_and_names_print_readably() {
        assert_eq!(format!("{:?}", AuthValue::from(vec![0x0a, 0xff])), "0x0aff");
        assert_eq!(format!("{:?}", AuthValue::from(-5i128)), "-5");
        assert_eq!(FieldName::from("nonce").to_string(), "nonce");
        assert_eq!(format!("{:?}", FieldName::from("nonce")), "\"nonce\"");
    }

    #[test]
    fn a_bytes_value_needs_a_length_category() {
        // 0x01: bytes with category 0, which has no length to read.
        let d = decode_value(&Bytes::from_static(&[0x01]), 0..1);
        assert!(
            matches!(d, Err(AuthFieldsError::UnexpectedCode { code: 0x01, .. })),
            "{d:?}"
        );
    }

    #[test]
    fn a_short_length_table_is_refused_whole() {
        // Three items with 2-byte lengths need 6 bytes of table; 1 is there.
        let d = AuthFields::decode(Bytes::from_static(&[0x4d, 0x80, 0x03, 0x00]), 4);
        assert_eq!(
            d,
            Err(AuthFieldsError::Truncated {
                needed: 6,
                available: 1
            })
        );
    }

    #[test]
    fn an_item_with_bytes_past_what_it_holds_is_refused() {
        // {"n": b"x"}: 4d 40 01 | 0b | 4c 40 02 03 03 | 43 01 6e | 41 01 78.
        let mut f = AuthFields::new();
        f.insert("n", b"x".as_slice());
        let good = encode(&f);
        assert_eq!(hex(&good), "4d40010b4c4002030343016e410178");
        assert_eq!(AuthFields::decode(Bytes::from(good.clone()), 1), Ok(f));
        // One stray byte inside the pair, the key, the value: each item
        // declares one byte more than its parts fill. (The dict's table
        // entry is at 3, the pair's key and value lengths at 7 and 8.)
        let stray = |grow: &[usize], at: usize| {
            let mut b = good.clone();
            for &i in grow {
                b[i] += 1;
            }
            b.insert(at, 0);
            AuthFields::decode(Bytes::from(b), 1)
        };
        let mismatch =
            |declared, actual| Err(AuthFieldsError::ItemLengthMismatch { declared, actual });
        assert_eq!(stray(&[3], good.len()), mismatch(12, 11), "in the pair");
        assert_eq!(stray(&[3, 7], 12), mismatch(4, 3), "in the key");
        assert_eq!(stray(&[3, 8], good.len()), mismatch(4, 3), "in the value");
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
