//! packify's primitives, as netaio 0.0.9 encodes them: type codes, the
//! length categories that say how wide a length is, and a bounds-checked
//! reader. It knows bytes only; what the values mean (auth field names and
//! values, the dict around them) lives in `auth_value.rs` and
//! `auth_fields.rs`.

use bytes::{BufMut, Bytes};

use super::AuthFieldsError;

// packify type codes (low 6 bits) and length categories (high 2 bits).
pub(super) const T_BYTES: u8 = 1;
pub(super) const T_STR: u8 = 3;
pub(super) const T_INT: u8 = 4;
pub(super) const T_NEG_INT: u8 = 5;
pub(super) const T_TUPLE: u8 = 12;
pub(super) const T_DICT: u8 = 13;
pub(super) const TYPE_MASK: u8 = 0x3f;
pub(super) const CAT_MASK: u8 = 0xc0;

/// The length category (as code bits) packify picks for a length or count.
pub(super) fn category(n: u64) -> u8 {
    if n < 1 << 8 {
        0x40
    } else if n < 1 << 16 {
        0x80
    } else {
        0xc0
    }
}

/// Bytes a length of category `cat` takes.
pub(super) fn width(cat: u8) -> usize {
    match cat {
        0x40 => 1,
        0x80 => 2,
        _ => 4,
    }
}

pub(super) fn put_len(dst: &mut impl BufMut, cat: u8, n: u64) {
    match cat {
        0x40 => dst.put_u8(n as u8),
        0x80 => dst.put_u16(n as u16),
        _ => dst.put_u32(n as u32),
    }
}

/// A container's item-length category, checked.
pub(super) fn item_width(item_cat: u8) -> Result<usize, AuthFieldsError> {
    match item_cat {
        0x40 | 0x80 | 0xc0 => Ok(width(item_cat)),
        other => Err(AuthFieldsError::InvalidItemCategory(other)),
    }
}

/// A bounds-checked cursor over `src[pos..end]`: every read states what
/// it needs first. Items inside a larger buffer are read in place (a
/// range of it), and only what is kept is sliced out as a `Bytes`: each
/// slice is a reference count up and, later, down.
pub(super) struct Reader<'a> {
    pub(super) src: &'a Bytes,
    pub(super) pos: usize,
    /// Where the item being read starts and ends (`0..src.len()` for a
    /// whole buffer).
    start: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    /// A cursor over all of `src`.
    pub(super) fn new(src: &'a Bytes) -> Self {
        Reader {
            src,
            pos: 0,
            start: 0,
            end: src.len(),
        }
    }

    /// A cursor over `src[range]`; the range is within `src`.
    pub(super) fn within(src: &'a Bytes, range: std::ops::Range<usize>) -> Self {
        Reader {
            src,
            pos: range.start,
            start: range.start,
            end: range.end,
        }
    }

    pub(super) fn remaining(&self) -> usize {
        self.end - self.pos
    }

    pub(super) fn need(&self, n: usize) -> Result<(), AuthFieldsError> {
        if n > self.remaining() {
            Err(AuthFieldsError::Truncated {
                needed: n,
                available: self.remaining(),
            })
        } else {
            Ok(())
        }
    }

    pub(super) fn u8(&mut self) -> Result<u8, AuthFieldsError> {
        self.need(1)?;
        let b = self.src[self.pos];
        self.pos += 1;
        Ok(b)
    }

    /// A length or count of category `cat` (0x40, 0x80 or 0xc0).
    pub(super) fn len(&mut self, cat: u8) -> Result<u64, AuthFieldsError> {
        let w = width(cat);
        self.need(w)?;
        let v = self.src[self.pos..self.pos + w]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        self.pos += w;
        Ok(v)
    }

    /// Fails unless the item was read exactly to its end.
    pub(super) fn at_end(&self) -> Result<(), AuthFieldsError> {
        if self.pos == self.end {
            Ok(())
        } else {
            Err(AuthFieldsError::ItemLengthMismatch {
                declared: self.end - self.start,
                actual: self.pos - self.start,
            })
        }
    }

    /// A length-prefixed payload that must end exactly where the enclosing
    /// item ends.
    pub(super) fn exact_payload(&mut self, cat: u8) -> Result<Bytes, AuthFieldsError> {
        let n = usize::try_from(self.len(cat)?).unwrap_or(usize::MAX);
        self.need(n)?;
        let payload = self.pos..self.pos + n;
        self.pos += n;
        self.at_end()?;
        Ok(self.src.slice(payload))
    }
}
