//! The client against a scripted server in memory (no sockets, real
//! time): what its accessors report, the offline buffer's accounting when
//! it closes, resubscribing on the next connection, a subscription that
//! was never confirmed, and a writer that cannot write. The socket tests
//! (`tests/client_*.rs`) cover the same driver over TCP; these run with the
//! library's tests, so mutation testing of `client/` takes seconds a
//! mutant.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::codec::Framed;

use super::{Client, ClientBuilder, ConnectionEvent, IntoServers, OfflineBuffer, Reconnect};
use crate::codec::FrameCodec;
use crate::handler::BoxFuture;
use crate::transport::{Connector, Stream};
use crate::wire::{Message, MessageType, Profile};

/// Every wait of these tests is bounded by this.
const WAIT: Duration = Duration::from_secs(10);

/// The server end of one connection the client made.
type Raw = Framed<DuplexStream, FrameCodec>;

/// Every address a [`Script`] was asked to dial, in order.
type Dialled = Arc<Mutex<Vec<String>>>;

/// A connector whose every connection arrives on a channel as a raw
/// framed stream (while `open`; refused like a closed port otherwise).
struct Script {
    conns: mpsc::Sender<Raw>,
    open: Arc<AtomicBool>,
    buffer: usize,
    /// Every address dialled, in order, taken or refused.
    dialled: Dialled,
}

const SERVER: &str = "127.0.0.1:7";

impl Connector for Script {
    fn connect(&self, addr: &str) -> BoxFuture<io::Result<Stream>> {
        self.dialled.lock().unwrap().push(addr.to_owned());
        let (ours, theirs) = tokio::io::duplex(self.buffer);
        let raw = Framed::new(theirs, FrameCodec::new(Profile::Netaio));
        let taken = self.open.load(Relaxed) && self.conns.try_send(raw).is_ok();
        Box::pin(async move {
            if taken {
                Ok(Stream::new(ours, SERVER.parse().expect("an address")))
            } else {
                Err(io::ErrorKind::ConnectionRefused.into())
            }
        })
    }
}

/// A builder dialling a [`Script`] whose streams buffer `buffer` bytes each
/// way; the receiver of its connections and its open switch.
fn scripted(buffer: usize) -> (ClientBuilder, mpsc::Receiver<Raw>, Arc<AtomicBool>) {
    let (builder, conns, open, _) = scripted_to("scripted", buffer);
    (builder, conns, open)
}

/// [`scripted`] with a server list, and the addresses dialled.
fn scripted_to(
    servers: impl IntoServers,
    buffer: usize,
) -> (ClientBuilder, mpsc::Receiver<Raw>, Arc<AtomicBool>, Dialled) {
    let (conns, rx) = mpsc::channel(8);
    let open = Arc::new(AtomicBool::new(true));
    let dialled = Arc::new(Mutex::new(Vec::new()));
    let script = Script {
        conns,
        open: open.clone(),
        buffer,
        dialled: dialled.clone(),
    };
    (
        Client::builder(servers).connector(script),
        rx,
        open,
        dialled,
    )
}

async fn accepted(rx: &mut mpsc::Receiver<Raw>) -> Raw {
    timeout(WAIT, rx.recv())
        .await
        .expect("the client dials within the bound")
        .expect("the connector is alive")
}

async fn recv(raw: &mut Raw) -> Message {
    timeout(WAIT, raw.next())
        .await
        .expect("a frame within the bound")
        .expect("the connection is open")
        .expect("the stream reads")
        .expect("a well-formed frame")
}

/// Polls `cond` every 5 ms, at most for [`WAIT`].
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..2_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("not within the bound: {what}");
}

async fn event(
    events: &mut tokio::sync::broadcast::Receiver<ConnectionEvent>,
    want: impl Fn(&ConnectionEvent) -> bool,
) -> ConnectionEvent {
    timeout(WAIT, async {
        loop {
            let e = events.recv().await.expect("events open");
            if want(&e) {
                return e;
            }
        }
    })
    .await
    .expect("the event within the bound")
}

#[tokio::test]
async fn accessors_follow_the_connection_and_close_counts_what_was_never_sent() {
    let (builder, mut conns, open) = scripted(64 * 1024);
    let client = builder
        // Stays disconnected once the server hangs up.
        .reconnect(Reconnect::default().initial(Duration::from_secs(3600)))
        .offline_buffer(Some(OfflineBuffer::default()))
        // Under a second, so close()'s bound (this + 1 s) must add.
        .write_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let mut server = accepted(&mut conns).await;
    let addr: SocketAddr = SERVER.parse().unwrap();
    assert!(client.is_connected());
    assert_eq!(client.peer_addr(), Some(addr));
    assert!(
        format!("{client:?}").contains("connected: true"),
        "{client:?}"
    );
    assert!(client.peers().is_empty(), "no peer management");

    client
        .send(Message::new(MessageType::PUBLISH_URI, "t", "x"))
        .await
        .unwrap();
    let sent = recv(&mut server).await;
    assert_eq!(
        (sent.message_type, &sent.body.uri[..]),
        (MessageType::PUBLISH_URI, &b"t"[..])
    );

    // Two requests the server never answers.
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.request("slow", "").await })
        })
        .collect();
    until("two requests waiting", || client.pending_requests() == 2).await;
    for _ in 0..2 {
        assert_eq!(
            recv(&mut server).await.message_type,
            MessageType::REQUEST_URI
        );
    }

    let mut events = client.events();
    open.store(false, Relaxed);
    drop(server);
    event(&mut events, |e| {
        matches!(e, ConnectionEvent::Disconnected { .. })
    })
    .await;
    for w in waiting {
        let e = timeout(WAIT, w).await.unwrap().unwrap().unwrap_err();
        assert!(e.is_connection_lost(), "{e}");
    }
    assert_eq!(client.pending_requests(), 0);
    assert!(!client.is_connected());
    assert_eq!(client.peer_addr(), None);
    assert_eq!(client.queued(), (0, 0));

    for _ in 0..2 {
        client
            .send(Message::new(MessageType::PUBLISH_URI, "t", "later"))
            .await
            .unwrap();
    }
    assert_eq!(client.buffered(), 2);
    assert_eq!(client.offline_dropped(), 0);
    client.close().await;
    assert_eq!(client.offline_dropped(), 2, "the two sends never went");
    let dropped = event(&mut events, |e| {
        matches!(e, ConnectionEvent::OfflineDropped { .. })
    })
    .await;
    assert!(
        matches!(dropped, ConnectionEvent::OfflineDropped { messages: 2 }),
        "{dropped:?}"
    );
    assert!(client.request("x", "").await.unwrap_err().is_closed());
}

#[tokio::test]
async fn queued_counts_what_the_writer_could_not_write_yet() {
    // 4 KiB each way: a server that does not read stalls the writer at
    // once, and the rest waits in the queue.
    let (builder, mut conns, _open) = scripted(4 * 1024);
    let client = builder.connect().await.unwrap();
    let mut server = accepted(&mut conns).await;
    for _ in 0..8 {
        client
            .send(Message::new(MessageType::PUBLISH_URI, "t", vec![0u8; 2048]))
            .await
            .unwrap();
    }
    until("frames queued behind the stalled writer", || {
        let (frames, bytes) = client.queued();
        frames >= 2 && bytes >= 2 * 2048
    })
    .await;
    for _ in 0..8 {
        recv(&mut server).await;
    }
    until("the queue written out", || client.queued() == (0, 0)).await;
    client.close().await;
}

#[tokio::test]
async fn a_ping_succeeds_only_on_its_answer() {
    let (builder, mut conns, _open) = scripted(64 * 1024);
    let client = builder
        .request_timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    let mut server = accepted(&mut conns).await;
    let e = client.ping().await.unwrap_err();
    assert!(e.is_timeout(), "{e}");
    let ping = recv(&mut server).await;
    let want = crate::protocol::ping();
    assert_eq!(
        (ping.message_type, ping.body),
        (want.message_type, want.body)
    );
    client.close().await;
}

#[tokio::test]
async fn subscriptions_are_sent_again_on_the_next_connection_and_dropped_with_their_stream() {
    let (builder, mut conns, _open) = scripted(64 * 1024);
    let client = builder
        .reconnect(Reconnect::default().initial(Duration::from_millis(10)))
        .connect()
        .await
        .unwrap();
    let mut first = accepted(&mut conns).await;
    let subscribing = subscribe_in_background(&client, "news");
    let sub = recv(&mut first).await;
    assert_eq!(
        (sub.message_type, &sub.body.uri[..]),
        (MessageType::SUBSCRIBE_URI, &b"news"[..])
    );
    first
        .send(Message::new(MessageType::CONFIRM_SUBSCRIBE, "news", ""))
        .await
        .unwrap();
    let mut stream = timeout(WAIT, subscribing).await.unwrap().unwrap().unwrap();
    drop(first);

    let mut second = accepted(&mut conns).await;
    let again = recv(&mut second).await;
    assert_eq!(
        (again.message_type, &again.body.uri[..]),
        (MessageType::SUBSCRIBE_URI, &b"news"[..]),
        "resubscribed on the new connection"
    );
    second
        .send(Message::new(MessageType::CONFIRM_SUBSCRIBE, "news", ""))
        .await
        .unwrap();
    second
        .send(Message::new(MessageType::NOTIFY_URI, "news", "hello"))
        .await
        .unwrap();
    let note = timeout(WAIT, stream.next()).await.unwrap().unwrap();
    assert_eq!(&note.content()[..], b"hello");

    drop(stream);
    let bye = recv(&mut second).await;
    assert_eq!(
        (bye.message_type, &bye.body.uri[..]),
        (MessageType::UNSUBSCRIBE_URI, &b"news"[..])
    );
    client.close().await;
}

#[tokio::test]
async fn a_subscription_never_confirmed_leaves_without_unsubscribing() {
    let (builder, mut conns, _open) = scripted(64 * 1024);
    let client = builder
        .request_timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    let mut server = accepted(&mut conns).await;
    let e = client.subscribe("quiet").await.unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert_eq!(
        recv(&mut server).await.message_type,
        MessageType::SUBSCRIBE_URI
    );
    client
        .send(Message::new(MessageType::PUBLISH_URI, "marker", ""))
        .await
        .unwrap();
    let next = recv(&mut server).await;
    assert_eq!(
        (next.message_type, &next.body.uri[..]),
        (MessageType::PUBLISH_URI, &b"marker"[..]),
        "no UNSUBSCRIBE_URI for a subscription the server never confirmed"
    );
    client.close().await;
}

#[tokio::test]
async fn the_first_connect_tries_each_server_once_then_fails() {
    let (builder, _conns, open, dialled) = scripted_to(["a:1", "b:2", "c:3"], 1024);
    open.store(false, Relaxed);
    let e = timeout(WAIT, builder.connect()).await.unwrap().unwrap_err();
    assert!(e.is_connect(), "{e}");
    assert_eq!(*dialled.lock().unwrap(), ["a:1", "b:2", "c:3"]);
}

/// A client that connected once and lost its server, buffering offline
/// into `buffer` (it redials every 20 ms while `open` stays false).
struct Offline {
    client: Client,
    conns: mpsc::Receiver<Raw>,
    open: Arc<AtomicBool>,
    events: tokio::sync::broadcast::Receiver<ConnectionEvent>,
}

async fn offline(buffer: OfflineBuffer) -> Offline {
    let (builder, mut conns, open) = scripted(64 * 1024);
    let client = builder
        .reconnect(
            Reconnect::default()
                .initial(Duration::from_millis(20))
                .multiplier(1.0)
                .jitter(0.0),
        )
        .offline_buffer(Some(buffer))
        .connect()
        .await
        .unwrap();
    let mut events = client.events();
    open.store(false, Relaxed);
    drop(accepted(&mut conns).await);
    event(&mut events, |e| {
        matches!(e, ConnectionEvent::Disconnected { .. })
    })
    .await;
    Offline {
        client,
        conns,
        open,
        events,
    }
}

#[tokio::test]
async fn what_waited_offline_goes_first_on_the_next_connection_in_order() {
    let Offline {
        client,
        mut conns,
        open,
        mut events,
    } = offline(OfflineBuffer::default()).await;
    client
        .send(Message::new(MessageType::PUBLISH_URI, "t", "one"))
        .await
        .unwrap();
    let asking = {
        let c = client.clone();
        tokio::spawn(async move { c.request("ask", "two").await })
    };
    until("the request buffered", || client.buffered() == 2).await;
    open.store(true, Relaxed);
    let mut server = accepted(&mut conns).await;
    let first = recv(&mut server).await;
    assert_eq!(&first.content()[..], b"one");
    let second = recv(&mut server).await;
    assert_eq!(
        (second.message_type, &second.content()[..]),
        (MessageType::REQUEST_URI, &b"two"[..])
    );
    server
        .send(Message::respond("ask", "answer"))
        .await
        .unwrap();
    let answer = timeout(WAIT, asking).await.unwrap().unwrap().unwrap();
    assert_eq!(&answer.content()[..], b"answer");
    assert_eq!(client.offline_dropped(), 0);
    // Nothing was dropped: no event says otherwise.
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(e, ConnectionEvent::OfflineDropped { .. }),
            "{e:?}"
        );
    }
    client.close().await;
}

/// More buffered sends than a connection's queue holds (4 096 frames):
/// the new connection takes what fits, in order, and the rest are counted
/// as dropped. On this single-threaded runtime the writer cannot drain
/// the queue while the buffer is handed over, so the count is exact.
#[tokio::test]
async fn what_does_not_fit_the_new_connections_queue_is_dropped_and_counted() {
    const SENDS: usize = 4100;
    let Offline {
        client,
        mut conns,
        open,
        mut events,
    } = offline(OfflineBuffer::default().max_messages(2 * SENDS)).await;
    for i in 0..SENDS {
        client
            .send(Message::new(MessageType::PUBLISH_URI, "t", i.to_string()))
            .await
            .unwrap();
    }
    assert_eq!(client.buffered(), SENDS);
    open.store(true, Relaxed);
    let mut server = accepted(&mut conns).await;
    let dropped = event(&mut events, |e| {
        matches!(e, ConnectionEvent::OfflineDropped { .. })
    })
    .await;
    assert!(
        matches!(dropped, ConnectionEvent::OfflineDropped { messages: 4 }),
        "{dropped:?}"
    );
    assert_eq!(client.offline_dropped(), 4);
    for i in 0..SENDS - 4 {
        assert_eq!(recv(&mut server).await.content(), i.to_string().as_bytes());
    }
    client.close().await;
}

#[tokio::test]
async fn what_waited_offline_too_long_is_dropped_and_counted() {
    let Offline {
        client,
        mut conns,
        open,
        mut events,
    } = offline(OfflineBuffer::default().max_age(Duration::ZERO)).await;
    for _ in 0..2 {
        client
            .send(Message::new(MessageType::PUBLISH_URI, "t", "stale"))
            .await
            .unwrap();
    }
    let asking = {
        let c = client.clone();
        tokio::spawn(async move { c.request("ask", "stale").await })
    };
    until("the request buffered", || client.buffered() == 3).await;
    // Older than a max age of zero by the time a connection comes.
    tokio::time::sleep(Duration::from_millis(5)).await;
    open.store(true, Relaxed);
    let mut server = accepted(&mut conns).await;
    let dropped = event(&mut events, |e| {
        matches!(e, ConnectionEvent::OfflineDropped { .. })
    })
    .await;
    assert!(
        matches!(dropped, ConnectionEvent::OfflineDropped { messages: 2 }),
        "{dropped:?}"
    );
    assert_eq!(client.offline_dropped(), 2);
    let e = timeout(WAIT, asking).await.unwrap().unwrap().unwrap_err();
    assert!(e.is_connection_lost(), "{e}");
    client
        .send(Message::new(MessageType::PUBLISH_URI, "t", "fresh"))
        .await
        .unwrap();
    assert_eq!(
        &recv(&mut server).await.content()[..],
        b"fresh",
        "nothing stale was sent"
    );
    client.close().await;
}

#[tokio::test]
async fn handlers_answer_what_the_server_sends_unasked() {
    let (builder, mut conns, _open) = scripted(64 * 1024);
    let client = builder
        .on(
            (MessageType::REQUEST_URI, "ask"),
            |m: Message, _c: Client| async move {
                Message::respond("ask", [&b"re: "[..], &m.content()[..]].concat())
            },
        )
        .connect()
        .await
        .unwrap();
    let mut server = accepted(&mut conns).await;
    server
        .send(Message::new(MessageType::REQUEST_URI, "ask", "hi"))
        .await
        .unwrap();
    let reply = recv(&mut server).await;
    assert_eq!(
        (reply.message_type, &reply.content()[..]),
        (MessageType::RESPOND_URI, &b"re: hi"[..])
    );
    client.close().await;
}

#[tokio::test]
async fn a_stream_gets_each_notification_of_its_topic_once() {
    let (builder, mut conns, _open) = scripted(64 * 1024);
    let client = builder.connect().await.unwrap();
    let mut server = accepted(&mut conns).await;
    let subscribing = subscribe_in_background(&client, "news");
    recv(&mut server).await;
    server
        .send(Message::new(MessageType::CONFIRM_SUBSCRIBE, "news", ""))
        .await
        .unwrap();
    let mut stream = timeout(WAIT, subscribing).await.unwrap().unwrap().unwrap();
    let stamped = |seq: u64| {
        let mut m = Message::new(MessageType::NOTIFY_URI, "news", seq.to_string());
        crate::protocol::NotifyId::new(7, seq).attach(&mut m);
        m
    };
    // Not a notification; then one notification twice (as relayed by two
    // instances); then a new one; then one with no id.
    server
        .send(Message::new(MessageType::PUBLISH_URI, "news", "0"))
        .await
        .unwrap();
    for m in [stamped(1), stamped(1), stamped(2)] {
        server.send(m).await.unwrap();
    }
    server
        .send(Message::new(MessageType::NOTIFY_URI, "news", "3"))
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = timeout(WAIT, stream.next()).await.unwrap().unwrap();
        got.push(String::from_utf8_lossy(m.content()).into_owned());
    }
    assert_eq!(got, ["1", "2", "3"]);
    client.close().await;
}

/// Waits `d` for a frame or the end on `raw`; true if neither came.
async fn quiet(raw: &mut Raw, d: Duration) -> bool {
    timeout(d, raw.next()).await.is_err()
}

#[tokio::test]
async fn a_draining_server_is_left_for_the_next_at_once_after_the_handover() {
    let (builder, mut conns, _open, dialled) = scripted_to(["a:1", "b:2"], 64 * 1024);
    let client = builder
        .reconnect(Reconnect::default().initial(Duration::from_secs(3600)))
        .handover_overlap(Duration::from_millis(10))
        .connect()
        .await
        .unwrap();
    let mut events = client.events();
    let mut a = accepted(&mut conns).await;
    let subscribing = subscribe_in_background(&client, "news");
    recv(&mut a).await;
    a.send(Message::new(MessageType::CONFIRM_SUBSCRIBE, "news", ""))
        .await
        .unwrap();
    let _stream = timeout(WAIT, subscribing).await.unwrap().unwrap().unwrap();
    // A request still due on `a` when it drains: its reply must be read
    // there after the move.
    let asking = {
        let c = client.clone();
        tokio::spawn(async move { c.request("ask", "").await })
    };
    assert_eq!(recv(&mut a).await.message_type, MessageType::REQUEST_URI);

    a.send(crate::protocol::drain_notice()).await.unwrap();
    let moving = event(&mut events, |e| {
        matches!(e, ConnectionEvent::Reconnecting { .. })
    })
    .await;
    assert!(
        matches!(moving, ConnectionEvent::Reconnecting { attempt: 1, delay } if delay.is_zero()),
        "{moving:?}"
    );
    let mut b = accepted(&mut conns).await;
    assert_eq!(*dialled.lock().unwrap(), ["a:1", "b:2"]);
    let again = recv(&mut b).await;
    assert_eq!(
        (again.message_type, &again.body.uri[..]),
        (MessageType::SUBSCRIBE_URI, &b"news"[..])
    );
    // Until `b` has confirmed, `a` is kept as it is: nothing sent, open.
    assert!(
        quiet(&mut a, Duration::from_millis(100)).await,
        "a left too early"
    );
    b.send(Message::new(MessageType::CONFIRM_SUBSCRIBE, "news", ""))
        .await
        .unwrap();
    // Then its subscriptions end; it is read until the reply due there.
    let bye = recv(&mut a).await;
    assert_eq!(
        (bye.message_type, &bye.body.uri[..]),
        (MessageType::UNSUBSCRIBE_URI, &b"news"[..])
    );
    a.send(Message::new(MessageType::OK, "news", ""))
        .await
        .unwrap();
    assert!(
        quiet(&mut a, Duration::from_millis(50)).await,
        "the reply is still due"
    );
    a.send(Message::respond("ask", "from a")).await.unwrap();
    let answer = timeout(WAIT, asking).await.unwrap().unwrap().unwrap();
    assert_eq!(&answer.content()[..], b"from a");
    let end = timeout(WAIT, a.next())
        .await
        .expect("a closes within the bound");
    assert!(end.is_none(), "{end:?}");
    assert!(client.is_connected());
    client.close().await;
}

#[tokio::test]
async fn keepalive_pings_a_quiet_server_and_leaves_one_that_does_not_answer() {
    let (builder, mut conns, _open) = scripted(64 * 1024);
    let client = builder
        .keepalive(Some(super::Keepalive::new(
            Duration::from_millis(50),
            Duration::from_millis(100),
        )))
        .reconnect(Reconnect::disabled())
        .connect()
        .await
        .unwrap();
    let mut events = client.events();
    let mut server = accepted(&mut conns).await;
    let ping = recv(&mut server).await;
    assert!(crate::protocol::is_ping(&ping), "{ping:?}");
    let gone = event(&mut events, |e| {
        matches!(e, ConnectionEvent::Disconnected { .. })
    })
    .await;
    assert!(
        matches!(&gone, ConnectionEvent::Disconnected { reason } if reason.is_keepalive_timeout()),
        "{gone:?}"
    );
    client.close().await;
}

/// The server's answer to a request it read (its id echoed).
fn answer(to: &Message, message_type: MessageType, content: &'static str) -> Message {
    let mut reply = Message::new(message_type, to.body.uri.clone(), content);
    if let Some(id) = crate::protocol::RequestId::of(to) {
        id.attach(&mut reply);
    }
    reply
}

#[tokio::test]
async fn a_login_goes_first_and_connect_waits_for_its_answer() {
    let (builder, mut conns, _open) = scripted(64 * 1024);
    let connecting = tokio::spawn(builder.login("let me in").connect());
    let mut server = accepted(&mut conns).await;
    let login = recv(&mut server).await;
    assert!(crate::protocol::is_login(&login), "{login:?}");
    assert_eq!(&login.content()[..], b"let me in");
    assert!(!connecting.is_finished(), "connect waits for the answer");
    server
        .send(answer(&login, MessageType::OK, ""))
        .await
        .unwrap();
    let client = timeout(WAIT, connecting).await.unwrap().unwrap().unwrap();
    assert!(client.is_connected());
    client.close().await;
}

#[tokio::test]
async fn a_refused_login_fails_connect_with_the_servers_reply() {
    let (builder, mut conns, _open) = scripted(64 * 1024);
    let connecting = tokio::spawn(builder.login("wrong").connect());
    let mut server = accepted(&mut conns).await;
    let login = recv(&mut server).await;
    server
        .send(answer(&login, MessageType::NOT_PERMITTED, "no"))
        .await
        .unwrap();
    let e = timeout(WAIT, connecting)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(e.is_error_reply(), "{e}");
    assert_eq!(
        e.reply().map(|m| m.message_type),
        Some(MessageType::NOT_PERMITTED)
    );
}

#[tokio::test]
async fn peer_management_advertises_answers_learns_and_says_goodbye() {
    let me = crate::peer::LocalPeer::new("me", "mine");
    let other = crate::peer::LocalPeer::new("other", "theirs");
    let (builder, mut conns, _open) = scripted(64 * 1024);
    let client = builder.peer(me).connect().await.unwrap();
    let mut server = accepted(&mut conns).await;
    let hello = recv(&mut server).await;
    assert_eq!(hello.message_type, MessageType::ADVERTISE_PEER);
    // Not a peer announcement: neither answered nor learned.
    let mut garbage = other.message(MessageType::ADVERTISE_PEER);
    garbage.body.content = bytes::Bytes::from_static(b"\xff\xff");
    server.send(garbage).await.unwrap();
    assert!(
        quiet(&mut server, Duration::from_millis(100)).await,
        "garbage answered"
    );
    assert!(client.peers().is_empty());
    server
        .send(other.message(MessageType::ADVERTISE_PEER))
        .await
        .unwrap();
    let discovered = recv(&mut server).await;
    assert_eq!(discovered.message_type, MessageType::PEER_DISCOVERED);
    let ids: Vec<_> = client.peers().into_iter().map(|p| p.id).collect();
    assert_eq!(ids, [bytes::Bytes::from_static(b"other")]);
    client.close().await;
    assert_eq!(
        recv(&mut server).await.message_type,
        MessageType::DISCONNECT
    );
}

/// The next [`ConnectionEvent::Reconnecting`], as (attempt, delay).
async fn reconnecting(
    events: &mut tokio::sync::broadcast::Receiver<ConnectionEvent>,
) -> (u32, Duration) {
    match event(events, |e| {
        matches!(e, ConnectionEvent::Reconnecting { .. })
    })
    .await
    {
        ConnectionEvent::Reconnecting { attempt, delay } => (attempt, delay),
        _ => unreachable!("filtered above"),
    }
}

/// A backoff long enough that no test waits for it, without jitter.
fn hour() -> Reconnect {
    let hour = Duration::from_secs(3600);
    Reconnect::default().initial(hour).max(hour).jitter(0.0)
}

#[tokio::test]
async fn a_server_that_hangs_up_is_replaced_after_the_backoff_not_at_once() {
    let (builder, mut conns, _open, _) = scripted_to(["a:1", "b:2"], 64 * 1024);
    let client = builder.reconnect(hour()).connect().await.unwrap();
    let mut events = client.events();
    drop(accepted(&mut conns).await);
    assert_eq!(
        reconnecting(&mut events).await,
        (1, Duration::from_secs(3600))
    );
    client.close().await;
}

#[tokio::test]
async fn a_lone_draining_server_is_left_once_its_replies_are_in_then_redialled_after_the_backoff() {
    let (builder, mut conns, _open) = scripted(64 * 1024);
    let client = builder
        .reconnect(hour())
        .request_timeout(Duration::from_secs(30))
        .connect()
        .await
        .unwrap();
    let mut events = client.events();
    let mut server = accepted(&mut conns).await;
    server.send(crate::protocol::drain_notice()).await.unwrap();
    // Nowhere to hand over to: nothing is due, so the connection is left
    // at once rather than held for a successor's subscriptions.
    let end = timeout(WAIT, server.next())
        .await
        .expect("left within the bound");
    assert!(end.is_none(), "{end:?}");
    assert_eq!(
        reconnecting(&mut events).await,
        (1, Duration::from_secs(3600))
    );
    client.close().await;
}

#[tokio::test]
async fn a_drain_resets_the_backoff() {
    let (builder, mut conns, open, _) = scripted_to(["a:1", "b:2"], 64 * 1024);
    let client = builder
        .reconnect(
            Reconnect::default()
                .initial(Duration::from_millis(20))
                .multiplier(1.0)
                .jitter(0.0),
        )
        .connect()
        .await
        .unwrap();
    let mut events = client.events();
    open.store(false, Relaxed);
    drop(accepted(&mut conns).await);
    // Failed attempts in a row: the count the drain must reset.
    while reconnecting(&mut events).await.0 < 3 {}
    open.store(true, Relaxed);
    let mut server = accepted(&mut conns).await;
    server.send(crate::protocol::drain_notice()).await.unwrap();
    assert_eq!(reconnecting(&mut events).await, (1, Duration::ZERO));
    client.close().await;
}

/// Reads a SUBSCRIBE_URI for `topic` on `raw` and confirms it.
async fn confirm_subscribe(raw: &mut Raw, topic: &'static str) {
    let sub = recv(raw).await;
    assert_eq!(
        (sub.message_type, &sub.body.uri[..]),
        (MessageType::SUBSCRIBE_URI, topic.as_bytes())
    );
    raw.send(Message::new(MessageType::CONFIRM_SUBSCRIBE, topic, ""))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_reconnection_that_drains_waits_for_its_own_successors_subscriptions() {
    // The second connection drains: the confirmation it got itself must
    // not count as its successor's.
    let (builder, mut conns, _open, _) = scripted_to(["a:1", "b:2"], 64 * 1024);
    let client = builder
        .reconnect(
            Reconnect::default()
                .initial(Duration::from_millis(20))
                .jitter(0.0),
        )
        .handover_overlap(Duration::from_millis(10))
        .connect()
        .await
        .unwrap();
    let mut first = accepted(&mut conns).await;
    let subscribing = subscribe_in_background(&client, "news");
    confirm_subscribe(&mut first, "news").await;
    let _stream = timeout(WAIT, subscribing).await.unwrap().unwrap().unwrap();
    drop(first);
    let mut second = accepted(&mut conns).await;
    confirm_subscribe(&mut second, "news").await;
    second.send(crate::protocol::drain_notice()).await.unwrap();
    let mut third = accepted(&mut conns).await;
    let sub = recv(&mut third).await;
    assert_eq!(sub.message_type, MessageType::SUBSCRIBE_URI);
    assert!(
        quiet(&mut second, Duration::from_millis(100)).await,
        "left too early"
    );
    third
        .send(Message::new(MessageType::CONFIRM_SUBSCRIBE, "news", ""))
        .await
        .unwrap();
    let bye = recv(&mut second).await;
    assert_eq!(bye.message_type, MessageType::UNSUBSCRIBE_URI);
    client.close().await;
}

#[tokio::test]
async fn an_unsigned_auth_error_fails_its_request_at_once() {
    use crate::auth::{NetaioHmac, PluginLayer};
    let (builder, mut conns, _open) = scripted(64 * 1024);
    let client = builder
        .plugins(PluginLayer::new().with_auth(NetaioHmac::new("secret")))
        .request_timeout(Duration::from_secs(30))
        .check_credentials(false) // the script answers no ping
        .connect()
        .await
        .unwrap();
    let mut server = accepted(&mut conns).await;
    let asking = {
        let c = client.clone();
        tokio::spawn(async move { c.request("ask", "").await })
    };
    let request = recv(&mut server).await;
    // What a server that cannot verify the request answers: unsigned.
    server
        .send(answer(&request, MessageType::AUTH_ERROR, "bad signature"))
        .await
        .unwrap();
    let e = timeout(WAIT, asking).await.unwrap().unwrap().unwrap_err();
    assert_eq!(
        e.reply().map(|m| m.message_type),
        Some(MessageType::AUTH_ERROR),
        "{e}"
    );
    client.close().await;
}

#[tokio::test]
async fn a_refused_credential_fails_connect_and_silence_passes() {
    use crate::auth::{NetaioHmac, PluginLayer};
    for refuse in [true, false] {
        let (builder, mut conns, _open) = scripted(64 * 1024);
        let connecting = tokio::spawn(
            builder
                .plugins(PluginLayer::new().with_auth(NetaioHmac::new("wrong")))
                .connect_timeout(Duration::from_millis(200))
                .connect(),
        );
        let mut server = accepted(&mut conns).await;
        let ping = recv(&mut server).await;
        assert_eq!(&ping.uri()[..], crate::protocol::PING_URI.as_bytes());
        if refuse {
            // What a server that cannot verify the ping answers: unsigned.
            let no = answer(&ping, MessageType::AUTH_ERROR, "bad signature");
            server.send(no).await.unwrap();
        }
        let connected = timeout(WAIT, connecting).await.unwrap().unwrap();
        match connected {
            Err(e) => assert!(refuse && e.is_auth_error(), "{e}"),
            Ok(client) => {
                assert!(!refuse, "an AUTH_ERROR to the ping passed");
                client.close().await;
            }
        }
    }
    // Without an auth plugin there is nothing to check: no ping.
    let (builder, mut conns, _open) = scripted(64 * 1024);
    let client = builder.connect().await.unwrap();
    let mut server = accepted(&mut conns).await;
    assert!(quiet(&mut server, Duration::from_millis(50)).await);
    client.close().await;
}

#[tokio::test]
async fn a_peer_plugin_sees_what_the_server_advertised() {
    use crate::auth::test_plugin::NeedsPeerData;
    use crate::auth::PluginLayer;
    let (builder, mut conns, _open) = scripted(64 * 1024);
    let client = builder
        .plugins(PluginLayer::new().with_auth(NeedsPeerData))
        .check_credentials(false) // the script answers no ping
        .peer(crate::peer::LocalPeer::new("me", "mine"))
        .on(
            (MessageType::REQUEST_URI, "ask"),
            |_m: Message, _c: Client| async { Message::respond("ask", "known") },
        )
        .connect()
        .await
        .unwrap();
    let mut server = accepted(&mut conns).await;
    assert_eq!(
        recv(&mut server).await.message_type,
        MessageType::ADVERTISE_PEER
    );
    // Before the server advertised itself, its frames fail the plugin.
    server.send(req_to("ask")).await.unwrap();
    assert!(
        quiet(&mut server, Duration::from_millis(100)).await,
        "answered too early"
    );
    let them = crate::peer::LocalPeer::new("server", "theirs");
    server
        .send(them.message(MessageType::ADVERTISE_PEER))
        .await
        .unwrap();
    assert_eq!(
        recv(&mut server).await.message_type,
        MessageType::PEER_DISCOVERED
    );
    server.send(req_to("ask")).await.unwrap();
    assert_eq!(&recv(&mut server).await.content()[..], b"known");
    client.close().await;
}

fn req_to(uri: &'static str) -> Message {
    Message::new(MessageType::REQUEST_URI, uri, "")
}

/// `client.subscribe(topic)` on a task of its own, so the test can play
/// the server's part meanwhile.
fn subscribe_in_background(
    client: &Client,
    topic: &'static str,
) -> tokio::task::JoinHandle<Result<super::Subscription, super::ClientError>> {
    let c = client.clone();
    tokio::spawn(async move { c.subscribe(topic).await })
}
