//! Resumable subscriptions on one instance (`ServerBuilder::history`):
//! a `Client` that loses its connection resubscribes from the last
//! position it delivered and gets what it missed, once each and in order,
//! or a `ConnectionEvent::Gap` with how much the history no longer held.
//! In memory through `framewire::testing` (no sockets), so virtual time
//! decides when the client comes back.

use std::time::Duration;

use framewire::client::{Client, ConnectionEvent, Reconnect, Subscription};
use framewire::protocol::Position;
use framewire::server::{History, Server};
use framewire::testing::TestServer;
use framewire::{Message, MessageType};
use tokio::sync::broadcast;

const WAIT: Duration = Duration::from_secs(120);

fn server(history: History) -> TestServer {
    TestServer::new(Server::builder().subscriptions().history(history).build())
}

/// A client that comes back a minute (virtual) after losing its server.
async fn client(server: &TestServer) -> Client {
    server
        .client()
        .reconnect(
            Reconnect::default()
                .initial(Duration::from_secs(60))
                .jitter(0.0),
        )
        .connect()
        .await
        .unwrap()
}

fn notify(server: &TestServer, texts: impl IntoIterator<Item = u32>) {
    for i in texts {
        let note = Message::new(MessageType::NOTIFY_URI, "t", i.to_string());
        server.handle().notify("t", note).unwrap();
    }
}

async fn next(sub: &mut Subscription) -> (String, Option<Position>) {
    let m = tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("a notification in time")
        .expect("the subscription goes on");
    (
        String::from_utf8_lossy(m.content()).into_owned(),
        Position::of(&m),
    )
}

async fn texts(sub: &mut Subscription, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(next(sub).await.0);
    }
    out
}

/// Cuts the client's connection and waits until the server has dropped
/// it (and so its subscription).
async fn cut(server: &TestServer) {
    for c in server.handle().connections() {
        server.handle().disconnect(c.id);
    }
    server
        .stats_when(|s| s.connections == 0)
        .await
        .expect("the connection closed");
}

async fn until_event(
    events: &mut broadcast::Receiver<ConnectionEvent>,
    want: impl Fn(&ConnectionEvent) -> bool,
) -> ConnectionEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            let e = events.recv().await.expect("events go on");
            if want(&e) {
                return e;
            }
        }
    })
    .await
    .expect("the event in time")
}

#[tokio::test(start_paused = true)]
async fn a_client_that_comes_back_gets_what_it_missed_once_and_in_order() {
    let server = server(History::default());
    let client = client(&server).await;
    let mut events = client.events();
    let mut sub = client.subscribe("t").await.unwrap();
    notify(&server, 1..=3);
    let (first, pos) = next(&mut sub).await;
    assert_eq!(first, "1");
    assert_eq!(pos.map(Position::n), Some(1), "numbered in its topic");
    assert_eq!(texts(&mut sub, 2).await, ["2", "3"]);
    cut(&server).await;
    notify(&server, 4..=6); // nobody subscribed: kept in the history only
    until_event(&mut events, |e| matches!(e, ConnectionEvent::Connected(_))).await;
    assert_eq!(texts(&mut sub, 3).await, ["4", "5", "6"]);
    notify(&server, 7..=7);
    assert_eq!(texts(&mut sub, 1).await, ["7"]);
    let more = tokio::time::timeout(Duration::from_secs(1), sub.next()).await;
    assert!(more.is_err(), "nothing twice: {more:?}");
    client.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_history_too_short_reports_the_gap_and_sends_what_it_has() {
    let server = server(History::default().per_topic(2));
    let client = client(&server).await;
    let mut events = client.events();
    let mut sub = client.subscribe("t").await.unwrap();
    notify(&server, 1..=1);
    assert_eq!(texts(&mut sub, 1).await, ["1"]);
    cut(&server).await;
    notify(&server, 2..=6); // 5 and 6 kept
    let gap = until_event(&mut events, |e| matches!(e, ConnectionEvent::Gap { .. })).await;
    assert_eq!(
        gap,
        ConnectionEvent::Gap {
            topic: "t".into(),
            lost: Some(3)
        }
    );
    assert_eq!(texts(&mut sub, 2).await, ["5", "6"]);
    notify(&server, 7..=7);
    assert_eq!(texts(&mut sub, 1).await, ["7"]);
    client.close().await;
}

/// A server without a history ignores the position a client resumes
/// from, as netaio does: the client comes back to live notifications.
#[tokio::test(start_paused = true)]
async fn without_a_history_nothing_is_numbered_or_replayed() {
    let server = TestServer::new(Server::builder().subscriptions().build());
    let client = client(&server).await;
    let mut events = client.events();
    let mut sub = client.subscribe("t").await.unwrap();
    notify(&server, 1..=1);
    assert_eq!(next(&mut sub).await, ("1".to_owned(), None));
    cut(&server).await;
    notify(&server, 2..=2);
    until_event(&mut events, |e| matches!(e, ConnectionEvent::Connected(_))).await;
    // Resubscribed once the server confirms; then live again.
    server.stats_when(|s| s.connections == 1).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let got = loop {
        notify(&server, 3..=3);
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(50), sub.next()).await {
            break String::from_utf8_lossy(m.content()).into_owned();
        }
        assert!(tokio::time::Instant::now() < deadline);
    };
    assert_eq!(got, "3", "2 was lost: nothing kept it");
    client.close().await;
}

/// What a raw peer gets for a SUBSCRIBE_URI: the frames before the
/// confirmation (bounded), and the confirmation's type.
async fn subscribe_raw(
    peer: &mut framewire::testing::TestPeer,
    from: Option<&[u8]>,
) -> (Vec<Message>, MessageType) {
    let mut msg = Message::new(MessageType::SUBSCRIBE_URI, "t", "");
    if let Some(from) = from {
        msg.auth
            .insert(framewire::protocol::RESUME_FIELD, from.to_vec());
    }
    peer.send(msg).await.unwrap();
    let mut before = Vec::new();
    for _ in 0..64 {
        let m = peer.recv().await.unwrap();
        if m.message_type != MessageType::NOTIFY_URI {
            return (before, m.message_type);
        }
        before.push(m);
    }
    panic!("no confirmation after 64 frames");
}

/// Positions from peers: malformed ones are ignored, another epoch's get
/// an unknown-gap notice and the history, and no request is sent more
/// than the history's bound, however often it asks.
#[tokio::test]
async fn positions_from_peers_are_checked_and_replays_bounded() {
    use framewire::protocol::{gap_of, GAP_UNKNOWN};
    let server = server(History::default().per_topic(4));
    let mut peer = server.peer().unwrap();
    notify(&server, 1..=10);
    // Malformed: a plain subscription.
    let (before, confirm) = subscribe_raw(&mut peer, Some(b"short")).await;
    assert_eq!((before.len(), confirm), (0, MessageType::CONFIRM_SUBSCRIBE));
    // Another epoch (the server's is random: 0 is not it, but a 2^-64
    // chance): the unknown gap, then the 4 kept.
    let mut zero = [0u8; 16];
    zero[15] = 1;
    for _ in 0..3 {
        let (before, confirm) = subscribe_raw(&mut peer, Some(&zero)).await;
        assert_eq!(confirm, MessageType::CONFIRM_SUBSCRIBE);
        assert_eq!(before.len(), 5, "the notice and at most the 4 kept");
        assert_eq!(gap_of(&before[0]), Some(GAP_UNKNOWN));
        let texts: Vec<_> = before[1..]
            .iter()
            .map(|m| String::from_utf8_lossy(m.content()).into_owned())
            .collect();
        assert_eq!(texts, ["7", "8", "9", "10"]);
    }
    // Its own epoch, from what it has: nothing to send.
    let last = Position::of(before_last(&mut peer).await.as_ref().unwrap()).unwrap();
    let mut own = [0u8; 16];
    own[..8].copy_from_slice(&last.epoch().to_be_bytes());
    own[8..].copy_from_slice(&last.n().to_be_bytes());
    let (before, _) = subscribe_raw(&mut peer, Some(&own)).await;
    assert!(before.is_empty(), "{before:?}");
}

/// The last notification on "t" as a new subscriber resuming from
/// another epoch sees it (the newest the history holds).
async fn before_last(peer: &mut framewire::testing::TestPeer) -> Option<Message> {
    let (before, _) = subscribe_raw(peer, Some(&[0u8; 16])).await;
    before.last().cloned()
}
