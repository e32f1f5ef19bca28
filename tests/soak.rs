//! Soak: many clients doing mixed requests and publishes for a while, with
//! chaos clients dropping sockets mid-frame and reconnecting clients being
//! cut off at random. Healthy clients lose no reply and no notification,
//! and memory stays flat.
//!
//! Bounded: 50 clients × 20 s by default; `SOAK_SECS` and `SOAK_CLIENTS`
//! change it (e.g. `SOAK_SECS=600 cargo test --release --test soak`).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use framewire::client::{Client, Reconnect};
use framewire::server::Server;
use framewire::{Message, MessageType, Profile};
use rand::Rng;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident set size of this process, in bytes. The memory assertions are
/// the point of the soak, so a system without `/proc` fails it rather than
/// skipping them.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm")
        .expect("/proc/self/statm: the soak measures memory through Linux's /proc");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm's second field is the resident page count");
    pages * 4096
}

fn first_half_peak(samples: &[u64]) -> u64 {
    assert!(samples.len() >= 4, "too few RSS samples: {samples:?}");
    samples[..samples.len() / 2].iter().copied().max().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_mixed_traffic_with_chaos() {
    let secs = env("SOAK_SECS", 20);
    let n_clients = env("SOAK_CLIENTS", 50).max(10) as usize;
    let n_chaos = n_clients / 10;
    let n_reconnecting = n_clients / 10;
    let n_healthy = n_clients - n_chaos - n_reconnecting;

    let srv = start(framewire::server::readme_routes(Server::builder()).build()).await;
    let addr = srv.addr;

    // Healthy clients subscribe before anything is published.
    let mut healthy = Vec::new();
    let received: Arc<Vec<AtomicU64>> =
        Arc::new((0..n_healthy).map(|_| AtomicU64::new(0)).collect());
    let mut readers = Vec::new();
    for i in 0..n_healthy {
        let c = Client::builder(addr.to_string())
            .reconnect(Reconnect::disabled())
            .connect()
            .await
            .unwrap();
        let mut sub = c.subscribe("soak").await.unwrap();
        let received = received.clone();
        readers.push(tokio::spawn(async move {
            while let Some(note) = sub.next().await {
                assert_eq!(note.message_type, MessageType::NOTIFY_URI);
                received[i].fetch_add(1, Ordering::Relaxed);
            }
            sub.dropped()
        }));
        healthy.push(c);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_start = rss();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    // RSS every 500 ms while the load runs, to tell warm-up (allocator
    // pools, buffers reaching their working size) from steady growth.
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        while tokio::time::Instant::now() < deadline {
            samples.push(rss());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        samples
    });
    let published = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for (i, c) in healthy.iter().enumerate() {
        let (c, published, requests) = (c.clone(), published.clone(), requests.clone());
        workers.push(tokio::spawn(async move {
            let mut seq = 0u64;
            while tokio::time::Instant::now() < deadline {
                seq += 1;
                let content = format!("{i}:{seq}");
                let r = c
                    .request("echo", content.clone())
                    .await
                    .expect("echo answered");
                assert_eq!(
                    r.content()[..],
                    *content.as_bytes(),
                    "reply to this request"
                );
                if seq % 20 == 0 {
                    let r = c
                        .call(Message::new(
                            MessageType::PUBLISH_URI,
                            "pub/soak",
                            content.clone(),
                        ))
                        .await
                        .expect("published");
                    assert_eq!(&r.content()[..], b"published");
                    published.fetch_add(1, Ordering::Relaxed);
                }
                if seq % 10 == 5 {
                    let key = format!("key/{i}/{seq}");
                    c.create(key.clone(), "v").await.expect("created");
                    assert_eq!(
                        &c.request(key.clone(), "").await.unwrap().content()[..],
                        b"v"
                    );
                    c.delete(key).await.expect("deleted");
                }
                requests.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }

    // Chaos: raw sockets that send part of a frame and vanish (FIN or RST).
    let stop = Arc::new(AtomicBool::new(false));
    for _ in 0..n_chaos {
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            let frame = Message::new(MessageType::REQUEST_URI, "echo", vec![b'x'; 300])
                .to_bytes(Profile::Netaio)
                .unwrap();
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = TcpStream::connect(addr).await else {
                    continue;
                };
                let (cut, rst, pause) = {
                    let mut rng = rand::thread_rng();
                    (
                        rng.gen_range(1..frame.len()),
                        rng.gen_bool(0.5),
                        rng.gen_range(0..20),
                    )
                };
                let _ = s.write_all(&frame[..cut]).await;
                tokio::time::sleep(Duration::from_millis(pause)).await;
                if rst {
                    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                }
                drop(s);
            }
        }));
    }

    // Reconnecting clients: the server cuts them off at random; they
    // reconnect and keep working (their in-flight requests may fail with
    // ConnectionLost, which they retry).
    let mut reconnecting = Vec::new();
    for _ in 0..n_reconnecting {
        let c = Client::builder(addr.to_string())
            .reconnect(
                Reconnect::default()
                    .initial(Duration::from_millis(10))
                    .max(Duration::from_millis(100)),
            )
            .connect()
            .await
            .unwrap();
        reconnecting.push(c.clone());
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            let mut ok = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match c.request("echo", "r").await {
                    Ok(r) => {
                        assert_eq!(&r.content()[..], b"r");
                        ok += 1;
                    }
                    Err(e) => assert!(e.is_connection_lost(), "{e}"),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert!(ok > 0, "a reconnecting client never got through");
        }));
    }
    let killer = {
        let handle = srv.handle.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut cuts = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(200)).await;
                // Healthy clients hold a subscription; cut anyone else
                // (reconnecting clients and chaos sockets).
                let victims: Vec<_> = handle
                    .connections()
                    .into_iter()
                    .filter(|c| c.subscriptions == 0)
                    .collect();
                if victims.is_empty() {
                    continue;
                }
                let pick = rand::thread_rng().gen_range(0..victims.len());
                if handle.disconnect(victims[pick].id) {
                    cuts += 1;
                }
            }
            cuts
        })
    };

    // Let the healthy workers finish their time, then stop the rest.
    let (healthy_workers, others) = workers.split_at_mut(n_healthy);
    for w in healthy_workers {
        w.await.expect("healthy worker");
    }
    stop.store(true, Ordering::Relaxed);
    for w in others {
        w.await.expect("chaos or reconnecting worker");
    }
    let cuts = killer.await.unwrap();

    // Every healthy subscriber gets every publication.
    let total = published.load(Ordering::Relaxed);
    eventually("all notifications delivered", || {
        received.iter().all(|r| r.load(Ordering::Relaxed) == total)
    })
    .await;
    let rss_end = rss();
    let samples = sampler.await.unwrap();
    for c in healthy.iter().chain(reconnecting.iter()) {
        c.close().await;
    }
    for r in readers {
        assert_eq!(
            r.await.unwrap(),
            0,
            "a subscription stream dropped notifications"
        );
    }
    let stats = srv.handle.stats();
    let peak = first_half_peak(&samples);
    eprintln!(
        "soak: {secs} s, {n_clients} clients, {} requests, {total} publishes x {n_healthy} subscribers, {cuts} cuts, stats {stats:?}, rss {rss_start} -> {rss_end} (first-half peak {peak})",
        requests.load(Ordering::Relaxed),
    );
    assert!(total > 0 && requests.load(Ordering::Relaxed) > 0);
    assert_eq!(stats.slow_consumer_disconnects, 0);
    // The chaos happened: the server cut connections throughout (one try
    // every 200 ms, and a reconnecting client is back within 100 ms), and
    // every cut client came back (each accepted connection is counted).
    assert!(cuts >= secs, "only {cuts} cuts in {secs} s");
    assert!(
        stats.accepted >= n_clients as u64 + cuts,
        "{} accepted for {n_clients} clients and {cuts} cuts",
        stats.accepted
    );
    // Flat memory: the second half of the run may not grow past the first
    // half's peak by more than 8 MiB (a leak of 100 bytes per request
    // would add ~5 MiB per 10 s here), and warm-up stays under 32 MiB.
    assert!(
        rss_end.saturating_sub(peak) < 8 << 20,
        "RSS kept growing: first-half peak {peak}, end {rss_end}"
    );
    assert!(
        rss_end.saturating_sub(rss_start) < 32 << 20,
        "RSS grew from {rss_start} to {rss_end}"
    );
    srv.stop().await;
}
