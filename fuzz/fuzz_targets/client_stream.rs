#![no_main]
//! See `client_check::check_client_stream`: arbitrary bytes from a server
//! to a framewire client.

use libfuzzer_sys::fuzz_target;

#[path = "../client_check.rs"]
mod client_check;

fuzz_target!(|data: &[u8]| client_check::check_client_stream(data));
