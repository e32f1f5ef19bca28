//! Subscriptions bounded by bytes, not only by count (issue 35, finding
//! 5): each one keeps its topic, and netaio's uri may be 65 535 bytes, so
//! 1 024 subscriptions per connection could pin 64 MiB each. Over loopback
//! TCP with netaio SUBSCRIBE frames: long topics are refused, one
//! connection's subscriptions stop at its byte budget, and the server's
//! total stays under its own across several connections.

mod common;

use common::*;
use framewire::server::{Limits, Server};
use framewire::{Message, MessageType};

/// What one subscription to a topic of `len` bytes counts for.
fn cost(len: usize) -> usize {
    len + Limits::SUBSCRIPTION_OVERHEAD
}

/// A distinct topic of exactly `len` bytes (len ≥ 8).
fn topic(conn: usize, i: usize, len: usize) -> Vec<u8> {
    let mut t = format!("{conn:03}/{i:04}").into_bytes();
    t.resize(len, b'x');
    t
}

/// SUBSCRIBE `topic`: Ok if confirmed, else the ERROR's text.
async fn subscribe(c: &mut Conn, topic: Vec<u8>) -> Result<(), String> {
    let r = call(
        c,
        Message::new(MessageType::SUBSCRIBE_URI, topic.clone(), ""),
    )
    .await;
    match r.message_type {
        MessageType::CONFIRM_SUBSCRIBE => Ok(()),
        MessageType::ERROR => {
            // Refused with the uri, so the peer can tell which one.
            assert_eq!(r.uri()[..], topic[..]);
            Err(String::from_utf8_lossy(r.content()).into_owned())
        }
        other => panic!("unexpected reply {other:?}"),
    }
}

/// Subscribes connection `n` to up to `tries` distinct topics of `len`
/// bytes; how many were confirmed (a refusal ends it: the rest would be
/// refused too) and the refusal.
async fn fill(c: &mut Conn, n: usize, tries: usize, len: usize) -> (usize, Option<String>) {
    for i in 0..tries {
        if let Err(e) = subscribe(c, topic(n, i, len)).await {
            return (i, Some(e));
        }
    }
    (tries, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_longer_than_the_maximum_is_refused() {
    let srv = start(Server::builder().subscriptions().build()).await;
    let max = Limits::default().max_topic_len;
    assert_eq!(max, 1024);
    let mut c = connect(srv.addr).await;
    let before = srv.handle.stats();
    assert_eq!(subscribe(&mut c, topic(0, 0, max)).await, Ok(()));
    // Just over, and about the longest a netaio frame can carry.
    for len in [max + 1, 65_000] {
        let e = subscribe(&mut c, topic(0, 1, len)).await.unwrap_err();
        assert!(e.contains(&format!("topic of {len} bytes")), "{e}");
    }
    let stats = srv.handle.stats().since(&before);
    assert_eq!(stats.subscriptions_refused, 2);
    assert_eq!(stats.topics, 1, "nothing kept of the refused ones");
    assert_eq!(stats.subscription_bytes, cost(max));
    srv.stop().await;
}

/// One connection subscribing to the longest topics allowed stops at its
/// byte budget (default 256 KiB), long before its count cap (1 024).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_stops_at_its_byte_budget() {
    let srv = start(Server::builder().subscriptions().build()).await;
    let limits = Limits::default();
    let (len, budget) = (
        limits.max_topic_len,
        limits.max_subscription_bytes_per_connection,
    );
    let fits = budget / cost(len);
    assert!(fits < limits.max_subscriptions_per_connection);
    let mut c = connect(srv.addr).await;
    let (confirmed, refusal) = fill(&mut c, 0, fits + 10, len).await;
    assert_eq!(confirmed, fits);
    let refusal = refusal.expect("refused past the budget");
    assert!(
        refusal.contains(&format!("maximum of {budget} bytes")),
        "{refusal}"
    );
    // A short topic still fits in what is left.
    assert_eq!(subscribe(&mut c, topic(0, 9999, 16)).await, Ok(()));
    let stats = srv.handle.stats();
    assert!(stats.subscription_bytes <= budget);
    assert_eq!(stats.subscriptions_refused, 1);
    // The same topics from a second connection are fine: the budget is
    // per connection (the server's is far away).
    let mut d = connect(srv.addr).await;
    assert_eq!(fill(&mut d, 0, fits, len).await, (fits, None));
    drop((c, d));
    eventually("bytes released", || {
        srv.handle.stats().subscription_bytes == 0
    })
    .await;
    srv.stop().await;
}

/// Several connections together stop at the server's byte budget; every
/// later subscription, from any connection, is refused until one leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_total_stays_bounded_across_connections() {
    let len = 1024;
    let total = 100 * cost(len);
    let limits = Limits::default().max_subscription_bytes(total);
    let srv = start(Server::builder().subscriptions().limits(limits).build()).await;
    let mut conns = Vec::new();
    let mut confirmed = 0;
    for n in 0..6 {
        let mut c = connect(srv.addr).await;
        let (ok, refusal) = fill(&mut c, n, 40, len).await;
        confirmed += ok;
        if let Some(e) = refusal {
            assert!(e.contains(&format!("its maximum of {total} bytes")), "{e}");
        }
        conns.push(c);
    }
    assert_eq!(confirmed, 100, "6 × 40 asked, 100 fit");
    let stats = srv.handle.stats();
    assert_eq!(stats.subscription_bytes, total);
    assert_eq!(
        stats.subscriptions_refused,
        6 - 2,
        "one refusal per connection past the 100th"
    );
    // A newcomer's short topic is refused too...
    let mut late = connect(srv.addr).await;
    let e = subscribe(&mut late, topic(9, 0, 16)).await.unwrap_err();
    assert!(e.contains("server's subscriptions"), "{e}");
    // ...until a subscriber leaves and gives its bytes back.
    drop(conns.remove(0));
    eventually("bytes released", || {
        srv.handle.stats().subscription_bytes == 60 * cost(len)
    })
    .await;
    assert_eq!(subscribe(&mut late, topic(9, 0, 16)).await, Ok(()));
    srv.stop().await;
}
