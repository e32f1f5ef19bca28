//! `framewire bench`: a load generator for any netaio-compatible server,
//! run against framewire and against a bare baseline server in the same
//! process and run, so every figure comes with its ratio.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use framewire::server::{Limits, Server};
use framewire::{FrameCodec, Message, MessageType, NetaioHmac, PluginLayer, PluginStack, Profile};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::codec::Framed;

use crate::{baseline, routes};

/// Which measurements to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Sequential round trips on one connection: latency percentiles.
    Echo,
    /// Many frames in flight per connection: throughput.
    Pipeline,
    /// One publisher, many subscribers: deliveries per second.
    Fanout,
    /// Idle connections held by a `framewire serve` child: RSS per connection.
    Idle,
    /// Echo, pipeline and fanout.
    All,
}

/// Settings shared by every scenario.
pub struct Settings {
    pub scenario: Scenario,
    pub sizes: Vec<usize>,
    pub duration: Duration,
    pub connections: usize,
    pub depth: usize,
    pub subscribers: usize,
    pub secret: Option<String>,
    pub target: Option<String>,
    pub json: bool,
    pub runs: usize,
}

/// One measured figure.
struct Row {
    scenario: &'static str,
    size: usize,
    target: String,
    metric: &'static str,
    value: f64,
    /// Whether a larger value is better (throughput) or smaller (latency).
    higher_is_better: bool,
    extra: String,
}

fn stack(secret: &Option<String>) -> Option<PluginStack> {
    secret
        .as_ref()
        .map(|s| PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new(s))))
}

async fn connect(addr: &str) -> Result<Framed<TcpStream, FrameCodec>, String> {
    let s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = s.set_nodelay(true);
    Ok(Framed::new(s, FrameCodec::new(Profile::Netaio)))
}

fn seal(stack: &Option<PluginStack>, msg: Message) -> Message {
    match stack {
        Some(s) => s
            .seal(msg)
            .unwrap_or_else(|e| panic!("signing failed: {e}")),
        None => msg,
    }
}

fn progress(text: &str) {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K{text}");
    }
}

/// Sequential echo: returns (round trips per second, p50, p99, p999 µs).
async fn echo(
    addr: &str,
    size: usize,
    duration: Duration,
    secret: &Option<String>,
) -> Result<(f64, [f64; 3]), String> {
    let mut conn = connect(addr).await?;
    let stack = stack(secret);
    let content = Bytes::from(vec![b'x'; size]);
    let mut rtts = Vec::new();
    let start = Instant::now();
    // Bounded by time and by count.
    while start.elapsed() < duration && rtts.len() < 10_000_000 {
        let msg = seal(
            &stack,
            Message::new(MessageType::REQUEST_URI, "echo", content.clone()),
        );
        let t = Instant::now();
        conn.send(msg).await.map_err(|e| e.to_string())?;
        match conn.next().await {
            Some(Ok(Ok(reply))) => {
                if let Some(s) = &stack {
                    s.open(reply)
                        .map_err(|e| format!("reply failed verification: {e}"))?;
                }
            }
            other => return Err(format!("no echo reply: {other:?}")),
        }
        rtts.push(t.elapsed());
    }
    let secs = start.elapsed().as_secs_f64();
    if rtts.is_empty() {
        return Err("no round trip completed within the duration".into());
    }
    rtts.sort();
    let pct =
        |p: f64| rtts[((rtts.len() as f64 * p) as usize).min(rtts.len() - 1)].as_secs_f64() * 1e6;
    Ok((rtts.len() as f64 / secs, [pct(0.50), pct(0.99), pct(0.999)]))
}

/// Pipelined echo over `conns` connections with `depth` frames in flight
/// each: returns (echo replies per second, other replies such as
/// AUTH_ERROR). Only echo replies count as throughput.
async fn pipeline(
    addr: &str,
    size: usize,
    duration: Duration,
    conns: usize,
    depth: usize,
    secret: &Option<String>,
) -> Result<(f64, u64), String> {
    let done = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (mut tx, mut rx) = connect(addr).await?.split();
        let stack = stack(secret);
        let permits = Arc::new(Semaphore::new(depth));
        let content = Bytes::from(vec![b'x'; size]);
        let (p2, stop2) = (permits.clone(), stop.clone());
        let writer = tokio::spawn(async move {
            while !stop2.load(Ordering::Relaxed) {
                let Ok(permit) = p2.acquire().await else {
                    break;
                };
                permit.forget();
                let msg = seal(
                    &stack,
                    Message::new(MessageType::REQUEST_URI, "echo", content.clone()),
                );
                // Batch: only flush when no permit is left or rarely.
                let r = if p2.available_permits() == 0 {
                    tx.send(msg).await
                } else {
                    tx.feed(msg).await
                };
                if r.is_err() {
                    break;
                }
            }
            let _ = tx.flush().await;
        });
        let (done, refused) = (done.clone(), refused.clone());
        let reader = tokio::spawn(async move {
            while let Some(Ok(Ok(m))) = rx.next().await {
                if m.message_type == MessageType::RESPOND_URI {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                permits.add_permits(1);
            }
        });
        tasks.push((writer, reader));
    }
    let start = Instant::now();
    let before = done.load(Ordering::Relaxed);
    tokio::time::sleep(duration).await;
    let count = done.load(Ordering::Relaxed) - before;
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for (w, r) in tasks {
        w.abort();
        r.abort();
    }
    Ok((count as f64 / secs, refused.load(Ordering::Relaxed)))
}

/// One publisher, `subscribers` subscribers: returns (deliveries per
/// second, lost deliveries).
async fn fanout(
    addr: &str,
    size: usize,
    duration: Duration,
    subscribers: usize,
    secret: &Option<String>,
) -> Result<(f64, u64), String> {
    let received = Arc::new(AtomicU64::new(0));
    let stack = stack(secret);
    let mut readers = Vec::new();
    for _ in 0..subscribers {
        let mut c = connect(addr).await?;
        c.send(seal(
            &stack,
            Message::new(MessageType::SUBSCRIBE_URI, "bench", ""),
        ))
        .await
        .map_err(|e| e.to_string())?;
        match c.next().await {
            Some(Ok(Ok(m))) if m.message_type == MessageType::CONFIRM_SUBSCRIBE => {}
            other => return Err(format!("subscribe not confirmed: {other:?}")),
        }
        let received = received.clone();
        readers.push(tokio::spawn(async move {
            while let Some(Ok(Ok(m))) = c.next().await {
                if m.message_type == MessageType::NOTIFY_URI {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let (mut tx, mut rx) = connect(addr).await?.split();
    let published = Arc::new(AtomicU64::new(0));
    let permits = Arc::new(Semaphore::new(16));
    let (p2, pub2) = (permits.clone(), published.clone());
    let acks = tokio::spawn(async move {
        while let Some(Ok(Ok(m))) = rx.next().await {
            if m.message_type == MessageType::OK {
                pub2.fetch_add(1, Ordering::Relaxed);
                p2.add_permits(1);
            }
        }
    });
    let content = Bytes::from(vec![b'n'; size]);
    let start = Instant::now();
    while start.elapsed() < duration {
        let Ok(permit) = permits.acquire().await else {
            break;
        };
        permit.forget();
        let msg = seal(
            &stack,
            Message::new(MessageType::PUBLISH_URI, "pub/bench", content.clone()),
        );
        tx.send(msg).await.map_err(|e| e.to_string())?;
    }
    // Wait (bounded) for in-flight publishes and their deliveries.
    let drain = Instant::now();
    while drain.elapsed() < Duration::from_secs(5)
        && (permits.available_permits() < 16
            || received.load(Ordering::Relaxed)
                < published.load(Ordering::Relaxed) * subscribers as u64)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = start.elapsed().as_secs_f64() - drain.elapsed().as_secs_f64();
    let got = received.load(Ordering::Relaxed);
    let expected = published.load(Ordering::Relaxed) * subscribers as u64;
    acks.abort();
    for r in readers {
        r.abort();
    }
    Ok((got as f64 / secs.max(1e-9), expected.saturating_sub(got)))
}

/// RSS of a process, in bytes.
fn rss_of(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    Some(statm.split_whitespace().nth(1)?.parse::<u64>().ok()? * 4096)
}

/// Holds `n` idle connections to a `framewire serve` child; returns its
/// RSS growth per connection in bytes.
async fn idle(n: usize) -> Result<f64, String> {
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

async fn start_framewire(secret: &Option<String>) -> Result<String, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut b = routes::routes(Server::builder()).limits(Limits::default().max_connections(20_000));
    if let Some(s) = secret {
        b = b.plugins(PluginLayer::new().with_auth(NetaioHmac::new(s)));
    }
    tokio::spawn(b.build().serve(listener, std::future::pending()));
    Ok(addr.to_string())
}

async fn start_baseline(secret: &Option<String>) -> Result<String, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(baseline::serve(listener, secret.clone()));
    Ok(addr.to_string())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs the benchmark and prints the table (or JSON lines).
pub async fn run(s: Settings) -> Result<(), String> {
    let mut targets = vec![
        ("framewire".to_owned(), start_framewire(&s.secret).await?),
        ("baseline".to_owned(), start_baseline(&s.secret).await?),
    ];
    if let Some(t) = &s.target {
        targets.push((format!("target {t}"), t.clone()));
    }
    let runs = s.runs.max(1);
    let mut rows = Vec::new();
    let scenarios: &[Scenario] = match s.scenario {
        Scenario::All => &[Scenario::Echo, Scenario::Pipeline, Scenario::Fanout],
        ref one => std::slice::from_ref(one),
    };
    for scenario in scenarios {
        if *scenario == Scenario::Idle {
            let per = idle(s.connections).await?;
            rows.push(Row {
                scenario: "idle",
                size: 0,
                target: "framewire".into(),
                metric: "RSS bytes/conn",
                value: per,
                higher_is_better: false,
                extra: format!("{} connections", s.connections),
            });
            continue;
        }
        for &size in &s.sizes {
            for (name, addr) in &targets {
                progress(&format!("{scenario:?} {size} B against {name}..."));
                let label = |v: &mut Vec<f64>| median(std::mem::take(v));
                match scenario {
                    Scenario::Echo => {
                        let (mut rate, mut p50, mut p99, mut p999) =
                            (vec![], vec![], vec![], vec![]);
                        for _ in 0..runs {
                            let (r, p) = echo(addr, size, s.duration, &s.secret).await?;
                            rate.push(r);
                            p50.push(p[0]);
                            p99.push(p[1]);
                            p999.push(p[2]);
                        }
                        let extra = format!(
                            "p99 {:.0} µs, p999 {:.0} µs",
                            label(&mut p99),
                            label(&mut p999)
                        );
                        rows.push(Row {
                            scenario: "echo",
                            size,
                            target: name.clone(),
                            metric: "p50 µs",
                            value: label(&mut p50),
                            higher_is_better: false,
                            extra,
                        });
                        rows.push(Row {
                            scenario: "echo",
                            size,
                            target: name.clone(),
                            metric: "round trips/s",
                            value: label(&mut rate),
                            higher_is_better: true,
                            extra: String::new(),
                        });
                    }
                    Scenario::Pipeline => {
                        let (mut rate, mut refused) = (vec![], 0);
                        for _ in 0..runs {
                            let (r, n) =
                                pipeline(addr, size, s.duration, s.connections, s.depth, &s.secret)
                                    .await?;
                            rate.push(r);
                            refused += n;
                        }
                        let r = label(&mut rate);
                        let mut extra = format!(
                            "{} conns × {} in flight, {:.1} MB/s",
                            s.connections,
                            s.depth,
                            r * size as f64 / 1e6
                        );
                        if refused > 0 {
                            extra.push_str(&format!(
                                ", {refused} non-echo replies (e.g. AUTH_ERROR)"
                            ));
                        }
                        rows.push(Row {
                            scenario: "pipeline",
                            size,
                            target: name.clone(),
                            metric: "msgs/s",
                            value: r,
                            higher_is_better: true,
                            extra,
                        });
                    }
                    Scenario::Fanout => {
                        let (mut rate, mut lost) = (vec![], 0);
                        for _ in 0..runs {
                            let (r, l) =
                                fanout(addr, size, s.duration, s.subscribers, &s.secret).await?;
                            rate.push(r);
                            lost += l;
                        }
                        let extra = format!("{} subscribers, {lost} lost", s.subscribers);
                        rows.push(Row {
                            scenario: "fanout",
                            size,
                            target: name.clone(),
                            metric: "deliveries/s",
                            value: label(&mut rate),
                            higher_is_better: true,
                            extra,
                        });
                    }
                    Scenario::Idle | Scenario::All => {}
                }
            }
        }
    }
    progress("");
    print(&rows, s.json, s.secret.is_some(), runs);
    Ok(())
}

fn print(rows: &[Row], json: bool, hmac: bool, runs: usize) {
    let baseline_of = |r: &Row| {
        rows.iter()
            .find(|b| {
                b.target == "baseline"
                    && b.scenario == r.scenario
                    && b.size == r.size
                    && b.metric == r.metric
            })
            .map(|b| b.value)
    };
    if json {
        for r in rows {
            let ratio = baseline_of(r).map_or("null".to_owned(), |b| format!("{:.3}", r.value / b));
            println!(
                "{{\"scenario\":\"{}\",\"size\":{},\"target\":\"{}\",\"metric\":\"{}\",\"value\":{:.3},\"ratio_to_baseline\":{},\"hmac\":{},\"runs\":{},\"note\":\"{}\"}}",
                r.scenario, r.size, r.target, r.metric, r.value, ratio, hmac, runs, r.extra
            );
        }
        return;
    }
    println!(
        "{:<9} {:>6}  {:<28} {:<14} {:>12}  {:>8}  notes",
        "scenario", "bytes", "server", "metric", "value", "ratio"
    );
    for r in rows {
        let ratio = baseline_of(r).map_or("-".to_owned(), |b| {
            let x = r.value / b;
            format!(
                "{x:.2}x{}",
                if r.higher_is_better { "" } else { " (lower)" }
            )
        });
        println!(
            "{:<9} {:>6}  {:<28} {:<14} {:>12.1}  {:>8}  {}",
            r.scenario, r.size, r.target, r.metric, r.value, ratio, r.extra
        );
    }
    println!(
        "(medians of {runs} run(s); ratio = server / baseline from this same run; hmac: {hmac})"
    );
}
