//! The client's failover, offline buffer and drain handling, and the
//! backplane between instances, under deterministic network simulation
//! (turmoil, through the transport seam): two server instances relaying
//! over a simulated Redis (`hub`: pub/sub that keeps nothing, reached over
//! the simulated network), clients with both servers in their list, strict
//! HMAC and a login gate on every connection; a client doing requests from
//! [`WORKERS`] concurrent tasks and holding a subscription, a publisher;
//! a seeded schedule of partitions (client, publisher and backplane
//! links), hard restarts and graceful drains of instances, and restarts of
//! the hub.
//!
//! Safety, for every seed: each request ends in its reply or a typed error
//! within its timeout, and never in another request's reply; no
//! notification is delivered twice; the reader of notifications never
//! fails. Liveness: faults stop after [`CHAOS`] and the network heals;
//! within [`SETTLE`] of that the client's requests succeed again and
//! notifications flow again, and from then on every request succeeds and
//! every publish the publisher got an OK for reaches the subscriber.
//!
//! Every random choice is the seed's: turmoil's network and each host's
//! tokio runtime (`select!` order; `.cargo/config.toml` sets
//! `tokio_unstable` so turmoil can seed it), the fault schedule, and
//! framewire's own ids, nonces, jitter and table orders
//! (`framewire::testing::seed_thread_randomness`); the HMAC clock is
//! simulated time. `SIM_SEEDS=N` runs N seeds (default 200, in four tests
//! that run in parallel; CI runs 500). `FRAMEWIRE_SIM_SEED=S` runs that
//! seed alone and prints `sim trace S <hash>`, a hash of everything the
//! clients saw and when: two runs print the same line (CI checks it). A
//! failure prints the command that replays it.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use framewire::auth::{
    Clock, Identity, IdentitySource, PluginEnv, PluginLayer, StrictHmac, SystemRandom,
};
use framewire::client::{Client, Keepalive, OfflineBuffer, Reconnect};
use framewire::handler::BoxFuture;
use framewire::server::{
    readme_routes, Backplane, Hello, History, Inbound, Limits, LoginRefused, Server,
};
use framewire::transport::{AcceptError, AcceptFuture, Acceptor, Connector, Incoming, Stream};
use framewire::{Message, MessageType};
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PORT: u16 = 8888;
const HUB_PORT: u16 = 6379;
const TIMEOUT: Duration = Duration::from_millis(1000);
const BUFFER: usize = 8;
/// One simulation step.
const TICK_MS: u32 = 10;
/// Simulation steps with faults: 10 s, about 60 faults.
const CHAOS: u32 = 10_000 / TICK_MS;
/// How long after the network heals requests may still fail: a restart
/// (up to 1.5 s) plus reconnect backoff and a connect timeout.
const SETTLE: Duration = Duration::from_secs(5);
/// Requests each worker makes once settled; every one must succeed.
const SETTLED_REQUESTS: u32 = 10;
/// Concurrent request loops on the one client.
const WORKERS: u32 = 3;
/// The strict-HMAC key every server and client shares.
const SECRET: &[u8] = b"sim-secret-of-the-whole-cluster";
/// What the login gate lets in.
const TOKEN: &[u8] = b"sim-token";
/// How long the backplane link may stay silent (the hub pings every
/// 100 ms) before an instance drops and redials it.
const HUB_SILENCE: Duration = Duration::from_millis(500);

/// Dials through turmoil's simulated network.
struct SimConnector;

impl Connector for SimConnector {
    fn connect(&self, addr: &str) -> BoxFuture<std::io::Result<Stream>> {
        let addr = addr.to_owned();
        Box::pin(async move {
            let s = turmoil::net::TcpStream::connect(addr).await?;
            let peer = s.peer_addr()?;
            Ok(Stream::new(s, peer))
        })
    }
}

/// Simulated time as the HMAC plugins' Unix clock, so timestamps (and
/// what the replay window decides) replay with the seed.
struct SimClock;

impl Clock for SimClock {
    fn now_unix(&self) -> u64 {
        1_700_000_000 + now().as_secs()
    }
}

/// A server's acceptor on the simulated network: turmoil's listener
/// through the transport seam (its streams are boxed, as any non-TCP
/// stream).
struct SimAcceptor(turmoil::net::TcpListener);

impl Acceptor for SimAcceptor {
    fn accept(&mut self) -> AcceptFuture<'_> {
        Box::pin(async move {
            let (stream, peer) = self.0.accept().await.map_err(AcceptError::Transient)?;
            Ok(Incoming::new(Stream::new(stream, peer)))
        })
    }
}

/// Strict HMAC on simulated time; its nonces come from framewire's
/// random source, seeded for the run.
fn auth() -> PluginLayer {
    PluginLayer::new()
        .with_auth(StrictHmac::new(SECRET).env(PluginEnv::new(SimClock, SystemRandom)))
}

/// A frame on the hub link: a u32 length, then an envelope (length 0 is
/// the hub's ping).
async fn write_frame(w: &mut (impl AsyncWriteExt + Unpin), body: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(body.len()).map_err(std::io::Error::other)?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(body).await
}

/// Reads one hub-link frame; at most 1 MiB.
async fn read_frame(r: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<Vec<u8>> {
    let len = r.read_u32().await? as usize;
    if len > 1 << 20 {
        return Err(std::io::Error::other("hub frame too long"));
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await?;
    Ok(body)
}

/// The simulated Redis: every frame one connection sends goes to every
/// other connection (pub/sub, nothing kept: a restart forgets everyone);
/// a ping every 100 ms each way, a connection silent for [`HUB_SILENCE`]
/// closed (turmoil's partitions drop bytes without breaking the stream);
/// a subscriber 1 000 frames behind is dropped, as Redis drops a client
/// over its output-buffer limit.
async fn hub() -> turmoil::Result {
    type Subs = Rc<RefCell<Vec<(u64, tokio::sync::mpsc::Sender<Bytes>)>>>;
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", HUB_PORT)).await?;
    let subs: Subs = Rc::default();
    let mut next = 0u64;
    loop {
        let (stream, _) = listener.accept().await?;
        let id = next;
        next += 1;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(1_000);
        subs.borrow_mut().push((id, tx));
        let (mut r, mut w) = stream.into_split();
        tokio::task::spawn_local(async move {
            loop {
                let frame = tokio::select! {
                    biased;
                    f = rx.recv() => match f { Some(f) => f, None => break },
                    _ = tokio::time::sleep(Duration::from_millis(100)) => Bytes::new(),
                };
                if write_frame(&mut w, &frame).await.is_err() {
                    break;
                }
            }
        });
        let subs = subs.clone();
        tokio::task::spawn_local(async move {
            // Each instance pings every 100 ms: silence means its link
            // is broken (a partition dropped bytes mid-frame, say), and
            // the connection is closed, as Redis's client timeout would.
            while let Ok(Ok(frame)) = tokio::time::timeout(HUB_SILENCE, read_frame(&mut r)).await {
                if frame.is_empty() {
                    continue;
                }
                let frame = Bytes::from(frame);
                subs.borrow_mut()
                    .retain(|(other, tx)| *other == id || tx.try_send(frame.clone()).is_ok());
            }
            subs.borrow_mut().retain(|(other, _)| *other != id);
        });
    }
}

/// An instance's backplane over the hub, as [`framewire::server::RedisBackplane`]
/// behaves: publishing never waits, what cannot go out while the link is
/// down is dropped (and counted by the server), the link is redialled
/// after 100 ms, and silence past [`HUB_SILENCE`] counts as a dead link.
#[derive(Default)]
struct SimBackplane {
    out: Mutex<Option<tokio::sync::mpsc::Sender<Bytes>>>,
    up: Arc<AtomicBool>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Backplane for SimBackplane {
    fn start(&self, inbound: Inbound) {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        *self.out.lock().unwrap() = Some(tx);
        let task = tokio::task::spawn_local(hub_link(inbound, rx, self.up.clone()));
        *self.task.lock().unwrap() = Some(task.abort_handle());
    }

    fn publish(&self, envelope: Bytes) -> bool {
        self.up.load(Ordering::Relaxed)
            && self
                .out
                .lock()
                .unwrap()
                .as_ref()
                .is_some_and(|tx| tx.try_send(envelope).is_ok())
    }

    fn stop(&self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }
}

async fn hub_link(
    inbound: Inbound,
    mut out: tokio::sync::mpsc::Receiver<Bytes>,
    up: Arc<AtomicBool>,
) {
    while !inbound.is_closed() {
        let dialled = tokio::time::timeout(
            Duration::from_millis(300),
            turmoil::net::TcpStream::connect(("hub", HUB_PORT)),
        )
        .await;
        if let Ok(Ok(stream)) = dialled {
            let (mut r, mut w) = stream.into_split();
            let reader = tokio::task::spawn_local({
                let inbound = inbound.clone();
                async move {
                    while let Ok(Ok(frame)) =
                        tokio::time::timeout(HUB_SILENCE, read_frame(&mut r)).await
                    {
                        if !frame.is_empty() {
                            inbound.deliver(&frame);
                        }
                    }
                }
            });
            up.store(true, Ordering::Relaxed);
            inbound.set_connected(true);
            let mut reader = std::pin::pin!(reader);
            loop {
                tokio::select! {
                    _ = &mut reader => break,
                    // A ping, so the hub can tell a live link from a dead one.
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {
                        let written = tokio::time::timeout(HUB_SILENCE, write_frame(&mut w, &[])).await;
                        if !matches!(written, Ok(Ok(()))) {
                            break;
                        }
                    }
                    envelope = out.recv() => {
                        let Some(envelope) = envelope else { return };
                        // Bounded, as Redis's response timeout bounds a
                        // batch: a write stuck behind a partition must
                        // not keep the link from noticing it is dead.
                        let written = tokio::time::timeout(HUB_SILENCE, write_frame(&mut w, &envelope)).await;
                        if !matches!(written, Ok(Ok(()))) {
                            inbound.publish_failed(1);
                            break;
                        }
                    }
                }
            }
            reader.abort();
            up.store(false, Ordering::Relaxed);
            inbound.set_connected(false);
            let mut dropped = 0;
            while out.try_recv().is_ok() {
                dropped += 1;
            }
            inbound.publish_failed(dropped);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the simulated clients saw.
#[derive(Default)]
struct Seen {
    late: Vec<String>,
    wrong: Vec<String>,
    notes: Vec<u32>,
    /// Requests that failed while faults were injected (allowed).
    chaos_errors: u32,
    /// Requests after the heal, and how many failed before one succeeded.
    healed_requests: u32,
    /// How long after the heal the first request succeeded.
    recovered_after: Option<Duration>,
    /// How long after the heal the first notification arrived.
    notes_after: Option<Duration>,
    /// Requests once settled that failed (must be none).
    settled_errors: Vec<String>,
    /// Publishes the publisher got an OK for once settled.
    settled_publishes: Vec<u32>,
    /// What the queue group's members were sent, together.
    group: Vec<u32>,
    /// Everything above in the order it happened, with simulated time:
    /// what the trace hash is taken over.
    trace: Vec<String>,
}

impl Seen {
    fn log(&mut self, event: String) {
        self.trace.push(event);
    }
}

/// The simulation's shared clock of phases, set by the fault schedule.
#[derive(Default)]
struct Phase {
    /// When (simulated time) the faults stopped and every partition was
    /// repaired.
    healed: Option<Duration>,
}

impl Phase {
    /// How long ago the network healed, if it has.
    fn since_heal(&self) -> Option<Duration> {
        self.healed.map(|h| now().saturating_sub(h))
    }
}

/// Simulated time since the simulation started (the same on every host).
fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

fn client(servers: [&str; 2]) -> framewire::client::ClientBuilder {
    Client::builder(servers.map(|s| format!("{s}:{PORT}")))
        .connector(SimConnector)
        .plugins(auth())
        .login(Bytes::from_static(TOKEN))
        .request_timeout(TIMEOUT)
        .connect_timeout(Duration::from_millis(300))
        .keepalive(Some(Keepalive::new(
            Duration::from_millis(300),
            Duration::from_millis(300),
        )))
        .reconnect(
            Reconnect::default()
                .initial(Duration::from_millis(50))
                .max(Duration::from_millis(400))
                .jitter(0.2),
        )
        .offline_buffer(Some(
            OfflineBuffer::default()
                .max_messages(BUFFER)
                .max_age(Duration::from_millis(800)),
        ))
        .retry_first_connect(true)
}

/// Records one request's outcome (its phase decides what is allowed);
/// 1 if it counts as a settled request.
#[allow(clippy::too_many_arguments)]
fn record(
    seen: &RefCell<Seen>,
    phase: &RefCell<Phase>,
    i: u32,
    body: &str,
    result: &Result<Message, framewire::client::ClientError>,
    took: Duration,
    healed: Option<Duration>,
    is_settled: bool,
) -> u32 {
    let mut s = seen.borrow_mut();
    let outcome = match result {
        Ok(reply) if reply.content()[..] != *body.as_bytes() => {
            s.wrong.push(format!("request {i}: {reply:?}"));
            "wrong"
        }
        Ok(_) => "ok",
        Err(e) if e.is_timeout() => "timeout",
        Err(_) => "error",
    };
    s.log(format!("{:?} request {i} {outcome}", now()));
    if took > TIMEOUT + Duration::from_millis(50) {
        s.late.push(format!("request {i}: {took:?} ({result:?})"));
    }
    match healed {
        None => s.chaos_errors += u32::from(result.is_err()),
        Some(_) => {
            s.healed_requests += 1;
            if result.is_ok() && s.recovered_after.is_none() {
                s.recovered_after = phase.borrow().since_heal();
            }
            if is_settled {
                if let Err(e) = result {
                    s.settled_errors.push(format!("request {i}: {e}"));
                }
                return 1;
            }
        }
    }
    0
}

fn run_seed(seed: u64) {
    // framewire's ids, nonces, jitter and table orders from the seed too.
    let _seeded = framewire::testing::seed_thread_randomness(seed);
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(120))
        .tick_duration(Duration::from_millis(u64::from(TICK_MS)))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(20))
        .build();
    sim.host("hub", hub);
    let mut drains = Vec::new();
    for name in ["a", "b"] {
        let drain = Arc::new(AtomicBool::new(false));
        drains.push((name, drain.clone()));
        sim.host(name, move || {
            let drain = drain.clone();
            async move {
                let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
                let server = readme_routes(Server::builder())
                    .history(History::default())
                    .backplane(SimBackplane::default())
                    .instance_id(name)
                    .plugins(auth())
                    .login(|hello: Hello, _info| async move {
                        if framewire::auth::crypto::ct_eq(&hello.content, TOKEN) {
                            Ok(Identity::new("sim", IdentitySource::Login))
                        } else {
                            Err(LoginRefused::new("unknown token"))
                        }
                    })
                    .limits(
                        Limits::default()
                            .drain_timeout(Duration::from_millis(500))
                            .shutdown_grace(Duration::from_millis(500)),
                    )
                    .build();
                // Served through the transport seam, as any acceptor;
                // a drain is the shutdown future.
                let drained = async {
                    loop {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        if drain.swap(false, Ordering::Relaxed) {
                            return;
                        }
                    }
                };
                server.serve(SimAcceptor(listener), drained).await?;
                // Down until the schedule restarts it.
                std::future::pending::<()>().await;
                Ok(())
            }
        });
    }
    let seen = Rc::new(RefCell::new(Seen::default()));
    let phase = Rc::new(RefCell::new(Phase::default()));
    let done = Rc::new(RefCell::new(false));
    sim.client("publisher", {
        let (seen, phase, done) = (seen.clone(), phase.clone(), done.clone());
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let c = client(["b", "a"]).connect().await?;
            let mut i = 0u32;
            while !*done.borrow() && i < 100_000 {
                let note = Message::new(MessageType::PUBLISH_URI, "pub/t", i.to_string());
                let acked = c
                    .call(note)
                    .await
                    .is_ok_and(|m| m.message_type == MessageType::OK);
                let settled = phase.borrow().since_heal().is_some_and(|h| h >= SETTLE);
                {
                    let mut s = seen.borrow_mut();
                    s.log(format!("{:?} publish {i} {acked}", now()));
                    if settled && acked {
                        s.settled_publishes.push(i);
                    }
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            c.close().await;
            Ok(())
        }
    });
    // Two members of queue group "w" on "t", one starting on each
    // instance (their links are not partitioned; the instances' crashes,
    // drains and the hub's faults still move them).
    for (member, servers) in [("m1", ["a", "b"]), ("m2", ["b", "a"])] {
        let (seen, done) = (seen.clone(), done.clone());
        sim.client(member, async move {
            let c = client(servers).connect().await?;
            let mut sub = loop {
                match c.subscribe_group("t", "w").await {
                    Ok(s) => break s,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            };
            // Until a while after the end: the last acknowledged publishes
            // are still on their way.
            let mut tail = 0;
            while tail < 5 {
                if *done.borrow() {
                    tail += 1;
                }
                let next = tokio::time::timeout(Duration::from_millis(100), sub.next()).await;
                let Ok(Some(n)) = next else { continue };
                let i: u32 = std::str::from_utf8(n.content())
                    .expect("utf-8")
                    .parse()
                    .expect("a number");
                let mut s = seen.borrow_mut();
                s.log(format!("{:?} {member} {i}", now()));
                s.group.push(i);
            }
            c.close().await;
            Ok(())
        });
    }
    sim.client("client", {
        let (seen, phase, done) = (seen.clone(), phase.clone(), done.clone());
        async move {
            let c = client(["a", "b"]).connect().await?;
            let mut sub = loop {
                match c.subscribe("t").await {
                    Ok(s) => break s,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            };
            let notes = tokio::task::spawn_local({
                let (seen, phase) = (seen.clone(), phase.clone());
                async move {
                    while let Some(n) = sub.next().await {
                        let text = std::str::from_utf8(n.content()).expect("utf-8 note");
                        let i: u32 = text.parse().expect("a number");
                        let since = phase.borrow().since_heal();
                        let mut s = seen.borrow_mut();
                        s.log(format!("{:?} note {i}", now()));
                        s.notes.push(i);
                        if s.notes_after.is_none() {
                            s.notes_after = since;
                        }
                    }
                }
            });
            let workers: Vec<_> = (0..WORKERS)
                .map(|w| {
                    let (c, seen, phase) = (c.clone(), seen.clone(), phase.clone());
                    tokio::task::spawn_local(async move {
                        let mut settled = 0u32;
                        for k in 0u32.. {
                            let i = w * 1_000_000 + k;
                            let healed = phase.borrow().since_heal();
                            let is_settled = healed.is_some_and(|h| h >= SETTLE);
                            if is_settled && settled == SETTLED_REQUESTS {
                                break;
                            }
                            if healed.is_some_and(|h| h > SETTLE * 4) {
                                // Not settling at all: the assertions say why.
                                break;
                            }
                            let body = i.to_string();
                            let started = tokio::time::Instant::now();
                            let result = c.request("echo", body.clone()).await;
                            let took = started.elapsed();
                            settled +=
                                record(&seen, &phase, i, &body, &result, took, healed, is_settled);
                            tokio::time::sleep(Duration::from_millis(40 + u64::from(w) * 7)).await;
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.await.expect("a request worker did not fail");
            }
            // Publishes acknowledged by now have reached a server; give
            // their notifications time to arrive before looking.
            tokio::time::sleep(Duration::from_millis(500)).await;
            *done.borrow_mut() = true;
            tokio::time::sleep(Duration::from_millis(100)).await;
            c.close().await;
            // The subscription ends with the client; its reader must have
            // ended cleanly (a panic in it would only have lowered counts).
            notes.await.expect("the notification reader did not fail");
            Ok(())
        }
    });

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut down: Vec<(&str, u32)> = Vec::new();
    let mut step = 0u32;
    // partition, repair, crash, drain (client links and instances);
    // backplane partition, backplane repair, hub restart; publisher
    // partition, publisher repair.
    let mut events = [0u32; 9];
    loop {
        step += 1;
        // Restart what has been down for its time.
        down.retain(|(host, until)| {
            if step >= *until {
                sim.bounce(*host);
                seen.borrow_mut()
                    .log(format!("{:?} restart {host}", sim.elapsed()));
                false
            } else {
                true
            }
        });
        if step == CHAOS {
            // The faults stop and the network heals; hosts that are down
            // come back on their schedule (at most 1.5 s).
            for host in ["a", "b"] {
                for other in ["client", "publisher", "hub"] {
                    sim.repair(other, host);
                }
            }
            phase.borrow_mut().healed = Some(sim.elapsed());
            seen.borrow_mut().log(format!("{:?} healed", sim.elapsed()));
        }
        // Steps for `ms` milliseconds.
        let ms = |ms: u32| ms / TICK_MS;
        if step > ms(200) && step < CHAOS && rng.gen_bool(0.006 * f64::from(TICK_MS)) {
            let host = if rng.gen_bool(0.5) { "a" } else { "b" };
            let kind = rng.gen_range(0..events.len());
            let is_down = |h: &str| down.iter().any(|(d, _)| *d == h);
            events[kind] += 1;
            seen.borrow_mut()
                .log(format!("{:?} fault {kind} {host}", sim.elapsed()));
            match kind {
                0 => sim.partition("client", host),
                1 => sim.repair("client", host),
                2 if !is_down(host) => {
                    sim.crash(host);
                    down.push((host, step + ms(rng.gen_range(50..500))));
                }
                3 if !is_down(host) => {
                    let flag = &drains.iter().find(|(n, _)| *n == host).unwrap().1;
                    flag.store(true, Ordering::Relaxed);
                    down.push((host, step + ms(rng.gen_range(750..1_500))));
                }
                4 => sim.partition(host, "hub"),
                5 => sim.repair(host, "hub"),
                6 if !is_down("hub") => {
                    sim.crash("hub");
                    down.push(("hub", step + ms(rng.gen_range(50..1_000))));
                }
                7 => sim.partition("publisher", host),
                8 => sim.repair("publisher", host),
                _ => {}
            }
        }
        match sim.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => panic!("seed {seed}: simulation failed: {e}"),
        }
    }
    let s = seen.borrow();
    let trace = trace_hash(&s.trace);
    let replay = format!(
        "replay: FRAMEWIRE_SIM_SEED={seed} cargo test --release --test sim_failover -- --nocapture"
    );
    if std::env::var_os("SIM_VERBOSE").is_some() || std::env::var_os("FRAMEWIRE_SIM_SEED").is_some()
    {
        eprintln!(
            "seed {seed}: {step} steps, events (partition, repair, crash, drain, \
             backplane partition, backplane repair, hub restart, publisher partition, \
             publisher repair) {events:?}, {} chaos errors, recovered after {:?}, \
             notes after {:?}, {} notes, {} settled publishes",
            s.chaos_errors,
            s.recovered_after,
            s.notes_after,
            s.notes.len(),
            s.settled_publishes.len()
        );
        println!("sim trace {seed} {trace:016x}");
    }
    if std::env::var_os("SIM_TRACE").is_some() {
        for line in &s.trace {
            eprintln!("{line}");
        }
    }
    assert!(
        s.late.is_empty(),
        "seed {seed}: past the timeout: {:?}\n{replay}",
        s.late
    );
    assert!(
        s.wrong.is_empty(),
        "seed {seed}: wrong replies: {:?}\n{replay}",
        s.wrong
    );
    let unique: HashSet<_> = s.notes.iter().collect();
    assert_eq!(
        unique.len(),
        s.notes.len(),
        "seed {seed}: a notification twice\n{replay}"
    );
    let group: HashSet<_> = s.group.iter().collect();
    assert_eq!(
        group.len(),
        s.group.len(),
        "seed {seed}: a notification to the queue group twice\n{replay}"
    );
    // Liveness: the client recovers after the heal, and once settled
    // nothing fails and nothing acknowledged is lost.
    let recovered = s.recovered_after.unwrap_or_else(|| {
        panic!(
            "seed {seed}: no request succeeded after the heal ({} tried)\n{replay}",
            s.healed_requests
        )
    });
    assert!(
        recovered <= SETTLE,
        "seed {seed}: recovered only after {recovered:?}\n{replay}"
    );
    let notes_after = s
        .notes_after
        .unwrap_or_else(|| panic!("seed {seed}: no notification arrived after the heal\n{replay}"));
    assert!(
        notes_after <= SETTLE,
        "seed {seed}: notifications resumed only after {notes_after:?}\n{replay}"
    );
    assert!(
        s.settled_errors.is_empty(),
        "seed {seed}: requests failed on a healed network: {:?}\n{replay}",
        s.settled_errors
    );
    assert!(
        s.settled_publishes.len() >= 10,
        "seed {seed}: only {} publishes once settled\n{replay}",
        s.settled_publishes.len()
    );
    let lost: Vec<_> = s
        .settled_publishes
        .iter()
        .filter(|i| !unique.contains(i))
        .collect();
    assert!(
        lost.is_empty(),
        "seed {seed}: acknowledged publishes never delivered: {lost:?}\n{replay}"
    );
    let missed: Vec<_> = s
        .settled_publishes
        .iter()
        .filter(|i| !group.contains(i))
        .collect();
    assert!(
        missed.is_empty(),
        "seed {seed}: acknowledged publishes no group member got: {missed:?}\n{replay}"
    );
}

/// FNV-1a over the trace's lines: stable across runs and platforms.
fn trace_hash(trace: &[String]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for line in trace {
        for b in line.bytes().chain([b'\n']) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn seeds(part: u64) -> Vec<u64> {
    let one = std::env::var("FRAMEWIRE_SIM_SEED").or_else(|_| std::env::var("SIM_SEED"));
    if let Ok(one) = one {
        return if part == 0 {
            vec![one.parse().unwrap()]
        } else {
            Vec::new()
        };
    }
    let n: u64 = std::env::var("SIM_SEEDS").map_or(200, |v| v.parse().unwrap());
    (0..n).filter(|s| s % 4 == part).collect()
}

#[test]
fn failover_under_partitions_restarts_and_drains_seeds_0() {
    seeds(0).into_iter().for_each(run_seed);
}

#[test]
fn failover_under_partitions_restarts_and_drains_seeds_1() {
    seeds(1).into_iter().for_each(run_seed);
}

#[test]
fn failover_under_partitions_restarts_and_drains_seeds_2() {
    seeds(2).into_iter().for_each(run_seed);
}

#[test]
fn failover_under_partitions_restarts_and_drains_seeds_3() {
    seeds(3).into_iter().for_each(run_seed);
}
