//! framewire::testing itself: in-memory peers and clients, refusals,
//! closes and their reasons, virtual time, counter deltas, and the
//! `arbitrary` messages staying inside the decoder's limits.

use std::net::SocketAddr;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use framewire::server::{Context, Limits, Server};
use framewire::testing::TestServer;
use framewire::{FrameConfig, Message, MessageType, Profile};

fn echo_server(limits: Limits) -> Server {
    Server::builder()
        .limits(limits)
        .on(
            MessageType::REQUEST_URI,
            |m: Message, ctx: Context| async move {
                Message::respond(m.uri().clone(), ctx.peer().to_string())
            },
        )
        .build()
}

fn req(uri: &'static str) -> Message {
    Message::new(MessageType::REQUEST_URI, uri, "")
}

#[tokio::test]
async fn each_peer_has_its_own_address_and_peer_from_sets_one() {
    let server = TestServer::new(echo_server(Limits::default()));
    let mut a = server.peer().unwrap();
    let mut b = server.peer().unwrap();
    assert_ne!(a.addr(), b.addr());
    let seen = |m: Message| String::from_utf8(m.content().to_vec()).unwrap();
    assert_eq!(seen(a.call(req("x")).await.unwrap()), a.addr().to_string());
    assert_eq!(seen(b.call(req("x")).await.unwrap()), b.addr().to_string());
    let there: SocketAddr = "10.1.2.3:4567".parse().unwrap();
    let mut c = server.peer_from(there).unwrap();
    assert_eq!(seen(c.call(req("x")).await.unwrap()), "10.1.2.3:4567");
}

#[tokio::test]
async fn a_full_server_refuses_and_counts_it() {
    let server = TestServer::new(echo_server(Limits::default().max_connections(1)));
    let _first = server.peer().unwrap();
    let e = server.peer().unwrap_err();
    assert!(e.is_refused(), "{e}");
    assert_eq!(server.stats().rejected, 1);
    // A client's dial is refused the same way.
    let e = server.client().connect().await.unwrap_err();
    assert!(e.is_connect(), "{e}");
}

#[tokio::test(start_paused = true)]
async fn deadlines_pass_in_virtual_time_and_the_close_says_why() {
    let limits = Limits::default().first_frame_timeout(Duration::from_secs(30));
    let server = TestServer::new(echo_server(limits)).timeout(Duration::from_secs(60));
    let mut silent = server.peer().unwrap();
    let started = tokio::time::Instant::now();
    let closed = silent.closed().await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
        "{waited:?}"
    );
    assert_eq!(closed.reason().as_deref(), Some("no frame in time"));
    let stats = server
        .stats_when(|s| s.first_frame_timeouts == 1)
        .await
        .unwrap();
    assert_eq!(stats.connections, 0);
}

#[tokio::test(start_paused = true)]
async fn waits_are_bounded_by_the_kit_timeout() {
    let server = TestServer::new(echo_server(Limits::default())).timeout(Duration::from_secs(3));
    let mut peer = server.peer().unwrap();
    let started = tokio::time::Instant::now();
    let e = peer.recv().await.unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    // Open and quiet (the first-frame deadline is 30 s): not closed.
    let e = peer.closed().await.unwrap_err();
    assert!(e.is_not_closed(), "{e}");
    let e = server.stats_when(|s| s.frames_in > 0).await.unwrap_err();
    assert!(e.is_timeout(), "{e}");
}

#[tokio::test]
async fn a_hang_up_closes_without_a_reason_and_recv_reports_the_close() {
    let server = TestServer::new(echo_server(Limits::default()));
    let mut peer = server.peer().unwrap();
    peer.call(req("x")).await.unwrap();
    peer.hang_up().await.unwrap();
    let closed = peer.closed().await.unwrap();
    assert!(closed.messages.is_empty());
    assert_eq!(closed.reason(), None);
    assert!(peer.recv().await.unwrap_err().is_closed());
}

#[tokio::test]
async fn counter_deltas_are_what_this_test_did() {
    let server = TestServer::new(echo_server(Limits::default()));
    let mut warmup = server.peer().unwrap();
    warmup.call(req("x")).await.unwrap();
    let before = server.stats_when(|s| s.frames_in == 1).await.unwrap();
    let mut peer = server.peer().unwrap();
    for _ in 0..3 {
        peer.call(req("x")).await.unwrap();
    }
    let now = server
        .stats_when(|s| s.since(&before).frames_in == 3)
        .await
        .unwrap();
    let delta = now.since(&before);
    assert_eq!((delta.accepted, delta.frames_out), (1, 3));
    assert_eq!(delta.connections, 2, "gauges are kept as they are now");
    assert_eq!(before.since(&now).frames_in, 0, "never below zero");
}

#[tokio::test(start_paused = true)]
async fn clients_dial_in_memory_and_are_refused_once_it_stops() {
    let server = TestServer::new(echo_server(Limits::default()));
    let client = server
        .client()
        .request_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    // Without an auth plugin there are no credentials to check: connect
    // sends nothing.
    assert_eq!(server.stats().frames_in, 0);
    let reply = client.request("x", "").await.unwrap();
    assert_eq!(reply.message_type, MessageType::RESPOND_URI);
    assert_eq!(server.stats().connections, 1);
    server.stop().await;
    assert!(server.peer().unwrap_err().is_refused());
    assert!(client.request("x", "").await.is_err());
}

/// Arbitrary messages from any input encode in both profiles and decode
/// back unchanged with the default limits.
#[test]
fn arbitrary_messages_stay_inside_the_decoder_limits() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut made = 0;
    for round in 0..400usize {
        // Mostly small inputs; every 40th larger than any frame, so the
        // bounds are what keeps the messages encodable.
        let len = if round % 40 == 0 {
            200_000
        } else {
            16 + round * 37 % 9000
        };
        let noise: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let Ok(msg) = Message::arbitrary(&mut Unstructured::new(&noise)) else {
            continue;
        };
        made += 1;
        assert!(msg.auth.len() <= FrameConfig::default().max_auth_fields);
        for profile in [Profile::Netaio, Profile::Wide] {
            let bytes = msg.to_bytes(profile).expect("arbitrary messages encode");
            let mut buf = bytes::BytesMut::from(&bytes[..]);
            let back = framewire::wire::decode_frame(&mut buf, &FrameConfig::new(profile))
                .expect("decodes")
                .expect("whole frame");
            assert_eq!(
                (back.message_type, back.uri(), back.content()),
                (msg.message_type, msg.uri(), msg.content())
            );
            assert_eq!(back.auth.len(), msg.auth.len());
        }
    }
    assert!(made > 300, "only {made} of 400 inputs made a message");
}

/// Replies to requests that arrive together leave together (one buffer in
/// the outbound queue), yet are counted, bounded and ordered as frames.
#[tokio::test]
async fn replies_to_pipelined_requests_are_counted_as_frames() {
    // A queue bound below the batch: the batch still goes out whole.
    let server = TestServer::new(echo_server(Limits::default().max_queued_frames(2)));
    let mut peer = server.peer().unwrap();
    let mut batch = Vec::new();
    for uri in ["a", "b", "c", "d", "e"] {
        batch.extend_from_slice(&req(uri).to_bytes(Profile::Netaio).unwrap());
    }
    peer.send_raw(&batch).await.unwrap();
    let mut uris = Vec::new();
    for _ in 0..5 {
        uris.push(peer.recv().await.unwrap().uri().clone());
    }
    assert_eq!(uris, ["a", "b", "c", "d", "e"]);
    let stats = server.stats_when(|s| s.frames_out == 5).await.unwrap();
    assert_eq!(stats.frames_in, 5);
}
