//! The servers under measurement, each a child process of the bench (so
//! its CPU time is its own): `framewire serve` and `framewire
//! bench-baseline`, and what they cost in CPU.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

use super::tls::BenchTls;
use crate::auth::Auth;

/// Worker threads for every server child (`--server-threads`): tokio's
/// `TOKIO_WORKER_THREADS` for framewire's children, `GOMAXPROCS` for
/// nats-server (redis-server is single-threaded already). Unset: each
/// server's own default. Set once, before the first child starts.
static THREADS: OnceLock<usize> = OnceLock::new();

/// Sets the worker threads of every server child started from now on.
pub(super) fn set_threads(n: usize) {
    let _ = THREADS.set(n.max(1));
}

/// A server child: killed when dropped.
pub(super) struct Server {
    pub(super) addr: String,
    child: Child,
}

impl Server {
    /// Starts `framewire ARGS...` and waits for its `listening on` line.
    pub(super) async fn start(
        args: &[&str],
        auth: &Option<Auth>,
        tls: Option<&BenchTls>,
    ) -> Result<Server, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(exe);
        cmd.args(args)
            .args(tls.map(BenchTls::server_args).into_iter().flatten())
            .env_remove("FRAMEWIRE_SECRET")
            .envs(
                THREADS
                    .get()
                    .map(|n| ("TOKIO_WORKER_THREADS", n.to_string())),
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        if let Some(a) = auth {
            a.pass_to(&mut cmd);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start framewire {}: {e}", args[0]))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        let mut reader = tokio::io::BufReader::new(stdout);
        let read = reader.read_line(&mut line);
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .map_err(|_| format!("framewire {} did not start", args[0]))?
            .map_err(|e| e.to_string())?;
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .map(|a| a.trim_end_matches(" (udp)"))
            .ok_or_else(|| format!("framewire {} printed {line:?}", args[0]))?
            .to_owned();
        Ok(Server { addr, child })
    }

    /// `framewire serve` with room for every bench connection.
    pub(super) async fn framewire(
        auth: &Option<Auth>,
        tls: Option<&BenchTls>,
    ) -> Result<Server, String> {
        Self::framewire_with(auth, tls, &[]).await
    }

    /// [`framewire`](Self::framewire) with `extra` arguments for `serve`.
    pub(super) async fn framewire_with(
        auth: &Option<Auth>,
        tls: Option<&BenchTls>,
        extra: &[&str],
    ) -> Result<Server, String> {
        let mut args = vec![
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--max-connections",
            "20000",
            "--max-connections-per-address",
            "20000",
        ];
        args.extend_from_slice(extra);
        Self::start(&args, auth, tls).await
    }

    /// The bare baseline.
    pub(super) async fn baseline(
        auth: &Option<Auth>,
        tls: Option<&BenchTls>,
    ) -> Result<Server, String> {
        Self::start(&["bench-baseline", "--addr", "127.0.0.1:0"], auth, tls).await
    }

    /// Another program as a server child: `program ARGS... --port PORT`
    /// style, on a free loopback port `args` is given (e.g. redis-server,
    /// nats-server), ready once it accepts a connection (10 s at most).
    pub(super) async fn program(
        program: &str,
        args: impl FnOnce(&str) -> Vec<String>,
    ) -> Result<Server, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new(program)
            .args(args(&port.to_string()))
            .envs(THREADS.get().map(|n| ("GOMAXPROCS", n.to_string())))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {program} (is it on the PATH?): {e}"))?;
        let addr = format!("127.0.0.1:{port}");
        for _ in 0..500 {
            if tokio::net::TcpStream::connect(&addr).await.is_ok() {
                return Ok(Server { addr, child });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!("{program} did not start"))
    }

    /// A `redis-server` child: no persistence, loopback only.
    pub(super) async fn redis() -> Result<Server, String> {
        Self::program("redis-server", |port| {
            [
                "--port",
                port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            .map(String::from)
            .to_vec()
        })
        .await
    }

    pub(super) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Seconds of CPU (user + system) the process has used.
    pub(super) fn cpu_secs(&self) -> Option<f64> {
        cpu_secs(self.pid()?)
    }

    /// Resident memory, in bytes.
    pub(super) fn rss(&self) -> Option<u64> {
        let statm = std::fs::read_to_string(format!("/proc/{}/statm", self.pid()?)).ok()?;
        Some(statm.split_whitespace().nth(1)?.parse::<u64>().ok()? * 4096)
    }
}

/// The host's CPU ticks so far from `/proc/stat`: (stolen, all). Stolen
/// time is CPU a virtual machine was ready to use but its hypervisor gave
/// to someone else; where it is high, absolute rates fall and runs spread
/// (a ratio from the same run still compares like with like).
pub(super) fn host_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]:
    // guest time is already counted in user, so it is left out of "all".
    let all = ticks.iter().take(8).sum();
    Some((*ticks.get(7)?, all))
}

/// Percent of the host's CPU time stolen between two [`host_ticks`].
pub(super) fn steal_percent(from: (u64, u64), to: (u64, u64)) -> Option<f64> {
    let all = to.1.checked_sub(from.1).filter(|&t| t > 0)?;
    Some(100.0 * to.0.checked_sub(from.0)? as f64 / all as f64)
}

/// utime + stime of `pid` from `/proc/PID/stat`, in seconds (Linux reports
/// them in USER_HZ = 100 ticks per second).
pub(super) fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may itself hold spaces.
    let rest = stat.rsplit_once(") ")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_the_stolen_share_of_all_ticks_between_two_reads() {
        assert_eq!(steal_percent((10, 1000), (60, 1200)), Some(25.0));
        assert_eq!(
            steal_percent((10, 1000), (10, 1000)),
            None,
            "no time passed"
        );
        assert_eq!(
            steal_percent((10, 1000), (5, 1200)),
            None,
            "counter went back"
        );
        if cfg!(target_os = "linux") {
            let (steal, all) = host_ticks().expect("/proc/stat");
            assert!(steal <= all);
        }
    }
}
