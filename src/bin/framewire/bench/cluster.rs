//! `framewire bench --scenario cluster`: fan-out across instances. Three
//! `framewire serve --backplane` children on a `redis-server` the bench
//! starts itself (it must be on the PATH), a publisher on the first and
//! subscribers spread over all three, beside the same fan-out on one
//! instance without a backplane (the baseline) in the same run:
//! deliveries per second and the publish-to-delivery latency each adds.
//! The instances keep topic histories (resumable subscriptions, `serve`'s
//! default) and relay through a Redis stream (`serve`'s default); three
//! more without histories (`--history 0`) and three over pub/sub
//! (`--backplane-stream 0`) show what each costs. Grouped rows: the same
//! subscribers as one queue group (each message to one member), on one
//! instance and across the cluster; their deliveries are messages.

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

/// A connection to `to` in queue group `group` of topic "bench".
async fn member(
    to: Dial<'_>,
    group: &str,
) -> Result<tokio_util::codec::Framed<framewire::transport::Stream, framewire::FrameCodec>, String>
{
    let mut c = to.framed().await?;
    let mut subscribe = Message::new(MessageType::SUBSCRIBE_URI, "bench", "");
    subscribe.auth.insert(
        framewire::protocol::GROUP_FIELD,
        Bytes::copy_from_slice(group.as_bytes()),
    );
    c.send(subscribe).await.map_err(|e| e.to_string())?;
    match c.next().await {
        Some(Ok(Ok(m))) if m.message_type == MessageType::CONFIRM_SUBSCRIBE => Ok(c),
        other => Err(format!("group subscribe not confirmed: {other:?}")),
    }
}

/// One publisher on `publisher`, `subscribers` connections spread round
/// robin over `spread` (all in one queue group if `grouped`: then the
/// group counts as one subscriber); every content starts with the
/// nanoseconds since `epoch` at which it was sent.
async fn fanout(
    publisher: Dial<'_>,
    spread: &[Dial<'_>],
    size: usize,
    budget: load::Budget,
    subscribers: usize,
    grouped: bool,
) -> Result<Fanout, String> {
    let epoch = Instant::now();
    let slots = if grouped { 1 } else { subscribers };
    let received = Arc::new(load::Deliveries::new(slots));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    for i in 0..subscribers {
        let to = spread[i % spread.len()];
        let mut c = match grouped {
            true => member(to, "bench").await?,
            false => load::subscribed(to, "bench", &None).await?,
        };
        let slot = if grouped { 0 } else { i };
        let (received, latencies) = (received.clone(), latencies.clone());
        readers.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(SAMPLES);
            while let Some(Ok(Ok(m))) = c.next().await {
                if m.message_type != MessageType::NOTIFY_URI || m.content().len() < 8 {
                    continue;
                }
                let n = received.record(slot);
                if mine.len() < SAMPLES && n % 7 == 0 {
                    let sent = u64::from_be_bytes(m.content()[..8].try_into().unwrap_or_default());
                    let now = epoch.elapsed().as_nanos() as u64;
                    mine.push(now.saturating_sub(sent) as f64 / 1e3);
                }
                // Handed over often: the reader is aborted at the end (a
                // group member sees few: each one at once).
                if mine.len() >= 64 || slot == 0 && grouped {
                    latencies
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .append(&mut mine);
                }
            }
        }));
    }
    let published = load::publish(publisher, budget, &received, slots, |_| {
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
    // Three clusters on one Redis (channels of their own): serve's
    // defaults (histories, a stream), without histories, over pub/sub.
    let mut clusters: Vec<Vec<Server>> = vec![Vec::new(), Vec::new(), Vec::new()];
    for i in 0..9 {
        let (name, channel) = (format!("bench-{i}"), format!("bench-{}", i / 3));
        let history = if i / 3 == 1 { "0" } else { "256" };
        let stream = if i / 3 == 2 { "0" } else { "10000" };
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
            "--backplane-stream",
            stream,
        ];
        let srv = Server::framewire_with(&None, None, &extra).await?;
        clusters[i / 3].push(srv);
    }
    fn dial(srv: &Server) -> Dial<'_> {
        Dial {
            addr: &srv.addr,
            tls: None,
        }
    }
    let [cluster, unnumbered, pubsub] =
        [0, 1, 2].map(|c| clusters[c].iter().map(dial).collect::<Vec<Dial>>());
    for c in [&cluster, &unnumbered, &pubsub] {
        relay_ready(c[0], c[2]).await?;
        relay_ready(c[2], c[1]).await?;
    }
    let mut rows = Vec::new();
    for &size in &s.sizes {
        for (label, publisher, spread, grouped) in [
            ("baseline", dial(single), vec![dial(single)], false),
            ("3 instances + Redis", cluster[0], cluster.clone(), false),
            (
                "3 instances + Redis, no history",
                unnumbered[0],
                unnumbered.clone(),
                false,
            ),
            (
                "3 instances + Redis pub/sub",
                pubsub[0],
                pubsub.clone(),
                false,
            ),
            // Scenario "cluster group": its own baseline, one instance.
            ("baseline", dial(single), vec![dial(single)], true),
            ("3 instances + Redis", cluster[0], cluster.clone(), true),
        ] {
            let kind = if grouped {
                "one queue group"
            } else {
                "subscribers"
            };
            load::progress(&format!("cluster {size} B: {label}, {kind}..."));
            let (mut rate, mut p50, mut p99, mut lost) = (vec![], vec![], vec![], 0);
            for _ in 0..s.runs.max(1) {
                let mut f =
                    fanout(publisher, &spread, size, s.budget(), s.subscribers, grouped).await?;
                f.latencies.sort_by(f64::total_cmp);
                rate.push(f.rate);
                p50.push(percentile(&f.latencies, 0.5));
                p99.push(percentile(&f.latencies, 0.99));
                lost += f.lost;
            }
            let row = |metric, value, higher_is_better, extra: String| Row {
                scenario: if grouped { "cluster group" } else { "cluster" },
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
            let who = match grouped {
                true => "members of one group (deliveries: messages)",
                false => "subscribers",
            };
            rows.push(row(
                "deliveries/s",
                super::scenarios::median(rate),
                true,
                format!("{} {who}, {spread_note}, {lost} lost", s.subscribers),
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
