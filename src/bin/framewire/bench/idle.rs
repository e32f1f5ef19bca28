//! Memory per idle connection, measured on a `framewire serve` child so
//! the load generator's own memory does not count.

use std::time::Duration;

use tokio::net::TcpStream;

use super::load::progress;

/// RSS of a process, in bytes.
fn rss_of(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    Some(statm.split_whitespace().nth(1)?.parse::<u64>().ok()? * 4096)
}

/// Holds `n` idle connections to a `framewire serve` child; returns its
/// RSS growth per connection in bytes.
pub(super) async fn rss_per_connection(n: usize) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new(exe)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start framewire serve: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut tokio::io::BufReader::new(stdout), &mut line)
        .await
        .map_err(|e| e.to_string())?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or("no listening line")?
        .to_owned();
    let pid = child.id().ok_or("no pid")?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_of(pid).ok_or("cannot read RSS")?;
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        held.push(
            TcpStream::connect(&addr)
                .await
                .map_err(|e| format!("connection {i}: {e}"))?,
        );
        if i % 1000 == 0 {
            progress(&format!("idle: {i}/{n} connections"));
        }
    }
    // Let the server register them all.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_of(pid).ok_or("cannot read RSS")?;
    drop(held);
    let _ = child.kill().await;
    Ok(after.saturating_sub(before) as f64 / n as f64)
}
