//! Client server lists, failover to the next instance, the offline
//! buffer, and the lame-duck drain: a framewire client moves off a server
//! that shuts down gracefully without a failed request.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use framewire::client::{Client, ClientError, ConnectionEvent, OfflineBuffer, Reconnect};
use framewire::server::{readme_routes, Limits, MemoryBackplane, Server};
use framewire::{Message, MessageType};

fn fast() -> Reconnect {
    Reconnect::default()
        .initial(Duration::from_millis(20))
        .max(Duration::from_millis(100))
        .jitter(0.0)
}

/// A client of `servers`, in that order, reconnecting fast. It dials them
/// by name ("0", "1", ...) through the returned board, so a test can
/// take a server off it before stopping it: the client is then refused,
/// never sent to a freed port that another test may be listening on.
fn client_of(servers: &[&Running]) -> (framewire::client::ClientBuilder, Switchboard) {
    let board = Switchboard::new();
    let mut names = Vec::new();
    for (k, s) in servers.iter().enumerate() {
        board.set(&k.to_string(), s.addr);
        names.push(k.to_string());
    }
    let builder = Client::builder(names)
        .connector(board.clone())
        .reconnect(fast());
    (builder, board)
}

/// A readme-routes server on a fresh port, pointed at by `name` on `board`.
async fn serve_as(board: &Switchboard, name: &str) -> Running {
    let srv = start(readme_routes(Server::builder()).build()).await;
    board.set(name, srv.addr);
    srv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_server_that_answers_is_used() {
    let srv = start(readme_routes(Server::builder()).build()).await;
    // Held bound, never listening, for the whole test: refused every time.
    let dead_port = DeadPort::new();
    let dead = dead_port.addr.to_string();
    let c = Client::builder([dead.clone(), srv.addr.to_string()])
        .connect()
        .await
        .unwrap();
    assert_eq!(c.peer_addr(), Some(srv.addr));
    assert_eq!(&c.request("echo", "hi").await.unwrap().content()[..], b"hi");
    // None answering: the last error, naming the address.
    let err = Client::builder([dead.clone(), dead.clone()])
        .connect()
        .await
        .unwrap_err();
    assert!(err.is_connect() && err.to_string().contains(&dead), "{err}");
    let empty: Vec<String> = Vec::new();
    let err = Client::builder(empty).connect().await.unwrap_err();
    assert!(matches!(err, ClientError::NoServers), "{err}");
    c.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_first_connect_waits_for_a_server_that_starts_late() {
    // "late" is refused until the server is up.
    let board = Switchboard::new();
    let connecting = tokio::spawn(
        Client::builder("late")
            .connector(board.clone())
            .reconnect(fast())
            .retry_first_connect(true)
            .connect(),
    );
    eventually("three refused attempts", || board.attempts("late") >= 3).await;
    assert!(!connecting.is_finished(), "still trying after refusals");
    let srv = serve_as(&board, "late").await;
    let c = tokio::time::timeout(LIMIT, connecting)
        .await
        .expect("connected in time")
        .unwrap()
        .unwrap();
    assert_eq!(
        &c.request("echo", "late").await.unwrap().content()[..],
        b"late"
    );
    assert_eq!(c.peer_addr(), Some(srv.addr));
    c.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_a_server_moves_to_the_next_and_resubscribes_there() {
    let hub = MemoryBackplane::new();
    let a = common::cluster::instance("a", hub.clone()).await;
    let b = common::cluster::instance("b", hub.clone()).await;
    let (builder, board) = client_of(&[&a, &b]);
    let c = builder.connect().await.unwrap();
    let mut events = c.events();
    let mut sub = c.subscribe("t").await.unwrap();
    assert_eq!(c.peer_addr(), Some(a.addr));
    // a dies without a drain: the client learns of it from the socket
    // (and a's port, freed, is never dialled again).
    board.unset("0");
    a.handle.shutdown();
    a.task.abort();
    let _ = a.task.await;
    for conn in a.handle.connections() {
        a.handle.disconnect(conn.id);
    }
    reconnected(&mut events).await;
    assert_eq!(c.peer_addr(), Some(b.addr));
    eventually("resubscribed on b", || b.handle.stats().topics == 1).await;
    b.handle
        .notify("t", Message::new(MessageType::NOTIFY_URI, "t", "on b"))
        .unwrap();
    let note = tokio::time::timeout(LIMIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&note.content()[..], b"on b");
    c.close().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_sent_while_reconnecting_waits_and_goes_out_in_order() {
    let srv = start(readme_routes(Server::builder()).build()).await;
    let (builder, board) = client_of(&[&srv]);
    let c = builder.connect().await.unwrap();
    let mut events = c.events();
    // The server goes away; while it is away, requests and sends wait.
    board.unset("0");
    srv.stop().await;
    eventually("disconnected", || !c.is_connected()).await;
    let created = tokio::spawn({
        let c = c.clone();
        async move { c.create("k", "v1").await }
    });
    eventually("the create is buffered", || c.buffered() == 1).await;
    c.send(Message::new(MessageType::UPDATE_URI, "k", "v2"))
        .await
        .unwrap();
    assert_eq!(c.buffered(), 2);
    let back = serve_as(&board, "0").await;
    reconnected(&mut events).await;
    let created = tokio::time::timeout(LIMIT, created).await.unwrap().unwrap();
    assert_eq!(created.unwrap().message_type, MessageType::OK);
    // The update went out after the create, on the same connection, and
    // the server answers a connection's frames in order: a request sent
    // now is read after the update, so it sees v2 (no wait needed).
    let v = c.request("k", "").await.unwrap();
    assert_eq!(&v.content()[..], b"v2");
    assert_eq!((c.buffered(), c.offline_dropped()), (0, 0));
    c.close().await;
    back.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_buffer_is_bounded_and_reports_what_it_drops() {
    let srv = start(readme_routes(Server::builder()).build()).await;
    let (builder, board) = client_of(&[&srv]);
    let c = builder
        .offline_buffer(Some(
            OfflineBuffer::default()
                .max_messages(3)
                .max_age(Duration::from_millis(200)),
        ))
        .connect()
        .await
        .unwrap();
    let mut events = c.events();
    board.unset("0");
    srv.stop().await;
    eventually("disconnected", || !c.is_connected()).await;
    let note = || Message::new(MessageType::NOTIFY_URI, "x", "y");
    for _ in 0..3 {
        c.send(note()).await.unwrap();
    }
    let err = c.send(note()).await.unwrap_err();
    assert!(err.is_offline_buffer_full(), "{err}");
    // Too old by the time a server is back: dropped and reported.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let back = serve_as(&board, "0").await;
    let dropped = tokio::time::timeout(LIMIT, async {
        loop {
            if let Ok(ConnectionEvent::OfflineDropped { messages }) = events.recv().await {
                return messages;
            }
        }
    })
    .await
    .expect("a drop event");
    assert_eq!((dropped, c.offline_dropped(), c.buffered()), (3, 3, 0));
    c.close().await;
    back.stop().await;

    // Without a buffer, a send while disconnected fails at once.
    let srv = start(readme_routes(Server::builder()).build()).await;
    let (builder, board) = client_of(&[&srv]);
    let c = builder.offline_buffer(None).connect().await.unwrap();
    board.unset("0");
    srv.stop().await;
    eventually("disconnected", || !c.is_connected()).await;
    let err = c.send(note()).await.unwrap_err();
    assert!(err.is_connection_lost(), "{err}");
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_server_loses_no_request_of_a_client_that_moves() {
    let hub = MemoryBackplane::new();
    let slow = |name: &str| {
        common::cluster::builder(name, hub.clone())
            .on(
                (MessageType::REQUEST_URI, "slow"),
                |m: Message, _c: framewire::server::Context| async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Message::respond("slow", m.content().clone())
                },
            )
            .build()
    };
    let a = start(slow("a")).await;
    let b = start(slow("b")).await;
    let c = client_of(&[&a, &b]).0.connect().await.unwrap();
    let mut events = c.events();
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (c, ok, failed, stop) = (c.clone(), ok.clone(), failed.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) && i < 10_000 {
                let body = format!("{w}:{i}");
                match c.request("slow", body.clone()).await {
                    Ok(r) if r.content()[..] == *body.as_bytes() => {
                        ok.fetch_add(1, Ordering::Relaxed)
                    }
                    other => {
                        eprintln!("worker {w}: {other:?}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
                i += 1;
            }
        }));
    }
    eventually("traffic on a", || ok.load(Ordering::Relaxed) >= 16).await;
    let stopping = tokio::spawn(a.stop());
    let moved = tokio::time::timeout(LIMIT, async {
        loop {
            match events.recv().await {
                Ok(ConnectionEvent::Disconnected { reason }) => break reason,
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("told to move");
    assert!(moved.is_draining(), "{moved}");
    reconnected(&mut events).await;
    assert_eq!(c.peer_addr(), Some(b.addr));
    tokio::time::timeout(LIMIT, stopping)
        .await
        .expect("a stopped in time (its clients left)")
        .unwrap();
    let before = ok.load(Ordering::Relaxed);
    eventually("traffic on b", || ok.load(Ordering::Relaxed) >= before + 16).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request failed");
    c.close().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_peers_that_speak_framewire_get_the_drain_notice() {
    let srv = start(
        readme_routes(Server::builder())
            .limits(Limits::default().drain_timeout(Duration::from_millis(300)))
            .build(),
    )
    .await;
    // A netaio-style peer: plain requests, no request id.
    let mut netaio = connect(srv.addr).await;
    call(
        &mut netaio,
        Message::new(MessageType::REQUEST_URI, "echo", "x"),
    )
    .await;
    // A framewire peer: a request with an id.
    let mut fw = connect(srv.addr).await;
    let mut req = Message::new(MessageType::REQUEST_URI, "echo", "y");
    framewire::protocol::RequestId::from(7).attach(&mut req);
    call(&mut fw, req).await;
    let stopping = tokio::spawn(srv.stop());
    let notice = recv(&mut fw).await;
    assert_eq!(notice.message_type, MessageType::NOTIFY_URI);
    assert_eq!(&notice.uri()[..], framewire::protocol::DRAIN_URI.as_bytes());
    // The netaio peer is served during the drain and then just closed.
    let r = call(
        &mut netaio,
        Message::new(MessageType::REQUEST_URI, "echo", "z"),
    )
    .await;
    assert_eq!(&r.content()[..], b"z");
    assert!(until_closed(&mut netaio).await.is_empty());
    tokio::time::timeout(LIMIT, stopping)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_in_flight_when_the_drain_starts_still_arrive() {
    let srv = start(
        readme_routes(Server::builder())
            .on(
                (MessageType::REQUEST_URI, "slow"),
                |m: Message, _c: framewire::server::Context| async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Message::respond("slow", m.content().clone())
                },
            )
            .limits(Limits::default().drain_timeout(Duration::from_secs(5)))
            .build(),
    )
    .await;
    let mut fw = connect(srv.addr).await;
    let with_id = |uri: &str, n: u64| {
        let mut req = Message::new(MessageType::REQUEST_URI, uri.to_owned(), n.to_string());
        framewire::protocol::RequestId::from(n).attach(&mut req);
        req
    };
    call(&mut fw, with_id("echo", 99)).await;
    for i in 0..3 {
        send(&mut fw, with_id("slow", i)).await;
    }
    let t0 = std::time::Instant::now();
    let stopping = tokio::spawn(srv.stop());
    let notice = recv(&mut fw).await;
    assert_eq!(&notice.uri()[..], framewire::protocol::DRAIN_URI.as_bytes());
    for i in 0..3 {
        let r = recv(&mut fw).await;
        assert_eq!(
            (r.message_type, &r.content()[..]),
            (MessageType::RESPOND_URI, i.to_string().as_bytes())
        );
    }
    // Still served while draining; the drain ends when the client leaves.
    let r = call(&mut fw, with_id("echo", 100)).await;
    assert_eq!(&r.content()[..], b"100");
    drop(fw);
    tokio::time::timeout(LIMIT, stopping)
        .await
        .unwrap()
        .unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "the drain ended when its client left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_moves_gets_every_notification_exactly_once() {
    let hub = MemoryBackplane::new();
    let a = common::cluster::instance("a", hub.clone()).await;
    let b = common::cluster::instance("b", hub.clone()).await;
    let p = common::cluster::instance("p", hub.clone()).await;
    let c = client_of(&[&a, &b]).0.connect().await.unwrap();
    let mut events = c.events();
    let mut sub = c.subscribe("t").await.unwrap();
    let n = 600u32;
    let publisher = tokio::spawn({
        let addr = p.addr;
        async move {
            let mut conn = connect(addr).await;
            for i in 0..n {
                let r = call(
                    &mut conn,
                    Message::new(MessageType::PUBLISH_URI, "pub/t", i.to_string()),
                )
                .await;
                assert_eq!(r.message_type, MessageType::OK);
                if i % 4 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    });
    let mut got = Vec::new();
    while got.len() < 150 {
        let note = tokio::time::timeout(LIMIT, sub.next())
            .await
            .unwrap()
            .unwrap();
        got.push(
            String::from_utf8(note.content().to_vec())
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
    }
    let stopping = tokio::spawn(a.stop());
    reconnected(&mut events).await;
    assert_eq!(c.peer_addr(), Some(b.addr));
    tokio::time::timeout(LIMIT, stopping)
        .await
        .expect("a stopped: its client left")
        .unwrap();
    tokio::time::timeout(LIMIT * 3, publisher)
        .await
        .unwrap()
        .unwrap();
    while got.len() < n as usize {
        let note = tokio::time::timeout(LIMIT, sub.next())
            .await
            .expect("every note")
            .unwrap();
        got.push(
            String::from_utf8(note.content().to_vec())
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
    }
    // Each exactly once. Order holds per connection; during the overlap
    // the old and the new connection both deliver, so notifications of
    // that moment may interleave (seen: 297, 299, 300, 298).
    assert_eq!(got.len(), n as usize, "no duplicate: {got:?}");
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "all, once");
    // Nothing more: no duplicate arrives late.
    assert!(tokio::time::timeout(Duration::from_millis(200), sub.next())
        .await
        .is_err());
    assert_eq!(sub.dropped(), 0);
    c.close().await;
    b.stop().await;
    p.stop().await;
}
