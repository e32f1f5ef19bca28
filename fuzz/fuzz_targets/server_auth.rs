#![no_main]
//! See `server_auth_check::check_server_auth`: signed arbitrary messages
//! to a server with a login gate, per-user keys, permissions and peers.

use libfuzzer_sys::fuzz_target;

#[path = "../server_auth_check.rs"]
mod server_auth_check;

fuzz_target!(|data: &[u8]| server_auth_check::check_server_auth(data));
