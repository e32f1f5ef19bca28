//! Reconnection: backoff timing (virtual time), server restart with
//! resubscription, in-flight requests failing fast, half-open detection by
//! keepalive, and giving up. The virtual-time tests run in memory
//! (`framewire::testing`): under a paused clock, real sockets would let
//! the clock jump past a socket event that is merely late.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use framewire::client::{
    Client, ClientError, ConnectionEvent, DisconnectReason, Keepalive, Reconnect,
};
use framewire::server::{Context, Server};
use framewire::testing::TestServer;
use framewire::{Message, MessageType};
use tokio::sync::broadcast;
use tokio::time::Instant;

/// How long a virtual-time test waits for anything.
const VIRTUAL_LIMIT: Duration = Duration::from_secs(3600);

async fn next_event(events: &mut broadcast::Receiver<ConnectionEvent>) -> ConnectionEvent {
    tokio::time::timeout(Duration::from_secs(30), events.recv())
        .await
        .expect("an event in time")
        .expect("event channel open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_reconnects_and_resubscribes() {
    let srv = start(framewire::server::readme_routes(Server::builder()).build()).await;
    // The client dials "srv" on the board: refused while it is down, then
    // the restarted server's fresh port (never the freed one).
    let board = Switchboard::new();
    board.set("srv", srv.addr);
    let c = Client::builder("srv")
        .connector(board.clone())
        .reconnect(
            Reconnect::default()
                .initial(Duration::from_millis(20))
                .max(Duration::from_millis(200)),
        )
        .connect()
        .await
        .unwrap();
    let mut events = c.events();
    let mut sub = c.subscribe("feed").await.unwrap();
    board.unset("srv");
    srv.stop().await;
    assert!(matches!(
        next_event(&mut events).await,
        ConnectionEvent::Disconnected { .. }
    ));
    // Refused while down, then the restarted server.
    eventually("a refused attempt", || board.attempts("srv") >= 2).await;
    let srv = start(framewire::server::readme_routes(Server::builder()).build()).await;
    let addr = srv.addr;
    board.set("srv", addr);
    // Refusals keep coming as Reconnecting events: the wait as a whole is
    // bounded.
    within("reconnected to the restarted server", async {
        loop {
            if let ConnectionEvent::Connected(peer) = next_event(&mut events).await {
                assert_eq!(peer, addr);
                break;
            }
        }
    })
    .await;
    eventually("resubscribed", || srv.handle.stats().topics == 1).await;
    let n = srv
        .handle
        .notify(
            "feed",
            Message::new(MessageType::NOTIFY_URI, "feed", "after restart"),
        )
        .unwrap();
    assert_eq!(n, 1);
    let note = tokio::time::timeout(LIMIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&note.content()[..], b"after restart");
    assert_eq!(
        &c.request("echo", "back").await.unwrap().content()[..],
        b"back"
    );
    c.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_fail_fast_when_the_connection_drops() {
    let server = Server::builder()
        .on(
            (MessageType::REQUEST_URI, "hang"),
            |_m: Message, ctx: Context| async move {
                // Never answers: closes the connection instead.
                ctx.disconnect();
            },
        )
        .build();
    let srv = start(server).await;
    let c = Client::builder(srv.addr.to_string())
        .request_timeout(Duration::from_secs(60))
        .reconnect(Reconnect::disabled())
        .connect()
        .await
        .unwrap();
    let mut events = c.events();
    let started = std::time::Instant::now();
    let err = c.request("hang", "").await.unwrap_err();
    assert!(matches!(err, ClientError::ConnectionLost), "{err}");
    // Configured 60 s, bounded at 5 s: a slow path would be caught, not
    // only the timeout path.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failed at once, not near its 60 s timeout: {:?}",
        started.elapsed()
    );
    assert!(matches!(
        next_event(&mut events).await,
        ConnectionEvent::Disconnected { .. }
    ));
    assert_eq!(next_event(&mut events).await, ConnectionEvent::GaveUp);
    assert!(matches!(
        c.request("echo", "").await,
        Err(ClientError::Closed)
    ));
    srv.stop().await;
}

#[tokio::test(start_paused = true)]
async fn backoff_delays_grow_to_the_cap() {
    // In memory: once stopped, the test server refuses every attempt as a
    // closed port would, and no socket event can be overtaken by the
    // paused clock.
    let srv = TestServer::new(Server::builder().build()).timeout(VIRTUAL_LIMIT);
    let c = srv
        .client()
        .reconnect(
            Reconnect::default()
                .initial(Duration::from_millis(100))
                .max(Duration::from_secs(1))
                .jitter(0.0)
                .max_attempts(6),
        )
        .keepalive(None)
        .connect()
        .await
        .unwrap();
    let mut events = c.events();
    srv.stop().await; // refuses every connection from now on
    assert!(matches!(
        next_event(&mut events).await,
        ConnectionEvent::Disconnected { .. }
    ));
    let mut delays = Vec::new();
    let mut last = Instant::now();
    let mut gaps = Vec::new();
    loop {
        match next_event(&mut events).await {
            ConnectionEvent::Reconnecting { attempt, delay } => {
                assert_eq!(attempt as usize, delays.len() + 1);
                delays.push(delay.as_millis());
                gaps.push((Instant::now() - last).as_millis());
                last = Instant::now();
            }
            ConnectionEvent::GaveUp => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
    // Each attempt waited the previous delay (virtual time).
    assert_eq!(&gaps[1..], [100, 200, 400, 800, 1000]);
}

/// Dials a stream whose other end is held and never read or written:
/// like a server that vanished without a FIN.
struct Vanished(std::sync::Mutex<Vec<tokio::io::DuplexStream>>);

impl framewire::transport::Connector for Vanished {
    fn connect(
        &self,
        _addr: &str,
    ) -> framewire::handler::BoxFuture<std::io::Result<framewire::transport::Stream>> {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        self.0.lock().unwrap().push(theirs);
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        Box::pin(async move { Ok(framewire::transport::Stream::new(ours, peer)) })
    }
}

#[tokio::test(start_paused = true)]
async fn half_open_server_is_detected_by_keepalive() {
    let keepalive = Keepalive::new(Duration::from_secs(5), Duration::from_secs(3));
    let c = Client::builder("vanished")
        .connector(Vanished(std::sync::Mutex::new(Vec::new())))
        .keepalive(Some(keepalive))
        .reconnect(Reconnect::disabled())
        .connect()
        .await
        .unwrap();
    let mut events = c.events();
    let started = Instant::now();
    match next_event(&mut events).await {
        ConnectionEvent::Disconnected { reason } => {
            assert_eq!(reason, DisconnectReason::KeepaliveTimeout)
        }
        other => panic!("{other:?}"),
    }
    // Idle 5 s, then 3 s for an answer to the ping (virtual time).
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(8) && took < Duration::from_secs(9),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn keepalive_pings_keep_an_idle_connection_up() {
    // Counts what reaches the application: the pings must not. In memory,
    // virtual time: a minute of 5 s pings with 3 s to answer each, which
    // no scheduling delay can turn into a timeout.
    let routed = Arc::new(AtomicUsize::new(0));
    let counter = routed.clone();
    let server = Server::builder()
        .default_handler(move |_m: Message, _c: Context| {
            counter.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Message::not_found(""))
        })
        .build();
    let srv = TestServer::new(server).timeout(VIRTUAL_LIMIT);
    let c = srv
        .client()
        .keepalive(Some(Keepalive::new(
            Duration::from_secs(5),
            Duration::from_secs(3),
        )))
        .reconnect(Reconnect::disabled())
        .connect()
        .await
        .unwrap();
    let mut events = c.events();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(matches!(
        events.try_recv(),
        Err(broadcast::error::TryRecvError::Empty)
    ));
    assert!(c.is_connected());
    // Pings went out (the server read them) and were answered by the
    // server itself, not routed to any handler: 60 s idle at one ping per
    // 5 s is 12 pings.
    srv.stats_when(|s| s.frames_in >= 10)
        .await
        .expect("the pings reached the server");
    assert_eq!(routed.load(Ordering::SeqCst), 0, "pings reached a handler");
    c.close().await;
    srv.stop().await;
}
