//! `framewire bench --scenario cluster`: fan-out across instances. Three
//! `framewire serve --backplane` children on a `redis-server` the bench
//! starts itself (it must be on the PATH), a publisher on the first and
//! subscribers spread over all three, beside the same fan-out on one
//! instance without a backplane (the baseline) in the same run:
//! deliveries per second and the publish-to-delivery latency each adds.
//! The instances keep topic histories (resumable subscriptions, `serve`'s
//! default); three more without (`--history 0`) show what that costs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use framewire::{Message, MessageType};
use futures_util::{SinkExt, StreamExt};

use super::load::{self, Dial};
use super::report::Row;
use super::servers::Server;
use super::Settings;

/// What one fan-out run measured.
struct Fanout {
    rate: f64,
    lost: u64,
    /// Publish-to-delivery latencies, µs (a sample of them).
    latencies: Vec<f64>,
}

/// Latency samples kept per subscriber at most.
const SAMPLES: usize = 20_000;

/// One publisher on `publisher`, `subscribers` connections spread round
/// robin over `spread`; every content starts with the nanoseconds since
/// `epoch` at which it was sent.
async fn fanout(
    publisher: Dial<'_>,
    spread: &[Dial<'_>],
    size: usize,
    budget: load::Budget,
    subscribers: usize,
) -> Result<Fanout, String> {
    let epoch = Instant::now();
    let received = Arc::new(load::Deliveries::new(subscribers));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    for i in 0..subscribers {
        let mut c = load::subscribed(spread[i % spread.len()], "bench", &None).await?;
        let (received, latencies) = (received.clone(), latencies.clone());
        readers.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(SAMPLES);
            while let Some(Ok(Ok(m))) = c.next().await {
                if m.message_type != MessageType::NOTIFY_URI || m.content().len() < 8 {
                    continue;
                }
                let n = received.record(i);
                if mine.len() < SAMPLES && n % 7 == 0 {
                    let sent = u64::from_be_bytes(m.content()[..8].try_into().unwrap_or_default());
                    let now = epoch.elapsed().as_nanos() as u64;
                    mine.push(now.saturating_sub(sent) as f64 / 1e3);
                }
                // Handed over often: the reader is aborted at the end.
                if mine.len() >= 64 {
                    latencies
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .append(&mut mine);
                }
            }
        }));
    }
    let published = load::publish(publisher, budget, &received, subscribers, |_| {
        let mut content = BytesMut::with_capacity(size.max(8));
        content.put_u64(epoch.elapsed().as_nanos() as u64);
        content.resize(size.max(8), b'n');
        Message::new(MessageType::PUBLISH_URI, "pub/bench", Bytes::from(content))
    })
    .await?;
    for r in readers {
        r.abort();
        let _ = r.await;
    }
    let (rate, lost) = published.outcome(&received);
    let latencies = std::mem::take(&mut *latencies.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(Fanout {
        rate,
        lost,
        latencies,
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Waits until a message published on `from` reaches a subscriber on
/// `to` (the instances' backplane links are up), at most 20 s.
async fn relay_ready(from: Dial<'_>, to: Dial<'_>) -> Result<(), String> {
    let mut sub = to.framed().await?;
    sub.send(Message::new(MessageType::SUBSCRIBE_URI, "ready", ""))
        .await
        .map_err(|e| e.to_string())?;
    let _ = sub.next().await;
    let mut publisher = from.framed().await?;
    for _ in 0..200 {
        publisher
            .send(Message::new(MessageType::PUBLISH_URI, "pub/ready", "?"))
            .await
            .map_err(|e| e.to_string())?;
        let _ = publisher.next().await;
        if let Ok(Some(Ok(Ok(m)))) =
            tokio::time::timeout(Duration::from_millis(100), sub.next()).await
        {
            if m.message_type == MessageType::NOTIFY_URI {
                return Ok(());
            }
        }
    }
    Err("the instances never heard each other through Redis".into())
}

pub(super) async fn run(s: &Settings, single: &Server) -> Result<Vec<Row>, String> {
    if s.auth.is_some() || s.tls.is_some() {
        return Err("--scenario cluster runs without --secret and --tls".into());
    }
    let redis = Server::redis()
        .await
        .map_err(|e| format!("--scenario cluster needs redis-server: {e}"))?;
    let url = format!("redis://{}", redis.addr);
    // A cluster key, as a real deployment has one (its HMAC is part of
    // what the cluster costs).
    let key = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    std::fs::write(key.path(), rand::random::<[u8; 32]>()).map_err(|e| e.to_string())?;
    let key_path = key.path().to_string_lossy().into_owned();
    // Two clusters on one Redis (channels of their own): with topic
    // histories, and without.
    let mut instances = Vec::new();
    let mut plain = Vec::new();
    for i in 0..6 {
        let (name, channel) = (format!("bench-{i}"), format!("bench-{}", i / 3));
        let history = if i < 3 { "256" } else { "0" };
        let extra = [
            "--backplane",
            &url,
            "--backplane-channel",
            &channel,
            "--instance-id",
            &name,
            "--backplane-secret-file",
            &key_path,
            "--history",
            history,
        ];
        let srv = Server::framewire_with(&None, None, &extra).await?;
        if i < 3 {
            instances.push(srv);
        } else {
            plain.push(srv);
        }
    }
    fn dial(srv: &Server) -> Dial<'_> {
        Dial {
            addr: &srv.addr,
            tls: None,
        }
    }
    let cluster: Vec<Dial> = instances.iter().map(dial).collect();
    let unnumbered: Vec<Dial> = plain.iter().map(dial).collect();
    for c in [&cluster, &unnumbered] {
        relay_ready(c[0], c[2]).await?;
        relay_ready(c[2], c[1]).await?;
    }
    let mut rows = Vec::new();
    for &size in &s.sizes {
        for (label, publisher, spread) in [
            ("baseline", dial(single), vec![dial(single)]),
            ("3 instances + Redis", cluster[0], cluster.clone()),
            (
                "3 instances + Redis, no history",
                unnumbered[0],
                unnumbered.clone(),
            ),
        ] {
            load::progress(&format!("cluster {size} B: {label}..."));
            let (mut rate, mut p50, mut p99, mut lost) = (vec![], vec![], vec![], 0);
            for _ in 0..s.runs.max(1) {
                let mut f = fanout(publisher, &spread, size, s.budget(), s.subscribers).await?;
                f.latencies.sort_by(f64::total_cmp);
                rate.push(f.rate);
                p50.push(percentile(&f.latencies, 0.5));
                p99.push(percentile(&f.latencies, 0.99));
                lost += f.lost;
            }
            let row = |metric, value, higher_is_better, extra: String| Row {
                scenario: "cluster",
                size,
                target: label.to_owned(),
                metric,
                value,
                higher_is_better,
                extra,
            };
            let spread_note = if spread.len() > 1 {
                "publisher on instance 1, subscribers over 3"
            } else {
                "one instance, no backplane"
            };
            rows.push(row(
                "deliveries/s",
                super::scenarios::median(rate),
                true,
                format!("{} subscribers, {spread_note}, {lost} lost", s.subscribers),
            ));
            rows.push(row(
                "p50 µs",
                super::scenarios::median(p50),
                false,
                "publish to delivery".into(),
            ));
            rows.push(row(
                "p99 µs",
                super::scenarios::median(p99),
                false,
                "publish to delivery".into(),
            ));
        }
    }
    drop(redis);
    Ok(rows)
}
