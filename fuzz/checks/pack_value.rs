//! `pack_value`: arbitrary bytes as one packify value (peer ids and data).

use std::mem::size_of;

use bytes::Bytes;
use framewire::wire::PackValue;

use super::*;

/// Arbitrary bytes as a packify value: decoding allocates in proportion to
/// the input (every node takes at least one input byte, so never more
/// nodes than bytes, whatever the length tables claim); a decoded value
/// re-encodes canonically, no longer than the input, and the canonical
/// form is a fixed point.
pub fn check_pack_value(data: &[u8]) {
    assert_counting_allocator();
    let n = data.len();
    let src = Bytes::copy_from_slice(data);
    let (decoded, extra) = measure(|| PackValue::decode(src.clone()));
    let per_node = 2 * size_of::<PackValue>() + size_of::<usize>();
    let bound = n * per_node + 1024;
    assert!(
        extra <= bound,
        "decode of {n} bytes allocated {extra} (bound {bound})"
    );
    let Ok(value) = decoded else { return };
    let canonical = value.to_bytes();
    assert!(
        canonical.len() <= n,
        "canonical encoding is longer: {} > {n}",
        canonical.len()
    );
    let back = PackValue::decode(canonical.clone())
        .unwrap_or_else(|e| panic!("canonical encoding does not decode: {e}\n{value:?}"));
    // Compared as bytes: a NaN float is not equal to itself.
    assert_eq!(
        back.to_bytes(),
        canonical,
        "canonical encoding is not stable"
    );
}
