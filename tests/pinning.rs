//! M3 (issue 22): small values kept past a handler call must not pin the
//! large frames they arrived in. Before, 1 500 CREATEs of a 4-byte key with
//! a 64 KB junk auth field took RSS from 4 to 96 MiB while the store counted
//! 6 000 B; notifications queued in a client's subscription pinned their
//! frames the same way. RSS is this process's (one test in this binary, so
//! nothing else allocates meanwhile).

mod common;

use std::time::Duration;

use common::*;
use framewire::client::Client;
use framewire::server::{readme_routes, Server};
use framewire::{Message, MessageType, Profile};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;

/// A frame that is mostly a junk auth field.
fn padded(message_type: MessageType, uri: String, content: &'static str) -> Message {
    let mut m = Message::new(message_type, uri, content);
    m.auth.insert("junk", vec![0x5au8; 60_000]);
    m
}

const N: usize = 1500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_kept_values_do_not_pin_large_frames() {
    // Server side: the store and subscription keys.
    let srv = start(readme_routes(Server::builder()).build()).await;
    let mut c = connect(srv.addr).await;
    // Warm up allocator pools and buffers before the baseline.
    for i in 0..50 {
        let r = call(
            &mut c,
            padded(MessageType::REQUEST_URI, format!("w{i}"), ""),
        )
        .await;
        assert_eq!(r.message_type, MessageType::NOT_FOUND);
    }
    let before = rss();
    for i in 0..N {
        c.feed(padded(MessageType::CREATE_URI, format!("k{i:04}"), "v"))
            .await
            .unwrap();
        if i % 100 == 99 {
            c.flush().await.unwrap();
            for _ in 0..100 {
                assert_eq!(recv(&mut c).await.message_type, MessageType::OK);
            }
        }
    }
    let mut subscriber = connect(srv.addr).await;
    for i in 0..1000 {
        let r = call(
            &mut subscriber,
            padded(MessageType::SUBSCRIBE_URI, format!("t{i}"), ""),
        )
        .await;
        assert_eq!(r.message_type, MessageType::CONFIRM_SUBSCRIBE);
    }
    let grew = rss().saturating_sub(before);
    // 2 500 frames of ~60 KB went through; pinned, they would hold 150 MB.
    assert!(
        grew < 16 << 20,
        "server RSS grew by {} MiB for {N} tiny stored values and 1000 subscriptions",
        grew >> 20
    );
    drop((c, subscriber));
    srv.stop().await;

    // Client side: notifications waiting in a subscription nobody reads.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let mut f = tokio_util::codec::Framed::new(s, framewire::FrameCodec::new(Profile::Netaio));
        let sub = f.next().await.unwrap().unwrap().unwrap();
        let mut ok = Message::new(MessageType::CONFIRM_SUBSCRIBE, "news", "");
        if let Some(id) = framewire::protocol::RequestId::of(&sub) {
            id.attach(&mut ok);
        }
        f.send(ok).await.unwrap();
        // Each small notification arrives right behind a large frame the
        // client drops (a topic it is not subscribed to), so it is decoded
        // from the large read buffer that frame needed.
        for _ in 0..1000 {
            let junk = Message::new(MessageType::NOTIFY_URI, "other", vec![0x5au8; 60_000]);
            f.feed(junk).await.unwrap();
            f.feed(Message::new(MessageType::NOTIFY_URI, "news", "x"))
                .await
                .unwrap();
        }
        // Then a marker the client routes to a handler: the client reads
        // in order, so when it is handled all 1 000 are queued.
        f.feed(Message::new(MessageType::NOTIFY_URI, "done", ""))
            .await
            .unwrap();
        f.flush().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel::<()>();
    let client = Client::builder(addr.to_string())
        .keepalive(None)
        .on(
            (MessageType::NOTIFY_URI, "done"),
            move |_m: Message, _c: Client| {
                let done_tx = done_tx.clone();
                async move {
                    let _ = done_tx.send(());
                }
            },
        )
        .connect()
        .await
        .unwrap();
    let mut news = client.subscribe("news").await.unwrap();
    let before = rss();
    let first = tokio::time::timeout(LIMIT, news.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&first.content()[..], b"x");
    // Wait (bounded) until the rest have arrived and queued up unread: the
    // marker behind them has been handled. No fixed sleep, which on a busy
    // machine would measure fewer queued frames.
    tokio::time::timeout(LIMIT, done.recv())
        .await
        .expect("all 1 000 notifications arrived in time")
        .expect("the marker's handler ran");
    let grew = rss().saturating_sub(before);
    assert!(
        grew < 16 << 20,
        "client RSS grew by {} MiB for 1000 one-byte notifications",
        grew >> 20
    );
    let mut got = 1;
    while got < 1000 {
        tokio::time::timeout(LIMIT, news.next())
            .await
            .unwrap()
            .unwrap();
        got += 1;
    }
    assert_eq!(news.dropped(), 0);
    client.close().await;
    server.abort();
}
