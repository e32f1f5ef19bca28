//! A real `redis-server` for the backplane tests: listening on a Unix
//! socket in the test's own temporary directory (`redis+unix://`, no TCP
//! port at all, so no port to probe, race for or lose on a restart),
//! persistence off, stopped by its PID on drop. Only
//! `#[ignore = "needs redis-server"]` tests call it, so a missing binary
//! fails the full test command instead of skipping.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Redis {
    /// The server's socket, in `_dir`.
    pub socket: PathBuf,
    child: Option<Child>,
    /// Whether it keeps its data across a restart (an append-only file
    /// in `_dir`, synced at every write).
    persistent: bool,
    _dir: tempfile::TempDir,
}

impl Redis {
    /// A fresh server on a socket of its own.
    pub fn start() -> Redis {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut redis = Redis {
            socket: dir.path().join("redis.sock"),
            child: None,
            persistent: false,
            _dir: dir,
        };
        redis.restart();
        redis
    }

    /// [`start`](Self::start) with an append-only file synced at every
    /// write: what was stored survives a SIGKILL and a restart.
    pub fn start_persistent() -> Redis {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut redis = Redis {
            socket: dir.path().join("redis.sock"),
            child: None,
            persistent: true,
            _dir: dir,
        };
        redis.restart();
        redis
    }

    /// A `framewire serve --backplane` child on this Redis called `name`
    /// (the tests' cluster key), with `extra` arguments.
    #[cfg(feature = "cli")]
    pub fn serve(&self, name: &str, extra: &[&str]) -> (super::process::KillOnDrop, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_framewire"));
        cmd.args(["serve", "--addr", "127.0.0.1:0", "--backplane", &self.url()])
            .args(["--instance-id", name])
            .args(extra)
            .env_remove("FRAMEWIRE_SECRET")
            .env(
                "FRAMEWIRE_BACKPLANE_SECRET",
                "backplane_redis test cluster key",
            );
        super::process::spawn_listening(cmd)
    }

    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    /// A raw connection to the server (for commands the test sends
    /// itself), reads bounded by 10 s.
    pub fn stream(&self) -> UnixStream {
        let s = UnixStream::connect(&self.socket).expect("connect to redis-server");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    /// Kills the server at once (SIGKILL by its PID), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::kill_group(&mut child);
        }
    }

    /// Starts the server again on the same socket (its path is this
    /// test's alone, and redis-server replaces a stale socket file) and
    /// waits until it answers PING (10 s at most).
    pub fn restart(&mut self) {
        self.kill();
        let mut cmd = Command::new("redis-server");
        super::own_group(&mut cmd)
            .args(["--port", "0"])
            .arg("--unixsocket")
            .arg(&self.socket)
            .args(["--unixsocketperm", "700"])
            .args(if self.persistent {
                [
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    "--save",
                    "",
                ]
            } else {
                ["--save", "", "--appendonly", "no", "--appendfsync", "no"]
            })
            .arg("--dir")
            .arg(self._dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run redis-server ({e}): this test needs it (apt-get install redis-server)"
            )
        });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.pings() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("redis-server exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "redis-server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pings(&self) -> bool {
        let Ok(mut s) = UnixStream::connect(&self.socket) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
