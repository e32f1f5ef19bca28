#![no_main]
//! See `checks::check_metrics_head`: arbitrary bytes to the metrics port.

use libfuzzer_sys::fuzz_target;

#[path = "../checks/mod.rs"]
mod checks;

#[global_allocator]
static ALLOC: checks::CountingAlloc = checks::CountingAlloc;

fuzz_target!(|data: &[u8]| checks::check_metrics_head(data));
