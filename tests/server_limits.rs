//! Connection limit, slowloris and idle deadlines (virtual time). The
//! subscription cap and the pre-auth frame limit are hostile-input rows:
//! `hostile_server.rs`.

mod common;

use std::time::Duration;

use common::*;
use framewire::server::{Context, Limits, Server};
use framewire::{Message, MessageType};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long a virtual-time test waits for a close (deadlines of minutes
/// pass at once under `start_paused`).
const VIRTUAL_LIMIT: Duration = Duration::from_secs(3600);

fn echo() -> framewire::server::ServerBuilder {
    Server::builder().on(MessageType::REQUEST_URI, |m: Message, _c: Context| async move {
        Message::respond(m.uri().clone(), m.content().clone())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_closed_at_once() {
    let srv = start(echo().limits(Limits::default().max_connections(3)).build()).await;
    let mut bystander = Bystander::join(&srv).await;
    let mut ok = Vec::new();
    for _ in 0..2 {
        ok.push(connect(srv.addr).await);
    }
    eventually("3 registered", || srv.handle.connection_count() == 3).await;
    for _ in 0..5 {
        let mut extra = connect(srv.addr).await;
        assert!(until_closed(&mut extra).await.is_empty());
        bystander.check(&srv).await;
    }
    assert_eq!(srv.handle.stats().rejected, 5);
    for c in ok.iter_mut() {
        let r = call(
            c,
            Message::new(MessageType::REQUEST_URI, "echo", "still here"),
        )
        .await;
        assert_eq!(&r.content()[..], b"still here");
    }
    // A slot frees up when one leaves.
    drop(ok.pop());
    eventually("a slot freed", || srv.handle.connection_count() == 2).await;
    let mut again = connect(srv.addr).await;
    assert_eq!(
        call(&mut again, Message::new(MessageType::REQUEST_URI, "e", "x"))
            .await
            .message_type,
        MessageType::RESPOND_URI
    );
    bystander.check(&srv).await;
    srv.stop().await;
}

fn last_error_text(bytes: &[u8]) -> String {
    let msg = Message::decode(framewire::Profile::Netaio, bytes.to_vec()).expect("one error frame");
    assert_eq!(msg.message_type, MessageType::ERROR);
    String::from_utf8(msg.content().to_vec()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn slowloris_is_cut_at_the_frame_deadline() {
    let limits = Limits::default()
        .frame_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(60));
    let srv = start(echo().limits(limits).build()).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let frame = Message::new(MessageType::REQUEST_URI, "echo", "x")
        .to_bytes(framewire::Profile::Netaio)
        .unwrap();
    let start = Instant::now();
    // One byte per second: the frame would take 18 s.
    let writer = async {
        for b in frame.iter() {
            if s.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    let mut reader = TcpStream::connect(srv.addr).await.unwrap(); // a bystander
    let mut bystander = Bystander::join(&srv).await;
    let _ = tokio::time::timeout(Duration::from_secs(30), writer).await;
    let (bytes, closed_at) = read_to_close_within(&mut s, VIRTUAL_LIMIT).await;
    let took = closed_at - start;
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert_eq!(last_error_text(&bytes), "frame deadline exceeded");
    // The bystander connection (idle 60 s) is unaffected so far.
    let mut framed = tokio_util::codec::Framed::new(
        &mut reader,
        framewire::FrameCodec::new(framewire::Profile::Netaio),
    );
    futures::SinkExt::send(
        &mut framed,
        Message::new(MessageType::REQUEST_URI, "echo", "ok"),
    )
    .await
    .unwrap();
    let r = framed.next().await.unwrap().unwrap().unwrap();
    assert_eq!(&r.content()[..], b"ok");
    bystander.check(&srv).await;
    srv.stop().await;
}

#[tokio::test(start_paused = true)]
async fn silent_connections_close_at_the_idle_timeout_but_subscribers_stay() {
    let limits = Limits::default()
        .idle_timeout(Duration::from_secs(30))
        .first_frame_timeout(VIRTUAL_LIMIT);
    let server = echo().subscriptions().limits(limits).build();
    let srv = start(server).await;
    let start = Instant::now();
    let mut silent = TcpStream::connect(srv.addr).await.unwrap();
    let mut bystander = Bystander::join(&srv).await;
    let mut sub = connect(srv.addr).await;
    assert_eq!(
        call(&mut sub, Message::new(MessageType::SUBSCRIBE_URI, "t", ""))
            .await
            .message_type,
        MessageType::CONFIRM_SUBSCRIBE
    );
    let (bytes, closed_at) = read_to_close_within(&mut silent, VIRTUAL_LIMIT).await;
    let took = closed_at - start;
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(32),
        "{took:?}"
    );
    assert_eq!(last_error_text(&bytes), "idle timeout");
    // Ten idle minutes later the subscriber still gets notifications.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(
        srv.handle
            .notify("t", Message::new(MessageType::NOTIFY_URI, "t", "late"))
            .unwrap(),
        1
    );
    assert_eq!(&recv(&mut sub).await.content()[..], b"late");
    bystander.check(&srv).await;
    srv.stop().await;
}

/// The idle exemption follows subscriptions made and dropped through the
/// server handle while the connection is silent.
#[tokio::test(start_paused = true)]
async fn idle_exemption_follows_subscriptions_changed_by_the_handle() {
    let idle = Duration::from_secs(30);
    let srv = start(echo().limits(Limits::default().idle_timeout(idle)).build()).await;
    let mut bystander = Bystander::join(&srv).await;
    let mut silent = TcpStream::connect(srv.addr).await.unwrap();
    let id = conn_id(&srv, silent.local_addr().unwrap()).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    srv.handle.subscribe("t", id).unwrap();
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(
        srv.handle
            .notify("t", Message::new(MessageType::NOTIFY_URI, "t", "x"))
            .unwrap(),
        1,
        "a subscriber made by the handle is not idle-closed"
    );
    assert!(srv.handle.unsubscribe(b"t", id));
    let dropped = Instant::now();
    let (bytes, closed_at) = read_to_close_within(&mut silent, VIRTUAL_LIMIT).await;
    let took = closed_at - dropped;
    assert!(
        took <= 2 * idle,
        "closed {took:?} after its last subscription"
    );
    let mut buf = bytes::BytesMut::from(&bytes[..]);
    let cfg = framewire::FrameConfig::new(framewire::Profile::Netaio);
    let note = framewire::wire::decode_frame(&mut buf, &cfg)
        .unwrap()
        .unwrap();
    assert_eq!(note.message_type, MessageType::NOTIFY_URI);
    assert_eq!(last_error_text(&buf), "idle timeout");
    bystander.check(&srv).await;
    srv.stop().await;
}

/// Without auth, a connection that sends no complete frame is closed at
/// `first_frame_timeout` (not after the whole idle timeout); one frame is
/// enough to stay.
#[tokio::test(start_paused = true)]
async fn a_connection_that_sends_nothing_is_closed_at_the_first_frame_deadline() {
    let srv = start(echo().build()).await;
    let mut bystander = Bystander::join(&srv).await;
    let start = Instant::now();
    let mut silent = TcpStream::connect(srv.addr).await.unwrap();
    let mut talker = connect(srv.addr).await;
    let mut half = TcpStream::connect(srv.addr).await.unwrap();
    // Half a frame is not a frame (and has its own, shorter deadline).
    half.write_all(&[MessageType::REQUEST_URI.value()])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let r = call(
        &mut talker,
        Message::new(MessageType::REQUEST_URI, "echo", "here"),
    )
    .await;
    assert_eq!(&r.content()[..], b"here");
    let (bytes, closed_at) = read_to_close_within(&mut silent, VIRTUAL_LIMIT).await;
    let took = closed_at - start;
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(32),
        "{took:?}"
    );
    assert_eq!(last_error_text(&bytes), "no frame in time");
    let (bytes, _) = read_to_close_within(&mut half, VIRTUAL_LIMIT).await;
    assert_eq!(last_error_text(&bytes), "frame deadline exceeded");
    tokio::time::sleep(Duration::from_secs(60)).await;
    let r = call(
        &mut talker,
        Message::new(MessageType::REQUEST_URI, "echo", "still"),
    )
    .await;
    assert_eq!(&r.content()[..], b"still", "one frame admits a connection");
    let stats = srv.handle.stats();
    assert_eq!(stats.first_frame_timeouts, 1);
    assert_eq!(stats.auth_timeouts, 0);
    bystander.check(&srv).await;
    srv.stop().await;
}

/// With an auth plugin, a connection must pass it within `auth_timeout`:
/// silence and frames that fail the check are both closed at the deadline;
/// a connection that authenticated stays.
#[tokio::test(start_paused = true)]
async fn unauthenticated_connections_are_closed_at_the_auth_deadline() {
    let hmac = || framewire::PluginLayer::new().with_auth(framewire::NetaioHmac::new("s"));
    let limits = Limits::default().max_auth_failures(u32::MAX);
    let srv = start(echo().plugins(hmac()).limits(limits).build()).await;
    let signer = framewire::PluginStack::new(hmac());
    let mut bystander =
        Bystander::join_with(&srv, framewire::Profile::Netaio, Some(signer.clone())).await;
    let start = Instant::now();
    let mut silent = TcpStream::connect(srv.addr).await.unwrap();
    let mut forger = TcpStream::connect(srv.addr).await.unwrap();
    let forged = framewire::PluginStack::new(
        framewire::PluginLayer::new().with_auth(framewire::NetaioHmac::new("wrong")),
    )
    .seal(Message::new(MessageType::REQUEST_URI, "echo", ""))
    .unwrap()
    .to_bytes(framewire::Profile::Netaio)
    .unwrap();
    let mut honest = connect(srv.addr).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    forger.write_all(&forged).await.unwrap();
    let signed = signer
        .seal(Message::new(MessageType::REQUEST_URI, "echo", "me"))
        .unwrap();
    let r = call(&mut honest, signed).await;
    assert_eq!(&r.content()[..], b"me");
    for s in [&mut silent, &mut forger] {
        let (bytes, closed_at) = read_to_close_within(s, VIRTUAL_LIMIT).await;
        let took = closed_at - start;
        assert!(
            took >= Duration::from_secs(10) && took < Duration::from_secs(12),
            "{took:?}"
        );
        let got = frames(&bytes, framewire::Profile::Netaio);
        let last = got.last().expect("a farewell");
        assert_eq!(last.message_type, MessageType::ERROR);
        assert_eq!(&last.content()[..], b"not authenticated in time");
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    let signed = signer
        .seal(Message::new(MessageType::REQUEST_URI, "echo", "again"))
        .unwrap();
    let r = call(&mut honest, signed).await;
    assert_eq!(&r.content()[..], b"again");
    let stats = srv.handle.stats();
    assert_eq!((stats.auth_timeouts, stats.first_frame_timeouts), (2, 0));
    bystander.check(&srv).await;
    srv.stop().await;
}
