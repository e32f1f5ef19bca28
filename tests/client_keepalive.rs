//! The client's keepalive judges the server by its answers: a server that
//! keeps notifying but no longer reads what the client sends is declared
//! dead as a silent one is (found by the simulation, seed 57: a partition
//! that lost the client's frames left requests timing out forever on a
//! connection whose notifications kept it "alive"), while a server that
//! answers keeps the connection up however busy it is.

use std::time::Duration;

use framewire::client::{Client, ConnectionEvent, DisconnectReason, Keepalive, Reconnect};
use framewire::server::Server;
use framewire::{Message, MessageType, Profile};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::broadcast;

/// The next event, within `limit` (real time).
async fn event_within(
    events: &mut broadcast::Receiver<ConnectionEvent>,
    limit: Duration,
) -> Option<ConnectionEvent> {
    tokio::time::timeout(limit, events.recv())
        .await
        .ok()
        .map(|e| e.expect("event channel open"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_notifies_but_never_reads_is_declared_dead() {
    // Accepts, never reads, and sends a notification every 20 ms: the
    // connection is busy, but nothing the client sends is ever answered.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let note = Message::new(MessageType::NOTIFY_URI, "t", "x")
        .to_bytes(Profile::Netaio)
        .unwrap();
    let talker = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        for _ in 0..1_000 {
            if s.write_all(&note).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let c = Client::builder(addr.to_string())
        .keepalive(Some(Keepalive::new(
            Duration::from_millis(200),
            Duration::from_millis(300),
        )))
        .reconnect(Reconnect::disabled())
        .connect()
        .await
        .unwrap();
    let mut events = c.events();
    // Detection within interval + timeout (0.5 s); 10 s of slack for a
    // loaded machine, while the talker keeps going for 20 s.
    match event_within(&mut events, Duration::from_secs(10)).await {
        Some(ConnectionEvent::Disconnected { reason }) => {
            assert_eq!(reason, DisconnectReason::KeepaliveTimeout)
        }
        other => panic!("the stalled server was not found: {other:?}"),
    }
    talker.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_answers_keeps_a_notified_connection_up() {
    // The other side of the rule: notifications every few ms and a ping
    // answered each interval keep the connection up.
    let server = framewire::server::readme_routes(Server::builder()).build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve(listener, std::future::pending()));
    let c = Client::builder(addr.to_string())
        .keepalive(Some(Keepalive::new(
            Duration::from_millis(100),
            Duration::from_secs(5),
        )))
        .reconnect(Reconnect::disabled())
        .connect()
        .await
        .unwrap();
    let mut sub = c.subscribe("t").await.unwrap();
    let mut events = c.events();
    let frames_before = handle.stats().frames_in;
    let publisher = {
        let handle = handle.clone();
        tokio::spawn(async move {
            for i in 0..100u32 {
                let note = Message::new(MessageType::NOTIFY_URI, "t", i.to_string());
                handle.notify("t", note).unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    for _ in 0..100 {
        tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("a notification in time")
            .expect("the subscription open");
    }
    publisher.await.unwrap();
    assert!(
        event_within(&mut events, Duration::ZERO).await.is_none(),
        "the connection went down"
    );
    assert!(c.is_connected());
    // The client pinged while notifications streamed in (about 1 s of
    // them at a 100 ms interval), and the server answered.
    assert!(
        handle.stats().frames_in > frames_before,
        "no ping while notified"
    );
    c.close().await;
    handle.stop().await;
    serving.await.unwrap().unwrap();
}
