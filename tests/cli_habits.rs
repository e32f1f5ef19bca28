//! The CLI's everyday habits end to end, with exit statuses: short type
//! names, bodies from stdin (byte-exact for binary data), `publish
//! --lines / --count`, `request --count`, `subscribe` to several topics
//! with `--raw` and `--timestamp`, shell completions, `--log-format json`.
#![cfg(feature = "cli")]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_framewire");

fn serve() -> (KillOnDrop, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--addr", "127.0.0.1:0"])
        .env_remove("FRAMEWIRE_SECRET");
    spawn_listening(cmd)
}

/// Runs `framewire ARGS` with `input` on stdin; (exit code, stdout bytes,
/// stderr). Bounded: the child (and its process group) is killed after
/// 30 s, and its pipes are read on threads while the deadline runs.
fn run(args: &[&str], input: &[u8]) -> (Option<i32>, Vec<u8>, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("FRAMEWIRE_SECRET");
    let o = run_raw(cmd, input, Duration::from_secs(30));
    (
        o.status.code(),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A `subscribe` child whose stdout lines arrive on a channel.
fn subscriber(args: &[&str]) -> (KillOnDrop, std::sync::mpsc::Receiver<Vec<u8>>) {
    let mut child = own_group(Command::new(BIN).arg("subscribe").args(args))
        .env_remove("FRAMEWIRE_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let raw = args.contains(&"--raw");
    std::thread::spawn(move || {
        let mut r = BufReader::new(out);
        loop {
            let mut line = Vec::new();
            // --raw output has no newlines: pass on whatever came.
            let read = if raw {
                let mut buf = [0u8; 4096];
                r.read(&mut buf)
                    .inspect(|&n| line.extend_from_slice(&buf[..n]))
            } else {
                r.read_until(b'\n', &mut line)
            };
            match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            }
        }
    });
    (KillOnDrop(child), rx)
}

/// Publishes `probe` on `topic` until the subscriber prints it (so it is
/// subscribed), bounded.
fn until_subscribed(addr: &str, topic: &str, rx: &std::sync::mpsc::Receiver<Vec<u8>>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, _, err) = run(&["publish", addr, topic, "probe"], b"");
        assert_eq!(code, Some(0), "{err}");
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            assert!(line.ends_with(b"probe\n"), "{line:?}");
            return;
        }
        assert!(Instant::now() < deadline, "never subscribed");
    }
}

#[test]
fn short_type_names_and_request_count() {
    let (_srv, addr) = serve();
    let (code, out, err) = run(
        &["request", &addr, "k", "--type", "CREATE", "--content", "v"],
        b"",
    );
    assert_eq!((code, &out[..]), (Some(0), &b"stored\n"[..]), "{err}");
    let (code, out, _) = run(&["request", &addr, "k", "--count", "3"], b"");
    assert_eq!((code, &out[..]), (Some(0), &b"v\nv\nv\n"[..]));
    let (code, _, err) = run(&["request", &addr, "k", "--type", "NOPE"], b"");
    assert_eq!(code, Some(2), "{err}");
    // An error reply among several: exit status 1.
    let (code, out, _) = run(
        &[
            "request",
            &addr,
            "k",
            "--type",
            "CREATE",
            "--content",
            "w",
            "--count",
            "2",
        ],
        b"",
    );
    assert_eq!(code, Some(1));
    assert!(out.is_empty(), "error replies go to stderr");
}

#[test]
fn bodies_from_stdin_are_byte_exact() {
    let (_srv, addr) = serve();
    let binary: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
    let (code, out, err) = run(&["request", &addr, "echo", "--content", "-"], &binary);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, [&binary[..], b"\n"].concat());

    let (_sub, rx) = subscriber(&[&addr, "bin", "--raw"]);
    // Probe until bytes come (subscribed).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, _, err) = run(&["publish", &addr, "bin", "probe"], b"");
        assert_eq!(code, Some(0), "{err}");
        if rx.recv_timeout(Duration::from_millis(200)).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "never subscribed");
    }
    let (code, _, err) = run(&["publish", &addr, "bin"], &binary);
    assert_eq!(code, Some(0), "{err}");
    // --raw adds nothing. Every probe was published (and so queued to the
    // subscriber) before the binary body, so what comes is some late
    // probes, then the body: collect until it ends with the body, then
    // check that what came before it is nothing but whole probes (no
    // timed drain that a late probe could outlast).
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !got.ends_with(&binary) {
        assert!(
            Instant::now() < deadline,
            "the body did not arrive whole: {} bytes",
            got.len()
        );
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
            got.extend(chunk);
        }
    }
    let probes = &got[..got.len() - binary.len()];
    assert!(
        probes.len() % 5 == 0 && probes.chunks(5).all(|p| p == b"probe"),
        "only late probes before the body: {probes:?}"
    );
    // And nothing after it.
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn publish_lines_and_count_to_a_subscriber_of_two_topics() {
    let (_srv, addr) = serve();
    let (_sub, rx) = subscriber(&[&addr, "a", "b", "--timestamp", "--count", "7"]);
    until_subscribed(&addr, "a", &rx);
    until_subscribed(&addr, "b", &rx);
    let (code, _, err) = run(&["publish", &addr, "a", "--lines"], b"one\r\ntwo\nthree");
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(
        &[
            "publish",
            &addr,
            "b",
            "again",
            "--count",
            "2",
            "--interval",
            "0.01",
        ],
        b"",
    );
    assert_eq!(code, Some(0), "{err}");
    let mut lines = Vec::new();
    for _ in 0..5 {
        lines.push(String::from_utf8(rx.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap());
    }
    let bodies: Vec<&str> = lines
        .iter()
        .map(|l| {
            let (ts, body) = l.trim_end().split_once(' ').unwrap();
            let (secs, millis) = ts.split_once('.').unwrap();
            assert!(
                secs.parse::<u64>().unwrap() > 1_700_000_000 && millis.len() == 3,
                "{l}"
            );
            body
        })
        .collect();
    assert_eq!(bodies, ["one", "two", "three", "again", "again"]);
}

#[test]
fn completions_and_json_logs() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(&["completions", shell], b"");
        assert_eq!(code, Some(0), "{err}");
        assert!(
            String::from_utf8_lossy(&out).contains("framewire"),
            "{shell}"
        );
    }
    let (code, _, _) = run(&["completions", "tcsh-please"], b"");
    assert_eq!(code, Some(2));
    let mut child = own_group(Command::new(BIN).args([
        "--log-format",
        "json",
        "serve",
        "--addr",
        "127.0.0.1:0",
    ]))
    .env("RUST_LOG", "info")
    .env_remove("FRAMEWIRE_SECRET")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let err = child.stderr.take().unwrap();
    // Killed on drop before anything can fail; the line is waited for 30 s
    // at most.
    let _guard = KillOnDrop(child);
    let line = read_line_within(err, Duration::from_secs(30), "serve's first log line");
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert!(v["level"].is_string() && v["fields"].is_object(), "{v}");
}
