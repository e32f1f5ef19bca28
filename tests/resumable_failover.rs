//! Resumable subscriptions across a failover (real sockets, two instances
//! on a memory backplane, each with a topic history): a subscriber on A
//! gets every one of a stream published on B, in order and once each,
//! though A dies mid-stream — B's history fills in what A never sent, and
//! the notification ids drop what the client had already delivered.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use framewire::client::{Client, ConnectionEvent, Reconnect};
use framewire::server::{History, MemoryBackplane};
use framewire::{Message, MessageType};

const N: u32 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_failing_over_mid_stream_gets_every_message_once_in_order() {
    let hub = MemoryBackplane::new();
    let a = start(
        common::cluster::builder("a", hub.clone())
            .history(History::default().per_topic(1024))
            .build(),
    )
    .await;
    let b = start(
        common::cluster::builder("b", hub.clone())
            .history(History::default().per_topic(1024))
            .build(),
    )
    .await;
    let board = Switchboard::new();
    board.set("0", a.addr);
    board.set("1", b.addr);
    let c = Client::builder(["0", "1"])
        .connector(board.clone())
        .reconnect(
            Reconnect::default()
                .initial(Duration::from_millis(20))
                .max(Duration::from_millis(100)),
        )
        .connect()
        .await
        .unwrap();
    let mut events = c.events();
    let mut sub = c.subscribe("t").await.unwrap();
    assert_eq!(c.peer_addr(), Some(a.addr));
    // B publishes a steady stream; A relays it to the subscriber.
    let publisher = {
        let b = b.handle.clone();
        tokio::spawn(async move {
            for i in 0..N {
                let note = Message::new(MessageType::NOTIFY_URI, "t", i.to_string());
                b.notify("t", note).unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut got = Vec::new();
    while got.len() < 40 {
        let m = tokio::time::timeout(LIMIT, sub.next())
            .await
            .unwrap()
            .unwrap();
        got.push(String::from_utf8_lossy(m.content()).parse::<u32>().unwrap());
    }
    // A dies mid-stream without a drain (a graceful shutdown would hand
    // the client over with an overlap, and lose nothing anyway).
    board.unset("0");
    a.task.abort();
    let _ = a.task.await;
    for conn in a.handle.connections() {
        a.handle.disconnect(conn.id);
    }
    while got.len() < N as usize {
        let m = tokio::time::timeout(LIMIT, sub.next())
            .await
            .unwrap_or_else(|_| panic!("stuck after {} of {N}: {got:?}", got.len()))
            .unwrap();
        got.push(String::from_utf8_lossy(m.content()).parse::<u32>().unwrap());
    }
    publisher.await.unwrap();
    assert_eq!(got, (0..N).collect::<Vec<_>>(), "every one, once, in order");
    assert_eq!(c.peer_addr(), Some(b.addr));
    let more = tokio::time::timeout(Duration::from_millis(200), sub.next()).await;
    assert!(more.is_err(), "nothing twice: {more:?}");
    // B's history overlapped what A delivered: no gap reported.
    let mut seen = BTreeSet::new();
    while let Ok(e) = events.try_recv() {
        seen.insert(format!("{e:?}"));
        assert!(!matches!(e, ConnectionEvent::Gap { .. }), "{e:?}");
    }
    c.close().await;
    b.stop().await;
}
