//! Hostile datagrams against a UDP node: garbage, truncated, oversized,
//! trailing bytes, damaged checksums, spoofed-source floods (many sources
//! on 127/8), amplification attempts, peer-table floods and handler
//! floods, each with a bystander that must keep getting its answers.
//! The guard is exercised with `trust_loopback(false)`: loopback sources
//! are trusted by default.

mod common;

use std::time::Duration;

use common::udp::{ask, recv_msg, recv_raw, send_msg, socket_on};
use framewire::node::{readme_routes, Node, NodeHandle, NodeLimits, Origin};
use framewire::peer::LocalPeer;
use framewire::{Message, MessageType, NetaioHmac, PluginLayer, Profile};
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

/// A bystander on its own loopback address: its echo still works.
async fn bystander_works(node: &NodeHandle) {
    let me = socket_on(250).await;
    let reply = ask(
        &me,
        &Message::new(MessageType::REQUEST_URI, "echo", "still here"),
        node.local_addr(),
    )
    .await;
    assert_eq!(&reply.content()[..], b"still here");
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn send_raw(s: &UdpSocket, bytes: &[u8], node: &NodeHandle) {
    s.send_to(bytes, node.local_addr()).await.unwrap();
}

#[tokio::test]
async fn bad_datagrams_are_dropped_counted_and_never_answered() {
    let node = node(guarded().max_datagram(2000)).await;
    let s = socket_on(1).await;
    let good = Message::new(MessageType::REQUEST_URI, "echo", "x")
        .to_bytes(Profile::Netaio)
        .unwrap();
    send_raw(&s, b"", &node).await;
    send_raw(&s, b"\x00\x01", &node).await; // shorter than a header
    send_raw(&s, &good[..good.len() - 1], &node).await; // truncated
    let mut trailing = good.to_vec();
    trailing.push(0);
    send_raw(&s, &trailing, &node).await;
    send_raw(&s, &[0xffu8; 64], &node).await; // unknown type, absurd lengths
    send_raw(&s, &vec![0u8; 3000], &node).await; // oversized
                                                 // body_length 1: shorter than the uri length prefix.
    send_raw(&s, &[0, 0, 0, 0, 1, 0, 0, 0, 0, 0], &node).await;
    // Type 14: not one netaio assigns.
    send_raw(&s, &[14, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0], &node).await;
    eventually("eight datagrams seen", || node.stats().datagrams_in == 8).await;
    let stats = node.stats();
    assert_eq!(stats.oversized, 1, "{stats:?}");
    // Empty, short of a header, cut short, lengths past the end.
    assert_eq!(stats.truncated, 4, "{stats:?}");
    assert_eq!(stats.malformed, 3, "{stats:?}");
    assert_eq!(stats.datagrams_out, 0);
    assert!(recv_raw(&s, Duration::from_millis(100)).await.is_none());
    bystander_works(&node).await;
}

#[tokio::test]
async fn a_damaged_checksum_is_answered_invalid_message_as_netaio_does() {
    let node = node(guarded()).await;
    let s = socket_on(1).await;
    let mut frame = Message::new(MessageType::REQUEST_URI, "echo", "some content here")
        .to_bytes(Profile::Netaio)
        .unwrap()
        .to_vec();
    let last = frame.len() - 1;
    frame[last] ^= 1;
    send_raw(&s, &frame, &node).await;
    let reply = recv_msg(&s, Duration::from_secs(2))
        .await
        .expect("an answer");
    assert_eq!(
        (reply.message_type, &reply.content()[..]),
        (MessageType::ERROR, &b"invalid message"[..])
    );
    assert_eq!(node.stats().checksum_errors, 1);
    // A damaged datagram smaller than the answer gets none.
    let mut tiny = Message::new(MessageType::OK, "", "")
        .to_bytes(Profile::Netaio)
        .unwrap()
        .to_vec();
    tiny[5] ^= 1;
    send_raw(&s, &tiny, &node).await;
    eventually("the second counted", || node.stats().checksum_errors == 2).await;
    assert!(recv_raw(&s, Duration::from_millis(100)).await.is_none());
    assert_eq!(node.stats().amplification_dropped, 1);
}

fn big_reply_node() -> framewire::node::NodeBuilder {
    Node::builder().on(
        (MessageType::REQUEST_URI, "big"),
        |_m: Message, _o: Origin| async { Message::respond("big", vec![7u8; 1000]) },
    )
}

#[tokio::test]
async fn no_reply_to_an_unverified_source_is_larger_than_its_request() {
    let node = big_reply_node()
        .limits(guarded())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let s = socket_on(1).await;
    send_msg(
        &s,
        &Message::new(MessageType::REQUEST_URI, "big", ""),
        node.local_addr(),
    )
    .await;
    assert!(
        recv_raw(&s, Duration::from_millis(200)).await.is_none(),
        "no amplification"
    );
    assert_eq!(node.stats().amplification_dropped, 1);
    // A request as large as the reply gets it.
    let padded = Message::new(MessageType::REQUEST_URI, "big", vec![0u8; 1000]);
    assert_eq!(
        ask(&s, &padded, node.local_addr()).await.content().len(),
        1000
    );
}

#[tokio::test]
async fn a_verified_peer_gets_replies_of_any_size() {
    let layer = || PluginLayer::new().with_auth(NetaioHmac::new("s3cret"));
    let node = big_reply_node()
        .plugins(layer())
        .peers(LocalPeer::random())
        .limits(guarded())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let peer = Node::builder()
        .plugins(layer())
        .peers(LocalPeer::random())
        .seed(node.local_addr())
        .limits(guarded())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    eventually("the node knows its peer", || node.peers().len() == 1).await;
    let reply = peer.request(node.local_addr(), "big", "").await.unwrap();
    assert_eq!(reply.content().len(), 1000);
    // The same request unsigned from elsewhere is refused (AUTH_ERROR fits).
    let s = socket_on(1).await;
    let refused = ask(
        &s,
        &Message::new(
            MessageType::REQUEST_URI,
            "big",
            "0123456789abcdefghijklmnop",
        ),
        node.local_addr(),
    )
    .await;
    assert_eq!(refused.message_type, MessageType::AUTH_ERROR);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_source_is_rate_limited_and_a_bystander_is_not() {
    let node = node(guarded().replies_per_second(10).reply_burst(20)).await;
    let flooder = socket_on(1).await;
    let echo = Message::new(MessageType::REQUEST_URI, "echo", "flood");
    let started = std::time::Instant::now();
    for i in 0..300 {
        send_msg(&flooder, &echo, node.local_addr()).await;
        if i % 25 == 0 {
            // Paced, so the kernel's receive buffer does not drop any.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    eventually("the flood seen", || node.stats().datagrams_in == 300).await;
    let elapsed = started.elapsed().as_secs_f64();
    bystander_works(&node).await;
    let mut answered = 0u64;
    while recv_raw(&flooder, Duration::from_millis(100))
        .await
        .is_some()
    {
        answered += 1;
    }
    // The burst, plus what the rate refilled while the flood was sent.
    let most = 20 + (10.0 * elapsed).ceil() as u64;
    assert!(
        (20..=most).contains(&answered),
        "{answered} replies to the flooder (at most {most})"
    );
    let stats = node.stats();
    assert_eq!(stats.rate_limited, 300 - answered, "{stats:?}");
}

#[tokio::test]
async fn spoofed_sources_cannot_grow_the_limiter_past_its_bound() {
    let node = node(guarded().max_sources(8)).await;
    let echo = Message::new(MessageType::REQUEST_URI, "echo", "hi");
    let mut socks = Vec::new();
    for n in 10..40u8 {
        let s = socket_on(n).await;
        send_msg(&s, &echo, node.local_addr()).await;
        socks.push(s);
    }
    eventually("30 sources seen", || node.stats().datagrams_in == 30).await;
    let mut answered = 0;
    for s in &socks {
        if recv_raw(s, Duration::from_millis(50)).await.is_some() {
            answered += 1;
        }
    }
    assert_eq!(answered, 8, "only as many sources as the table holds");
    assert_eq!(node.stats().rate_limited, 22);
}

#[tokio::test]
async fn an_advertisement_flood_keeps_the_peer_table_bounded() {
    let node = Node::builder()
        .peers(LocalPeer::random().with_max_peers(16))
        .limits(
            guarded()
                .max_peer_bytes(16 * 1024)
                .max_peer_entry_bytes(16 * 1024),
        )
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    // Many sources (a source holds one id: see tests/peers_hostile.rs).
    let mut socks = Vec::new();
    for n in 1..=30 {
        socks.push(socket_on(n).await);
    }
    let s = &socks[299 % 30];
    for n in 0..300u32 {
        let fake = LocalPeer::new(n.to_be_bytes().to_vec(), vec![b'x'; 100]);
        send_msg(
            &socks[n as usize % 30],
            &fake.message(MessageType::ADVERTISE_PEER),
            node.local_addr(),
        )
        .await;
        if n % 25 == 0 {
            // Paced, so the kernel's receive buffer does not drop any.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    eventually("the flood handled", || {
        node.stats().datagrams_in == 300 && node.peers().len() == 16
    })
    .await;
    // Each is 104 bytes: count is the bound here. The newest are kept.
    assert!(node.peer(&299u32.to_be_bytes()).is_some());
    assert!(node.peer(&0u32.to_be_bytes()).is_none());
    let big = LocalPeer::new(b"big".to_vec(), vec![b'x'; 15_000]);
    send_msg(
        s,
        &big.message(MessageType::ADVERTISE_PEER),
        node.local_addr(),
    )
    .await;
    eventually("the big one kept", || node.peer(b"big").is_some()).await;
    let bytes: usize = node.peers().iter().map(|p| p.id.len() + p.data.len()).sum();
    assert!(bytes <= 16 * 1024, "{bytes} bytes of peers");
}

#[tokio::test]
async fn handler_calls_in_flight_are_bounded() {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let node = Node::builder()
        .on(
            (MessageType::REQUEST_URI, "wait"),
            move |_m: Message, _o: Origin| {
                let mut rx = rx.clone();
                async move {
                    let _ = rx.wait_for(|go| *go).await;
                    Message::respond("wait", "done")
                }
            },
        )
        .limits(guarded().max_in_flight(2))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let s = socket_on(1).await;
    for _ in 0..10 {
        send_msg(
            &s,
            &Message::new(MessageType::REQUEST_URI, "wait", "0123456789"),
            node.local_addr(),
        )
        .await;
    }
    eventually("eight turned away", || node.stats().overloaded == 8).await;
    tx.send(true).unwrap();
    let mut done = 0;
    while recv_raw(&s, Duration::from_millis(200)).await.is_some() {
        done += 1;
    }
    assert_eq!(done, 2);
}

/// A datagram of exactly `max_datagram` bytes is handled; one byte more
/// is dropped as oversized (cargo-mutants: `>` → `>=` in `on_datagram`).
#[tokio::test]
async fn a_datagram_of_exactly_max_datagram_is_handled() {
    let ask_with =
        |content: &str| Message::new(MessageType::REQUEST_URI, "echo", content.to_owned());
    let exact = ask_with("12345").to_bytes(Profile::Netaio).unwrap().len();
    let node = node(NodeLimits::default().max_datagram(exact)).await;
    let s = socket_on(1).await;
    let reply = ask(&s, &ask_with("12345"), node.local_addr()).await;
    assert_eq!(&reply.content()[..], b"12345");
    send_msg(&s, &ask_with("123456"), node.local_addr()).await;
    eventually("two datagrams seen", || node.stats().datagrams_in == 2).await;
    assert_eq!(node.stats().oversized, 1, "{:?}", node.stats());
    assert!(recv_raw(&s, Duration::from_millis(200)).await.is_none());
}
