//! Spoofed subscriptions and announcements against a UDP node (issue 35,
//! findings 4 and 7), over real sockets on loopback. Each socket on its own
//! 127.0.0.n stands for an address a spoofer named: it subscribes (or
//! announces itself) and never completes any verification. What each one
//! receives is measured: an unverified address must never be sent more
//! bytes than it sent. The guard is exercised with `trust_loopback(false)`.

mod common;

use std::time::Duration;

use common::eventually;
use common::udp::{ask, recv_raw, socket_on};
use framewire::node::{readme_routes, Node, NodeHandle, NodeLimits};
use framewire::peer::LocalPeer;
use framewire::{Message, MessageType, Profile};
use tokio::net::UdpSocket;

fn guarded() -> NodeLimits {
    NodeLimits::default().trust_loopback(false)
}

async fn node(limits: NodeLimits) -> NodeHandle {
    readme_routes(Node::builder().limits(limits))
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// Sends `msg` from `s`; the bytes sent.
async fn send_counted(s: &UdpSocket, msg: &Message, to: std::net::SocketAddr) -> usize {
    let frame = msg.to_bytes(Profile::Netaio).unwrap();
    s.send_to(&frame, to).await.unwrap();
    frame.len()
}

/// Every byte `s` receives until it has been quiet for 200 ms (at most
/// 100 datagrams), and the datagrams' count.
async fn drain(s: &UdpSocket) -> (usize, usize) {
    let (mut bytes, mut n) = (0, 0);
    for _ in 0..100 {
        match recv_raw(s, Duration::from_millis(200)).await {
            Some(d) => {
                bytes += d.len();
                n += 1;
            }
            None => break,
        }
    }
    (bytes, n)
}

/// [`drain`] of every socket at once, each with what it sent.
async fn drain_all(socks: &[(UdpSocket, usize)]) -> Vec<(usize, usize, usize)> {
    futures::future::join_all(socks.iter().map(|(s, sent)| async move {
        let (got, n) = drain(s).await;
        (got, n, *sent)
    }))
    .await
}

fn subscribe(topic: &str, padding: usize) -> Message {
    Message::new(
        MessageType::SUBSCRIBE_URI,
        topic.to_owned(),
        vec![0u8; padding],
    )
}

/// Publishes `content` on `topic` from a socket of its own, and waits for
/// the OK (sent after every notification went out).
async fn publish(node: &NodeHandle, topic: &str, content: Vec<u8>) {
    let publisher = socket_on(200).await;
    let msg = Message::new(MessageType::PUBLISH_URI, format!("pub/{topic}"), content);
    let ok = ask(&publisher, &msg, node.local_addr()).await;
    assert_eq!(ok.message_type, MessageType::OK, "{ok:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_subscribers_are_never_sent_more_than_they_sent() {
    let node = node(guarded()).await;
    let mut subs = Vec::new();
    for n in 10..60u8 {
        let s = socket_on(n).await;
        let sent = send_counted(&s, &subscribe("news", 0), node.local_addr()).await;
        subs.push((s, sent));
    }
    eventually("50 subscribers", || node.subscribers(b"news").len() == 50).await;
    // One large publish: ×182 the attacker's bytes before the fix.
    publish(&node, "news", vec![b'x'; 30_000]).await;
    for (got, _, sent) in drain_all(&subs).await {
        assert!(
            got <= sent,
            "a subscriber was sent {got} bytes for its {sent}"
        );
    }
    let stats = node.stats();
    assert!(stats.amplification_dropped >= 50, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_spend_what_they_sent_and_one_publish_is_capped() {
    // Each notification is just over 5 000 bytes: four fit the cap.
    let node = node(guarded().max_unverified_fanout(21_000)).await;
    let mut subs = Vec::new();
    for n in 10..20u8 {
        let s = socket_on(n).await;
        // Padding earns the room for a notification (the route ignores
        // a SUBSCRIBE's content).
        let sent = send_counted(&s, &subscribe("big", 10_000), node.local_addr()).await;
        subs.push((s, sent));
    }
    eventually("10 subscribers", || node.subscribers(b"big").len() == 10).await;
    publish(&node, "big", vec![b'x'; 5_000]).await;
    let mut notified = 0;
    for (got, n, sent) in drain_all(&subs).await {
        assert!(got <= sent, "sent {got} bytes for {sent}");
        // The confirmation, and the notification for some.
        notified += usize::from(n == 2);
    }
    assert_eq!(notified, 4, "as many as the cap holds");
    assert_eq!(node.stats().fanout_capped, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_learned_from_spoofed_announcements_are_never_sent_more_than_they_sent() {
    let node = readme_routes(Node::builder().peers(LocalPeer::random()))
        .limits(guarded())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut fakes = Vec::new();
    for n in 10..15u8 {
        let s = socket_on(n).await;
        let me = LocalPeer::new(vec![n], b"x".to_vec());
        let sent = send_counted(
            &s,
            &me.message(MessageType::ADVERTISE_PEER),
            node.local_addr(),
        )
        .await;
        fakes.push((s, sent));
    }
    eventually("5 peers", || node.peers().len() == 5).await;
    let note = Message::new(MessageType::NOTIFY_URI, "broadcast", vec![b'x'; 10_000]);
    node.broadcast(note).await.unwrap();
    let mut received = Vec::new();
    for (got, _, sent) in drain_all(&fakes).await {
        assert!(got <= sent, "sent {got} bytes for {sent}");
        received.push(got);
    }
    // The farewell DISCONNECT to every known peer spends the same credit:
    // a forged peer that already got its PEER_DISCOVERED gets no more.
    node.stop().await;
    for ((got, _, sent), before) in drain_all(&fakes).await.into_iter().zip(received) {
        assert!(
            before + got <= sent,
            "sent {} bytes for {sent}",
            before + got
        );
    }
}

#[tokio::test]
async fn one_source_past_its_cap_does_not_refuse_another_address() {
    let limits = NodeLimits::default()
        .max_subscriptions(20)
        .max_source_subscriptions(8);
    let node = node(limits).await;
    let flooder = socket_on(1).await;
    let mut confirmed = 0;
    for i in 0..30 {
        let reply = ask(&flooder, &subscribe(&format!("t{i}"), 0), node.local_addr()).await;
        confirmed += usize::from(reply.message_type == MessageType::CONFIRM_SUBSCRIBE);
    }
    assert_eq!(confirmed, 8, "the source's cap");
    let other = socket_on(2).await;
    let reply = ask(&other, &subscribe("news", 0), node.local_addr()).await;
    assert_eq!(
        reply.message_type,
        MessageType::CONFIRM_SUBSCRIBE,
        "{reply:?}"
    );
    assert_eq!(node.subscribers(b"news").len(), 1);
}

#[tokio::test]
async fn subscriptions_a_datagram_made_expire_and_free_their_room() {
    // Renewal and the peers' rule are tested with a plain clock in
    // `node::subscriptions`; here the expiry runs on the node's clock.
    let ttl = Duration::from_millis(300);
    let limits = NodeLimits::default()
        .subscription_ttl(ttl)
        .max_subscriptions(1);
    let node = node(limits).await;
    let (a, b) = (socket_on(1).await, socket_on(2).await);
    let to = node.local_addr();
    let started = std::time::Instant::now();
    let ok = ask(&a, &subscribe("news", 0), to).await;
    assert_eq!(ok.message_type, MessageType::CONFIRM_SUBSCRIBE);
    let full = ask(&b, &subscribe("news", 0), to).await;
    assert_eq!(full.message_type, MessageType::ERROR, "the table is full");
    eventually("a's subscription expired", || {
        node.subscribers(b"news").is_empty()
    })
    .await;
    assert!(started.elapsed() >= ttl, "not before its time");
    // Its room is free again.
    let ok = ask(&b, &subscribe("news", 0), to).await;
    assert_eq!(ok.message_type, MessageType::CONFIRM_SUBSCRIBE);
    assert_eq!(node.subscribers(b"news"), vec![b.local_addr().unwrap()]);
}

#[tokio::test]
async fn a_peers_subscriptions_last_as_long_as_the_peer() {
    let ttl = Duration::from_millis(200);
    let node = readme_routes(
        Node::builder()
            .peers(LocalPeer::random())
            .limits(NodeLimits::default().subscription_ttl(ttl)),
    )
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let to = node.local_addr();
    let (peer, stranger) = (socket_on(1).await, socket_on(2).await);
    // `peer` announces itself (and is answered PEER_DISCOVERED).
    let hello = LocalPeer::random().message(MessageType::ADVERTISE_PEER);
    let discovered = ask(&peer, &hello, to).await;
    assert_eq!(discovered.message_type, MessageType::PEER_DISCOVERED);
    for s in [&peer, &stranger] {
        let ok = ask(s, &subscribe("news", 0), to).await;
        assert_eq!(ok.message_type, MessageType::CONFIRM_SUBSCRIBE);
    }
    let started = std::time::Instant::now();
    eventually("the stranger's subscription expired", || {
        node.subscribers(b"news").len() == 1
    })
    .await;
    tokio::time::sleep(ttl.saturating_sub(started.elapsed()) + ttl).await;
    assert_eq!(
        node.subscribers(b"news"),
        vec![peer.local_addr().unwrap()],
        "the peer's stays, past two ttls"
    );
    node.stop().await;
}

/// The fan-out cap holds exactly `max_unverified_fanout` bytes: a cap of
/// two notifications sends two and skips the third, one byte less sends
/// one (cargo-mutants: `total > cap` → `>=` in `fan_out`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fanout_cap_holds_exactly_its_bytes() {
    let note = || Message::new(MessageType::NOTIFY_URI, "t", vec![b'x'; 100]);
    let one = note().to_bytes(Profile::Netaio).unwrap().len();
    for (cap, sent) in [(2 * one, 2), (2 * one - 1, 1)] {
        let node = node(guarded().max_unverified_fanout(cap)).await;
        let mut subs = Vec::new();
        for n in 10..13u8 {
            let s = socket_on(n).await;
            // The padding earns room for the notification.
            let ok = ask(&s, &subscribe("t", 1_000), node.local_addr()).await;
            assert_eq!(ok.message_type, MessageType::CONFIRM_SUBSCRIBE);
            subs.push(s);
        }
        assert_eq!(node.notify(b"t", note()).await.unwrap(), sent, "cap {cap}");
        assert_eq!(node.stats().fanout_capped, 3 - sent as u64, "cap {cap}");
        let mut got = 0;
        for s in &subs {
            if let Some(d) = recv_raw(s, Duration::from_millis(200)).await {
                assert_eq!(d.len(), one);
                got += 1;
            }
        }
        assert_eq!(got, sent, "cap {cap}");
        node.stop().await;
    }
}
