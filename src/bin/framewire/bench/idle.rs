//! Memory per idle connection, measured on a `framewire serve` child so
//! the load generator's own memory does not count.

use std::time::Duration;

use tokio::net::TcpStream;

use super::load::progress;
use super::servers::Server;

/// Holds `n` idle connections to a `framewire serve` child; returns its
/// RSS growth per connection in bytes.
pub(super) async fn rss_per_connection(n: usize) -> Result<f64, String> {
    let server = Server::framewire(&None).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = server.rss().ok_or("cannot read RSS")?;
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        held.push(
            TcpStream::connect(&server.addr)
                .await
                .map_err(|e| format!("connection {i}: {e}"))?,
        );
        if i % 1000 == 0 {
            progress(&format!("idle: {i}/{n} connections"));
        }
    }
    // Let the server register them all.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.rss().ok_or("cannot read RSS")?;
    drop(held);
    Ok(after.saturating_sub(before) as f64 / n as f64)
}
