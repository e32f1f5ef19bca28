//! The Redis backplane against a real `redis-server` (started per test
//! on a Unix socket in the test's own directory): three instances exactly once and in order,
//! Redis killed and restarted mid-traffic with losses equal to the
//! counters, and two `framewire serve --backplane` processes.

#![cfg(feature = "redis")]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::*;
use common::redis::Redis;
use common::*;
use framewire::server::RedisBackplane;

const BIN: &str = env!("CARGO_BIN_EXE_framewire");

fn backplane(redis: &Redis) -> RedisBackplane {
    RedisBackplane::new(&redis.url())
        .unwrap()
        .max_backoff(Duration::from_millis(200))
}

/// A `framewire serve --backplane` child called `name`.
fn serve_instance(redis: &Redis, name: &str) -> (KillOnDrop, String) {
    redis.serve(name, &[])
}

/// A `framewire subscribe ARGS` child with its stdout piped.
fn cli_subscriber(args: &[&str]) -> KillOnDrop {
    KillOnDrop(
        Command::new(BIN)
            .arg("subscribe")
            .args(args)
            .env_remove("FRAMEWIRE_SECRET")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn subscribe"),
    )
}

/// `framewire publish ADDR TOPIC TEXT`, which must succeed.
fn cli_publish(addr: &str, topic: &str, text: &str) {
    let mut c = Command::new(BIN);
    c.args(["publish", addr, topic, text])
        .env_remove("FRAMEWIRE_SECRET");
    let (code, _, err) = exit_status(c);
    assert_eq!(code, Some(0), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (apt-get install redis-server); run with --include-ignored"]
async fn three_instances_on_one_redis_deliver_every_message_once_in_order() {
    let redis = Redis::start();
    let mut instances = Vec::new();
    for name in ["a", "b", "c"] {
        instances.push(instance(name, backplane(&redis)).await);
    }
    three_instances_exactly_once(instances, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (apt-get install redis-server); run with --include-ignored"]
async fn redis_killed_and_restarted_loses_exactly_what_is_counted() {
    let mut redis = Redis::start();
    let a = instance("a", backplane(&redis)).await;
    let b = instance("b", backplane(&redis)).await;
    all_connected(&[&a, &b]).await;
    let mut local = subscriber(&a, "t").await;
    let mut remote = subscriber(&b, "t").await;

    let mut sent = 0u32;
    let mut publish = |count: u32| {
        let batch: Vec<String> = (sent..sent + count).map(|i| format!("a:{i}")).collect();
        sent += count;
        publish_all(&a, "t", batch)
    };
    publish(50).await;
    assert_eq!(notes(&mut remote, 50).await.len(), 50);
    redis.kill();
    // Local delivery does not wait for Redis, up or down.
    eventually("the backplane notices", || {
        !a.handle.stats().backplane_connected
    })
    .await;
    publish(50).await;
    redis.restart();
    let restarted = Instant::now();
    eventually("cross-instance delivery resumes", || {
        a.handle.stats().backplane_connected && b.handle.stats().backplane_connected
    })
    .await;
    // Publish until something after the outage arrives at b, so the gap
    // is seen (bounded: 100 rounds).
    let mut remote_got = 50usize;
    let mut rounds = 0;
    while b.handle.stats().backplane_received < 51 {
        assert!(rounds < 100, "nothing relayed after the restart");
        publish(10).await;
        rounds += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("relay resumed {:?} after the restart", restarted.elapsed());
    publish(50).await;
    eventually(
        "every message either arrived at b or is counted lost",
        || {
            let s = b.handle.stats();
            s.backplane_received + s.backplane_lost == u64::from(sent)
        },
    )
    .await;

    // Local: everything, in order.
    let got_local = by_origin(&notes(&mut local, sent as usize).await);
    assert_eq!(got_local["a"], (0..sent).collect::<Vec<_>>());
    // Remote: what arrived is in order and unique, and what did not is
    // exactly b's loss counter.
    let received = b.handle.stats().backplane_received as usize;
    let got_remote = by_origin(&notes(&mut remote, received - remote_got).await);
    remote_got = received;
    let mut seen: Vec<u32> = (0..50).collect();
    seen.extend(&got_remote["a"]);
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "in order, never twice"
    );
    assert_eq!(seen.len(), remote_got);
    nothing_more(&mut remote, Duration::from_millis(200)).await;
    let (sa, sb) = (a.handle.stats(), b.handle.stats());
    assert_eq!(sb.backplane_lost, u64::from(sent) - remote_got as u64);
    assert!(
        sb.backplane_lost >= 50,
        "the outage lost the 50 sent during it"
    );
    assert!(sa.backplane_publish_failures <= sb.backplane_lost);
    assert_eq!(sb.backplane_duplicates, 0);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (apt-get install redis-server); run with --include-ignored"]
async fn three_instances_on_one_stream_deliver_every_message_once_in_order() {
    let redis = Redis::start();
    let mut instances = Vec::new();
    for name in ["a", "b", "c"] {
        instances.push(instance(name, backplane(&redis).stream(1000)).await);
    }
    three_instances_exactly_once(instances, 300).await;
}

/// With a stream, a Redis killed and restarted mid-traffic loses nothing:
/// what was published while it was down waited in the publisher's queue,
/// and the receiver read on from where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (apt-get install redis-server); run with --include-ignored"]
async fn redis_killed_and_restarted_loses_nothing_with_a_stream() {
    let mut redis = Redis::start();
    let a = instance("a", backplane(&redis).stream(10_000)).await;
    let b = instance("b", backplane(&redis).stream(10_000)).await;
    all_connected(&[&a, &b]).await;
    let mut local = subscriber(&a, "t").await;
    let mut remote = subscriber(&b, "t").await;
    let batch = |r: std::ops::Range<u32>| r.map(|i| format!("a:{i}")).collect();
    publish_all(&a, "t", batch(0..50)).await;
    assert_eq!(notes(&mut remote, 50).await.len(), 50);
    redis.kill();
    eventually("the backplane notices", || {
        !a.handle.stats().backplane_connected
    })
    .await;
    publish_all(&a, "t", batch(50..100)).await;
    redis.restart();
    publish_all(&a, "t", batch(100..150)).await;
    let got_local = by_origin(&notes(&mut local, 150).await);
    assert_eq!(got_local["a"], (0..150).collect::<Vec<_>>());
    let got_remote = by_origin(&notes(&mut remote, 100).await);
    assert_eq!(got_remote["a"], (50..150).collect::<Vec<_>>(), "none lost");
    nothing_more(&mut remote, Duration::from_millis(300)).await;
    let (sa, sb) = (a.handle.stats(), b.handle.stats());
    assert_eq!((sa.backplane_publish_failures, sb.backplane_lost), (0, 0));
    a.stop().await;
    b.stop().await;
}

#[test]
#[ignore = "needs redis-server (apt-get install redis-server); run with --include-ignored"]
fn two_serve_processes_share_publish_through_redis() {
    let redis = Redis::start();
    let (_one, addr1) = serve_instance(&redis, "one");
    let (_two, addr2) = serve_instance(&redis, "two");
    let mut sub = cli_subscriber(&[&addr2, "news", "--count", "1", "--timeout", "10"]);
    // The subscriber prints nothing until subscribed and notified: publish
    // on the other instance until it has one (bounded).
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        cli_publish(&addr1, "news", "across");
        if let Some(status) = sub.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the subscriber on instance two heard nothing"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success());
    let mut out = String::new();
    std::io::Read::read_to_string(&mut sub.0.stdout.take().unwrap(), &mut out).unwrap();
    assert_eq!(out.trim(), "across");
}

/// Issue 40's failover check from the CLI: `framewire subscribe A,B`
/// receives all 400 of a stream published on B, in order and once each,
/// though A (where it is subscribed) is SIGKILLed mid-stream: it resumes
/// on B from B's topic history (`serve --history`, on by default) and
/// drops what it had by notification id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (apt-get install redis-server); run with --include-ignored"]
async fn cli_subscriber_gets_a_whole_stream_though_its_instance_is_killed() {
    use framewire::client::Client;
    use framewire::{Message, MessageType};
    const N: usize = 400;
    let redis = Redis::start();
    let (a, addr_a) = serve_instance(&redis, "a");
    let mut a = Some(a);
    let (_b, addr_b) = serve_instance(&redis, "b");
    let publish = |i: usize| Message::new(MessageType::PUBLISH_URI, "pub/news", i.to_string());
    let mut sub = cli_subscriber(&[
        &format!("{addr_a},{addr_b}"),
        "news",
        "--count",
        "400",
        "--timeout",
        "60",
    ]);
    let lines = lines_of(sub.0.stdout.take().unwrap());
    let publisher = Client::builder(addr_b.clone()).connect().await.unwrap();
    // Until the subscriber on A hears B (the backplane is up, it is
    // subscribed): probes on another topic would not show, so the first
    // numbers of the stream are published until one arrives.
    let mut next = 0usize;
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.is_empty() {
        publisher.call(publish(next)).await.unwrap();
        next += 1;
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
            got.push(line);
        }
        assert!(
            Instant::now() < deadline,
            "nothing relayed to the subscriber on a"
        );
    }
    while next < N {
        publisher.call(publish(next)).await.unwrap();
        next += 1;
        tokio::time::sleep(Duration::from_millis(3)).await;
        while let Ok(line) = lines.try_recv() {
            got.push(line);
        }
        if next == N / 3 {
            drop(a.take()); // SIGKILL, mid-stream
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    // From the first it heard (the stream's first numbers may have gone
    // out before it was subscribed) to the last.
    let first: usize = got[0].parse().unwrap();
    while got.len() < N - first {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => got.push(line),
            Err(_) => assert!(
                Instant::now() < deadline,
                "stuck at {} of {}: {got:?}",
                got.len(),
                N - first
            ),
        }
    }
    // Nothing more (a repeat would come now).
    assert!(lines.recv_timeout(Duration::from_millis(300)).is_err());
    let want: Vec<String> = (first..N).map(|i| i.to_string()).collect();
    assert_eq!(got, want, "in order, once each, none lost");
    assert!(a.is_none());
    publisher.close().await;
}

/// Queue groups from the CLI: three `subscribe --group w` members (two on
/// A, one on B) split 300 publishes on B, none twice, none lost, each
/// getting some, while a plain subscriber on A gets all 300 in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (apt-get install redis-server); run with --include-ignored"]
async fn cli_group_members_split_a_stream_across_instances() {
    use framewire::client::Client;
    use framewire::{Message, MessageType};
    use std::collections::BTreeSet;
    const N: usize = 300;
    let redis = Redis::start();
    let (_a, addr_a) = serve_instance(&redis, "a");
    let (_b, addr_b) = serve_instance(&redis, "b");
    let mut procs = Vec::new();
    let mut lines = Vec::new();
    for (addr, group) in [
        (&addr_a, Some("w")),
        (&addr_a, Some("w")),
        (&addr_b, Some("w")),
        (&addr_a, None),
    ] {
        let mut args = vec![addr.as_str(), "jobs"];
        if let Some(g) = group {
            args.extend(["--group", g]);
        }
        let mut p = cli_subscriber(&args);
        lines.push(lines_of(p.0.stdout.take().unwrap()));
        procs.push(p);
    }
    let publisher = Client::builder(addr_b.clone()).connect().await.unwrap();
    let publish = |text: String| Message::new(MessageType::PUBLISH_URI, "pub/jobs", text);
    // Until every subscriber has heard a probe from B: subscribed, and
    // B knows A's members.
    let mut got: Vec<Vec<String>> = vec![Vec::new(); 4];
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut probe = 0;
    while got
        .iter()
        .any(|g| !g.iter().any(|l| l.starts_with("probe")))
    {
        assert!(Instant::now() < deadline, "not everyone heard B: {got:?}");
        publisher
            .call(publish(format!("probe{probe}")))
            .await
            .unwrap();
        probe += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
        for (g, l) in got.iter_mut().zip(&lines) {
            g.extend(l.try_iter());
        }
    }
    for i in 0..N {
        publisher.call(publish(i.to_string())).await.unwrap();
    }
    let real = |g: &Vec<String>| -> Vec<String> {
        g.iter()
            .filter(|l| !l.starts_with("probe"))
            .cloned()
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for (g, l) in got.iter_mut().zip(&lines) {
            g.extend(l.try_iter());
        }
        let members: usize = got[..3].iter().map(|g| real(g).len()).sum();
        if real(&got[3]).len() >= N && members >= N {
            break;
        }
        assert!(Instant::now() < deadline, "stuck: {got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing more comes (a repeat would, now).
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (g, l) in got.iter_mut().zip(&lines) {
        g.extend(l.try_iter());
    }
    let want: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    assert_eq!(real(&got[3]), want, "the plain subscriber: all, in order");
    let mut union = BTreeSet::new();
    for g in &got[..3] {
        let mine = real(g);
        assert!(!mine.is_empty(), "a member got none: {got:?}");
        for line in mine {
            assert!(union.insert(line.clone()), "{line} twice");
        }
    }
    assert_eq!(union, want.iter().cloned().collect::<BTreeSet<_>>());
    publisher.close().await;
}

/// The readme store through `serve --backplane`: what one process
/// CREATEs the other reads, and it outlives the process that wrote it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (apt-get install redis-server); run with --include-ignored"]
async fn serve_processes_share_the_key_value_store_through_redis() {
    use framewire::{Message, MessageType};
    let redis = Redis::start();
    let (a, addr_a) = serve_instance(&redis, "a");
    let (_b, addr_b) = serve_instance(&redis, "b");
    let ask =
        |t: MessageType, key: &str, value: &str| Message::new(t, key.to_owned(), value.to_owned());
    let text = |m: &Message| String::from_utf8_lossy(m.content()).into_owned();
    let mut on_a = connect(addr_a.parse().unwrap()).await;
    let mut on_b = connect(addr_b.parse().unwrap()).await;
    let stored = call(&mut on_a, ask(MessageType::CREATE_URI, "greeting", "hello")).await;
    assert_eq!(
        (stored.message_type, text(&stored)),
        (MessageType::OK, "stored".into())
    );
    let read = call(&mut on_b, ask(MessageType::REQUEST_URI, "greeting", "")).await;
    assert_eq!(
        (read.message_type, text(&read)),
        (MessageType::RESPOND_URI, "hello".into())
    );
    assert_eq!(&read.uri()[..], b"greeting");
    let again = call(&mut on_b, ask(MessageType::CREATE_URI, "greeting", "x")).await;
    assert_eq!(
        (again.message_type, text(&again)),
        (MessageType::ERROR, "cannot overwrite".into())
    );
    // A is killed (SIGKILL) and started again: the value is still there.
    drop(on_a);
    drop(a);
    let (_a2, addr_a2) = serve_instance(&redis, "a");
    let mut on_a2 = connect(addr_a2.parse().unwrap()).await;
    let read = call(&mut on_a2, ask(MessageType::REQUEST_URI, "greeting", "")).await;
    assert_eq!(text(&read), "hello");
    let deleted = call(&mut on_a2, ask(MessageType::DELETE_URI, "greeting", "")).await;
    assert_eq!(text(&deleted), "deleted");
    let gone = call(&mut on_b, ask(MessageType::REQUEST_URI, "greeting", "")).await;
    assert_eq!(gone.message_type, MessageType::NOT_FOUND);
    // Sealed with the cluster key: a value put in Redis by hand is refused.
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let () = ::redis::cmd("SET")
        .arg("framewire:{framewire}:v:forged")
        .arg("by hand")
        .query_async(&mut raw)
        .await
        .unwrap();
    let forged = call(&mut on_b, ask(MessageType::REQUEST_URI, "forged", "")).await;
    assert_eq!(
        (forged.message_type, text(&forged)),
        (
            MessageType::ERROR,
            "store value failed authentication".into()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (apt-get install redis-server); run with --include-ignored"]
async fn a_rolling_restart_loses_no_request_and_no_notification() {
    use framewire::client::{Client, Reconnect};
    use framewire::{Message, MessageType};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;

    let redis = Redis::start();
    let mut instances = Vec::new();
    for name in ["a", "b", "c"] {
        instances.push(instance(name, backplane(&redis)).await);
    }
    all_connected(&instances.iter().collect::<Vec<_>>()).await;
    // Clients dial the instances by name ("0", "1", "2"): a restarted
    // instance gets a fresh port and the board points its name there, so
    // no client is ever sent to a freed port another test may hold.
    let board = Switchboard::new();
    for (k, i) in instances.iter().enumerate() {
        board.set(&k.to_string(), i.addr);
    }
    let client = |first: usize| {
        let list: Vec<String> = (0..3).map(|k| ((first + k) % 3).to_string()).collect();
        Client::builder(list)
            .connector(board.clone())
            .reconnect(
                Reconnect::default()
                    .initial(Duration::from_millis(20))
                    .max(Duration::from_millis(200)),
            )
            .connect()
    };
    // Subscribers spread over the three; requesters too; one publisher.
    let mut subs = Vec::new();
    for k in 0..3 {
        let c = client(k).await.unwrap();
        let sub = c.subscribe("t").await.unwrap();
        subs.push((c, sub));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut load = Vec::new();
    for k in 0..3 {
        let c = client(k).await.unwrap();
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        load.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && i < 100_000 {
                let body = format!("{k}:{i}");
                match c.request("echo", body.clone()).await {
                    Ok(r) if r.content()[..] == *body.as_bytes() => {
                        ok.fetch_add(1, Ordering::Relaxed)
                    }
                    other => {
                        eprintln!("requester {k}: {other:?}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
                i += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            c.close().await;
        }));
    }
    let publisher = client(1).await.unwrap();
    let published = Arc::new(AtomicU64::new(0));
    let publishing = tokio::spawn({
        let (stop, failed, published) = (stop.clone(), failed.clone(), published.clone());
        async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && i < 100_000 {
                let note = Message::new(MessageType::PUBLISH_URI, "pub/t", i.to_string());
                match publisher.call(note).await {
                    Ok(r) if r.message_type == MessageType::OK => {}
                    other => {
                        eprintln!("publisher: {other:?}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
                published.store(i, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            publisher.close().await;
        }
    });
    // Restart each instance in turn, under its own name.
    for k in 0..3 {
        eventually("load running", || {
            published.load(Ordering::Relaxed) >= 50 * (k as u64 + 1)
        })
        .await;
        let old = instances.remove(k);
        // Off the board first: a client that dials k while it drains or
        // after its port is freed is refused, as by a closed port.
        board.unset(&k.to_string());
        tokio::time::timeout(Duration::from_secs(30), old.stop())
            .await
            .expect("the instance drained: its framewire clients left");
        let fresh = instance(&format!("{k}-restarted"), backplane(&redis)).await;
        board.set(&k.to_string(), fresh.addr);
        instances.insert(k, fresh);
        all_connected(&instances.iter().collect::<Vec<_>>()).await;
    }
    let before = published.load(Ordering::Relaxed);
    eventually("load after the restarts", || {
        published.load(Ordering::Relaxed) >= before + 50
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    publishing.await.unwrap();
    let n = published.load(Ordering::Relaxed);
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request failed");
    assert!(ok.load(Ordering::Relaxed) > 0);
    for (k, (c, mut sub)) in subs.into_iter().enumerate() {
        let mut got = Vec::with_capacity(n as usize);
        while got.len() < n as usize {
            let note = tokio::time::timeout(LIMIT, sub.next())
                .await
                .unwrap_or_else(|_| panic!("subscriber {k}: {} of {n} notes", got.len()))
                .unwrap();
            got.push(
                std::str::from_utf8(note.content())
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
            );
        }
        got.sort_unstable();
        assert_eq!(
            got,
            (0..n).collect::<Vec<_>>(),
            "subscriber {k}: each note once"
        );
        assert!(tokio::time::timeout(Duration::from_millis(200), sub.next())
            .await
            .is_err());
        c.close().await;
    }
    for i in instances {
        i.stop().await;
    }
}

#[test]
#[ignore = "needs redis-server (apt-get install redis-server); run with --include-ignored"]
fn cli_subscribe_with_two_instances_fails_over_when_one_stops() {
    let redis = Redis::start();
    let (one, addr1) = serve_instance(&redis, "one");
    let (two, addr2) = serve_instance(&redis, "two");
    let list = format!("{addr2},{addr1}");
    let mut sub = cli_subscriber(&[&list, "news", "--count", "2"]);
    let publish = |addr: &str, text: &str| cli_publish(addr, "news", text);
    // Read the subscriber's lines as they come.
    let stdout = sub.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        publish(&addr1, "before");
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            break line;
        }
        assert!(
            Instant::now() < deadline,
            "nothing relayed to the subscriber on two"
        );
    };
    assert_eq!(first, "before");
    // Instance two stops gracefully: the subscriber moves to one.
    assert!(terminate(two).success());
    let second = loop {
        publish(&addr1, "after");
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            break line;
        }
        assert!(
            Instant::now() < deadline,
            "the subscriber did not move to one"
        );
    };
    assert_eq!(second, "after");
    let status = loop {
        if let Some(s) = sub.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "subscribe did not exit after 2 notes"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    drop(one);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_is_down_at_start_delays_nothing_local() {
    // Held bound and never listening for the whole test: every attempt is
    // refused, and the backplane keeps retrying.
    let dead = DeadPort::new();
    let bp = RedisBackplane::new(&format!("redis://{}", dead.addr))
        .unwrap()
        .max_backoff(Duration::from_millis(100));
    let srv = instance("alone", bp).await;
    let mut sub = subscriber(&srv, "t").await;
    let started = Instant::now();
    publish_all(&srv, "t", (0..20).map(|i| format!("a:{i}")).collect()).await;
    assert_eq!(
        by_origin(&notes(&mut sub, 20).await)["a"],
        (0..20).collect::<Vec<_>>()
    );
    println!(
        "20 local publishes with Redis down took {:?}",
        started.elapsed()
    );
    let s = srv.handle.stats();
    assert!(!s.backplane_connected);
    // Taken into the backplane's queue (published) or refused (a failure)
    // at once; what was taken is dropped and counted while Redis is down.
    assert!(s.backplane_published <= 20);
    eventually("all counted as failures", || {
        srv.handle.stats().backplane_publish_failures == 20
    })
    .await;
    srv.stop().await;
}
