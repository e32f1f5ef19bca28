//! The client's failover, offline buffer and drain handling under
//! deterministic network simulation (turmoil, through the transport seam):
//! two server instances on an in-process backplane, a client with both in
//! its list doing requests and holding a subscription, a publisher, and a
//! seeded schedule of partitions, hard restarts and graceful drains.
//!
//! Invariants, for every seed: each request ends in its reply or a typed
//! error within its timeout; no notification is delivered twice; the
//! offline buffer never holds more than its bound. `SIM_SEEDS=N` runs more
//! seeds (default 200, in four tests that run in parallel); a failure
//! names its seed (`SIM_SEED=S` runs just that one).

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use framewire::client::{Client, Keepalive, OfflineBuffer, Reconnect};
use framewire::handler::BoxFuture;
use framewire::server::{readme_routes, Limits, MemoryBackplane, Server};
use framewire::transport::{Connector, Stream};
use framewire::{Message, MessageType};
use rand::{Rng, SeedableRng};

const PORT: u16 = 8888;
const TIMEOUT: Duration = Duration::from_millis(1000);
const BUFFER: usize = 8;
const REQUESTS: u32 = 100;

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

/// What the simulated client saw.
#[derive(Default)]
struct Seen {
    requests: u32,
    late: Vec<String>,
    wrong: Vec<String>,
    notes: Vec<u32>,
    max_buffered: usize,
    errors: u32,
}

fn client(servers: [&str; 2]) -> framewire::client::ClientBuilder {
    Client::builder(servers.map(|s| format!("{s}:{PORT}")))
        .connector(SimConnector)
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
                .jitter(0.0),
        )
        .offline_buffer(Some(
            OfflineBuffer::default()
                .max_messages(BUFFER)
                .max_age(Duration::from_millis(800)),
        ))
        .retry_first_connect(true)
}

fn run_seed(seed: u64) {
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(120))
        .tick_duration(Duration::from_millis(5))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(20))
        .build();
    let hub = MemoryBackplane::new();
    let mut drains = Vec::new();
    for name in ["a", "b"] {
        let drain = Arc::new(AtomicBool::new(false));
        drains.push((name, drain.clone()));
        let hub = hub.clone();
        sim.host(name, move || {
            let (hub, drain) = (hub.clone(), drain.clone());
            async move {
                let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
                let server = readme_routes(Server::builder())
                    .backplane(hub)
                    .instance_id(name)
                    .limits(
                        Limits::default()
                            .drain_timeout(Duration::from_millis(500))
                            .shutdown_grace(Duration::from_millis(500)),
                    )
                    .build();
                let handle = server.handle();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let (stream, peer) = accepted?;
                            handle.serve_stream(stream, peer);
                        }
                        _ = tokio::time::sleep(Duration::from_millis(10)) => {
                            if drain.swap(false, Ordering::Relaxed) {
                                handle.stop().await;
                                // Down until the schedule restarts it.
                                std::future::pending::<()>().await;
                            }
                        }
                    }
                }
            }
        });
    }
    let seen = Rc::new(RefCell::new(Seen::default()));
    let done = Rc::new(RefCell::new(false));
    sim.client("publisher", {
        let done = done.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let c = client(["b", "a"]).connect().await?;
            let mut i = 0u32;
            while !*done.borrow() && i < 10_000 {
                let note = Message::new(MessageType::PUBLISH_URI, "pub/t", i.to_string());
                let _ = c.call(note).await; // may fail; only receipt is checked
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            c.close().await;
            Ok(())
        }
    });
    sim.client("client", {
        let (seen, done) = (seen.clone(), done.clone());
        async move {
            let c = client(["a", "b"]).connect().await?;
            let mut sub = loop {
                match c.subscribe("t").await {
                    Ok(s) => break s,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            };
            let notes = tokio::task::spawn_local({
                let seen = seen.clone();
                async move {
                    while let Some(n) = sub.next().await {
                        let i = std::str::from_utf8(n.content()).unwrap().parse().unwrap();
                        seen.borrow_mut().notes.push(i);
                    }
                }
            });
            for i in 0..REQUESTS {
                let body = i.to_string();
                let started = tokio::time::Instant::now();
                let result = c.request("echo", body.clone()).await;
                let took = started.elapsed();
                {
                    let mut s = seen.borrow_mut();
                    s.requests += 1;
                    s.max_buffered = s.max_buffered.max(c.buffered());
                    if took > TIMEOUT + Duration::from_millis(50) {
                        s.late.push(format!("request {i}: {took:?} ({result:?})"));
                    }
                    match &result {
                        Ok(reply) if reply.content()[..] != *body.as_bytes() => {
                            s.wrong.push(format!("request {i}: {reply:?}"));
                        }
                        Ok(_) => {}
                        Err(_) => s.errors += 1,
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            *done.borrow_mut() = true;
            c.close().await;
            notes.abort();
            Ok(())
        }
    });

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut down: Vec<(&str, u32)> = Vec::new();
    let mut step = 0u32;
    let mut events = [0u32; 4];
    loop {
        step += 1;
        // Restart what has been down for its time.
        down.retain(|(host, until)| {
            if step >= *until {
                sim.bounce(*host);
                false
            } else {
                true
            }
        });
        if step > 40 && rng.gen_bool(0.02) {
            let host = if rng.gen_bool(0.5) { "a" } else { "b" };
            let kind = rng.gen_range(0..4);
            events[kind] += 1;
            match kind {
                0 => sim.partition("client", host),
                1 => sim.repair("client", host),
                2 if !down.iter().any(|(h, _)| *h == host) => {
                    sim.crash(host);
                    down.push((host, step + rng.gen_range(10..100)));
                }
                3 if !down.iter().any(|(h, _)| *h == host) => {
                    let flag = &drains.iter().find(|(n, _)| *n == host).unwrap().1;
                    flag.store(true, Ordering::Relaxed);
                    down.push((host, step + rng.gen_range(150..300)));
                }
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
    if std::env::var_os("SIM_VERBOSE").is_some() {
        eprintln!(
            "seed {seed}: {step} steps, events (partition, repair, crash, drain) {events:?}, \
             {} requests ({} errors), {} notes, buffer max {}",
            s.requests,
            s.errors,
            s.notes.len(),
            s.max_buffered
        );
    }
    assert_eq!(s.requests, REQUESTS, "seed {seed}");
    assert!(
        s.late.is_empty(),
        "seed {seed}: past the timeout: {:?}",
        s.late
    );
    assert!(
        s.wrong.is_empty(),
        "seed {seed}: wrong replies: {:?}",
        s.wrong
    );
    assert!(
        s.max_buffered <= BUFFER,
        "seed {seed}: buffer held {}",
        s.max_buffered
    );
    let unique: HashSet<_> = s.notes.iter().collect();
    assert_eq!(
        unique.len(),
        s.notes.len(),
        "seed {seed}: a notification twice"
    );
}

fn seeds(part: u64) -> Vec<u64> {
    if let Ok(one) = std::env::var("SIM_SEED") {
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
