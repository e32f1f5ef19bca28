//! The CLI's everyday habits end to end, with exit statuses: short type
//! names, bodies from stdin (byte-exact for binary data), `publish
//! --lines / --count`, `request --count`, `subscribe` to several topics
//! with `--raw` and `--timestamp`, shell completions, `--log-format json`.
#![cfg(feature = "cli")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
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
/// stderr). Bounded: the child is killed after 30 s.
fn run(args: &[&str], input: &[u8]) -> (Option<i32>, Vec<u8>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("FRAMEWIRE_SECRET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut o = Vec::new();
        let _ = out.read_to_end(&mut o);
        o
    });
    let mut e = String::new();
    let _ = err.read_to_string(&mut e);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("framewire {args:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    writer.join().unwrap();
    (status.code(), reader.join().unwrap(), e)
}

/// A `subscribe` child whose stdout lines arrive on a channel.
fn subscriber(args: &[&str]) -> (KillOnDrop, std::sync::mpsc::Receiver<Vec<u8>>) {
    let mut child = Command::new(BIN)
        .arg("subscribe")
        .args(args)
        .env_remove("FRAMEWIRE_SECRET")
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
    // Probe until bytes come (subscribed), then let the probes drain.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, _, err) = run(&["publish", &addr, "bin", "probe"], b"");
        assert_eq!(code, Some(0), "{err}");
        if rx.recv_timeout(Duration::from_millis(200)).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "never subscribed");
    }
    std::thread::sleep(Duration::from_millis(300));
    while let Ok(chunk) = rx.try_recv() {
        assert!(chunk.iter().all(|b| b"probe".contains(b)), "{chunk:?}");
    }
    let (code, _, err) = run(&["publish", &addr, "bin"], &binary);
    assert_eq!(code, Some(0), "{err}");
    // --raw adds nothing: collect until all the bytes are in.
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < binary.len() && Instant::now() < deadline {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
            got.extend(chunk);
        }
    }
    assert_eq!(got, binary);
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
    let mut child = Command::new(BIN)
        .args(["--log-format", "json", "serve", "--addr", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .env_remove("FRAMEWIRE_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let _guard = KillOnDrop(child);
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert!(v["level"].is_string() && v["fields"].is_object(), "{v}");
}
