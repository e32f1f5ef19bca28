//! A real netaio 0.0.9 TCPClient (Python) against the real `framewire
//! serve` binary: echo (empty, binary, largest netaio content), the CRUD
//! cycle, unknown routes, subscribe / notify / unsubscribe, broadcast to
//! several clients; with and without `--secret`.
#![cfg(feature = "cli")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// `framewire serve` on a free loopback port; returns the child and its
/// address from the one line it prints.
pub fn spawn_serve(extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_framewire"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn framewire serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read the listening line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, addr)
}

/// SIGTERM, then the exit status within 10 s.
fn terminate(mut child: Child) -> std::process::ExitStatus {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    for _ in 0..500 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("framewire serve did not stop within 10 s of SIGTERM");
}

fn check(extra: &[&str], script_args: &[&str]) {
    let Some(python) = netaio_python() else {
        return;
    };
    let (child, addr) = spawn_serve(extra);
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
fn netaio_client_against_framewire_serve() {
    check(&[], &[]);
}

#[test]
fn netaio_client_with_hmac_against_framewire_serve() {
    check(
        &["--secret", "interop-secret"],
        &["--secret", "interop-secret"],
    );
}
