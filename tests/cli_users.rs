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

/// Issue 35, finding 1, as it was shown: `serve --users FILE
/// --tls-client-ca CA`, and a user whose certificate's CN is its name.
/// The users file's lists must hold: CREATE and DELETE outside `request`,
/// a publish outside `publish`, all NOT_PERMITTED.
#[test]
fn mutual_tls_does_not_turn_the_users_file_off() {
    use common::tls::Ca;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alice.secret"), "alice-secret\r\n").unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(&users, USERS).unwrap();
    let (ca, clients) = (Ca::new("server CA"), Ca::new("clients CA"));
    let ca_pem = ca.write(dir.path(), "ca.pem");
    let clients_pem = clients.write(dir.path(), "clients.pem");
    let (cert, key) = ca.server().write(dir.path(), "server");
    let (alice_cert, alice_key) = clients.leaf("alice", |_| {}).write(dir.path(), "alice");
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--users"])
        .arg(&users)
        .args(["--tls-cert", &path(&cert), "--tls-key", &path(&key)])
        .args(["--tls-client-ca", &path(&clients_pem)])
        .env_remove("FRAMEWIRE_SECRET");
    let (_server, addr) = spawn_listening(cmd);
    let addr = addr.replace("127.0.0.1", "localhost");
    let alice: Vec<String> = [
        "--user",
        "alice",
        "--secret",
        "alice-secret",
        "--timeout",
        "5",
        "--tls-ca",
        &path(&ca_pem),
        "--tls-cert",
        &path(&alice_cert),
        "--tls-key",
        &path(&alice_key),
    ]
    .map(str::to_owned)
    .into();
    let with = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(alice.iter().map(String::as_str));
        run(&all)
    };
    let (code, out, err) = with(&["request", &addr, "echo", "--content", "hi"]);
    assert_eq!((code, out.trim()), (Some(0), "hi"), "{err}");
    for attempt in [
        &[
            "request",
            &addr,
            "k/x",
            "--type",
            "CREATE",
            "--content",
            "v",
        ][..],
        &["request", &addr, "k/x", "--type", "DELETE"][..],
        &["publish", &addr, "alerts", "forged"][..],
    ] {
        let (code, out, err) = with(attempt);
        assert_eq!(code, Some(1), "{attempt:?} must be refused: {out}{err}");
        assert!(err.contains("NOT_PERMITTED"), "{attempt:?}: {err}");
    }
}
