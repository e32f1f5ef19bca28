//! The UDP node between framewire nodes and raw sockets on loopback:
//! requests and their typed errors, peers discovering, leaving and timing
//! out, subscriptions, plugins. Hostile datagrams are in
//! tests/hostile_datagrams.rs; netaio interop in tests/node_interop.rs.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::udp::{ask, recv_msg, send_msg, socket_on};
use framewire::node::{readme_routes, Node, NodeHandle, NodeLimits, Origin};
use framewire::peer::LocalPeer;
use framewire::{Message, MessageType, NetaioHmac, NetaioStreamCipher, PluginLayer, PluginStack};

async fn readme_node() -> NodeHandle {
    readme_routes(Node::builder())
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// Polls `cond` every 10 ms, 500 times at most.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_node_answers_another_through_the_readme_routes() {
    let server = readme_node().await;
    let client = Node::builder().bind("127.0.0.1:0").await.unwrap();
    let to = server.local_addr();
    let echo = client.request(to, "echo", "hi").await.unwrap();
    assert_eq!(
        (echo.message_type, &echo.content()[..]),
        (MessageType::RESPOND_URI, &b"hi"[..])
    );
    client.create(to, "k", "v1").await.unwrap();
    let got = client.request(to, "k", "").await.unwrap();
    assert_eq!(&got.content()[..], b"v1");
    let again = client.create(to, "k", "v2").await.unwrap_err();
    assert!(again.is_error(), "{again}");
    client.update(to, "k", "v2").await.unwrap();
    assert_eq!(
        &client.request(to, "k", "").await.unwrap().content()[..],
        b"v2"
    );
    client.delete(to, "k").await.unwrap();
    let gone = client.request(to, "k", "").await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");
    assert_eq!(gone.reply().unwrap().uri(), "k", "NOT_FOUND names the uri");
    let stats = server.stats();
    assert_eq!(
        (stats.datagrams_in, stats.datagrams_out),
        (8, 8),
        "{stats:?}"
    );
}

#[tokio::test]
async fn concurrent_requests_to_one_uri_each_get_their_own_reply() {
    use std::sync::{Arc, Mutex};
    // Later requests answer first, and not by timing: the handler holds
    // every request until all five are in, then answers 4 first, and
    // answers n only once the client has taken n + 1's reply.
    let arrived = Arc::new(Mutex::new(0usize));
    let taken: Arc<Mutex<Vec<usize>>> = Arc::default();
    let (seen, done) = (arrived.clone(), taken.clone());
    let server = Node::builder()
        .on(
            (MessageType::REQUEST_URI, "slow"),
            move |m: Message, _o: Origin| {
                let (seen, done) = (seen.clone(), done.clone());
                async move {
                    let n: usize = std::str::from_utf8(m.content()).unwrap().parse().unwrap();
                    *seen.lock().unwrap() += 1;
                    let my_turn = || {
                        *seen.lock().unwrap() == 5
                            && (n == 4 || done.lock().unwrap().contains(&(n + 1)))
                    };
                    for _ in 0..1000 {
                        if my_turn() {
                            return Message::respond("slow", m.content().clone());
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    // Never reached in a passing run: the client times out.
                    Message::respond("slow", "not my turn in 5 s")
                }
            },
        )
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Node::builder().bind("127.0.0.1:0").await.unwrap();
    let to = server.local_addr();
    let asks = (0..5usize).map(|n| {
        let (client, taken) = (client.clone(), taken.clone());
        async move {
            let reply = client
                .call_timeout(
                    to,
                    Message::new(MessageType::REQUEST_URI, "slow", n.to_string()),
                    Duration::from_secs(30),
                )
                .await
                .unwrap();
            taken.lock().unwrap().push(n);
            reply
        }
    });
    let replies = futures::future::join_all(asks).await;
    for (n, reply) in replies.iter().enumerate() {
        assert_eq!(reply.content(), &n.to_string(), "the request id matched it");
    }
    assert_eq!(
        *taken.lock().unwrap(),
        [4, 3, 2, 1, 0],
        "the replies came last request first"
    );
}

#[tokio::test]
async fn a_request_nobody_answers_times_out_and_is_forgotten() {
    let silent = socket_on(1).await;
    let client = Node::builder().bind("127.0.0.1:0").await.unwrap();
    let to = silent.local_addr().unwrap();
    let e = client
        .call_timeout(
            to,
            Message::new(MessageType::REQUEST_URI, "x", ""),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    // The request reached the silent socket with a request id; answering
    // it now finds nobody waiting: dropped, not answered.
    let request = recv_msg(&silent, Duration::from_secs(1)).await.unwrap();
    let mut late = Message::respond("x", "late");
    late.auth = request.auth.clone();
    send_msg(&silent, &late, client.local_addr()).await;
    eventually("the late reply counted", || client.stats().unrouted == 1).await;
    assert!(
        recv_msg(&silent, Duration::from_millis(100))
            .await
            .is_none(),
        "no answer to an answer"
    );
}

#[tokio::test]
async fn requests_and_answers_nobody_handles() {
    let node = Node::builder().bind("127.0.0.1:0").await.unwrap();
    let raw = socket_on(1).await;
    let to = node.local_addr();
    // A request: netaio's NOT_FOUND, with the request's uri.
    let reply = ask(
        &raw,
        &Message::new(MessageType::REQUEST_URI, "nothing", ""),
        to,
    )
    .await;
    assert_eq!(
        (reply.message_type, reply.uri().as_ref()),
        (MessageType::NOT_FOUND, &b"nothing"[..])
    );
    // Answers: never answered (two nodes would bounce them forever).
    for t in [
        MessageType::NOT_FOUND,
        MessageType::OK,
        MessageType::ERROR,
        MessageType::RESPOND_URI,
    ] {
        send_msg(&raw, &Message::new(t, "x", ""), to).await;
    }
    eventually("four answers dropped", || node.stats().unrouted == 4).await;
    assert!(recv_msg(&raw, Duration::from_millis(100)).await.is_none());
}

fn me(name: &str) -> LocalPeer {
    LocalPeer::random().with_fields([("name", name)])
}

#[tokio::test]
async fn peers_discover_each_other_and_stopping_says_disconnect() {
    let a = Node::builder()
        .peers(me("a"))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    // b advertises to a (a seed), a answers PEER_DISCOVERED: both know.
    let b = Node::builder()
        .peers(me("b"))
        .seed(a.local_addr())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    eventually("a knows b", || a.peers().len() == 1).await;
    eventually("b knows a", || b.peers().len() == 1).await;
    let seen_b = &a.peers()[0];
    assert_eq!(seen_b.addr, b.local_addr());
    let data = seen_b.data_value().unwrap();
    assert_eq!(data.get("name"), Some(&"b".into()));
    assert_eq!(a.peer_at(b.local_addr()).unwrap().id, seen_b.id);
    a.subscribe("news", b.local_addr()).unwrap();
    b.stop().await;
    eventually("a forgot b", || a.peers().is_empty()).await;
    assert!(a.subscribers(b"news").is_empty(), "with its subscriptions");
    assert!(b
        .request(a.local_addr(), "x", "")
        .await
        .unwrap_err()
        .is_stopped());
}

#[tokio::test]
async fn silent_peers_are_dropped_after_the_peer_timeout() {
    let node = Node::builder()
        .peers(me("a"))
        .limits(
            NodeLimits::default()
                .advertise_every(Duration::from_secs(20))
                .peer_timeout(Duration::from_secs(60)),
        )
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let raw = socket_on(1).await;
    let other = me("raw");
    let reply = ask(
        &raw,
        &other.message(MessageType::ADVERTISE_PEER),
        node.local_addr(),
    )
    .await;
    assert_eq!(reply.message_type, MessageType::PEER_DISCOVERED);
    node.subscribe("t", raw.local_addr().unwrap()).unwrap();
    assert_eq!(node.peers().len(), 1);
    // Heard (by the node) no later than now.
    let heard = tokio::time::Instant::now();
    // Virtual time from here on, once every datagram the test waits for
    // has arrived: nothing below waits on a socket, so the paused clock
    // cannot jump past a late one. The node's ticks (every 20 s) began in
    // real time, so their phase against `heard` is unknown: a peer is
    // dropped at the first tick after 60 s of silence, so it is there
    // until 60 s and gone by 80 s.
    tokio::time::pause();
    tokio::time::sleep_until(heard + Duration::from_secs(59)).await;
    assert_eq!(node.peers().len(), 1, "59 s of silence is not too long");
    tokio::time::sleep_until(heard + Duration::from_secs(81)).await;
    assert!(node.peers().is_empty(), "dropped after the timeout");
    assert!(node.subscribers(b"t").is_empty());
}

#[tokio::test]
async fn notify_reaches_subscribers_and_broadcast_every_peer() {
    let hub = readme_routes(Node::builder().peers(me("hub")))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (s1, s2) = (socket_on(1).await, socket_on(2).await);
    let to = hub.local_addr();
    let confirm = ask(
        &s1,
        &Message::new(MessageType::SUBSCRIBE_URI, "news", ""),
        to,
    )
    .await;
    assert_eq!(confirm.message_type, MessageType::CONFIRM_SUBSCRIBE);
    // s2 is a peer, not a subscriber.
    ask(&s2, &me("s2").message(MessageType::ADVERTISE_PEER), to).await;
    let publisher = Node::builder().bind("127.0.0.1:0").await.unwrap();
    let ok = publisher
        .call(
            to,
            Message::new(MessageType::PUBLISH_URI, "pub/news", "one"),
        )
        .await
        .unwrap();
    assert_eq!(&ok.content()[..], b"published");
    let note = recv_msg(&s1, Duration::from_secs(2)).await.unwrap();
    assert_eq!(
        (note.message_type, &note.content()[..]),
        (MessageType::NOTIFY_URI, &b"one"[..])
    );
    assert!(recv_msg(&s2, Duration::from_millis(100)).await.is_none());
    assert_eq!(
        hub.broadcast(Message::new(MessageType::NOTIFY_URI, "all", "b"))
            .await
            .unwrap(),
        1
    );
    let note = recv_msg(&s2, Duration::from_secs(2)).await.unwrap();
    assert_eq!(&note.content()[..], b"b");
    let bye = ask(
        &s1,
        &Message::new(MessageType::UNSUBSCRIBE_URI, "news", ""),
        to,
    )
    .await;
    assert_eq!(bye.message_type, MessageType::CONFIRM_UNSUBSCRIBE);
    assert_eq!(
        hub.notify(b"news", Message::new(MessageType::NOTIFY_URI, "news", ""))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn with_an_auth_plugin_only_signed_datagrams_are_handled() {
    let layer = || PluginLayer::new().with_auth(NetaioHmac::new("node-secret"));
    let server = readme_routes(Node::builder().plugins(layer()))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Node::builder()
        .plugins(layer())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let to = server.local_addr();
    assert_eq!(
        &client
            .request(to, "echo", "signed")
            .await
            .unwrap()
            .content()[..],
        b"signed"
    );
    let raw = socket_on(1).await;
    let refused = ask(
        &raw,
        &Message::new(MessageType::REQUEST_URI, "echo", "unsigned"),
        to,
    )
    .await;
    assert_eq!(refused.message_type, MessageType::AUTH_ERROR);
    assert_eq!(&refused.content()[..], b"HMAC auth failed");
    let wrong = Node::builder()
        .plugins(PluginLayer::new().with_auth(NetaioHmac::new("other")))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let e = wrong
        .call_timeout(
            to,
            Message::new(MessageType::REQUEST_URI, "echo", ""),
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
    assert!(
        e.is_timeout(),
        "an unsigned AUTH_ERROR fails our own check: {e}"
    );
    // The client's timeout says nothing of when the server counted.
    eventually("both refusals counted", || {
        server.stats().auth_failures == 2
    })
    .await;
    assert_eq!(server.stats().auth_failures, 2);
}

#[tokio::test]
async fn a_handler_error_or_panic_is_answered_and_the_node_goes_on() {
    let node = Node::builder()
        .on(
            (MessageType::REQUEST_URI, "fail"),
            |_m: Message, _o: Origin| async { Err::<Message, _>("no can do") },
        )
        .on(
            (MessageType::REQUEST_URI, "panic"),
            |_m: Message, _o: Origin| async {
                if true {
                    panic!("handler bug");
                }
                Message::ok("", "")
            },
        )
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Node::builder().bind("127.0.0.1:0").await.unwrap();
    let to = node.local_addr();
    let e = client.request(to, "fail", "").await.unwrap_err();
    assert_eq!(
        e.reply().map(|m| m.content().clone()),
        Some("no can do".into())
    );
    let e = client.request(to, "panic", "").await.unwrap_err();
    assert_eq!(
        e.reply().map(|m| m.content().clone()),
        Some("internal error".into())
    );
    let stats = node.stats();
    assert_eq!((stats.handler_errors, stats.handler_panics), (1, 1));
}

/// The inode of the UDP socket bound to `addr` (IPv4), from
/// `/proc/net/udp`, if there is one.
fn udp_inode(addr: SocketAddr) -> Option<String> {
    let SocketAddr::V4(v4) = addr else {
        panic!("IPv4 only: {addr}")
    };
    let local = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(v4.ip().octets()),
        v4.port()
    );
    let table = std::fs::read_to_string("/proc/net/udp").expect("Linux /proc");
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        (cols.get(1) == Some(&local.as_str())).then(|| cols[9].to_owned())
    })
}

/// Whether this process holds an open file for socket `inode`.
fn holds_socket(inode: &str) -> bool {
    let want = format!("socket:[{inode}]");
    std::fs::read_dir("/proc/self/fd")
        .expect("Linux /proc")
        .flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == want))
}

#[tokio::test]
async fn dropping_every_handle_stops_the_node() {
    let node = readme_node().await;
    let addr: SocketAddr = node.local_addr();
    // The node's own socket, by inode: after the drop, the port may be
    // anyone's again, so binding it would prove nothing (and race).
    let inode = udp_inode(addr).expect("the node's socket is listed");
    assert!(holds_socket(&inode), "the node's socket is ours");
    // An answer first: the receive loop is running, waiting on the socket
    // (dropped before its first poll, it would end on its own and the
    // test would pass without `Drop for Shared`).
    let s = socket_on(1).await;
    let hi = Message::new(MessageType::REQUEST_URI, "echo", "x");
    let echo = ask(&s, &hi, addr).await;
    assert_eq!(&echo.content()[..], b"x");
    drop(node);
    eventually("the socket released", || !holds_socket(&inode)).await;
}

#[tokio::test]
async fn x25519_per_handler_encryption_between_two_nodes_that_know_each_other() {
    use framewire::auth::X25519CipherPlugin;
    let (ka, kb) = (
        X25519CipherPlugin::new([1; 32]),
        X25519CipherPlugin::new([2; 32]),
    );
    let peer = |k: &X25519CipherPlugin| LocalPeer::random().with_data_value(k.peer_data());
    let a = Node::builder()
        .peers(peer(&ka))
        .on_with(
            (MessageType::REQUEST_URI, "secret"),
            |m: Message, _o: Origin| async move {
                Message::respond("secret", [&b"got "[..], m.content()].concat())
            },
            PluginLayer::new().with_cipher(X25519CipherPlugin::new([1; 32])),
        )
        .on_with(
            (MessageType::REQUEST_URI, "refused"),
            |_m: Message, _o: Origin| async { Err::<Message, _>("refused") },
            PluginLayer::new().with_cipher(X25519CipherPlugin::new([1; 32])),
        )
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let b = Node::builder()
        .peers(peer(&kb))
        .seed(a.local_addr())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    eventually("a and b know each other", || {
        a.peers().len() == 1 && b.peers().len() == 1
    })
    .await;
    let layer = PluginLayer::new().with_cipher(kb);
    let msg = Message::new(MessageType::REQUEST_URI, "secret", "hush");
    let reply = b.call_with(a.local_addr(), msg, &layer).await.unwrap();
    assert_eq!(&reply.content()[..], b"got hush");
    // An error report comes back in the clear: typed, not opened with the
    // layer (cargo-mutants: `!is_error_report` in `call_raw`), and a failed
    // handler's is not sealed with its route's layer either (it was: the
    // requester read ciphertext).
    let msg = Message::new(MessageType::REQUEST_URI, "refused", "hush");
    let e = b.call_with(a.local_addr(), msg, &layer).await.unwrap_err();
    assert_eq!(e.to_string(), "peer error: refused");
    let msg = Message::new(MessageType::REQUEST_URI, "nowhere", "hush");
    let e = b.call_with(a.local_addr(), msg, &layer).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    // Without the layer the handler cannot decrypt: dropped, never answered.
    let plain = Message::new(MessageType::REQUEST_URI, "secret", "hush");
    let e = b
        .call_timeout(a.local_addr(), plain, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    eventually("the failure counted", || a.stats().decrypt_failures == 1).await;
    assert_eq!(a.stats().decrypt_failures, 1);
}

#[tokio::test]
async fn a_create_answered_not_found_or_a_typed_handler_error_fails_at_once() {
    let server = Node::builder()
        .on(
            (MessageType::CREATE_URI, "gone"),
            |_m: Message, _o: Origin| async { Message::not_found("") },
        )
        .on(
            (MessageType::CREATE_URI, "user"),
            |_m: Message, _o: Origin| async { Err::<Message, _>("invalid author") },
        )
        .on(
            (MessageType::REQUEST_URI, "user"),
            |_m: Message, _o: Origin| async {
                Err::<Message, _>(framewire::handler::HandlerError::not_found("no such user"))
            },
        )
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let limits = NodeLimits::default().request_timeout(Duration::from_secs(30));
    let client = Node::builder()
        .limits(limits)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let to = server.local_addr();
    let started = std::time::Instant::now();
    // netaio's table refuses NOT_FOUND after CREATE; the echoed id decides.
    let e = client.create(to, "gone", "v").await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let e = client.create(to, "user", "{}").await.unwrap_err();
    assert!(e.is_error() && !e.is_auth_error(), "{e}");
    assert_eq!(e.to_string(), "peer error: invalid author");
    let e = client.request(to, "user", "").await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// `send`, `send_with` and the application's own subscriptions, seen from
/// a raw socket; a frame of exactly `max_datagram` bytes goes, one byte
/// more does not; `multicast` without a group is an error.
#[tokio::test]
async fn sends_and_the_datagram_limit() {
    let msg = |content: &str| Message::new(MessageType::NOTIFY_URI, "t", content.to_owned());
    let exact = msg("12345")
        .to_bytes(framewire::Profile::Netaio)
        .unwrap()
        .len();
    let node = Node::builder()
        .limits(NodeLimits::default().max_datagram(exact))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let text = format!("{node:?}");
    assert!(
        text.contains("NodeHandle") && text.contains(&node.local_addr().to_string()),
        "{text}"
    );
    let raw = socket_on(1).await;
    let to = raw.local_addr().unwrap();
    let limit = Duration::from_secs(2);

    node.send(msg("12345"), to).await.unwrap();
    let got = recv_msg(&raw, limit).await.expect("sent");
    assert_eq!(&got.content()[..], b"12345");
    let too_large = node.send(msg("123456"), to).await.unwrap_err();
    assert!(too_large.is_too_large(), "{too_large}");
    node.send_with(msg("abc"), to, &PluginLayer::new())
        .await
        .unwrap();
    assert_eq!(
        &recv_msg(&raw, limit).await.expect("sent").content()[..],
        b"abc"
    );

    node.subscribe("t", to).unwrap();
    assert_eq!(node.subscribers(b"t"), vec![to]);
    assert_eq!(node.notify(b"t", msg("n")).await.unwrap(), 1);
    assert_eq!(
        &recv_msg(&raw, limit).await.expect("notified").content()[..],
        b"n"
    );

    assert_eq!(node.group(), None);
    let no_group = node.multicast(msg("m")).await.unwrap_err();
    assert!(no_group.is_io(), "{no_group}");
    node.stop().await;
    assert!(node.send(msg("x"), to).await.unwrap_err().is_stopped());
}

/// A cipher that is not peer-specific seals a notify once: every
/// subscriber gets the same bytes (the random IV shows a second sealing),
/// and each can open them (cargo-mutants: `fan_out`'s seal-once `!`).
#[tokio::test]
async fn a_fan_out_is_sealed_once_unless_a_plugin_is_peer_specific() {
    let layer = || PluginLayer::new().with_cipher(NetaioStreamCipher::new("node-key"));
    let node = Node::builder()
        .plugins(layer())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (a, b) = (socket_on(1).await, socket_on(2).await);
    for s in [&a, &b] {
        node.subscribe("t", s.local_addr().unwrap()).unwrap();
    }
    let note = Message::new(MessageType::NOTIFY_URI, "t", "news");
    assert_eq!(node.notify(b"t", note).await.unwrap(), 2);
    let limit = Duration::from_secs(2);
    let got_a = recv_msg(&a, limit).await.expect("a notified");
    let got_b = recv_msg(&b, limit).await.expect("b notified");
    assert_eq!(got_a, got_b, "one sealing for both");
    let opened = PluginStack::new(layer()).open(got_a).unwrap();
    assert_eq!(&opened.content()[..], b"news");
    node.stop().await;
}

/// A node that answers REQUEST_URI `whoami` with what its handler knows
/// of the source: whether it is verified, and its peer's id.
async fn whoami_node(limits: NodeLimits) -> NodeHandle {
    Node::builder()
        .peers(LocalPeer::new("n", b"x".to_vec()))
        .limits(limits)
        .on(
            (MessageType::REQUEST_URI, "whoami"),
            |_m: Message, o: Origin| async move {
                let id = o.peer().map(|p| p.id.to_vec()).unwrap_or_default();
                let text = format!("{} {}", o.is_verified(), String::from_utf8_lossy(&id));
                Message::respond("whoami", text)
            },
        )
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// What a handler knows of a datagram's source (its peer, whether it is
/// verified), and the application's `remove_peer` and `is_stopped`
/// (cargo-mutants: handler.rs `Origin::peer`, `Origin::is_verified`;
/// handle.rs `remove_peer`, `is_stopped`).
#[tokio::test]
async fn a_handler_sees_its_origin_and_the_application_removes_peers() {
    let node = whoami_node(NodeLimits::default().trust_loopback(false)).await;
    let (s, to) = (socket_on(1).await, node.local_addr());
    let from = s.local_addr().unwrap();
    // Padded: a reply to an unverified source is no larger than its request.
    let whoami = Message::new(MessageType::REQUEST_URI, "whoami", vec![0u8; 64]);
    let who = |m: Message| String::from_utf8_lossy(m.content()).into_owned();
    assert_eq!(who(ask(&s, &whoami, to).await), "false ");
    let hello = LocalPeer::new("peer-s", b"x".to_vec()).message(MessageType::ADVERTISE_PEER);
    let discovered = ask(&s, &hello, to).await;
    assert_eq!(discovered.message_type, MessageType::PEER_DISCOVERED);
    assert_eq!(
        who(ask(&s, &whoami, to).await),
        "false peer-s",
        "a known peer, unverified: the node has no auth plugin"
    );
    node.subscribe("t", from).unwrap();
    let gone = node.remove_peer(b"peer-s").expect("the peer");
    assert_eq!((&gone.id[..], gone.addr), (&b"peer-s"[..], from));
    assert!(node.peers().is_empty() && node.remove_peer(b"peer-s").is_none());
    assert!(node.subscribers(b"t").is_empty(), "with its subscriptions");
    assert!(!node.is_stopped());
    node.stop().await;
    assert!(node.is_stopped());
    // Loopback is trusted by default.
    let trusting = whoami_node(NodeLimits::default()).await;
    let reply = ask(&s, &whoami, trusting.local_addr()).await;
    assert_eq!(who(reply), "true ");
    trusting.stop().await;
}
