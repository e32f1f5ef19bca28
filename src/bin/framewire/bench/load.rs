//! The load generators: sequential echo (latency), pipelined echo
//! (throughput) and one-publisher fan-out, over the netaio frame codec.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use framewire::{FrameCodec, Message, MessageType, PluginStack, Profile};

use super::tls::BenchTls;
use crate::auth::Auth;
use framewire::tls::rustls::{ClientConfig, HandshakeKind};
use framewire::tls::TlsConnector;
use framewire::transport::{Connector, Stream, TcpConnector};
use futures_util::{Sink, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_util::codec::Framed;

/// How long a measurement runs: for a duration, or until a number of
/// messages (`--messages`; capped at ten minutes so a stuck server cannot
/// hang the bench).
#[derive(Clone, Copy, Debug)]
pub(super) struct Budget {
    pub(super) duration: Duration,
    pub(super) messages: Option<u64>,
}

const COUNT_CAP: Duration = Duration::from_secs(600);

impl Budget {
    pub(super) fn time(duration: Duration) -> Self {
        Budget {
            duration,
            messages: None,
        }
    }

    /// Whether to go on, `done` messages in, started at `start`.
    pub(super) fn more(&self, start: Instant, done: u64) -> bool {
        match self.messages {
            Some(n) => done < n && start.elapsed() < COUNT_CAP,
            None => start.elapsed() < self.duration,
        }
    }

    /// How many messages a measurement at `rate` per second covered.
    pub(super) fn count_at(&self, rate: f64) -> f64 {
        match self.messages {
            Some(n) => n as f64,
            None => rate * self.duration.as_secs_f64(),
        }
    }
}

fn stack(auth: &Option<Auth>) -> Option<PluginStack> {
    auth.as_ref().map(|a| PluginStack::new(a.layer()))
}

/// Where the load goes: an address, over TLS with `tls`.
#[derive(Clone, Copy)]
pub(super) struct Dial<'a> {
    pub(super) addr: &'a str,
    pub(super) tls: Option<&'a Arc<ClientConfig>>,
}

impl Dial<'_> {
    /// A connected stream (TLS handshake done), `TCP_NODELAY` on.
    pub(super) async fn stream(&self) -> Result<Stream, String> {
        let connected = match self.tls {
            None => TcpConnector::new().connect(self.addr).await,
            Some(config) => {
                TlsConnector::new(config.clone(), BenchTls::server_name())
                    .connect(self.addr)
                    .await
            }
        };
        connected.map_err(|e| format!("cannot connect to {}: {e}", self.addr))
    }

    pub(super) async fn framed(&self) -> Result<Framed<Stream, FrameCodec>, String> {
        Ok(Framed::new(
            self.stream().await?,
            FrameCodec::new(Profile::Netaio),
        ))
    }
}

fn seal(stack: &Option<PluginStack>, msg: Message) -> Message {
    match stack {
        Some(s) => s
            .seal(msg)
            .unwrap_or_else(|e| panic!("signing failed: {e}")),
        None => msg,
    }
}

pub(super) fn progress(text: &str) {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K{text}");
    }
}

/// Sequential echo: returns (round trips per second, p50, p99, p999 µs).
pub(super) async fn echo(
    to: Dial<'_>,
    size: usize,
    budget: Budget,
    auth: &Option<Auth>,
) -> Result<(f64, [f64; 3]), String> {
    let mut conn = to.framed().await?;
    let stack = stack(auth);
    let content = Bytes::from(vec![b'x'; size]);
    let mut rtts = Vec::new();
    let start = Instant::now();
    // Bounded by time and by count.
    while budget.more(start, rtts.len() as u64) && rtts.len() < 10_000_000 {
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
pub(super) async fn pipeline(
    to: Dial<'_>,
    size: usize,
    budget: Budget,
    conns: usize,
    depth: usize,
    auth: &Option<Auth>,
) -> Result<(f64, u64), String> {
    let done = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (mut tx, mut rx) = to.framed().await?.split();
        let stack = stack(auth);
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
    let rate = rate_over(&done, budget).await;
    stop.store(true, Ordering::Relaxed);
    for (w, r) in tasks {
        w.abort();
        r.abort();
    }
    Ok((rate, refused.load(Ordering::Relaxed)))
}

/// `tasks` tasks, each looping `one` on its own state (made by `state`)
/// for `duration`, one request at a time: requests per second over all of
/// them. `one` hands its state back, so nothing is cloned per request;
/// the first error ends the measurement.
pub(super) async fn tasks_looping<S, F, Fut>(
    tasks: usize,
    duration: Duration,
    state: impl Fn() -> S,
    one: F,
) -> Result<f64, String>
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<S, String>> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..tasks {
        let (done, stop, one, mut st) = (done.clone(), stop.clone(), one.clone(), state());
        workers.push(tokio::spawn(async move {
            // Bounded by the stop flag and by count.
            for _ in 0..100_000_000u64 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                st = one(st).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), String>(())
        }));
    }
    let rate = rate_over(&done, Budget::time(duration)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.map_err(|e| e.to_string())??;
    }
    Ok(rate)
}

/// How fast `done` grows over the next `budget` (load already running).
pub(super) async fn rate_over(done: &AtomicU64, budget: Budget) -> f64 {
    let start = Instant::now();
    let before = done.load(Ordering::Relaxed);
    match budget.messages {
        None => tokio::time::sleep(budget.duration).await,
        Some(_) => {
            while budget.more(start, done.load(Ordering::Relaxed) - before) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    let count = done.load(Ordering::Relaxed) - before;
    count as f64 / start.elapsed().as_secs_f64()
}

/// A raw connection on `to` subscribed to `topic` (sealed by `stack`),
/// once the server has confirmed it.
pub(super) async fn subscribed(
    to: Dial<'_>,
    topic: &'static str,
    stack: &Option<PluginStack>,
) -> Result<Framed<Stream, FrameCodec>, String> {
    let mut c = to.framed().await?;
    c.send(seal(
        stack,
        Message::new(MessageType::SUBSCRIBE_URI, topic, ""),
    ))
    .await
    .map_err(|e| e.to_string())?;
    match c.next().await {
        Some(Ok(Ok(m))) if m.message_type == MessageType::CONFIRM_SUBSCRIBE => Ok(c),
        other => Err(format!("subscribe not confirmed: {other:?}")),
    }
}

/// One publisher, `subscribers` subscribers: returns (deliveries per
/// second, lost deliveries).
pub(super) async fn fanout(
    to: Dial<'_>,
    size: usize,
    budget: Budget,
    subscribers: usize,
    auth: &Option<Auth>,
) -> Result<(f64, u64), String> {
    let received = Arc::new(Deliveries::new(subscribers));
    let stack = stack(auth);
    let mut readers = Vec::new();
    for i in 0..subscribers {
        let mut c = subscribed(to, "bench", &stack).await?;
        let received = received.clone();
        readers.push(tokio::spawn(async move {
            while let Some(Ok(Ok(m))) = c.next().await {
                if m.message_type == MessageType::NOTIFY_URI {
                    received.record(i);
                }
            }
        }));
    }
    let content = Bytes::from(vec![b'n'; size]);
    let published = publish(to, budget, &received, subscribers, |_| {
        seal(
            &stack,
            Message::new(MessageType::PUBLISH_URI, "pub/bench", content.clone()),
        )
    })
    .await?;
    for r in readers {
        r.abort();
    }
    Ok(published.outcome(&received))
}

/// Deliveries counted per subscriber, so the publisher can stay a bounded
/// distance ahead of the slowest one (a closed loop: a server is never
/// asked to queue more than [`AHEAD`] notifications for anyone, so one
/// that drops on a full queue loses nothing unless it is broken).
pub(super) struct Deliveries {
    per: Vec<AtomicU64>,
    /// Set while the publisher waits for the slowest subscriber.
    waiting: AtomicBool,
    wake: tokio::sync::Notify,
}

/// The most publishes the publisher runs ahead of the slowest subscriber.
const AHEAD: u64 = 128;

impl Deliveries {
    pub(super) fn new(subscribers: usize) -> Self {
        Deliveries {
            per: (0..subscribers).map(|_| AtomicU64::new(0)).collect(),
            waiting: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// One delivery to subscriber `i`.
    pub(super) fn record(&self, i: usize) -> u64 {
        let n = self.per[i].fetch_add(1, Ordering::SeqCst);
        // SeqCst on both sides: either the publisher sees this delivery or
        // this sees it waiting (and `notify_one` keeps a permit if it has
        // not parked yet).
        if self.waiting.load(Ordering::SeqCst) {
            self.wake.notify_one();
        }
        n
    }

    /// Deliveries to every subscriber.
    pub(super) fn total(&self) -> u64 {
        self.per.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn slowest(&self) -> u64 {
        self.per
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Waits (1 s at most) until the slowest subscriber is fewer than
    /// [`AHEAD`] publishes behind `sent`.
    async fn room_for(&self, sent: u64) {
        let ready = || self.slowest().saturating_add(AHEAD) > sent;
        if ready() {
            return;
        }
        let give_up = tokio::time::Instant::now() + Duration::from_secs(1);
        self.waiting.store(true, Ordering::SeqCst);
        while !ready() && tokio::time::Instant::now() < give_up {
            let _ = tokio::time::timeout(Duration::from_millis(50), self.wake.notified()).await;
        }
        self.waiting.store(false, Ordering::SeqCst);
    }
}

/// What [`publish`] did.
pub(super) struct Published {
    /// Seconds of publishing (the wait for the last deliveries excluded).
    secs: f64,
    /// Deliveries due: publishes acknowledged × subscribers.
    expected: u64,
}

impl Published {
    /// (deliveries per second, deliveries lost).
    pub(super) fn outcome(&self, received: &Deliveries) -> (f64, u64) {
        let got = received.total();
        (
            got as f64 / self.secs.max(1e-9),
            self.expected.saturating_sub(got),
        )
    }
}

/// One publisher on `to` sending `make(i)` for the `budget`, never more
/// than 16 ahead of the server's OKs nor [`AHEAD`] ahead of the slowest
/// subscriber, then waiting (5 s at most) for the
/// `subscribers` to have received every acknowledged publish.
pub(super) async fn publish(
    to: Dial<'_>,
    budget: Budget,
    received: &Deliveries,
    subscribers: usize,
    make: impl FnMut(u64) -> Message,
) -> Result<Published, String> {
    let (tx, rx) = to.framed().await?.split();
    let acks = rx
        .take_while(|m| std::future::ready(matches!(m, Ok(Ok(_)))))
        .filter_map(|m| {
            let ok = matches!(m, Ok(Ok(m)) if m.message_type == MessageType::OK);
            std::future::ready(ok.then_some(()))
        });
    publish_with(tx, acks, budget, received, subscribers, make).await
}

/// [`publish`] over any protocol: `make(i)` goes into `tx`, and `acks`
/// yields once per publish the server acknowledged (the peer comparison
/// drives redis-server and nats-server through it, so every server gets
/// the same closed loop).
pub(super) async fn publish_with<T, E: std::fmt::Display>(
    mut tx: impl Sink<T, Error = E> + Unpin,
    acks: impl futures_util::Stream<Item = ()> + Send + 'static,
    budget: Budget,
    received: &Deliveries,
    subscribers: usize,
    mut make: impl FnMut(u64) -> T,
) -> Result<Published, String> {
    let published = Arc::new(AtomicU64::new(0));
    let permits = Arc::new(Semaphore::new(16));
    let (p2, pub2) = (permits.clone(), published.clone());
    let acks = tokio::spawn(async move {
        let mut acks = std::pin::pin!(acks);
        while acks.next().await.is_some() {
            pub2.fetch_add(1, Ordering::Relaxed);
            p2.add_permits(1);
        }
    });
    let start = Instant::now();
    let mut sent = 0u64;
    while budget.more(start, sent) {
        let Ok(permit) = permits.acquire().await else {
            break;
        };
        permit.forget();
        received.room_for(sent).await;
        tx.send(make(sent)).await.map_err(|e| e.to_string())?;
        sent += 1;
    }
    let drain = Instant::now();
    while drain.elapsed() < Duration::from_secs(5)
        && (permits.available_permits() < 16
            || received.total() < published.load(Ordering::Relaxed) * subscribers as u64)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    acks.abort();
    Ok(Published {
        secs: start.elapsed().as_secs_f64() - drain.elapsed().as_secs_f64(),
        expected: published.load(Ordering::Relaxed) * subscribers as u64,
    })
}

/// TLS connections one after another for `duration` (`tasks` at a time),
/// each a handshake and one echo round trip (a TLS 1.3 client only learns
/// its resumption tickets by reading after the handshake): returns
/// (connections per second, how many resumed a session).
pub(super) async fn handshakes(
    addr: &str,
    duration: Duration,
    tasks: usize,
    config: &Arc<ClientConfig>,
) -> Result<(f64, u64), String> {
    let connector = tokio_rustls::TlsConnector::from(config.clone());
    let (done, resumed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..tasks {
        let (connector, addr) = (connector.clone(), addr.to_owned());
        let (done, resumed) = (done.clone(), resumed.clone());
        workers.push(tokio::spawn(async move {
            // Bounded by time and by count.
            for _ in 0..10_000_000u64 {
                if start.elapsed() >= duration {
                    break;
                }
                let tcp = TcpStream::connect(&addr).await.map_err(|e| e.to_string())?;
                let _ = tcp.set_nodelay(true);
                let tls = connector
                    .connect(BenchTls::server_name(), tcp)
                    .await
                    .map_err(|e| format!("handshake failed: {e}"))?;
                if tls.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed) {
                    resumed.fetch_add(1, Ordering::Relaxed);
                }
                let mut conn = Framed::new(tls, FrameCodec::new(Profile::Netaio));
                let echo = Message::new(MessageType::REQUEST_URI, "echo", "hs");
                conn.send(echo).await.map_err(|e| e.to_string())?;
                match conn.next().await {
                    Some(Ok(Ok(_))) => {}
                    other => return Err(format!("no echo after the handshake: {other:?}")),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), String>(())
        }));
    }
    for w in workers {
        w.await.map_err(|e| e.to_string())??;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((
        done.load(Ordering::Relaxed) as f64 / secs,
        resumed.load(Ordering::Relaxed),
    ))
}
