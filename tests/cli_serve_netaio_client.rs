//! A real netaio 0.0.9 TCPClient (Python) against the real `framewire
//! serve` binary: echo (empty, binary, largest netaio content), the CRUD
//! cycle, unknown routes, subscribe / notify / unsubscribe, broadcast to
//! several clients; with and without `--secret`.
#![cfg(feature = "cli")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn check(extra: &[&str], script_args: &[&str]) {
    let python = netaio_python();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_framewire"));
    serve.args(["serve", "--addr", "127.0.0.1:0"]).args(extra);
    let (child, addr) = spawn_listening(serve);
    let (host, port) = addr.rsplit_once(':').unwrap();
    let mut cmd = Command::new(python);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/netaio_client_check.py"
    ))
    .args([host, port])
    .args(script_args);
    let (ok, out, err) = run_bounded(cmd, Duration::from_secs(120));
    let status = terminate(child);
    println!("{out}");
    assert!(ok, "netaio client scenarios failed:\n{out}\n{err}");
    assert!(out.contains("6 passed, 0 failed"), "{out}");
    assert!(status.success(), "graceful exit on SIGTERM: {status:?}");
}

#[test]
#[ignore = "needs the netaio 0.0.9 venv; see README"]
fn netaio_client_against_framewire_serve() {
    check(&[], &[]);
}

#[test]
#[ignore = "needs the netaio 0.0.9 venv; see README"]
fn netaio_client_with_hmac_against_framewire_serve() {
    check(
        &["--secret", "interop-secret"],
        &["--secret", "interop-secret"],
    );
}
