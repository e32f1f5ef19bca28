//! Hostile input against a running server, one attack per test. Each test
//! also runs a bystander — a well-behaved client with a subscription — and
//! checks it keeps working and loses nothing it was sent.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use framewire::auth::{ManualClock, PluginEnv, ReplayConfig, SystemRandom};
use framewire::client::Client;
use framewire::server::{Context, Limits, Server, ServerBuilder};
use framewire::{AuthPlugin, Message, MessageType, NetaioHmac, PluginLayer, PluginStack, Profile};
use tokio::io::AsyncWriteExt;

struct Fixture {
    srv: Running,
    /// Calls of the echo handler: hostile frames must never reach it.
    calls: Arc<AtomicUsize>,
    bystander: Bystander,
}

/// A server with an echo route (counting its calls) and subscriptions,
/// plus a bystander (signing with `bystander_layer` if given).
async fn fixture(
    configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
    bystander_layer: Option<PluginLayer>,
    profile: Profile,
) -> Fixture {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let builder = Server::builder()
        .profile(profile)
        .on(
            (MessageType::REQUEST_URI, "echo"),
            move |m: Message, _c: Context| {
                counter.fetch_add(1, Ordering::SeqCst);
                std::future::ready(Message::respond("echo", m.content().clone()))
            },
        )
        .subscriptions();
    let srv = start(configure(builder).build()).await;
    let bystander =
        Bystander::join_with(&srv, profile, bystander_layer.map(PluginStack::new)).await;
    Fixture {
        srv,
        calls,
        bystander,
    }
}

impl Fixture {
    /// The bystander still gets everything and is still answered.
    async fn bystander_ok(&mut self) {
        self.bystander.check(&self.srv).await;
    }

    /// No hostile frame reached the echo handler.
    fn no_handler_calls(&self) {
        self.no_handler_calls_but(0);
    }

    /// Only the `legit` echo requests the test itself made were handled.
    fn no_handler_calls_but(&self, legit: usize) {
        assert_eq!(self.calls.load(Ordering::SeqCst), legit);
    }

    async fn finish(mut self) {
        self.bystander_ok().await;
        // The bystander hangs up first: a connection that stays open holds
        // a graceful shutdown for the whole drain timeout (5 s).
        let Fixture { srv, bystander, .. } = self;
        drop(bystander);
        srv.stop().await;
    }
}

fn only_error(msgs: &[Message], contains: &str) {
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0].message_type, MessageType::ERROR);
    let text = String::from_utf8_lossy(msgs[0].content());
    assert!(text.contains(contains), "{text:?} lacks {contains:?}");
}

// Row 1
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn length_claims_beyond_the_limit_up_to_4_gib() {
    let mut f = fixture(|b| b, None, Profile::Wide).await;
    for (auth, body) in [(u32::MAX, 2u32), (3, u32::MAX), (3, (16 << 20) + 1)] {
        let mut s = raw(f.srv.addr).await;
        s.write_all(&wide_header(0, auth, body, 0)).await.unwrap();
        only_error(
            &read_all(&mut s, Profile::Wide).await,
            "exceeds the limit of 16777216",
        );
        f.bystander_ok().await;
    }
    f.no_handler_calls();
    f.finish().await;
}

// Row 2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frames_then_eof_close_cleanly_without_a_handler_call() {
    let mut f = fixture(|b| b, None, Profile::Netaio).await;
    let frame = Message::new(MessageType::REQUEST_URI, "echo", "payload")
        .to_bytes(Profile::Netaio)
        .unwrap();
    for cut in [1, 5, 9, 12, frame.len() - 1] {
        let mut s = raw(f.srv.addr).await;
        s.write_all(&frame[..cut]).await.unwrap();
        s.shutdown().await.unwrap();
        only_error(&read_all(&mut s, Profile::Netaio).await, "inside a frame");
    }
    f.bystander_ok().await;
    f.no_handler_calls();
    f.finish().await;
}

// Rows 6, 7, 8
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structural_garbage_gets_a_clear_error_and_a_close() {
    let mut f = fixture(|b| b, None, Profile::Netaio).await;
    let body = b"\x00\x04echoping";
    let crc = crc32fast::hash(body);
    let with = |ty: u8, auth: &[u8]| {
        let mut v = netaio_header(ty, auth.len() as u16, body.len() as u16, crc);
        v.extend_from_slice(auth);
        v.extend_from_slice(body);
        v
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (with(14, b"\x4d\x40\x00"), "unknown message type 14"),
        (with(27, b"\x4d\x40\x00"), "unknown message type 27"),
        (with(0, b""), "auth fields truncated"),
        (with(0, b"\xff\xff\xff"), "unexpected packify code 0xff"),
        (with(0, b"\x4d\x40\x00junk"), "trailing bytes"),
        (with(0, b"\x4d\x40\xc8\x01"), "exceed the limit"),
        (vec![0u8; 9], "shorter than its 2-byte uri length"),
        (
            netaio_header(0, 3, 1, 0),
            "shorter than its 2-byte uri length",
        ),
        (
            {
                let b = b"\x00\x0aabc";
                let mut v = netaio_header(0, 3, 5, crc32fast::hash(b));
                v.extend_from_slice(b"\x4d\x40\x00");
                v.extend_from_slice(b);
                v
            },
            "uri length 10 exceeds",
        ),
    ];
    for (bytes, why) in cases {
        let mut s = raw(f.srv.addr).await;
        s.write_all(&bytes).await.unwrap();
        only_error(&read_all(&mut s, Profile::Netaio).await, why);
        f.bystander_ok().await;
    }
    // Auth length running past what is sent: the frame never completes; EOF
    // ends it.
    let mut s = raw(f.srv.addr).await;
    let mut v = netaio_header(0, 500, body.len() as u16, crc);
    v.extend_from_slice(b"\x4d\x40\x00");
    s.write_all(&v).await.unwrap();
    s.shutdown().await.unwrap();
    only_error(&read_all(&mut s, Profile::Netaio).await, "inside a frame");
    // The smallest valid frame is routed normally (default NOT_FOUND).
    let mut s = raw(f.srv.addr).await;
    s.write_all(&Message::ok("", "").to_bytes(Profile::Netaio).unwrap())
        .await
        .unwrap();
    s.shutdown().await.unwrap();
    assert_eq!(
        read_all(&mut s, Profile::Netaio).await,
        [Message::not_found("")]
    );
    f.no_handler_calls();
    f.finish().await;
}

// Row 9
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_at_a_time_and_many_frames_per_write_give_the_same_answers() {
    let f = fixture(|b| b, None, Profile::Netaio).await;
    let mut stream = Vec::new();
    for i in 0..30 {
        let content = "x".repeat(i * 7);
        stream.extend_from_slice(
            &Message::new(MessageType::REQUEST_URI, "echo", content)
                .to_bytes(Profile::Netaio)
                .unwrap(),
        );
    }
    let mut answers = Vec::new();
    for dribble in [false, true] {
        let mut s = raw(f.srv.addr).await;
        if dribble {
            s.set_nodelay(true).unwrap();
            for b in &stream {
                s.write_all(&[*b]).await.unwrap();
            }
        } else {
            s.write_all(&stream).await.unwrap();
        }
        s.shutdown().await.unwrap();
        answers.push(read_all(&mut s, Profile::Netaio).await);
    }
    assert_eq!(answers[0].len(), 30);
    assert_eq!(answers[0], answers[1]);
    assert!(answers[0]
        .iter()
        .enumerate()
        .all(|(i, m)| m.content().len() == i * 7));
    f.finish().await;
}

fn hmac_layer(plugin: Arc<NetaioHmac>) -> PluginLayer {
    PluginLayer::new().with_shared_auth(plugin)
}

/// The attacks of rows 10 and 11, each a different reason to refuse.
const ATTACKS: u32 = 7;

// Rows 10, 11 (and the auth-failure cap)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_macs_missing_fields_replays_and_stale_timestamps_get_the_same_auth_error() {
    let plugin = Arc::new(NetaioHmac::new("k"));
    let mut f = fixture(
        |b| {
            b.plugins(hmac_layer(plugin.clone()))
                .limits(Limits::default().max_auth_failures(ATTACKS))
        },
        Some(PluginLayer::new().with_auth(NetaioHmac::new("k"))),
        Profile::Netaio,
    )
    .await;
    let signer = NetaioHmac::new("k");
    let signed = || {
        let mut m = Message::new(MessageType::REQUEST_URI, "echo", "x");
        signer.make(&mut m, &CLIENT).unwrap();
        m
    };
    let bad_mac_again = || {
        let mut m = signed();
        m.body.content = "y".into();
        m
    };
    let mut attacks: Vec<Message> = vec![bad_mac_again()];
    for field in ["nonce", "ts", "hmac"] {
        let mut m = signed();
        m.auth.remove(field);
        attacks.push(m);
    }
    let replayed = signed();
    let mut c = connect(f.srv.addr).await;
    assert_eq!(
        &plain(call(&mut c, replayed.clone()).await).content()[..],
        b"x"
    );
    attacks.push(replayed);
    for skew in [-301i64, 301] {
        let clock = ManualClock::new(
            (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
                + skew) as u64,
        );
        let stale = NetaioHmac::new("k").env(PluginEnv::new(clock, SystemRandom));
        let mut m = Message::new(MessageType::REQUEST_URI, "echo", "x");
        stale.make(&mut m, &CLIENT).unwrap();
        attacks.push(m);
    }
    assert_eq!(attacks.len(), ATTACKS as usize);
    for attack in attacks {
        // Same answer for every reason: no hint which check failed.
        assert_eq!(
            call(&mut c, attack).await,
            Message::error("HMAC auth failed")
        );
        f.bystander_ok().await;
    }
    assert_eq!(f.srv.handle.stats().auth_failures, u64::from(ATTACKS));
    // One failure past the cap closes the connection, with a reason.
    send(&mut c, bad_mac_again()).await;
    assert_eq!(
        until_closed(&mut c).await,
        [Message::new(
            MessageType::ERROR,
            "ERROR",
            "too many auth failures"
        )]
    );
    f.no_handler_calls_but(1);
    f.finish().await;
}

// Row 12
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonce_cache_floods_stay_bounded() {
    // Server and signer share a clock stuck in one second, so nothing in
    // the cache can expire or be evicted during the flood.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let clock = Arc::new(ManualClock::new(now));
    let ctx = || PluginEnv::new(clock.clone(), SystemRandom);
    let plugin = Arc::new(
        NetaioHmac::new("k")
            .replay(ReplayConfig::new().max_entries(100))
            .env(ctx()),
    );
    let srv = start(
        Server::builder()
            .on(
                MessageType::REQUEST_URI,
                |m: Message, _c: Context| async move { Message::respond(m.uri().clone(), "") },
            )
            .plugins(hmac_layer(plugin.clone()))
            .limits(Limits::default().max_auth_failures(100_000))
            .build(),
    )
    .await;
    let signer = PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new("k").env(ctx())));
    let forger =
        PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new("not-k").env(ctx())));
    let mut c = connect(srv.addr).await;
    let mut bystander = connect(srv.addr).await;
    let (mut accepted, mut refused) = (0, 0);
    let mut first = None;
    for i in 0..400 {
        let stack = if i % 2 == 0 { &signer } else { &forger };
        let msg = stack
            .seal(Message::new(MessageType::REQUEST_URI, "x", ""))
            .unwrap();
        if i == 0 {
            first = Some(msg.clone());
        }
        let reply = call(&mut c, msg).await;
        if reply.message_type == MessageType::RESPOND_URI {
            accepted += 1;
        } else {
            refused += 1;
        }
        assert!(
            plugin.replay_cache_len() <= 100,
            "cache grew past its bound"
        );
    }
    // The 200 forged frames never entered the cache; the valid ones filled
    // it, then (all in one second) were refused rather than evict a nonce
    // that could still be replayed — refused as the server's capacity, not
    // as a bad secret. (The server's own replies take no room: it knows
    // them by their nonce mark.)
    assert_eq!((accepted, refused), (100, 300));
    assert_eq!(plugin.replay_cache_len(), 100);
    let stats = srv.handle.stats();
    assert_eq!(
        (stats.auth_failures, stats.replay_capacity_refusals),
        (200, 100)
    );

    // A second later, fresh messages flow again (the bystander too),
    // evicting the oldest nonces, whose frames still cannot be replayed.
    clock.advance(1);
    let fresh = signer
        .seal(Message::new(MessageType::REQUEST_URI, "y", ""))
        .unwrap();
    assert_eq!(
        call(&mut bystander, fresh).await.message_type,
        MessageType::RESPOND_URI
    );
    let replayed = signer.open(call(&mut c, first.unwrap()).await).unwrap();
    assert_eq!(replayed.message_type, MessageType::ERROR);
    assert!(
        String::from_utf8_lossy(replayed.content()).contains("replay cache full"),
        "{replayed:?}"
    );
    assert_eq!(plugin.replay_cache_len(), 100);
    srv.stop().await;
}

// Row 16
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_resetting_mid_write_affects_only_itself() {
    let mut f = fixture(|b| b, None, Profile::Netaio).await;
    let mut others = Vec::new();
    for _ in 0..5 {
        let c = Client::builder(f.srv.addr.to_string())
            .connect()
            .await
            .unwrap();
        let s = c.subscribe("bulk").await.unwrap();
        others.push((c, s));
    }
    // A small receive window, and it never reads: the server's writes to
    // it back up into its queue within a few frames.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(f.srv.addr).await.unwrap();
    let local = stream.local_addr().unwrap();
    let mut victim = tokio_util::codec::Framed::new(stream, framewire::FrameCodec::default());
    assert_eq!(
        call(
            &mut victim,
            Message::new(MessageType::SUBSCRIBE_URI, "bulk", "")
        )
        .await
        .message_type,
        MessageType::CONFIRM_SUBSCRIBE
    );
    let victim_id = conn_id(&f.srv, local).await;
    let queued = |f: &Fixture| {
        f.srv
            .handle
            .connections()
            .into_iter()
            .find(|c| c.id == victim_id)
            .map(|c| c.queued.0)
    };
    const N: usize = 300;
    let mut reset = false;
    for i in 0..N {
        // Once the server is mid-write (frames wait in its queue for the
        // victim, whose socket is full), the victim resets.
        if !reset && i >= N / 3 && queued(&f).is_some_and(|q| q > 0) {
            reset = true;
            // RST instead of FIN, with frames still in flight to it.
            socket2::SockRef::from(victim.get_ref())
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(std::mem::replace(&mut victim, connect(f.srv.addr).await));
        }
        f.srv
            .handle
            .notify(
                "bulk",
                Message::new(MessageType::NOTIFY_URI, "bulk", vec![i as u8; 4096]),
            )
            .unwrap();
        if i % 50 == 0 {
            f.bystander_ok().await;
        }
    }
    assert!(reset, "the server never had frames queued for the victim");
    for (c, mut s) in others {
        for i in 0..N {
            let m = tokio::time::timeout(LIMIT, s.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(m.content()[0], i as u8);
        }
        assert_eq!(s.dropped(), 0);
        c.close().await;
    }
    // The reset cost the victim its connection (its queue with it), and
    // nothing else: not a slow-consumer verdict, and the server serves on.
    eventually("the victim's connection is gone", || queued(&f).is_none()).await;
    assert_eq!(f.srv.handle.stats().slow_consumer_disconnects, 0);
    f.finish().await;
}

// Row 5
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksum_mismatches_are_answered_then_capped() {
    let layer = || PluginLayer::new().with_auth(NetaioHmac::new("k"));
    let mut f = fixture(
        |b| {
            b.plugins(layer())
                .limits(Limits::default().max_checksum_errors(3))
        },
        Some(layer()),
        Profile::Netaio,
    )
    .await;
    let verifier = PluginStack::new(layer());
    let mut frame = Message::new(MessageType::REQUEST_URI, "echo", "x")
        .to_bytes(Profile::Netaio)
        .unwrap()
        .to_vec();
    *frame.last_mut().unwrap() ^= 1;
    let mut s = raw(f.srv.addr).await;
    for _ in 0..4 {
        s.write_all(&frame).await.unwrap();
        f.bystander_ok().await;
    }
    let got = read_all(&mut s, Profile::Netaio).await;
    assert_eq!(got.len(), 4, "{got:?}");
    // netaio's answer, signed by the instance plugin like any reply ...
    for m in &got[..3] {
        let opened = verifier.open(m.clone()).expect("signed by the server");
        assert_eq!(plain(opened), Message::error("invalid message"));
    }
    // ... then one past the cap: closed with a reason (unsigned).
    only_error(&got[3..], "too many invalid messages");
    assert_eq!(f.srv.handle.stats().checksum_errors, 4);
    f.no_handler_calls();
    f.finish().await;
}

// Row 13
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_before_authentication_hit_the_lower_limit() {
    let layer = || PluginLayer::new().with_auth(NetaioHmac::new("k"));
    let mut f = fixture(
        |b| {
            b.plugins(layer())
                .limits(Limits::default().pre_auth_max_frame_len(2048))
        },
        Some(layer()),
        Profile::Netaio,
    )
    .await;
    // A header announcing a large frame is refused before its bytes are
    // buffered ...
    let mut s = raw(f.srv.addr).await;
    s.write_all(&netaio_header(0, 3, 60_000, 0)).await.unwrap();
    only_error(
        &read_all(&mut s, Profile::Netaio).await,
        "exceeds the limit of 2048",
    );
    f.bystander_ok().await;
    // ... and so is a correctly signed large frame as a connection's first:
    // the limit applies until a frame has passed the plugin.
    let client = PluginStack::new(layer());
    let big = || Message::new(MessageType::REQUEST_URI, "echo", vec![b'z'; 5000]);
    let mut stranger = connect(f.srv.addr).await;
    send(&mut stranger, client.seal(big()).unwrap()).await;
    only_error(
        &until_closed(&mut stranger).await,
        "exceeds the limit of 2048",
    );
    f.no_handler_calls();
    // After one authenticated frame the normal limit applies: the
    // bystander (authenticated by its checks) and a new member.
    let r = f.bystander.call(big().with_uri("echo")).await;
    assert_eq!(r.content().len(), 5000);
    let mut member = connect(f.srv.addr).await;
    let small = Message::new(MessageType::REQUEST_URI, "echo", "hi");
    let r = client.open(call(&mut member, client.seal(small).unwrap()).await);
    assert_eq!(&r.unwrap().content()[..], b"hi");
    let r = client.open(call(&mut member, client.seal(big()).unwrap()).await);
    assert_eq!(r.unwrap().content().len(), 5000);
    f.no_handler_calls_but(3);
    f.finish().await;
}

// Row 19
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_explosion_is_capped() {
    let mut f = fixture(
        |b| b.limits(Limits::default().max_subscriptions_per_connection(16)),
        None,
        Profile::Netaio,
    )
    .await;
    let mut c = connect(f.srv.addr).await;
    for i in 0..200 {
        let topic = format!("topic/{i}");
        let r = call(
            &mut c,
            Message::new(MessageType::SUBSCRIBE_URI, topic.clone(), ""),
        )
        .await;
        if i < 16 {
            assert_eq!(r.message_type, MessageType::CONFIRM_SUBSCRIBE, "{i}");
        } else {
            // Refused with the uri, so the peer can tell which one.
            assert_eq!(r.message_type, MessageType::ERROR, "{i}");
            assert_eq!(r.uri()[..], *topic.as_bytes());
            let text = String::from_utf8_lossy(r.content());
            assert!(text.contains("maximum of 16"), "{text}");
        }
    }
    assert_eq!(
        f.srv.handle.stats().topics,
        16 + 1,
        "16 capped + the bystander's"
    );
    f.bystander_ok().await;
    drop(c);
    eventually("topics released", || f.srv.handle.stats().topics == 1).await;
    f.finish().await;
}
