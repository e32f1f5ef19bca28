#![no_main]
//! See `checks::check_typed_content`: route patterns, typed content,
//! traceparents and headers from arbitrary bytes.

use libfuzzer_sys::fuzz_target;

#[path = "../checks/mod.rs"]
mod checks;

#[global_allocator]
static ALLOC: checks::CountingAlloc = checks::CountingAlloc;

fuzz_target!(|data: &[u8]| checks::check_typed_content(data));
