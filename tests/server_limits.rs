//! Connection limit (loopback TCP), then slowloris, idle, first-frame and
//! authentication deadlines in virtual time, in memory
//! (`framewire::testing`: no sockets, so the paused clock jumps as soon as
//! every task waits). The subscription cap and the pre-auth frame limit
//! are hostile-input rows: `hostile_server.rs`.

mod common;

use std::time::Duration;

use common::*;
use framewire::server::{Context, Limits, Server};
use framewire::testing::{Closed, TestServer};
use framewire::{Message, MessageType};
use tokio::time::Instant;

/// How long a virtual-time test waits for anything (deadlines of minutes
/// pass at once under `start_paused`).
const VIRTUAL_LIMIT: Duration = Duration::from_secs(3600);

fn in_memory(server: Server) -> TestServer {
    TestServer::new(server).timeout(VIRTUAL_LIMIT)
}

fn req(uri: &'static str, content: &'static str) -> Message {
    Message::new(MessageType::REQUEST_URI, uri, content)
}

/// The close's reason, and how long after `since` it came.
async fn closed_after(
    peer: &mut framewire::testing::TestPeer,
    since: Instant,
) -> (Closed, Duration) {
    let closed = peer
        .closed()
        .await
        .expect("closed within the virtual limit");
    (closed, since.elapsed())
}

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

#[tokio::test(start_paused = true)]
async fn slowloris_is_cut_at_the_frame_deadline() {
    let limits = Limits::default()
        .frame_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(60));
    let srv = in_memory(echo().limits(limits).build());
    let mut slow = srv.peer().unwrap();
    let mut other = srv.peer().unwrap();
    let mut bystander = Bystander::join_memory(&srv, None).await;
    let frame = req("echo", "x")
        .to_bytes(framewire::Profile::Netaio)
        .unwrap();
    let start = Instant::now();
    // One byte per second: the frame would take 18 s.
    for b in frame.iter() {
        if slow.send_raw([*b]).await.is_err() || start.elapsed() >= Duration::from_secs(8) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (closed, took) = closed_after(&mut slow, start).await;
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(9),
        "{took:?}"
    );
    assert_eq!(closed.reason().as_deref(), Some("frame deadline exceeded"));
    // The other connection (idle 60 s) is unaffected so far.
    assert_eq!(
        &other.call(req("echo", "ok")).await.unwrap().content()[..],
        b"ok"
    );
    bystander.check(&srv).await;
}

#[tokio::test(start_paused = true)]
async fn silent_connections_close_at_the_idle_timeout_but_subscribers_stay() {
    let limits = Limits::default()
        .idle_timeout(Duration::from_secs(30))
        .first_frame_timeout(VIRTUAL_LIMIT);
    let srv = in_memory(echo().subscriptions().limits(limits).build());
    let start = Instant::now();
    let mut silent = srv.peer().unwrap();
    let mut bystander = Bystander::join_memory(&srv, None).await;
    let mut sub = srv.peer().unwrap();
    let confirm = sub
        .call(Message::new(MessageType::SUBSCRIBE_URI, "t", ""))
        .await
        .unwrap();
    assert_eq!(confirm.message_type, MessageType::CONFIRM_SUBSCRIBE);
    let (closed, took) = closed_after(&mut silent, start).await;
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(32),
        "{took:?}"
    );
    assert_eq!(closed.reason().as_deref(), Some("idle timeout"));
    // Ten idle minutes later the subscriber still gets notifications.
    tokio::time::sleep(Duration::from_secs(600)).await;
    let note = Message::new(MessageType::NOTIFY_URI, "t", "late");
    assert_eq!(srv.handle().notify("t", note).unwrap(), 1);
    assert_eq!(&sub.recv().await.unwrap().content()[..], b"late");
    bystander.check(&srv).await;
}

/// The idle exemption follows subscriptions made and dropped through the
/// server handle while the connection is silent.
#[tokio::test(start_paused = true)]
async fn idle_exemption_follows_subscriptions_changed_by_the_handle() {
    let idle = Duration::from_secs(30);
    let srv = in_memory(echo().limits(Limits::default().idle_timeout(idle)).build());
    let mut bystander = Bystander::join_memory(&srv, None).await;
    let mut silent = srv.peer().unwrap();
    let id = conn_id_on(srv.handle(), silent.addr()).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    srv.handle().subscribe("t", id).unwrap();
    tokio::time::sleep(Duration::from_secs(300)).await;
    let note = Message::new(MessageType::NOTIFY_URI, "t", "x");
    assert_eq!(
        srv.handle().notify("t", note).unwrap(),
        1,
        "a subscriber made by the handle is not idle-closed"
    );
    assert!(srv.handle().unsubscribe(b"t", id));
    let (closed, took) = closed_after(&mut silent, Instant::now()).await;
    assert!(
        took <= 2 * idle,
        "closed {took:?} after its last subscription"
    );
    let kinds: Vec<_> = closed.messages.iter().map(|m| m.message_type).collect();
    assert_eq!(kinds, [MessageType::NOTIFY_URI, MessageType::ERROR]);
    assert_eq!(closed.reason().as_deref(), Some("idle timeout"));
    bystander.check(&srv).await;
}

/// Without auth, a connection that sends no complete frame is closed at
/// `first_frame_timeout` (not after the whole idle timeout); one frame is
/// enough to stay.
#[tokio::test(start_paused = true)]
async fn a_connection_that_sends_nothing_is_closed_at_the_first_frame_deadline() {
    let srv = in_memory(echo().build());
    let mut bystander = Bystander::join_memory(&srv, None).await;
    let start = Instant::now();
    let mut silent = srv.peer().unwrap();
    let mut talker = srv.peer().unwrap();
    let mut half = srv.peer().unwrap();
    // Half a frame is not a frame (and has its own, shorter deadline).
    half.send_raw([MessageType::REQUEST_URI.value()])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(
        &talker.call(req("echo", "here")).await.unwrap().content()[..],
        b"here"
    );
    let (closed, took) = closed_after(&mut silent, start).await;
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(32),
        "{took:?}"
    );
    assert_eq!(closed.reason().as_deref(), Some("no frame in time"));
    let (closed, _) = closed_after(&mut half, start).await;
    assert_eq!(closed.reason().as_deref(), Some("frame deadline exceeded"));
    tokio::time::sleep(Duration::from_secs(60)).await;
    let r = talker.call(req("echo", "still")).await.unwrap();
    assert_eq!(&r.content()[..], b"still", "one frame admits a connection");
    let stats = srv.stats();
    assert_eq!(stats.first_frame_timeouts, 1);
    assert_eq!(stats.auth_timeouts, 0);
    bystander.check(&srv).await;
}

/// With an auth plugin, a connection must pass it within `auth_timeout`:
/// silence and frames that fail the check are both closed at the deadline;
/// a connection that authenticated stays.
#[tokio::test(start_paused = true)]
async fn unauthenticated_connections_are_closed_at_the_auth_deadline() {
    let hmac = || framewire::PluginLayer::new().with_auth(framewire::NetaioHmac::new("s"));
    let limits = Limits::default().max_auth_failures(u32::MAX);
    let srv = in_memory(echo().plugins(hmac()).limits(limits).build());
    let signer = framewire::PluginStack::new(hmac());
    let mut bystander = Bystander::join_memory(&srv, Some(signer.clone())).await;
    let start = Instant::now();
    let mut silent = srv.peer().unwrap();
    let mut forger = srv.peer().unwrap();
    let forged = framewire::PluginStack::new(
        framewire::PluginLayer::new().with_auth(framewire::NetaioHmac::new("wrong")),
    )
    .seal(req("echo", ""))
    .unwrap();
    let mut honest = srv.peer().unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    forger.send(forged).await.unwrap();
    let r = honest
        .call(signer.seal(req("echo", "me")).unwrap())
        .await
        .unwrap();
    assert_eq!(&r.content()[..], b"me");
    for peer in [&mut silent, &mut forger] {
        let (closed, took) = closed_after(peer, start).await;
        assert!(
            took >= Duration::from_secs(10) && took < Duration::from_secs(12),
            "{took:?}"
        );
        assert_eq!(
            closed.reason().as_deref(),
            Some("not authenticated in time")
        );
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    let r = honest
        .call(signer.seal(req("echo", "again")).unwrap())
        .await
        .unwrap();
    assert_eq!(&r.content()[..], b"again");
    let stats = srv.stats();
    assert_eq!((stats.auth_timeouts, stats.first_frame_timeouts), (2, 0));
    bystander.check(&srv).await;
}
