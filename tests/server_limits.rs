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
    let limits = Limits::default().idle_timeout(Duration::from_secs(30));
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
