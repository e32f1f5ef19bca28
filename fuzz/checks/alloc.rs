//! The counting global allocator and `measure`: how every memory bound
//! below is checked without a sanitizer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::mem::size_of;

use bytes::{Bytes, BytesMut};
use framewire::wire::{self, FieldName, DEFAULT_MAX_AUTH_FIELDS, RESERVE_CHUNK};
use framewire::{
    AuthFields, AuthFieldsError, AuthValue, Body, DecodeError, Error, FrameCodec, FrameConfig,
    Header, Message, MessageType, Profile,
};
use tokio_util::codec::{Decoder, Encoder};

use super::*;

/// A global allocator that forwards to [`System`] and keeps, per thread, the
/// live heap bytes and their peak. Install it with
/// `#[global_allocator] static ALLOC: checks::CountingAlloc = checks::CountingAlloc;`
/// and read it with [`measure`].
pub struct CountingAlloc;

thread_local! {
    // Const-initialised, no destructor: usable from inside the allocator
    // without allocating or registering anything.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn record(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().wrapping_add(delta);
        live.set(now);
        let _ = PEAK.try_with(|peak| {
            if now > peak.get() {
                peak.set(now);
            }
        });
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the bookkeeping touches only thread-local `Cell`s and never
// allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            record(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            record(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        record(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            record(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Runs `f` and returns its result and the peak number of heap bytes that
/// were live during it above those live when it started (counted on this
/// thread only). Nests.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE.with(Cell::get);
    let outer_peak = PEAK.with(|p| p.replace(start));
    let r = f();
    let peak = PEAK.with(Cell::get);
    PEAK.with(|p| p.set(outer_peak.max(peak)));
    (r, usize::try_from(peak - start).unwrap_or(0))
}

/// Panics unless [`CountingAlloc`] is the global allocator (otherwise every
/// memory bound below would pass without measuring anything).
pub fn assert_counting_allocator() {
    let (v, extra) = measure(|| std::hint::black_box(Vec::<u8>::with_capacity(4096)));
    drop(v);
    assert!(
        extra >= 4096,
        "checks::CountingAlloc is not installed as #[global_allocator]"
    );
}

/// Bytes one decoded message may allocate besides slices of its frame: the
/// auth decoder's length table and field vector (at most `max_auth_fields`
/// entries each) plus a few small boxes (`Bytes`' shared header, an error).
pub fn overhead(cfg: &FrameConfig) -> usize {
    fields_overhead(cfg.max_auth_fields) + 1024
}

pub(super) fn fields_overhead(max_fields: usize) -> usize {
    max_fields.saturating_mul(size_of::<u64>() + size_of::<(FieldName, AuthValue)>())
}
