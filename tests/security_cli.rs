//! The CLI's auth options (issue 22): `--auth strict|netaio` end to end,
//! the netaio-mode warning (at start and in `--help`), secrets from a file
//! or the environment instead of the command line.
#![cfg(feature = "cli")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_framewire");

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("FRAMEWIRE_SECRET");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = run_with_input(c, b"", Duration::from_secs(60));
    let code = if o.success { 0 } else { 1 };
    (code, o.stdout, o.stderr)
}

fn exit_code(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("FRAMEWIRE_SECRET");
    for (k, v) in env {
        c.env(k, v);
    }
    exit_status(c)
}

#[test]
fn strict_mode_end_to_end_with_the_secret_off_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "cli-strict-secret\n").unwrap();
    let mut serve = Command::new(BIN);
    serve
        .args(["serve", "--addr", "127.0.0.1:0", "--auth", "strict"])
        .arg("--secret-file")
        .arg(&secret_file)
        .env_remove("FRAMEWIRE_SECRET");
    let (child, addr) = spawn_listening(serve);
    // The secret is not in the server's command line.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.0.id())).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains("cli-strict-secret"));

    // A strict client with the secret in the environment.
    let env = [("FRAMEWIRE_SECRET", "cli-strict-secret")];
    let (code, out, err) = exit_code(
        &[
            "request",
            &addr,
            "echo",
            "--content",
            "hi",
            "--auth",
            "strict",
        ],
        &env,
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "hi\n");
    assert!(!err.contains("warning"), "no warning in strict mode: {err}");
    let (code, out, _) = exit_code(
        &[
            "request",
            &addr,
            "k",
            "--type",
            "CREATE_URI",
            "--content",
            "v",
            "--auth",
            "strict",
        ],
        &env,
    );
    assert_eq!((code, out.as_str()), (Some(0), "stored\n"));

    // A netaio-mode client is refused by a strict server, and warned.
    let (code, _, err) = exit_code(&["request", &addr, "echo", "--timeout", "5"], &env);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("AUTH_ERROR"), "{err}");
    assert!(err.contains("warning: --auth netaio"), "{err}");
    // A wrong secret in strict mode is an auth error too.
    let (code, _, err) = exit_code(
        &[
            "request",
            &addr,
            "echo",
            "--auth",
            "strict",
            "--timeout",
            "5",
        ],
        &[("FRAMEWIRE_SECRET", "wrong")],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("AUTH_ERROR"), "{err}");
    terminate(child);
}

#[test]
fn netaio_mode_warns_at_start_and_in_help() {
    let (code, out, _) = run(&["request", "--help"], &[]);
    assert_eq!(code, 0);
    let help = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("does not bind the message type"), "{out}");
    for cmd in ["serve", "subscribe", "publish", "bench"] {
        let (_, out, _) = run(&[cmd, "--help"], &[]);
        assert!(out.contains("--auth"), "{cmd}: {out}");
        assert!(out.contains("--secret-file"), "{cmd}: {out}");
    }
    let mut serve = Command::new(BIN);
    own_group(serve.args(["serve", "--addr", "127.0.0.1:0", "--secret", "s"]))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = serve.spawn().unwrap();
    let err = child.stderr.take().unwrap();
    // Killed on drop, whatever fails below; the line is waited for 30 s
    // at most.
    let _guard = KillOnDrop(child);
    let l = read_line_within(err, Duration::from_secs(30), "serve's warning");
    assert!(l.contains("warning: --auth netaio"), "{l}");
}

#[test]
fn secret_options_are_checked() {
    let (code, _, err) = exit_code(
        &[
            "request",
            "127.0.0.1:1",
            "echo",
            "--secret",
            "a",
            "--secret-file",
            "/dev/null",
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let (code, _, err) = exit_code(
        &[
            "request",
            "127.0.0.1:1",
            "echo",
            "--secret-file",
            empty.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("is empty"), "{err}");
    let (code, _, err) = exit_code(
        &[
            "request",
            "127.0.0.1:1",
            "echo",
            "--secret-file",
            "/nonexistent/secret",
        ],
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot read --secret-file"), "{err}");
}
