//! Private network namespaces for tests that need what loopback never
//! does (packets that vanish, multicast on `lo`): the test re-runs itself
//! inside `unshare --net`, where it may change routes without touching the
//! machine. The namespace disappears with the child process.

use std::process::Command;
use std::time::Duration;

use super::run_bounded;

/// Set (to the test's name) in the re-run child inside the namespace.
const CHILD: &str = "FRAMEWIRE_NETNS_CHILD";

/// What the `#[ignore]` reason of a namespace test says.
pub const NEEDS: &str = "needs network namespaces (unshare, ip); see README";

/// Runs `ip args...` in the current (private) namespace.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `body` when this process is the re-run child for `name`;
/// otherwise re-runs the test binary for `name` in a new network namespace
/// and requires it to pass. Fails when no namespace can be made: the tests
/// that call it are `#[ignore]`d, so running them means asking for them.
pub fn isolated(name: &str, body: impl FnOnce()) {
    if std::env::var(CHILD).as_deref() == Ok(name) {
        return body();
    }
    let unshare = unshare_args().unwrap_or_else(|| {
        panic!(
            "{name}: cannot make a network namespace (need `unshare` from util-linux, \
             `ip` from iproute2, and root or user namespaces); {NEEDS}"
        )
    });
    let mut cmd = Command::new("unshare");
    cmd.args(unshare)
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args([
            name,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, name);
    let (ok, out, err) = run_bounded(cmd, Duration::from_secs(120));
    eprint!("{err}");
    assert!(
        ok && out.contains("1 passed"),
        "{name} in a network namespace failed:\n{out}"
    );
}

/// The `unshare` flags that work here, checked by configuring a namespace
/// the way the tests do.
fn unshare_args() -> Option<&'static [&'static str]> {
    const CHECK: &str = "ip link set lo up && ip route add blackhole 127.0.0.2/32 table local";
    [&["--net"][..], &["--net", "--map-root-user"][..]]
        .into_iter()
        .find(|args| {
            Command::new("unshare")
                .args(*args)
                .args(["--", "sh", "-c", CHECK])
                .output()
                .is_ok_and(|o| o.status.success())
        })
}
