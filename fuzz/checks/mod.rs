//! Properties checked by the fuzz targets (`fuzz/fuzz_targets/*.rs`) and
//! replayed on stable by `tests/fuzz_corpus.rs`.
//!
//! Plain functions that panic when a property is violated; no libFuzzer
//! dependency. Included with `#[path = "../checks/mod.rs"] mod checks;` (targets)
//! or `#[path = "../fuzz/checks/mod.rs"] mod checks;` (replay test). Whoever
//! includes it must install [`CountingAlloc`] as `#[global_allocator]`:
//! every check starts by verifying that it is (see
//! [`assert_counting_allocator`]), because `cargo fuzz run -s none` has no
//! sanitizer to catch a decoder that allocates what a hostile header claims.
//!
//! # Memory bounds
//!
//! Let `N` be the number of input bytes and `OVERHEAD` the per-message
//! constant of [`overhead`] (the auth-field vectors of one message: at most
//! `max_auth_fields` entries, plus small boxes). Allocation is counted as
//! live heap bytes (a `realloc` counts as its size change) above what was
//! live when the measured call started.
//!
//! * One-shot [`Message::decode`] / [`AuthFields::decode`] of bytes already in
//!   memory: `N + OVERHEAD` (it slices the input; the `N` covers an error
//!   that copies a field name).
//! * One [`wire::decode_frame`] / [`FrameCodec`] call on a buffer holding
//!   bytes of an `N`-byte stream: `N + RESERVE_CHUNK + OVERHEAD`. The decoder
//!   only asks for `min(missing, RESERVE_CHUNK)` more bytes, but `BytesMut`
//!   may satisfy that by moving the pending bytes (`<= N`) to a new buffer or
//!   by doubling an allocation that is itself smaller than `N` + the request.
//! * A whole incremental decode, feeding included ([`check_codec_stream`]):
//!   `2 * (N + RESERVE_CHUNK) + OVERHEAD`: with decoded messages dropped as
//!   they are checked, one buffer is live at a time, and `BytesMut` grows it to
//!   at most twice the largest `len + request` it was asked for.
//!
//! A header that claims 4 GiB (wide profile, no frame limit) therefore costs
//! at most `RESERVE_CHUNK` beyond the bytes that actually arrived.
//! One file per target's properties (`decode.rs`, `stream.rs`,
//! `auth_fields.rs`, `roundtrip.rs`, `pack_value.rs`, `users_file.rs`, `metrics_head.rs`, `typed.rs`, `store.rs`), on top of the counting allocator
//! (`alloc.rs`) and shared helpers (`helpers.rs`).

#![allow(dead_code, unused_imports)]

mod alloc;
mod auth_fields;
mod decode;
mod helpers;
mod metrics_head;
mod pack_value;
mod roundtrip;
mod store;
mod stream;
mod typed;
#[cfg(feature = "users-file")]
mod users_file;

pub use alloc::*;
pub use auth_fields::*;
pub use decode::*;
pub use helpers::*;
pub use metrics_head::*;
pub use pack_value::*;
pub use roundtrip::*;
pub use store::*;
pub use stream::*;
pub use typed::*;
#[cfg(feature = "users-file")]
pub use users_file::*;
