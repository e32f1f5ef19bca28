//! `framewire bench --scenario client`: the cost of `framewire::client::Client`
//! itself. Against one `framewire serve` child, C tasks share one `Client`
//! and loop on `request`, beside a raw pipelined client (tokio-util
//! `Framed`, C frames in flight) doing the same wire work in the same run;
//! then one request at a time against raw sequential round trips; then a
//! `Subscription` stream consuming notifications against a raw reader of
//! the same NOTIFY frames, both fed by the same closed-loop publisher;
//! then `send` (fire and forget) from one task against a raw sink writing
//! the same frames.
//! Each figure comes with the bench process's own CPU per request or
//! notification (the server is a separate process).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::time::Instant;

use bytes::Bytes;
use framewire::client::{Client, ClientBuilder, Reconnect};
use framewire::{Message, MessageType};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Semaphore;

use super::load::{self, Dial};
use super::report::Row;
use super::servers::{cpu_secs, Server};
use super::Settings;

/// A client for `to` (over TLS if the bench runs with it) that does not
/// reconnect: a lost connection is a failed measurement.
fn client_to(to: Dial<'_>) -> ClientBuilder {
    let builder = Client::builder(to.addr.to_owned()).reconnect(Reconnect::disabled());
    match to.tls {
        Some(config) => builder.tls(config.clone(), super::tls::BenchTls::server_name()),
        None => builder,
    }
}

async fn connect(builder: ClientBuilder) -> Result<Client, String> {
    builder.connect().await.map_err(|e| e.to_string())
}

/// Requests per second from `tasks` tasks sharing one client, for
/// `duration`.
async fn client_requests(
    to: Dial<'_>,
    size: usize,
    duration: Duration,
    tasks: usize,
) -> Result<f64, String> {
    let builder = client_to(to)
        .request_timeout(Duration::from_secs(10))
        .max_pending_requests(tasks.max(1));
    let client = connect(builder).await?;
    let content = Bytes::from(vec![b'x'; size]);
    let rate = load::tasks_looping(
        tasks,
        duration,
        || (client.clone(), content.clone()),
        |(client, content): (Client, Bytes)| async move {
            client
                .request("echo", content.clone())
                .await
                .map_err(|e| e.to_string())?;
            Ok((client, content))
        },
    )
    .await?;
    client.close().await;
    Ok(rate)
}

/// Messages per second handed to `Client::send` (fire and forget) by one
/// task for `duration`: the client's bounded queue pushes back once the
/// wire is the limit, so this is the rate frames leave. The server's
/// replies come back unasked for and are dropped by the client, as the
/// raw sender's reader drops them.
async fn client_sends(to: Dial<'_>, size: usize, duration: Duration) -> Result<f64, String> {
    let client = connect(client_to(to)).await?;
    let msg = Message::new(MessageType::REQUEST_URI, "echo", vec![b's'; size]);
    let start = Instant::now();
    let mut sent = 0u64;
    // Bounded by time (checked every 64 sends) and by count.
    while sent < 1_000_000_000 && (sent % 64 != 0 || start.elapsed() < duration) {
        client.send(msg.clone()).await.map_err(|e| e.to_string())?;
        sent += 1;
    }
    let rate = sent as f64 / start.elapsed().as_secs_f64();
    client.close().await;
    Ok(rate)
}

/// The same frames written by one task through a raw `Framed` sink (it
/// flushes as its buffer fills), the replies read and dropped by another.
async fn raw_sends(to: Dial<'_>, size: usize, duration: Duration) -> Result<f64, String> {
    let (mut tx, mut rx) = to.framed().await?.split();
    let replies = tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
    let msg = Message::new(MessageType::REQUEST_URI, "echo", vec![b's'; size]);
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < 1_000_000_000 && (sent % 64 != 0 || start.elapsed() < duration) {
        tx.feed(msg.clone()).await.map_err(|e| e.to_string())?;
        sent += 1;
    }
    tx.flush().await.map_err(|e| e.to_string())?;
    let rate = sent as f64 / start.elapsed().as_secs_f64();
    replies.abort();
    Ok(rate)
}

/// How far the stream scenarios' publisher may run ahead of the
/// subscriber's deliveries.
const LEAD: usize = 128;

/// What a subscriber reports to the publisher: every notification it
/// consumed (counted, and one more publish allowed).
#[derive(Clone)]
struct Progress {
    received: Arc<AtomicU64>,
    permits: Arc<Semaphore>,
}

impl Progress {
    fn new() -> Self {
        Progress {
            received: Arc::new(AtomicU64::new(0)),
            permits: Arc::new(Semaphore::new(LEAD)),
        }
    }

    fn consumed(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
        self.permits.add_permits(1);
    }
}

/// One raw publisher sending `pub/bench` for the `budget`, never more
/// than [`LEAD`] notifications ahead of what the subscriber consumed, then
/// waiting (5 s at most) for the rest: notifications consumed per second,
/// or an error if any never arrived.
async fn publish_to(
    to: Dial<'_>,
    size: usize,
    budget: load::Budget,
    progress: &Progress,
) -> Result<f64, String> {
    let (mut tx, mut rx) = to.framed().await?.split();
    // The server's OKs, read and dropped.
    let acks = tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
    let content = Bytes::from(vec![b'n'; size]);
    let msg = Message::new(MessageType::PUBLISH_URI, "pub/bench", content);
    let start = Instant::now();
    let mut sent = 0u64;
    while budget.more(start, sent) {
        match tokio::time::timeout(Duration::from_secs(5), progress.permits.acquire()).await {
            Ok(Ok(permit)) => permit.forget(),
            _ => return Err("the subscriber stopped consuming".into()),
        }
        tx.send(msg.clone()).await.map_err(|e| e.to_string())?;
        sent += 1;
    }
    let drain = Instant::now();
    while progress.received.load(Ordering::Relaxed) < sent
        && drain.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    acks.abort();
    let got = progress.received.load(Ordering::Relaxed);
    if got < sent {
        return Err(format!(
            "{} of {sent} notifications never arrived",
            sent - got
        ));
    }
    Ok(got as f64 / start.elapsed().as_secs_f64())
}

/// Notifications per second a `Subscription` stream consumes.
async fn client_stream(to: Dial<'_>, size: usize, budget: load::Budget) -> Result<f64, String> {
    let client = connect(client_to(to)).await?;
    let mut sub = client.subscribe("bench").await.map_err(|e| e.to_string())?;
    let progress = Progress::new();
    let seen = progress.clone();
    let reader = tokio::spawn(async move {
        while sub.next().await.is_some() {
            seen.consumed();
        }
    });
    let rate = publish_to(to, size, budget, &progress).await;
    client.close().await;
    reader.abort();
    rate
}

/// The same for a raw `Framed` reader of the NOTIFY frames.
async fn raw_stream(to: Dial<'_>, size: usize, budget: load::Budget) -> Result<f64, String> {
    let mut conn = load::subscribed(to, "bench", &None).await?;
    let progress = Progress::new();
    let seen = progress.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(Ok(m))) = conn.next().await {
            if m.message_type == MessageType::NOTIFY_URI {
                seen.consumed();
            }
        }
    });
    let rate = publish_to(to, size, budget, &progress).await;
    reader.abort();
    rate
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs `f` and returns its rate and the bench process's CPU seconds per
/// unit of it.
async fn with_own_cpu(
    duration: Duration,
    f: impl std::future::Future<Output = Result<f64, String>>,
) -> Result<(f64, Option<f64>), String> {
    let me = std::process::id();
    let before = cpu_secs(me);
    let rate = f.await?;
    let used = cpu_secs(me).zip(before).map(|(a, b)| a - b);
    let per = used.map(|u| u / (rate * duration.as_secs_f64()).max(1.0));
    Ok((rate, per))
}

struct Figure {
    rate: Vec<f64>,
    cpu: Vec<f64>,
}

impl Figure {
    fn new() -> Self {
        Figure {
            rate: Vec::new(),
            cpu: Vec::new(),
        }
    }

    fn add(&mut self, (rate, cpu): (f64, Option<f64>)) {
        self.rate.push(rate);
        self.cpu.extend(cpu);
    }

    fn rows(self, size: usize, target: &str, metric: &'static str, note: String) -> Vec<Row> {
        // Every run printed, not only the median: this machine is noisy.
        let runs = self
            .rate
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" / ");
        let note = format!("{note}; runs {runs}");
        let mut rows = vec![Row {
            scenario: "client",
            size,
            target: target.to_owned(),
            metric,
            value: median(self.rate),
            higher_is_better: true,
            extra: note,
        }];
        if !self.cpu.is_empty() {
            rows.push(Row {
                scenario: "client",
                size,
                target: target.to_owned(),
                metric: match metric {
                    "req/s" => "client µs CPU/req",
                    "notes/s" => "client µs CPU/note",
                    "sends/s" => "client µs CPU/send",
                    "redis req/s" => "client µs CPU/redis req",
                    _ => "client µs CPU/seq req",
                },
                value: median(self.cpu) * 1e6,
                higher_is_better: false,
                extra: "user + system time of the bench process".into(),
            });
        }
        rows
    }
}

/// The client scenario's rows for every size: "framewire Client" against
/// the raw client (reported as "baseline" so ratios are computed).
pub(super) async fn run(s: &Settings, server: &Server) -> Result<Vec<Row>, String> {
    if s.auth.is_some() {
        return Err("--scenario client measures the client without auth; drop --secret".into());
    }
    let to = Dial {
        addr: &server.addr,
        tls: s.tls.as_ref().map(|t| &t.client),
    };
    let tasks = s.depth;
    let redis = match s.peers {
        true if s.tls.is_some() => {
            return Err("--peers compares plain request/reply: not with --tls".into())
        }
        true => Some(super::peer_client::start().await?),
        false => None,
    };
    let mut rows = Vec::new();
    for &size in &s.sizes {
        load::progress(&format!("client {size} B..."));
        let (mut client, mut raw) = (Figure::new(), Figure::new());
        let (mut client_seq, mut raw_seq) = (Figure::new(), Figure::new());
        let (mut stream, mut raw_notes) = (Figure::new(), Figure::new());
        let (mut sends, mut raw_sent) = (Figure::new(), Figure::new());
        let (mut peer, mut peer_raw) = (Figure::new(), Figure::new());
        for _ in 0..s.runs.max(1) {
            client
                .add(with_own_cpu(s.duration, client_requests(to, size, s.duration, tasks)).await?);
            let raw_load = async {
                load::pipeline(to, size, load::Budget::time(s.duration), 1, tasks, &None)
                    .await
                    .map(|(r, _)| r)
            };
            raw.add(with_own_cpu(s.duration, raw_load).await?);
            client_seq
                .add(with_own_cpu(s.duration, client_requests(to, size, s.duration, 1)).await?);
            let raw_echo = async {
                load::echo(to, size, load::Budget::time(s.duration), &None)
                    .await
                    .map(|(r, _)| r)
            };
            raw_seq.add(with_own_cpu(s.duration, raw_echo).await?);
            let budget = load::Budget::time(s.duration);
            stream.add(with_own_cpu(s.duration, client_stream(to, size, budget)).await?);
            raw_notes.add(with_own_cpu(s.duration, raw_stream(to, size, budget)).await?);
            sends.add(with_own_cpu(s.duration, client_sends(to, size, s.duration)).await?);
            raw_sent.add(with_own_cpu(s.duration, raw_sends(to, size, s.duration)).await?);
            if let Some(redis) = &redis {
                use super::peer_client::{raw_pipelined, redis_rs};
                let at = &redis.addr;
                peer.add(with_own_cpu(s.duration, redis_rs(at, size, s.duration, tasks)).await?);
                let raw = raw_pipelined(at, size, s.duration, tasks);
                peer_raw.add(with_own_cpu(s.duration, raw).await?);
            }
        }
        let concurrent = format!("{tasks} tasks sharing one Client");
        rows.extend(client.rows(size, "framewire Client", "req/s", concurrent));
        let pipelined = format!("raw Framed client, {tasks} in flight");
        rows.extend(raw.rows(size, "baseline", "req/s", pipelined));
        rows.extend(client_seq.rows(
            size,
            "framewire Client",
            "seq req/s",
            "one at a time".into(),
        ));
        rows.extend(raw_seq.rows(size, "baseline", "seq req/s", "raw round trips".into()));
        let note = format!("one publisher, at most {LEAD} ahead of the deliveries");
        rows.extend(stream.rows(
            size,
            "framewire Client",
            "notes/s",
            format!("Subscription stream; {note}"),
        ));
        rows.extend(raw_notes.rows(
            size,
            "baseline",
            "notes/s",
            format!("raw Framed reader; {note}"),
        ));
        rows.extend(sends.rows(
            size,
            "framewire Client",
            "sends/s",
            "Client::send from one task, replies dropped".into(),
        ));
        rows.extend(raw_sent.rows(
            size,
            "baseline",
            "sends/s",
            "raw Framed sink from one task, replies read and dropped".into(),
        ));
        if redis.is_some() {
            rows.extend(peer.rows(
                size,
                "redis-rs multiplexed",
                "redis req/s",
                format!("{tasks} tasks of GET sharing one connection, redis-server"),
            ));
            rows.extend(peer_raw.rows(
                size,
                "baseline",
                "redis req/s",
                format!("raw pipelined RESP client, {tasks} GETs in flight, redis-server"),
            ));
        }
    }
    Ok(rows)
}
