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

/// What a finished child printed, as bytes, and its exit status.
pub struct RawOutput {
    pub status: std::process::ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Puts the child in a process group of its own (its id is the group's),
/// so that [`kill_group`] reaches whatever it starts too: the bench's
/// servers, `redis-server`, `nats-server`, a namespace's Python node.
/// Inside such a child (a test binary re-run in a network namespace) the
/// children stay in the outer group, so killing that group reaches them.
/// Give the child a stdin other than the terminal (null or a pipe): a
/// background group must never read the terminal.
pub fn own_group(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    const GROUPED: &str = "FRAMEWIRE_TEST_PROCESS_GROUP";
    if std::env::var_os(GROUPED).is_none() {
        cmd.process_group(0);
    }
    cmd.env(GROUPED, "1")
}

/// SIGKILLs `child`'s process group (when it leads one: see [`own_group`])
/// and then `child`, and reaps it. The group is only signalled while the
/// child has not been reaped, so its id cannot belong to anyone else.
pub fn kill_group(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        // Fails harmlessly (no such group) for a child that leads none.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `cmd` (in a process group of its own) to completion with `stdin`
/// as its input, killing the whole group after `limit` (then panicking).
/// Pipes are drained by threads, so a child that floods one or stops
/// reading cannot deadlock the test.
pub fn run_raw(mut cmd: Command, stdin: &[u8], limit: Duration) -> RawOutput {
    let mut child = own_group(&mut cmd)
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
    let out = drain(child.stdout.take().expect("piped stdout"));
    let err = drain(child.stderr.take().expect("piped stderr"));
    let what = format!("{cmd:?}");
    let status = exit_within(&mut child, limit, &what);
    let joined = |h, pipe: &str| joined_within(h, &format!("{what}: its {pipe}"));
    let _ = writer.join();
    RawOutput {
        status,
        stdout: joined(out, "stdout"),
        stderr: joined(err, "stderr"),
    }
}

/// Runs `cmd` to completion with `stdin` as its input, killing it (and
/// its process group) after `limit`, then panicking.
pub fn run_with_input(cmd: Command, stdin: &[u8], limit: Duration) -> Output {
    let o = run_raw(cmd, stdin, limit);
    Output {
        success: o.status.success(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Reads one line from `r` (a running child's stdout or stderr) on a
/// thread, failing the test if none comes within `limit`.
pub fn read_line_within(r: impl Read + Send + 'static, limit: Duration, what: &str) -> String {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(r).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what}: no line within {limit:?}"))
}

/// Forwards each line `r` yields (a running child's stdout or stderr)
/// from a thread: take them with `recv_timeout`, so no read can hang the
/// test.
pub fn lines_of(r: impl Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(r).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for `child` to exit within `limit` (else kills it and its
/// process group, then panics) and returns its exit status and stdout.
pub fn output_within(
    mut child: Child,
    limit: Duration,
    what: &str,
) -> (std::process::ExitStatus, Vec<u8>) {
    let reader = drain(child.stdout.take().expect("piped stdout"));
    let status = exit_within(&mut child, limit, what);
    (
        status,
        joined_within(reader, &format!("{what}: its stdout")),
    )
}

/// Reads `r` to its end on a thread.
fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = r.read_to_end(&mut s);
        s
    })
}

/// Waits for `child` to exit within `limit`; else kills it with its
/// process group and panics.
fn exit_within(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            kill_group(child);
            panic!("{what} took more than {limit:?}; killed with its process group");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a [`drain`] thread read, once its pipe closes: a grandchild still
/// holding the pipe open would keep it reading, so bounded too (10 s).
fn joined_within(h: std::thread::JoinHandle<Vec<u8>>, what: &str) -> Vec<u8> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(h.join().unwrap_or_default());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what} stayed open 10 s after it exited"))
}

/// [`run_with_input`] with empty input; returns (success, stdout, stderr).
pub fn run_bounded(cmd: Command, limit: Duration) -> (bool, String, String) {
    let o = run_with_input(cmd, b"", limit);
    (o.success, o.stdout, o.stderr)
}

/// A child process killed when dropped, so a failing test leaves nothing
/// running: with its process group if it leads one ([`own_group`]).
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        kill_group(&mut self.0);
    }
}

/// Starts `cmd` and waits (30 s at most) for its `listening on ADDR` line.
pub fn spawn_listening(mut cmd: Command) -> (KillOnDrop, String) {
    let mut child = own_group(&mut cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn server process");
    let stdout = child.stdout.take().expect("stdout");
    let guard = KillOnDrop(child);
    let line = read_line_within(stdout, Duration::from_secs(30), "the server's address");
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

/// Runs `cmd` to completion, killed (with its process group) after 60 s;
/// returns its exit code, stdout and stderr.
pub fn exit_status(cmd: Command) -> (Option<i32>, String, String) {
    let o = run_raw(cmd, b"", Duration::from_secs(60));
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
