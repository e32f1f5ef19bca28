#![no_main]
//! See `checks::check_store_ops`: the readme key-value store under
//! arbitrary operations, against a model.

use libfuzzer_sys::fuzz_target;

#[path = "../checks/mod.rs"]
mod checks;

#[global_allocator]
static ALLOC: checks::CountingAlloc = checks::CountingAlloc;

fuzz_target!(|data: &[u8]| checks::check_store_ops(data));
