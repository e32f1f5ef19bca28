//! `framewire ping`: round trips over the keepalive ping against
//! framewire, the echo fallback against netaio 0.0.9, and exit status 2
//! for a server that never answers.
#![cfg(feature = "cli")]

mod common;

use std::process::Command;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_framewire");

fn ping(addr: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["ping", addr, "--count", "3", "--interval", "0"])
        .args(extra)
        .env_remove("FRAMEWIRE_SECRET");
    exit_status(cmd)
}

#[test]
fn pings_a_framewire_server() {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--addr", "127.0.0.1:0"])
        .env_remove("FRAMEWIRE_SECRET");
    let (_srv, addr) = spawn_listening(cmd);
    let (code, out, err) = ping(&addr, &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("ping from")).count(),
        3,
        "{out}"
    );
    let summary = out.lines().last().unwrap();
    assert!(
        summary.starts_with("3 sent, 3 answered; min/avg/max/p99 = "),
        "{summary}"
    );
}

#[test]
fn a_server_that_never_answers_is_exit_status_2() {
    // Accepts, then says nothing.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let holder = std::thread::spawn(move || {
        let conn = silent.accept();
        std::thread::sleep(std::time::Duration::from_secs(3));
        drop(conn);
    });
    let (code, out, err) = ping(&addr, &["--timeout", "0.3"]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("3 sent, 0 answered"), "{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("no answer from"))
            .count(),
        3,
        "{out}"
    );
    holder.join().unwrap();
}

#[test]
#[ignore = "needs the netaio 0.0.9 venv; see README"]
fn against_netaio_it_says_so_and_times_echo() {
    let (_srv, addr) = netaio_server(None);
    let (code, out, err) = ping(&addr, &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("has no framewire ping"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("echo from")).count(),
        2,
        "{out}"
    );
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("3 sent, 2 answered"),
        "{out}"
    );
}
