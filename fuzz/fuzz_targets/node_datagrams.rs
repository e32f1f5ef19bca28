#![no_main]
//! See `node_check::check_node_datagrams`: arbitrary datagrams from
//! unverified sources to a UDP node.

use libfuzzer_sys::fuzz_target;

#[path = "../node_check.rs"]
mod node_check;

fuzz_target!(|data: &[u8]| node_check::check_node_datagrams(data));
