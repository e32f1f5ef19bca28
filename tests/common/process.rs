//! Child processes: the netaio 0.0.9 interpreter, the `framewire` binary,
//! bounded runs, and cleanup.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Python interpreter with netaio 0.0.9 installed: `FRAMEWIRE_PYTHON`,
/// else `.venv/bin/python` in the crate. Only `#[ignore]`d tests call it
/// (run with `-- --include-ignored`), so a missing interpreter is a
/// failure, never a silent skip.
pub fn netaio_python() -> PathBuf {
    let path = std::env::var_os("FRAMEWIRE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let probe = Command::new(&path)
        .args([
            "-c",
            "import importlib.metadata as m, netaio; assert m.version('netaio') == '0.0.9', m.version('netaio')",
        ])
        .output();
    match probe {
        Ok(o) if o.status.success() => path,
        Ok(o) => panic!(
            "{} cannot import netaio 0.0.9: {}\n{}",
            path.display(),
            String::from_utf8_lossy(&o.stderr),
            SETUP
        ),
        Err(e) => panic!("cannot run {}: {e}\n{}", path.display(), SETUP),
    }
}

const SETUP: &str = "this test needs netaio 0.0.9 (and, for netaio.asymmetric, PyNaCl and \
                     tapescript): run `python3 -m venv .venv && .venv/bin/pip install \
                     netaio==0.0.9 pynacl==1.6.2 tapescript==0.7.3` in the crate root, or set \
                     FRAMEWIRE_PYTHON (see README.md, Tests)";

/// [`netaio_python`], which must also import `netaio.asymmetric` (PyNaCl
/// and tapescript): panics, never skips, if it cannot.
pub fn netaio_asymmetric_python() -> PathBuf {
    let path = netaio_python();
    let probe = Command::new(&path)
        .args(["-c", "import nacl.public, tapescript, netaio.asymmetric"])
        .output();
    match probe {
        Ok(o) if o.status.success() => path,
        Ok(o) => panic!(
            "{} cannot import netaio.asymmetric: {}\n{}",
            path.display(),
            String::from_utf8_lossy(&o.stderr),
            SETUP
        ),
        Err(e) => panic!("cannot run {}: {e}\n{}", path.display(), SETUP),
    }
}

/// What a finished child printed.
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to completion with `stdin` as its input, killing it after
/// `limit` (then panicking). Pipes are drained by threads, so a child that
/// floods one or stops reading cannot deadlock the test.
pub fn run_with_input(mut cmd: Command, stdin: &[u8], limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut child_in = child.stdin.take().expect("piped stdin");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = child_in.write_all(&input);
    });
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} took more than {limit:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    Output {
        success: status.success(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// [`run_with_input`] with empty input; returns (success, stdout, stderr).
pub fn run_bounded(cmd: Command, limit: Duration) -> (bool, String, String) {
    let o = run_with_input(cmd, b"", limit);
    (o.success, o.stdout, o.stderr)
}

/// A child process killed when dropped, so a failing test leaves nothing
/// running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` and waits (30 s at most) for its `listening on ADDR` line.
pub fn spawn_listening(mut cmd: Command) -> (KillOnDrop, String) {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn server process");
    let stdout = child.stdout.take().expect("stdout");
    let guard = KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server printed its address within 30 s");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (guard, addr)
}

/// A real netaio 0.0.9 server with the `framewire serve` route contract.
pub fn netaio_server(secret: Option<&str>) -> (KillOnDrop, String) {
    netaio_server_with(
        secret
            .map(|s| ["--secret", s])
            .as_slice()
            .concat()
            .as_slice(),
    )
}

/// [`netaio_server`] with extra arguments (`--secret S`, `--peer-name N`).
pub fn netaio_server_with(args: &[&str]) -> (KillOnDrop, String) {
    let mut cmd = Command::new(netaio_python());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/netaio_server.py"
    ))
    .args(["127.0.0.1", "0"])
    .args(args);
    spawn_listening(cmd)
}

/// Sends SIGTERM and returns the exit status, which must come within 10 s.
pub fn terminate(guard: KillOnDrop) -> std::process::ExitStatus {
    let child = &mut { guard }.0;
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("process did not stop within 10 s of SIGTERM");
}

/// Runs `cmd` to completion (it must bound itself, as the CLI's client
/// commands do with `--timeout`); returns its exit code, stdout and stderr.
pub fn exit_status(mut cmd: Command) -> (Option<i32>, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
