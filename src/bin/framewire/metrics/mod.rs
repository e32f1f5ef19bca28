//! `serve --metrics HOST:PORT`: the server's metrics in Prometheus text
//! format at `GET /metrics`, rendered by `metrics-exporter-prometheus`.
//! The HTTP side is a few lines over a TCP listener (one request per
//! connection, bounded in size and time), so port 0 works and the bound
//! address can be printed.
//!
//! The port is capped on its own (connections in total and per address,
//! a short deadline for the request head): whoever can reach it must not
//! be able to use up the process's file descriptors, which the framewire
//! port needs. A maintained HTTP server was considered: hyper is not in
//! the dependency tree, would add several crates for one fixed route, and
//! caps no connections by itself (neither does the exporter's own
//! hyper-based listener), so the accept loop and its caps would be ours
//! anyway; the request is never parsed beyond its first line.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod head;
use head::{Head, HeadReader};

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

    /// Answers scrapes until the process ends. A connection past the
    /// caps is closed as soon as it is accepted: the port holds at most
    /// [`MAX_CONNECTIONS`] descriptors, whoever connects, so it cannot
    /// starve the framewire port of them.
    pub async fn run(self) {
        let slots = Slots::default();
        loop {
            let Ok((stream, peer)) = self.listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let Some(slot) = slots.take(peer.ip()) else {
                ::metrics::counter!("framewire_metrics_connections_refused_total").increment(1);
                tracing::debug!(%peer, "metrics port: connection cap reached, closing");
                continue;
            };
            let handle = self.handle.clone();
            tokio::spawn(async move {
                answer(stream, &handle).await;
                drop(slot);
            });
        }
    }
}

/// Connections the metrics port serves at once. A scraper opens one per
/// scrape; 16 leave room for a few Prometheus servers and a curl.
const MAX_CONNECTIONS: usize = 16;
/// Connections served at once from one source address, so one host cannot
/// take every slot. 4: one scraper needs one.
const MAX_PER_ADDRESS: usize = 4;
/// Time allowed for the request head. A scraper sends it at once after
/// connecting; 2 s is generous on any network and keeps a silent
/// connection's slot short.
const HEAD_DEADLINE: Duration = Duration::from_secs(2);
/// Time allowed to write the response (the rendered metrics, usually tens
/// of kilobytes) to a peer that may have stopped reading.
const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// Longest request head read; a longer one is closed unanswered. A
/// Prometheus scrape's head is a few hundred bytes (a bearer token
/// included).
const MAX_HEAD: usize = 8 * 1024;

/// Open connections, in total and per source address.
#[derive(Default, Clone)]
struct Slots(Arc<Mutex<Count>>);

#[derive(Default)]
struct Count {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One connection's place in [`Slots`], given back on drop.
struct Slot {
    slots: Slots,
    ip: IpAddr,
}

impl Slots {
    fn count(&self) -> MutexGuard<'_, Count> {
        // Only counters live under the lock: a poisoned one is still right.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a connection from `ip`, if neither cap is reached.
    fn take(&self, ip: IpAddr) -> Option<Slot> {
        let mut count = self.count();
        let mine = count.by_address.get(&ip).copied().unwrap_or(0);
        if count.total >= MAX_CONNECTIONS || mine >= MAX_PER_ADDRESS {
            return None;
        }
        count.total += 1;
        count.by_address.insert(ip, mine + 1);
        Some(Slot {
            slots: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut count = self.slots.count();
        count.total = count.total.saturating_sub(1);
        if let Some(n) = count.by_address.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                count.by_address.remove(&self.ip);
            }
        }
    }
}

/// The request head, if a whole one (ending in an empty line) arrived in
/// time and within [`MAX_HEAD`].
async fn read_head(stream: &mut TcpStream) -> Option<HeadReader> {
    let mut head = HeadReader::new(MAX_HEAD);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        match head.feed(&buf[..n]) {
            Head::Partial => {}
            Head::Complete => return Some(head),
            Head::TooLarge => return None,
        }
    }
}

async fn answer(mut stream: TcpStream, handle: &PrometheusHandle) {
    let Ok(Some(head)) = tokio::time::timeout(HEAD_DEADLINE, read_head(&mut stream)).await else {
        return;
    };
    let (status, body) = if head.wants_metrics() {
        ("200 OK", handle.render())
    } else {
        ("404 Not Found", "only GET /metrics here\n".to_owned())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(WRITE_DEADLINE, write).await;
}
