//! Chaos with a real Redis and three `framewire serve --backplane`
//! processes (a stream backplane, topic histories, the Redis store):
//! instances SIGKILLed and restarted in turn and Redis killed and
//! restarted while a stream is published, clients failing over.
//!
//! - Resumable subscribers get every notification, in order, once each.
//! - Queue-group members never get one twice; their union is everything
//!   published except what was assigned to an instance in the moments
//!   after it was killed (until the others forget it: README's "Queue
//!   groups"), which the test bounds by time.
//! - The key-value store: every CREATE that was answered (or found done
//!   when retried) reads back, from every instance alive at the end.

#![cfg(all(feature = "redis", feature = "cli"))]

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::redis::Redis;
use framewire::client::{Client, Reconnect, Subscription};
use framewire::{Message, MessageType};

/// Notifications published (4 ms apart: about 6 s, so what a kill may
/// cost the group is a small part of it).
const N: usize = 1500;
/// Keys created.
const KEYS: usize = 60;
/// How long after an instance is killed the others may still assign it a
/// queue group's turn: they forget it 1 s after its last announcement
/// (made every 250 ms), plus what was in flight to it.
const FORGET: Duration = Duration::from_millis(1500);

async fn client(servers: &[&String]) -> Client {
    let servers: Vec<String> = servers.iter().map(|s| s.to_string()).collect();
    Client::builder(servers)
        .reconnect(
            Reconnect::default()
                .initial(Duration::from_millis(20))
                .max(Duration::from_millis(200)),
        )
        .connect()
        .await
        .expect("connect")
}

/// Collects a subscription's contents as they come.
fn collect(mut sub: Subscription) -> (Arc<Mutex<Vec<String>>>, tokio::task::JoinHandle<()>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let into = got.clone();
    let task = tokio::spawn(async move {
        while let Some(m) = sub.next().await {
            let text = String::from_utf8_lossy(m.content()).into_owned();
            into.lock().unwrap().push(text);
        }
    });
    (got, task)
}

/// Creates `key`, retrying through failovers and outages (bounded): true
/// once it is stored (an "exists" on a retry means an earlier try was).
async fn create(c: &Client, key: &str, value: &str) -> bool {
    for attempt in 0..60 {
        let ask = Message::new(MessageType::CREATE_URI, key.to_owned(), value.to_owned());
        match c.call(ask).await {
            Ok(_) => return true,
            Err(e) if attempt > 0 && e.to_string().contains("exists") => return true,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (apt-get install redis-server); run with --include-ignored"]
async fn kills_and_a_redis_restart_lose_nothing_resumable_and_keep_the_store() {
    let mut redis = Redis::start_persistent();
    let mut a = Some(redis.serve("a", &[]));
    let mut b = Some(redis.serve("b", &[]));
    let (_c, addr_c) = redis.serve("c", &[]);
    let addr_a = a.as_ref().unwrap().1.clone();
    let addr_b = b.as_ref().unwrap().1.clone();
    // C publishes and is never killed: a publish whose fate is unknown
    // would have to be sent again (and could then arrive twice).
    let publisher = client(&[&addr_c]).await;
    let resumable = [
        client(&[&addr_a, &addr_b, &addr_c]).await,
        client(&[&addr_b, &addr_c, &addr_a]).await,
    ];
    let members = [
        client(&[&addr_a, &addr_b, &addr_c]).await,
        client(&[&addr_b, &addr_c, &addr_a]).await,
        client(&[&addr_c, &addr_a, &addr_b]).await,
    ];
    let mut streams = Vec::new();
    for c in &resumable {
        streams.push(collect(c.subscribe("chaos").await.unwrap()));
    }
    let mut groups = Vec::new();
    for c in &members {
        groups.push(collect(c.subscribe_group("chaos", "w").await.unwrap()));
    }
    let publish = |text: String| Message::new(MessageType::PUBLISH_URI, "pub/chaos", text);
    // Until everyone has heard a probe from C (subscribed; C knows every
    // member).
    let deadline = Instant::now() + Duration::from_secs(20);
    let heard = |g: &Arc<Mutex<Vec<String>>>| g.lock().unwrap().iter().any(|l| l.starts_with('p'));
    let mut probe = 0;
    while !streams.iter().chain(&groups).all(|(g, _)| heard(g)) {
        assert!(Instant::now() < deadline, "not everyone heard C");
        publisher.call(publish(format!("p{probe}"))).await.unwrap();
        probe += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The store, written through failovers and the outage.
    let writer = client(&[&addr_a, &addr_b, &addr_c]).await;
    let keys = tokio::spawn(async move {
        let mut stored = Vec::new();
        for k in 0..KEYS {
            let (key, value) = (format!("k{k}"), format!("v{k}"));
            if create(&writer, &key, &value).await {
                stored.push((key, value));
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        writer.close().await;
        stored
    });
    // The stream, with the chaos at fixed points; when each was sent.
    let started = Instant::now();
    let mut sent_at = Vec::with_capacity(N);
    let mut kills = Vec::new();
    for i in 0..N {
        match i {
            300 => {
                drop(a.take()); // SIGKILL
                kills.push(started.elapsed());
            }
            400 => a = Some(redis.serve("a", &[])), // back, on a new port
            700 => redis.kill(),
            760 => redis.restart(),
            1100 => {
                drop(b.take());
                kills.push(started.elapsed());
            }
            1200 => b = Some(redis.serve("b", &[])),
            _ => {}
        }
        sent_at.push(started.elapsed());
        publisher.call(publish(i.to_string())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    let want: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    let real = |g: &Arc<Mutex<Vec<String>>>| -> Vec<String> {
        let got = g.lock().unwrap();
        got.iter()
            .filter(|l| !l.starts_with('p'))
            .cloned()
            .collect()
    };
    // Resumable subscribers: all of it, in order, once each.
    let deadline = Instant::now() + Duration::from_secs(60);
    for (g, _) in &streams {
        while real(g).len() < N {
            assert!(
                Instant::now() < deadline,
                "a resumable subscriber is stuck at {} of {N}: {:?}",
                real(g).len(),
                real(g)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // repeats would show
    for (g, _) in &streams {
        assert_eq!(real(g), want, "in order, once each, none lost");
    }
    // Group members: never twice; what none got was assigned to a killed
    // instance just after its death.
    let mut union = BTreeSet::new();
    for (g, _) in &groups {
        for line in real(g) {
            assert!(union.insert(line.parse::<usize>().unwrap()), "{line} twice");
        }
    }
    let lost: Vec<usize> = (0..N).filter(|i| !union.contains(i)).collect();
    for &i in &lost {
        let after_a_kill = kills
            .iter()
            .any(|k| sent_at[i] >= *k && sent_at[i] <= *k + FORGET);
        assert!(
            after_a_kill,
            "{i} (sent at {:?}) lost to the group, not after a kill ({kills:?})",
            sent_at[i]
        );
    }
    println!(
        "queue group: {} of {N} delivered; lost {lost:?}; kills at {kills:?}, run {:?}",
        union.len(),
        started.elapsed()
    );
    // The store: everything stored reads back from every live instance.
    let stored = keys.await.unwrap();
    assert_eq!(stored.len(), KEYS, "every CREATE went through in the end");
    let restarted =
        |i: &Option<(common::process::KillOnDrop, String)>| i.as_ref().unwrap().1.clone();
    let (addr_a2, addr_b2) = (restarted(&a), restarted(&b));
    for addr in [&addr_c, &addr_a2, &addr_b2] {
        let reader = client(&[addr]).await;
        for (key, value) in &stored {
            let read = reader
                .call(Message::new(MessageType::REQUEST_URI, key.clone(), ""))
                .await
                .unwrap_or_else(|e| panic!("{key} on {addr}: {e}"));
            assert_eq!(
                &String::from_utf8_lossy(read.content()),
                value,
                "{key} on {addr}"
            );
        }
        reader.close().await;
    }
    for c in resumable.iter().chain(&members) {
        c.close().await;
    }
    publisher.close().await;
}
