//! `serve --metrics HOST:PORT`: the server's metrics in Prometheus text
//! format at `GET /metrics`, rendered by `metrics-exporter-prometheus`.
//! The HTTP side is a few lines over a TCP listener (one request per
//! connection, bounded in size and time), so port 0 works and the bound
//! address can be printed.

use std::net::SocketAddr;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Installs the recorder (before the server is built, so every metric
/// lands in it) and binds the listener; `serve` starts it once ready.
pub struct Exporter {
    handle: PrometheusHandle,
    listener: TcpListener,
}

impl Exporter {
    pub async fn bind(addr: SocketAddr) -> Result<Exporter, String> {
        // Buckets make the handler latency a Prometheus histogram (summable
        // across instances) instead of a per-process summary.
        let buckets = [
            0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
        ];
        let depths = [
            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
        ];
        let handle = PrometheusBuilder::new()
            .set_buckets(&buckets)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("framewire_outbound_queue_frames".into()),
                    &depths,
                )
            })
            .map_err(|e| format!("metrics buckets: {e}"))?
            .install_recorder()
            .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?;
        Ok(Exporter { handle, listener })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, String> {
        self.listener.local_addr().map_err(|e| e.to_string())
    }

    /// Answers scrapes until the process ends.
    pub async fn run(self) {
        loop {
            let Ok((stream, _)) = self.listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let handle = self.handle.clone();
            tokio::spawn(async move {
                let _ =
                    tokio::time::timeout(Duration::from_secs(10), answer(stream, &handle)).await;
            });
        }
    }
}

/// Longest request head read.
const MAX_HEAD: usize = 8 * 1024;

async fn answer(mut stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let (status, body) = if line.starts_with(b"GET /metrics ") || line == b"GET /metrics" {
        ("200 OK", handle.render())
    } else {
        ("404 Not Found", "only GET /metrics here\n".to_owned())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
