#![no_main]
//! See `backplane_check::check_backplane_envelopes`: arbitrary envelopes
//! delivered to a server from its backplane.

use libfuzzer_sys::fuzz_target;

#[path = "../backplane_check.rs"]
mod backplane_check;

fuzz_target!(|data: &[u8]| backplane_check::check_backplane_envelopes(data));
