//! `framewire serve --users FILE` with `--user NAME --secret S` on client
//! commands: per-user keys and permissions from the command line, and a
//! malformed users file refused at start with its line and field.
#![cfg(feature = "cli")]

mod common;

use std::process::Command;

use common::{exit_status, spawn_listening};

const BIN: &str = env!("CARGO_BIN_EXE_framewire");

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("FRAMEWIRE_SECRET");
    exit_status(cmd)
}

const USERS: &str = r#"
[[user]]
name = "alice"
secret_file = "alice.secret"
publish = ["pub/news"]
subscribe = ["news"]
request = ["echo"]

[[user]]
name = "bob"
secret = "bob-secret"
publish = []
"#;

#[test]
fn users_file_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alice.secret"), "alice-secret\n").unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(&users, USERS).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--users",
        users.to_str().unwrap(),
    ])
    .env_remove("FRAMEWIRE_SECRET");
    let (_server, addr) = spawn_listening(cmd);
    let alice = [
        "--user",
        "alice",
        "--secret",
        "alice-secret",
        "--timeout",
        "5",
    ];
    let bob = ["--user", "bob", "--secret", "bob-secret", "--timeout", "5"];

    let (code, out, err) =
        run(&[&["request", &addr, "echo", "--content", "hi"][..], &alice].concat());
    assert_eq!((code, out.trim()), (Some(0), "hi"), "{err}");
    let (code, out, err) = run(&[&["publish", &addr, "news", "flash"][..], &alice].concat());
    assert_eq!(code, Some(0), "alice may publish: {out}{err}");
    // alice's request rights stop at echo.
    let (code, _, err) = run(&[&["request", &addr, "k"][..], &alice].concat());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("NOT_PERMITTED"), "{err}");
    let (code, _, err) = run(&[&["publish", &addr, "news", "nope"][..], &bob].concat());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("NOT_PERMITTED"), "{err}");
    let wrong = [
        "--user",
        "alice",
        "--secret",
        "bob-secret",
        "--timeout",
        "5",
    ];
    let (code, _, err) = run(&[&["request", &addr, "echo"][..], &wrong].concat());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("AUTH_ERROR"), "{err}");
}

#[test]
fn a_malformed_users_file_is_refused_with_its_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let cases = [
        (
            "[[user]]\nname = \"a\"\nsecret = \"s\"\npublish = [\"pub/>/x\"]\n",
            ":4: user.publish:",
        ),
        (
            "[[user]]\nname = \"a\"\nsecret = \"s\"\ncolour = \"red\"\n",
            ":4: toml:",
        ),
        ("[[user]]\nname = \"a\"\n", ":1: user: missing secret"),
        (
            "[[user]]\nname = \"a\"\nsecret = \"s\"\n[[user]]\nname = \"a\"\nsecret = \"t\"\n",
            ":5: user.name: duplicate",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&users, text).unwrap();
        let (code, _, err) = run(&[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--users",
            users.to_str().unwrap(),
        ]);
        assert_eq!(code, Some(2), "{text:?}: {err}");
        assert!(err.contains(expected), "{text:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
}
