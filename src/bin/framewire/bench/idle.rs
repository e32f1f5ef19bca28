//! Memory per idle connection, measured on a `framewire serve` child so
//! the load generator's own memory does not count.

use std::time::Duration;

use super::load::{progress, Dial};
use super::servers::Server;
use super::tls::BenchTls;

/// Holds `n` idle connections (TLS ones, handshake done, with `tls`) to a
/// `framewire serve` child; returns its RSS growth per connection in bytes.
pub(super) async fn rss_per_connection(n: usize, tls: Option<&BenchTls>) -> Result<f64, String> {
    let server = Server::framewire(&None, tls).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = server.rss().ok_or("cannot read RSS")?;
    let mut held = Vec::with_capacity(n);
    let to = Dial {
        addr: &server.addr,
        tls: tls.map(|t| &t.client),
    };
    for i in 0..n {
        held.push(
            to.stream()
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
