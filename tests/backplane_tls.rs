//! The Redis backplane over TLS (`rediss://`): two instances relay
//! through a `redis-server` that only speaks TLS, trusting a CA made for
//! the test; an instance that does not trust that CA never connects.

#![cfg(all(feature = "redis", feature = "tls"))]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::*;
use common::tls::Ca;
use framewire::server::RedisBackplane;

const KEY: &[u8] = b"the cluster key: 32 random bytes";

/// A `redis-server` with only a TLS port, stopped by its PID on drop.
struct TlsRedis {
    port: u16,
    child: Child,
}

impl TlsRedis {
    /// redis-server cannot be given port 0 for TLS (0 turns TLS off), so
    /// the port is chosen by binding and freeing one; what makes that
    /// safe is that the test only proceeds once *this* redis-server says in
    /// its own log that it listens. If another process took the port in
    /// between, redis-server exits and a new port is tried (5 attempts).
    fn start(dir: &Path, ca: &Ca) -> TlsRedis {
        let (cert, key) = ca.server().write(dir, "redis");
        let ca_file = ca.write(dir, "ca.pem");
        for attempt in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let log = dir.join(format!("redis-{attempt}.log"));
            let child = Command::new("redis-server")
                .args(["--port", "0", "--bind", "127.0.0.1"])
                .args(["--tls-port", &port.to_string()])
                .arg("--tls-cert-file")
                .arg(&cert)
                .arg("--tls-key-file")
                .arg(&key)
                .arg("--tls-ca-cert-file")
                .arg(&ca_file)
                .args(["--tls-auth-clients", "no"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--logfile")
                .arg(&log)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run redis-server ({e}): this test needs it"));
            let mut redis = TlsRedis { port, child };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                if said.contains("Ready to accept connections") {
                    return redis;
                }
                if let Some(status) = redis.child.try_wait().expect("redis-server's status") {
                    eprintln!("redis-server on port {port} exited ({status}): trying another port\n{said}");
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "redis-server did not come up:\n{said}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("redis-server could not listen on any of 5 ports");
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn backplane(url: &str, ca: Option<&Ca>) -> RedisBackplane {
    let bp = RedisBackplane::new(url)
        .unwrap()
        .max_backoff(Duration::from_millis(200))
        .secret(KEY)
        .unwrap();
    match ca {
        Some(ca) => bp.tls_root_ca(ca.pem().into_bytes()).unwrap(),
        None => bp,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn instances_relay_through_a_tls_only_redis() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("redis test CA");
    let redis = TlsRedis::start(dir.path(), &ca);
    let a = instance("a", backplane(&redis.url(), Some(&ca))).await;
    let b = instance("b", backplane(&redis.url(), Some(&ca))).await;
    all_connected(&[&a, &b]).await;
    let mut sub = subscriber(&b, "t").await;
    publish_all(&a, "t", vec!["a:0".into(), "a:1".into()]).await;
    assert_eq!(notes(&mut sub, 2).await, ["a:0", "a:1"]);

    // Another CA's certificate is refused: this one never connects, while
    // the others (which did, over the same port) stay connected.
    let other = Ca::new("not redis's CA");
    let c = instance("c", backplane(&redis.url(), Some(&other))).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!c.handle.stats().backplane_connected);
    assert!(a.handle.stats().backplane_connected);
    a.stop().await;
    b.stop().await;
    c.stop().await;
}
