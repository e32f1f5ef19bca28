#![no_main]
//! See `server_check::check_server_stream`: arbitrary bytes from a client to
//! an in-process framewire server.

use libfuzzer_sys::fuzz_target;

#[path = "../server_check.rs"]
mod server_check;

fuzz_target!(|data: &[u8]| server_check::check_server_stream(data));
