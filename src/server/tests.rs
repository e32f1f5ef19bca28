//! The server's drivers and handle against raw peers in memory (library
//! tests, real time, no sockets): routing, pub/sub and the handle's
//! fan-out calls, the connection registry and tags, hooks, limits, login,
//! stats, shutdown. The socket tests (`tests/server_*.rs`) cover the same
//! code over TCP; these run with the library's tests, so mutation testing
//! of `server/` takes seconds a mutant.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::DuplexStream;
use tokio::time::timeout;
use tokio_util::codec::Framed;

use super::{Context, Limits, Server, ServerHandle};
use crate::codec::FrameCodec;
use crate::wire::{Message, MessageType, Profile};
use crate::{Identity, IdentitySource};

/// Every wait of these tests is bounded by this.
const WAIT: Duration = Duration::from_secs(5);

/// A peer's end of a connection.
type Raw = Framed<DuplexStream, FrameCodec>;

/// Opens connections to a server in memory, each from the next port of
/// 127.0.0.1 (from 40 000), or from an address of the test's choosing.
struct Harness {
    handle: ServerHandle,
    ports: AtomicU16,
}

impl Harness {
    fn new(server: Server) -> Harness {
        Harness {
            handle: server.handle(),
            ports: AtomicU16::new(40_000),
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.fetch_add(1, Relaxed)))
    }

    /// A peer, or `None` if the server refused the connection.
    fn try_peer_from(&self, addr: SocketAddr) -> Option<Raw> {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        self.handle
            .serve_stream(theirs, addr)
            .then(|| Framed::new(ours, FrameCodec::new(Profile::Netaio)))
    }

    fn peer(&self) -> Raw {
        self.try_peer_from(self.addr())
            .expect("the server takes the connection")
    }
}

async fn recv(raw: &mut Raw) -> Message {
    timeout(WAIT, raw.next())
        .await
        .expect("a frame within the bound")
        .expect("the connection is open")
        .expect("the stream reads")
        .expect("a well-formed frame")
}

async fn call(raw: &mut Raw, msg: Message) -> Message {
    raw.send(msg).await.expect("sent");
    recv(raw).await
}

/// The connection's end (`None` from the stream) within the bound.
async fn closed(raw: &mut Raw) {
    loop {
        match timeout(WAIT, raw.next())
            .await
            .expect("closed within the bound")
        {
            None | Some(Err(_)) => return,
            Some(Ok(_)) => {}
        }
    }
}

/// Waits `d` for a frame or the end on `raw`; true if neither came.
async fn quiet(raw: &mut Raw, d: Duration) -> bool {
    timeout(d, raw.next()).await.is_err()
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

fn req(uri: &'static str) -> Message {
    Message::new(MessageType::REQUEST_URI, uri, "")
}

fn tagged(tag: &'static str) -> impl Fn(Message, Context) -> std::future::Ready<Message> {
    move |msg: Message, _ctx: Context| std::future::ready(Message::respond(msg.uri().clone(), tag))
}

fn text(m: &Message) -> String {
    String::from_utf8_lossy(m.content()).into_owned()
}

#[tokio::test]
async fn routes_most_specific_first_one_shots_once_and_changes_while_serving() {
    let h = Harness::new(
        Server::builder()
            .on(MessageType::REQUEST_URI, tagged("type"))
            .on((MessageType::REQUEST_URI, "a"), tagged("type+uri"))
            .once((MessageType::REQUEST_URI, "o"), tagged("once"))
            .on_sync(
                (MessageType::REQUEST_URI, "s"),
                |m: Message, _c: &Context| Message::respond(m.uri().clone(), "sync"),
            )
            .build(),
    );
    let mut p = h.peer();
    assert_eq!(text(&call(&mut p, req("a")).await), "type+uri");
    assert_eq!(text(&call(&mut p, req("b")).await), "type");
    assert_eq!(text(&call(&mut p, req("s")).await), "sync");
    assert_eq!(text(&call(&mut p, req("o")).await), "once");
    assert_eq!(text(&call(&mut p, req("o")).await), "type", "used up");
    h.handle
        .on((MessageType::REQUEST_URI, "late"), tagged("late"));
    assert_eq!(text(&call(&mut p, req("late")).await), "late");
    h.handle
        .once((MessageType::REQUEST_URI, "late"), tagged("late once"));
    assert_eq!(text(&call(&mut p, req("late")).await), "late once");
    assert_eq!(text(&call(&mut p, req("late")).await), "late");
    let empty = crate::auth::PluginLayer::new();
    h.handle.on_with(
        (MessageType::REQUEST_URI, "w"),
        tagged("with"),
        empty.clone(),
    );
    h.handle
        .once_with((MessageType::REQUEST_URI, "w"), tagged("with once"), empty);
    assert_eq!(text(&call(&mut p, req("w")).await), "with once");
    assert_eq!(text(&call(&mut p, req("w")).await), "with");
    assert!(h.handle.remove_handler((MessageType::REQUEST_URI, "a")));
    assert!(!h.handle.remove_handler((MessageType::REQUEST_URI, "a")));
    assert_eq!(text(&call(&mut p, req("a")).await), "type");
    assert!(h.handle.remove_handler(MessageType::REQUEST_URI));
    assert_eq!(call(&mut p, req("b")).await, Message::not_found(""));
}

#[tokio::test]
async fn a_default_handler_takes_what_no_route_does() {
    let h = Harness::new(Server::builder().default_handler(tagged("default")).build());
    let mut p = h.peer();
    assert_eq!(text(&call(&mut p, req("anything")).await), "default");
}

/// A connection's writer task starts with the first frame queued for it:
/// replies its reader writes itself need none, so a connection that only
/// asks (or is idle) runs one task, not two. A notification starts it.
#[tokio::test]
async fn the_writer_task_starts_with_the_first_frame_queued() {
    let h = Harness::new(Server::builder().subscriptions().build());
    let tracker = h.handle.shared.tracker.clone();
    let mut p = h.peer();
    let ok = call(&mut p, Message::new(MessageType::SUBSCRIBE_URI, "news", "")).await;
    assert_eq!(ok.message_type, MessageType::CONFIRM_SUBSCRIBE);
    assert_eq!(tracker.len(), 1, "the reader only: it wrote its reply");
    let note = Message::new(MessageType::NOTIFY_URI, "news", "1");
    assert_eq!(h.handle.notify("news", note).unwrap(), 1);
    assert_eq!(text(&recv(&mut p).await), "1");
    assert_eq!(tracker.len(), 2, "the notification started the writer");
    drop(p);
    until("both tasks ended", || tracker.is_empty()).await;
}

#[tokio::test]
async fn subscribers_get_notifications_and_the_handle_counts_deliveries() {
    let h = Harness::new(Server::builder().subscriptions().build());
    let (mut a, mut b) = (h.peer(), h.peer());
    for p in [&mut a, &mut b] {
        let ok = call(p, Message::new(MessageType::SUBSCRIBE_URI, "news", "")).await;
        assert_eq!(ok.message_type, MessageType::CONFIRM_SUBSCRIBE);
    }
    let note = |s: &'static str| Message::new(MessageType::NOTIFY_URI, "news", s);
    assert_eq!(h.handle.notify("news", note("1")).unwrap(), 2);
    let other = Message::new(MessageType::NOTIFY_URI, "other", "x");
    assert_eq!(h.handle.notify("other", other).unwrap(), 0);
    // A message its topic's subscribers would never see is refused.
    assert!(h
        .handle
        .notify("news", Message::ok("news", "x"))
        .unwrap_err()
        .is_topic_mismatch());
    assert!(h
        .handle
        .notify("other", note("x"))
        .unwrap_err()
        .is_topic_mismatch());
    assert_eq!(text(&recv(&mut a).await), "1");
    assert_eq!(text(&recv(&mut b).await), "1");
    let stats = h.handle.stats();
    assert_eq!((stats.connections, stats.topics), (2, 1));
    assert!(stats.subscription_bytes >= 2 * "news".len(), "{stats:?}");

    let ok = call(
        &mut b,
        Message::new(MessageType::UNSUBSCRIBE_URI, "news", ""),
    )
    .await;
    assert_eq!(ok.message_type, MessageType::CONFIRM_UNSUBSCRIBE);
    assert_eq!(h.handle.notify("news", note("2")).unwrap(), 1);
    assert_eq!(text(&recv(&mut a).await), "2");
    assert!(
        quiet(&mut b, Duration::from_millis(50)).await,
        "b left the topic"
    );

    // The handle's own subscription calls, by connection id.
    let ids: Vec<_> = h.handle.connections().iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1], "by id");
    h.handle.subscribe("news", ids[1]).unwrap();
    h.handle.subscribe("sport", ids[1]).unwrap();
    assert_eq!(h.handle.connections()[1].subscriptions, 2);
    assert_eq!(h.handle.notify("news", note("3")).unwrap(), 2);
    assert!(h.handle.unsubscribe(b"news", ids[1]));
    assert!(!h.handle.unsubscribe(b"news", ids[1]));
    assert_eq!(h.handle.unsubscribe_all(ids[1]), 1);
    assert_eq!(h.handle.unsubscribe_all(ids[1]), 0);
    assert_eq!(h.handle.stats().topics, 1);
}

#[tokio::test]
async fn broadcast_tags_and_send_to_reach_whom_they_name() {
    let h = Harness::new(
        Server::builder()
            .on(
                (MessageType::REQUEST_URI, "tag"),
                |m: Message, ctx: Context| async move {
                    let tag = String::from_utf8_lossy(m.content()).into_owned();
                    let added = ctx.add_tag(tag.clone());
                    let again = ctx.add_tag(tag.clone());
                    assert!(ctx.has_tag(&tag) && !ctx.has_tag("nope"));
                    Message::respond("tag", format!("{added} {again} {:?}", ctx.tags()))
                },
            )
            .on(
                (MessageType::REQUEST_URI, "untag"),
                |m: Message, ctx: Context| async move {
                    let tag = String::from_utf8_lossy(m.content()).into_owned();
                    Message::respond(
                        "untag",
                        format!("{} {}", ctx.remove_tag(&tag), ctx.remove_tag(&tag)),
                    )
                },
            )
            .build(),
    );
    let (mut a, mut b, mut c) = (h.peer(), h.peer(), h.peer());
    let tag = |t: &'static str| Message::new(MessageType::REQUEST_URI, "tag", t);
    assert_eq!(
        text(&call(&mut a, tag("ops")).await),
        r#"true false ["ops"]"#
    );
    assert_eq!(
        text(&call(&mut b, tag("ops")).await),
        r#"true false ["ops"]"#
    );
    assert_eq!(
        text(&call(&mut b, tag("eu")).await),
        r#"true false ["eu", "ops"]"#
    );
    let info = h.handle.connections();
    assert_eq!(info[1].tags, ["eu", "ops"]);
    assert_eq!(info[1].id.get(), info[0].id.get() + 1, "ids count up");

    let note = |s: &'static str| Message::new(MessageType::NOTIFY_URI, "t", s);
    assert_eq!(h.handle.send_to_tag("ops", note("ops")).unwrap(), 2);
    assert_eq!(h.handle.send_to_tag("none", note("none")).unwrap(), 0);
    assert_eq!(text(&recv(&mut a).await), "ops");
    assert_eq!(text(&recv(&mut b).await), "ops");
    assert_eq!(h.handle.broadcast(note("all")).unwrap(), 3);
    for p in [&mut a, &mut b, &mut c] {
        assert_eq!(text(&recv(p).await), "all");
    }
    h.handle.send_to(info[2].id, note("c")).unwrap();
    assert_eq!(text(&recv(&mut c).await), "c");
    let untag = Message::new(MessageType::REQUEST_URI, "untag", "ops");
    assert_eq!(text(&call(&mut a, untag).await), "true false");
    assert_eq!(h.handle.send_to_tag("ops", note("ops2")).unwrap(), 1);
    assert_eq!(text(&recv(&mut b).await), "ops2");
    assert!(quiet(&mut a, Duration::from_millis(50)).await);

    assert!(h.handle.disconnect(info[2].id));
    closed(&mut c).await;
    until("c gone", || h.handle.connection_count() == 2).await;
    assert!(!h.handle.disconnect(info[2].id), "gone already");
    assert!(h
        .handle
        .send_to(info[2].id, note("x"))
        .unwrap_err()
        .is_no_such_connection());
}

#[tokio::test]
async fn a_handlers_context_names_its_connection_and_can_act_on_it() {
    let seen = Arc::new(Mutex::new(None));
    let saw = seen.clone();
    let h = Harness::new(
        Server::builder()
            .on(
                (MessageType::REQUEST_URI, "me"),
                move |_m: Message, ctx: Context| {
                    *saw.lock().unwrap() = Some((ctx.id(), ctx.peer(), ctx.identity().cloned()));
                    let sent = ctx.send(Message::new(MessageType::NOTIFY_URI, "push", "first"));
                    ctx.subscribe("mine").unwrap();
                    let subscribed = (ctx.is_subscribed(b"mine"), ctx.is_subscribed(b"other"));
                    std::future::ready(Message::respond(
                        "me",
                        format!("{} {subscribed:?}", sent.is_ok()),
                    ))
                },
            )
            .on(
                (MessageType::REQUEST_URI, "leave"),
                |_m: Message, ctx: Context| {
                    let left = (ctx.unsubscribe(b"mine"), ctx.unsubscribe(b"mine"));
                    ctx.disconnect();
                    std::future::ready(Message::respond("leave", format!("{left:?}")))
                },
            )
            .build(),
    );
    let addr = h.addr();
    let mut p = h.try_peer_from(addr).unwrap();
    p.send(req("me")).await.unwrap();
    assert_eq!(
        text(&recv(&mut p).await),
        "first",
        "sent from the handler, ahead of its reply"
    );
    assert_eq!(text(&recv(&mut p).await), "true (true, false)");
    let (id, peer, identity) = seen.lock().unwrap().clone().unwrap();
    assert_eq!((peer, identity), (addr, None));
    assert_eq!(h.handle.connections()[0].id, id);
    assert_eq!(
        h.handle
            .notify("mine", Message::new(MessageType::NOTIFY_URI, "mine", "n"))
            .unwrap(),
        1
    );
    assert_eq!(text(&recv(&mut p).await), "n");
    assert_eq!(text(&call(&mut p, req("leave")).await), "(true, false)");
    closed(&mut p).await;
}

#[tokio::test]
async fn join_and_leave_hooks_see_each_connection_once() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let (joined, left) = (events.clone(), events.clone());
    let h = Harness::new(
        Server::builder()
            .on_join(move |info: &super::ConnectionInfo, _h: &ServerHandle| {
                joined
                    .lock()
                    .unwrap()
                    .push(format!("join {}", info.peer.port()))
            })
            .on_leave(move |info: &super::ConnectionInfo, _h: &ServerHandle| {
                left.lock()
                    .unwrap()
                    .push(format!("leave {}", info.peer.port()))
            })
            .build(),
    );
    let p = h.peer();
    until("joined", || events.lock().unwrap().len() == 1).await;
    drop(p);
    until("left", || events.lock().unwrap().len() == 2).await;
    assert_eq!(*events.lock().unwrap(), ["join 40000", "leave 40000"]);
}

#[tokio::test]
async fn connection_limits_refuse_and_count() {
    let limits = Limits {
        max_connections: 2,
        max_connections_per_address: 1,
        ..Limits::default()
    };
    let h = Harness::new(Server::builder().limits(limits).build());
    let same: SocketAddr = "127.0.0.2:1".parse().unwrap();
    let _a = h.try_peer_from(same).expect("the first from an address");
    assert!(
        h.try_peer_from("127.0.0.2:2".parse().unwrap()).is_none(),
        "per address"
    );
    let _b = h
        .try_peer_from("127.0.0.3:1".parse().unwrap())
        .expect("another address");
    assert!(
        h.try_peer_from("127.0.0.4:1".parse().unwrap()).is_none(),
        "in total"
    );
    let s = h.handle.stats();
    assert_eq!((s.accepted, s.rejected, s.rejected_per_address), (2, 1, 1));
}

#[tokio::test]
async fn login_names_the_connection_and_the_handle_finds_and_closes_it_by_name() {
    let h = Harness::new(
        Server::builder()
            .login(|hello: super::Hello, _info| async move {
                match &hello.content[..] {
                    b"alice" => Ok(Identity::new("alice", IdentitySource::Login)),
                    _ => Err(super::LoginRefused::new("who?")),
                }
            })
            .on(
                (MessageType::REQUEST_URI, "who"),
                |_m: Message, ctx: Context| {
                    let name = ctx
                        .identity()
                        .map(|i| i.name().to_owned())
                        .unwrap_or_default();
                    std::future::ready(Message::respond("who", name))
                },
            )
            .build(),
    );
    let mut a = h.peer();
    let ok = call(
        &mut a,
        crate::protocol::login(bytes::Bytes::from_static(b"alice")),
    )
    .await;
    assert_eq!(ok.message_type, MessageType::RESPOND_URI, "{ok:?}");
    assert_eq!(text(&call(&mut a, req("who")).await), "alice");
    let mut b = h.peer();
    let no = call(
        &mut b,
        crate::protocol::login(bytes::Bytes::from_static(b"mallory")),
    )
    .await;
    assert_eq!(no.message_type, MessageType::AUTH_ERROR, "{no:?}");
    closed(&mut b).await;
    assert_eq!(h.handle.stats().login_refusals, 1);
    let of: Vec<_> = h
        .handle
        .connections_of("alice")
        .iter()
        .map(|c| c.identity.clone())
        .collect();
    assert_eq!(of.len(), 1);
    assert_eq!(of[0].as_ref().map(Identity::name), Some("alice"));
    assert!(h.handle.connections_of("bob").is_empty());
    assert_eq!(h.handle.disconnect_identity("bob"), 0);
    assert_eq!(h.handle.disconnect_identity("alice"), 1);
    closed(&mut a).await;
}

#[tokio::test]
async fn stats_count_frames_bytes_and_handler_failures() {
    let h = Harness::new(
        Server::builder()
            .on(
                (MessageType::REQUEST_URI, "fail"),
                |_m: Message, _c: Context| async {
                    Err::<Message, _>(crate::handler::HandlerError::from("no"))
                },
            )
            .on(
                (MessageType::REQUEST_URI, "panic"),
                |_m: Message, _c: Context| async {
                    panic!("handler panics (expected by the test)");
                    #[allow(unreachable_code)]
                    Message::ok("", "")
                },
            )
            .on((MessageType::REQUEST_URI, "ok"), tagged("fine"))
            .build(),
    );
    let mut p = h.peer();
    assert_eq!(
        call(&mut p, req("ok")).await.message_type,
        MessageType::RESPOND_URI
    );
    assert_eq!(
        call(&mut p, req("fail")).await.message_type,
        MessageType::ERROR
    );
    assert_eq!(
        call(&mut p, req("panic")).await.message_type,
        MessageType::ERROR
    );
    until("counted", || h.handle.stats().frames_in == 3).await;
    let s = h.handle.stats();
    assert_eq!(
        (s.frames_out, s.handler_errors, s.handler_panics),
        (3, 1, 1),
        "{s:?}"
    );
    assert!(s.bytes_in >= 3 * 9 && s.bytes_out >= 3 * 9, "{s:?}");
    assert_eq!(s.connections, 1);
}

#[tokio::test]
async fn stop_tells_peers_to_move_waits_for_them_and_refuses_new_ones() {
    let limits = Limits {
        drain_timeout: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(5),
        ..Limits::default()
    };
    let h = Harness::new(Server::builder().limits(limits).build());
    let mut p = h.peer();
    // A ping makes it a framewire peer (netaio peers are not told).
    let pong = call(&mut p, crate::protocol::ping()).await;
    assert!(crate::protocol::is_pong(&pong), "{pong:?}");
    let handle = h.handle.clone();
    let stopping = tokio::spawn(async move { handle.stop().await });
    let notice = recv(&mut p).await;
    assert!(crate::protocol::is_drain(&notice), "{notice:?}");
    until("refusing", || h.try_peer_from(h.addr()).is_none()).await;
    drop(p);
    timeout(WAIT, stopping)
        .await
        .expect("stopped within the bound")
        .unwrap();
    assert_eq!(h.handle.connection_count(), 0);
    // A second stop returns at once.
    timeout(WAIT, h.handle.stop()).await.unwrap();
}

/// A server served over an in-memory acceptor, and a dialer for clients.
fn serve_in_memory(server: Server) -> (ServerHandle, crate::transport::MemoryDialer) {
    let (acceptor, dialer) = crate::transport::MemoryAcceptor::new();
    let handle = server.handle();
    tokio::spawn(server.serve(acceptor, std::future::pending()));
    (handle, dialer)
}

#[tokio::test]
async fn a_routes_own_layer_opens_its_requests_and_seals_its_replies() {
    use crate::auth::{NetaioHmac, PluginLayer};
    let layer =
        || PluginLayer::new().with_auth(NetaioHmac::new("route key").hmac_field("route_hmac"));
    let (handle, dialer) = serve_in_memory(
        Server::builder()
            .on_with((MessageType::REQUEST_URI, "sec"), tagged("secret"), layer())
            .build(),
    );
    let client = crate::client::Client::builder("memory")
        .connector(dialer)
        .request_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    let reply = client.call_with(req("sec"), &layer()).await.unwrap();
    assert_eq!(text(&reply), "secret");
    // Without the route's signature the request is refused.
    let e = client.call(req("sec")).await.unwrap_err();
    assert!(e.is_error_reply(), "{e}");
    // The reply is sealed with the route's layer: a raw peer sees its field.
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    assert!(handle.serve_stream(theirs, "127.0.0.1:9".parse().unwrap()));
    let mut raw: Raw = Framed::new(ours, FrameCodec::new(Profile::Netaio));
    let stack = crate::auth::PluginStack::new(layer());
    let answer = call(&mut raw, stack.seal(req("sec")).unwrap()).await;
    assert!(answer.auth.get_bytes("route_hmac").is_some(), "{answer:?}");
    client.close().await;
    handle.stop().await;
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn tls_handshakes_are_counted_and_a_failed_one_frees_its_slot() {
    use crate::tls::test_ca::Ca;
    let ca = Ca::new();
    let (chain, key) = ca.leaf("localhost");
    let config = crate::tls::server_config(chain, key, None).unwrap();
    let (memory, dialer) = crate::transport::MemoryAcceptor::new();
    let acceptor =
        crate::tls::TlsAcceptor::new(memory, config).handshake_timeout(Duration::from_millis(300));
    let server = Server::builder().build();
    let handle = server.handle();
    tokio::spawn(server.serve(acceptor, std::future::pending()));

    let connector =
        tokio_rustls::TlsConnector::from(crate::tls::client_config(ca.roots(), None).unwrap());
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector
        .connect(name, dialer.dial().unwrap())
        .await
        .unwrap();
    let mut peer = Framed::new(tls, FrameCodec::new(Profile::Netaio));
    peer.send(crate::protocol::ping()).await.unwrap();
    let pong = timeout(WAIT, peer.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(crate::protocol::is_pong(&pong), "{pong:?}");
    let s = handle.stats();
    assert_eq!(
        (s.tls_handshakes, s.tls_handshake_failures),
        (1, 0),
        "{s:?}"
    );

    // A peer that never speaks TLS holds a slot until its deadline.
    let _silent = dialer.dial().unwrap();
    until("the silent peer registered", || {
        handle.connection_count() == 2
    })
    .await;
    until("its handshake failed", || {
        handle.stats().tls_handshake_failures == 1
    })
    .await;
    until("its slot freed", || handle.connection_count() == 1).await;
    let s = handle.stats();
    assert_eq!((s.tls_handshakes, s.timeouts), (1, 1), "{s:?}");
    drop(peer);
    handle.stop().await;
}

/// A backplane that hands the test its [`super::Inbound`] and drops what
/// is published.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Option<super::Inbound>>>);

impl super::Backplane for Capture {
    fn start(&self, inbound: super::Inbound) {
        *self.0.lock().unwrap() = Some(inbound);
    }

    fn publish(&self, _envelope: bytes::Bytes) -> bool {
        true
    }
}

#[tokio::test]
async fn instances_sharing_a_backplane_serve_each_others_subscribers() {
    let hub = super::MemoryBackplane::new();
    let a = Harness::new(
        Server::builder()
            .backplane(hub.clone())
            .instance_id("a")
            .build(),
    );
    let b = Harness::new(
        Server::builder()
            .backplane(hub.clone())
            .instance_id("b")
            .subscriptions()
            .build(),
    );
    assert_eq!(a.handle.instance_id().as_deref(), Some("a"));
    let _on_a = a.peer(); // starts a's backplane
    let mut sub = b.peer();
    let ok = call(
        &mut sub,
        Message::new(MessageType::SUBSCRIBE_URI, "news", ""),
    )
    .await;
    assert_eq!(ok.message_type, MessageType::CONFIRM_SUBSCRIBE);
    assert!(a.handle.stats().backplane_connected);
    let before = a.handle.stats();
    assert_eq!(
        a.handle
            .notify(
                "news",
                Message::new(MessageType::NOTIFY_URI, "news", "from a")
            )
            .unwrap(),
        0,
        "a's own subscribers: none"
    );
    assert_eq!(text(&recv(&mut sub).await), "from a", "relayed to b's");
    let delta = a.handle.stats().since(&before);
    assert_eq!(delta.backplane_published, 1, "{delta:?}");
    assert_eq!(b.handle.stats().backplane_received, 1);
    hub.set_available(false);
    assert!(!a.handle.stats().backplane_connected && !b.handle.stats().backplane_connected);
    hub.set_available(true);
    assert!(b.handle.stats().backplane_connected);
}

#[tokio::test]
async fn the_inbound_reports_to_its_server_while_it_lives() {
    let capture = Capture::default();
    let server = Server::builder().backplane(capture.clone()).build();
    let h = Harness::new(server);
    let _p = h.peer(); // starts the backplane
    let inbound = capture.0.lock().unwrap().clone().expect("started");
    assert!(!inbound.is_closed());
    assert_eq!(format!("{inbound:?}"), "Inbound { closed: false }");
    inbound.set_connected(true);
    assert!(h.handle.stats().backplane_connected);
    inbound.set_connected(false);
    assert!(!h.handle.stats().backplane_connected);
    inbound.publish_failed(3);
    assert_eq!(h.handle.stats().backplane_publish_failures, 3);
    #[cfg(feature = "redis")]
    {
        inbound.refuse_unauthenticated(super::backplane::MacError::Wrong);
        assert_eq!(h.handle.stats().backplane_unauthenticated, 1);
    }
    inbound.deliver(b"not an envelope");
    assert_eq!(h.handle.stats().backplane_invalid, 1);
    h.handle.stop().await;
    drop(h);
    until("the server gone", || inbound.is_closed()).await;
    inbound.deliver(b"ignored: nobody to deliver to");
}

#[test]
fn stats_since_subtracts_counters_and_keeps_gauges() {
    let later = super::Stats {
        connections: 3,
        topics: 2,
        subscription_bytes: 7,
        frames_in: 10,
        bytes_out: 5,
        backplane_unauthenticated: 4,
        ..Default::default()
    };
    let earlier = super::Stats {
        connections: 9,
        frames_in: 4,
        bytes_out: 8,
        backplane_unauthenticated: 1,
        ..Default::default()
    };
    let d = later.since(&earlier);
    assert_eq!((d.connections, d.topics, d.subscription_bytes), (3, 2, 7));
    assert_eq!(
        (d.frames_in, d.bytes_out, d.backplane_unauthenticated),
        (6, 0, 3)
    );
}

/// A subscriber to "news" that reads nothing, on a server with a queue of
/// two frames per connection under `policy`; `(notify's total count,
/// notifications sent)` after 200 notifications of 1 KiB.
async fn flood_a_reader_that_stopped(policy: super::SlowConsumerPolicy) -> (Harness, Raw, usize) {
    let limits = Limits {
        max_queued_frames: 2,
        slow_consumer: policy,
        ..Limits::default()
    };
    let h = Harness::new(Server::builder().subscriptions().limits(limits).build());
    let mut p = h.peer();
    let ok = call(&mut p, Message::new(MessageType::SUBSCRIBE_URI, "news", "")).await;
    assert_eq!(ok.message_type, MessageType::CONFIRM_SUBSCRIBE);
    let mut taken = 0;
    for _ in 0..200 {
        let note = Message::new(MessageType::NOTIFY_URI, "news", vec![0u8; 1024]);
        taken += h.handle.notify("news", note).unwrap_or(0);
    }
    (h, p, taken)
}

#[tokio::test]
async fn a_slow_consumer_loses_the_newest_under_drop_newest_and_stays() {
    let (h, mut p, taken) =
        flood_a_reader_that_stopped(super::SlowConsumerPolicy::DropNewest).await;
    assert!(
        taken < 200,
        "the duplex holds 64 KiB and the queue 2 frames: {taken}"
    );
    let s = h.handle.stats();
    assert_eq!(s.slow_consumer_drops, 200 - taken as u64, "{s:?}");
    assert_eq!((s.slow_consumer_disconnects, s.connections), (0, 1));
    // Still served: what it was sent arrives, then a request is answered.
    for _ in 0..taken {
        assert_eq!(recv(&mut p).await.message_type, MessageType::NOTIFY_URI);
    }
    assert_eq!(call(&mut p, req("x")).await, Message::not_found(""));
}

#[tokio::test]
async fn a_slow_consumer_is_disconnected_by_default() {
    let (h, mut p, taken) =
        flood_a_reader_that_stopped(super::SlowConsumerPolicy::Disconnect).await;
    assert!(taken < 200, "{taken}");
    closed(&mut p).await;
    until("gone", || h.handle.connection_count() == 0).await;
    let s = h.handle.stats();
    assert_eq!(
        (s.slow_consumer_disconnects, s.slow_consumer_drops),
        (1, 0),
        "{s:?}"
    );
    assert!(
        h.handle
            .notify("news", Message::new(MessageType::NOTIFY_URI, "news", ""))
            .unwrap()
            == 0
    );
}

#[tokio::test]
async fn subscriptions_past_their_bounds_are_refused_and_counted() {
    let limits = Limits::default()
        .max_subscriptions_per_connection(1)
        .max_topic_len(8);
    let h = Harness::new(Server::builder().subscriptions().limits(limits).build());
    let mut p = h.peer();
    let sub = |t: &'static str| Message::new(MessageType::SUBSCRIBE_URI, t, "");
    assert_eq!(
        call(&mut p, sub("one")).await.message_type,
        MessageType::CONFIRM_SUBSCRIBE
    );
    assert_eq!(
        call(&mut p, sub("one")).await.message_type,
        MessageType::CONFIRM_SUBSCRIBE,
        "again: fine"
    );
    assert_eq!(
        call(&mut p, sub("two")).await.message_type,
        MessageType::ERROR
    );
    assert_eq!(
        call(&mut p, sub("a-long-topic")).await.message_type,
        MessageType::ERROR
    );
    assert_eq!(h.handle.stats().subscriptions_refused, 2);
    let id = h.handle.connections()[0].id;
    let e = h.handle.subscribe("three", id).unwrap_err();
    assert!(e.is_too_many(), "{e}");
    assert_eq!(h.handle.stats().subscriptions_refused, 3);
}

#[tokio::test]
async fn a_silent_peer_is_closed_at_the_idle_timeout_and_counted() {
    let limits = Limits {
        idle_timeout: Duration::from_millis(100),
        first_frame_timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    let h = Harness::new(Server::builder().limits(limits).build());
    let mut p = h.peer();
    closed(&mut p).await;
    until("counted", || h.handle.stats().timeouts == 1).await;
    assert_eq!(h.handle.connection_count(), 0);
}

/// An acceptor that plays a script of results, noting when each accept
/// was asked for (virtual time).
struct Scripted {
    script:
        std::collections::VecDeque<Result<crate::transport::Stream, crate::transport::AcceptError>>,
    asked: Arc<Mutex<Vec<tokio::time::Instant>>>,
}

impl crate::transport::Acceptor for Scripted {
    fn accept(&mut self) -> crate::transport::AcceptFuture<'_> {
        self.asked.lock().unwrap().push(tokio::time::Instant::now());
        let next = self.script.pop_front();
        Box::pin(async move {
            match next {
                Some(r) => r.map(crate::transport::Incoming::new),
                None => std::future::pending().await,
            }
        })
    }
}

fn transient() -> Result<crate::transport::Stream, crate::transport::AcceptError> {
    Err(crate::transport::AcceptError::Transient(
        std::io::ErrorKind::Other.into(),
    ))
}

#[tokio::test(start_paused = true)]
async fn the_accept_loop_backs_off_on_transient_errors_and_resets_after_a_success() {
    let (_ours, theirs) = tokio::io::duplex(1024);
    let stream = crate::transport::Stream::new(theirs, "127.0.0.1:9".parse().unwrap());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let script = Scripted {
        script: [
            transient(),
            transient(),
            transient(),
            Ok(stream),
            transient(),
        ]
        .into_iter()
        .chain([Err(crate::transport::AcceptError::Closed)])
        .collect(),
        asked: asked.clone(),
    };
    let server = Server::builder().build();
    let handle = server.handle();
    timeout(WAIT, server.serve(script, std::future::pending()))
        .await
        .expect("served within the bound")
        .expect("a closed acceptor ends serving cleanly");
    let asked = asked.lock().unwrap();
    let gaps: Vec<_> = asked
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    // 5, 10, 20 ms after transient errors; none after the connection; 5
    // again after the next error.
    assert_eq!(gaps, [5, 10, 20, 0, 5]);
    assert_eq!(handle.stats().accepted, 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_acceptor_ends_serving_with_its_error_and_a_shutdown_future_ends_it_cleanly() {
    let failing = Scripted {
        script: [Err(crate::transport::AcceptError::Fatal(
            std::io::ErrorKind::Other.into(),
        ))]
        .into(),
        asked: Default::default(),
    };
    let e = Server::builder()
        .build()
        .serve(failing, std::future::pending())
        .await;
    assert!(e.is_err());
    let idle = Scripted {
        script: Default::default(),
        asked: Default::default(),
    };
    let server = Server::builder().build();
    let handle = server.handle();
    let shutdown = tokio::time::sleep(Duration::from_secs(1));
    timeout(WAIT, server.serve(idle, shutdown))
        .await
        .unwrap()
        .unwrap();
    // Stopped: new connections are refused.
    let (_ours, theirs) = tokio::io::duplex(1024);
    assert!(!handle.serve_stream(theirs, "127.0.0.1:9".parse().unwrap()));
}

#[tokio::test]
async fn the_readme_routes_echo_store_and_publish() {
    let h = Harness::new(super::readme_routes(Server::builder()).build());
    let (mut a, mut b) = (h.peer(), h.peer());
    let msg = |t: MessageType, uri: &'static str, body: &'static str| Message::new(t, uri, body);
    assert_eq!(
        text(&call(&mut a, msg(MessageType::REQUEST_URI, "echo", "hi")).await),
        "hi"
    );
    assert_eq!(
        call(&mut a, msg(MessageType::CREATE_URI, "k", "v"))
            .await
            .message_type,
        MessageType::OK
    );
    assert_eq!(
        text(&call(&mut b, msg(MessageType::REQUEST_URI, "k", "")).await),
        "v"
    );
    let sub = call(&mut b, msg(MessageType::SUBSCRIBE_URI, "x", "")).await;
    assert_eq!(sub.message_type, MessageType::CONFIRM_SUBSCRIBE);
    let ok = call(&mut a, msg(MessageType::PUBLISH_URI, "pub/x", "to x")).await;
    assert_eq!(
        (ok.message_type, text(&ok)),
        (MessageType::OK, "published".to_owned())
    );
    let note = recv(&mut b).await;
    assert_eq!(
        (&note.body.uri[..], text(&note)),
        (&b"x"[..], "to x".to_owned())
    );
    a.send(msg(MessageType::PUBLISH_URI, "broadcast", "to all"))
        .await
        .unwrap();
    // `a` gets its own broadcast too, ahead of the OK (the handler
    // broadcasts before it returns).
    let mut got = [recv(&mut a).await, recv(&mut a).await].map(|m| (m.message_type, text(&m)));
    got.sort_by_key(|(t, _)| t.value());
    assert_eq!(
        got,
        [
            (MessageType::NOTIFY_URI, "to all".to_owned()),
            (MessageType::OK, "broadcast".to_owned())
        ]
    );
    assert_eq!(text(&recv(&mut b).await), "to all");
    let nowhere = call(&mut a, msg(MessageType::PUBLISH_URI, "elsewhere", "")).await;
    assert_eq!(nowhere.message_type, MessageType::NOT_FOUND);
}

#[tokio::test]
async fn peer_management_learns_answers_and_forgets_peers() {
    use crate::peer::LocalPeer;
    let local = LocalPeer::new("server", "s");
    let h = Harness::new(
        Server::builder()
            .subscriptions()
            .peers(local.clone())
            .build(),
    );
    assert_eq!(
        h.handle.local_peer().map(|p| p.id().clone()),
        Some(local.id().clone())
    );
    let other = LocalPeer::new("other", "o");
    let mut p = h.peer();
    let answer = call(&mut p, other.message(MessageType::ADVERTISE_PEER)).await;
    assert_eq!(answer.message_type, MessageType::PEER_DISCOVERED);
    assert_eq!(answer.body.uri, *local.app_id());
    let ids: Vec<_> = h.handle.peers().into_iter().map(|p| p.id).collect();
    assert_eq!(ids, [other.id().clone()]);
    assert!(h.handle.peer(b"other").is_some());
    assert!(h.handle.remove_peer(b"other"));
    assert!(!h.handle.remove_peer(b"other"));
    assert!(h.handle.peer(b"other").is_none());
    // Learned from PEER_DISCOVERED too (no answer to that).
    p.send(other.message(MessageType::PEER_DISCOVERED))
        .await
        .unwrap();
    until("learned again", || h.handle.peer(b"other").is_some()).await;
    // DISCONNECT forgets it and ends the connection's subscriptions.
    let ok = call(&mut p, Message::new(MessageType::SUBSCRIBE_URI, "t", "")).await;
    assert_eq!(ok.message_type, MessageType::CONFIRM_SUBSCRIBE);
    p.send(other.message(MessageType::DISCONNECT))
        .await
        .unwrap();
    until("forgotten", || h.handle.peer(b"other").is_none()).await;
    until("unsubscribed", || h.handle.stats().topics == 0).await;
    // Without peer management there is nothing to list or remove.
    let plain = Server::builder().build().handle();
    assert!(plain.peers().is_empty() && plain.local_peer().is_none());
    assert!(!plain.remove_peer(b"other") && plain.peer(b"other").is_none());
}

#[test]
fn a_login_refusal_says_why() {
    let r = super::LoginRefused::new("unknown token");
    assert_eq!(r.reason(), "unknown token");
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_closed_at_the_write_timeout_and_counted() {
    let limits = Limits {
        write_timeout: Duration::from_millis(100),
        slow_consumer: super::SlowConsumerPolicy::DropNewest,
        ..Limits::default()
    };
    let h = Harness::new(Server::builder().subscriptions().limits(limits).build());
    let mut p = h.peer();
    let ok = call(&mut p, Message::new(MessageType::SUBSCRIBE_URI, "news", "")).await;
    assert_eq!(ok.message_type, MessageType::CONFIRM_SUBSCRIBE);
    // More than the 64 KiB the stream buffers: the writer stalls.
    for _ in 0..100 {
        let _ = h.handle.notify(
            "news",
            Message::new(MessageType::NOTIFY_URI, "news", vec![0u8; 1024]),
        );
    }
    until("closed", || h.handle.connection_count() == 0).await;
    assert_eq!(h.handle.stats().timeouts, 1);
    drop(p);
}

#[tokio::test]
async fn per_call_layers_seal_what_the_handle_sends() {
    use crate::auth::{NetaioHmac, PluginLayer};
    let layer = PluginLayer::new().with_auth(NetaioHmac::new("call key").hmac_field("call_hmac"));
    let h = Harness::new(
        Server::builder()
            .subscriptions()
            .on(
                (MessageType::REQUEST_URI, "tag"),
                |_m: Message, ctx: Context| async move {
                    ctx.add_tag("t");
                    Message::respond("tag", "")
                },
            )
            .build(),
    );
    let mut p = h.peer();
    call(&mut p, Message::new(MessageType::SUBSCRIBE_URI, "news", "")).await;
    call(&mut p, req("tag")).await;
    let id = h.handle.connections()[0].id;
    let note = || Message::new(MessageType::NOTIFY_URI, "news", "n");
    assert_eq!(h.handle.notify_with("news", note(), &layer).unwrap(), 1);
    assert_eq!(h.handle.broadcast_with(note(), &layer).unwrap(), 1);
    assert_eq!(h.handle.send_to_tag_with("t", note(), &layer).unwrap(), 1);
    assert_eq!(h.handle.send_to_tag_with("u", note(), &layer).unwrap(), 0);
    h.handle.send_to_with(id, note(), &layer).unwrap();
    for _ in 0..4 {
        let m = recv(&mut p).await;
        assert!(m.auth.get_bytes("call_hmac").is_some(), "{m:?}");
    }
    h.handle.send_to(id, note()).unwrap();
    assert!(recv(&mut p).await.auth.get_bytes("call_hmac").is_none());
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn a_tls_server_built_with_its_config_names_clients_by_certificate() {
    use crate::tls::test_ca::Ca;
    let ca = Ca::new();
    let (chain, key) = ca.leaf("localhost");
    let config = crate::tls::server_config(chain, key, Some(ca.roots())).unwrap();
    let who = |name: crate::tls::CertificateName| {
        let server = Server::builder()
            .tls(config.clone())
            .client_certificate_name(name)
            .on(
                (MessageType::REQUEST_URI, "who"),
                |_m: Message, ctx: Context| {
                    let name = ctx
                        .identity()
                        .map(|i| i.name().to_owned())
                        .unwrap_or_default();
                    std::future::ready(Message::respond("who", name))
                },
            )
            .build();
        serve_in_memory(server)
    };
    let client_config = crate::tls::client_config(ca.roots(), Some(ca.leaf("alice"))).unwrap();
    let connector = tokio_rustls::TlsConnector::from(client_config);
    let name = || rustls::pki_types::ServerName::try_from("localhost").unwrap();

    let (handle, dialer) = who(crate::tls::CertificateName::CommonName);
    let tls = connector
        .connect(name(), dialer.dial().unwrap())
        .await
        .unwrap();
    let mut peer = Framed::new(tls, FrameCodec::new(Profile::Netaio));
    peer.send(req("who")).await.unwrap();
    let reply = timeout(WAIT, peer.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(text(&reply), "alice");
    drop(peer);
    handle.stop().await;

    // Named by a URI the certificate does not have: refused.
    let (handle, dialer) = who(crate::tls::CertificateName::Uri);
    let _ = connector.connect(name(), dialer.dial().unwrap()).await;
    until("refused", || handle.stats().tls_handshake_failures == 1).await;
    handle.stop().await;
}

#[tokio::test]
async fn the_builders_plugins_profile_and_version_floor_apply() {
    use crate::auth::{NetaioHmac, PluginLayer, PluginStack};
    let layer = || PluginLayer::new().with_auth(NetaioHmac::new("instance key"));
    let h = Harness::new(
        Server::builder()
            .plugins(layer())
            .profile(Profile::Wide)
            .min_protocol_version(2)
            .login(|_hello: super::Hello, _info| async {
                Ok(Identity::new("x", IdentitySource::Login))
            })
            .once_with(
                (MessageType::REQUEST_URI, "o"),
                tagged("once"),
                PluginLayer::new(),
            )
            .on(MessageType::REQUEST_URI, tagged("any"))
            .build(),
    );
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    assert!(h.handle.serve_stream(theirs, h.addr()));
    let mut p = Framed::new(ours, FrameCodec::new(Profile::Wide));
    let stack = PluginStack::new(layer());
    // Login first (required): version 1 is under the floor.
    let refused = call(
        &mut p,
        stack
            .seal(crate::protocol::login(bytes::Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_ne!(
        refused.message_type,
        MessageType::RESPOND_URI,
        "{refused:?}"
    );
    closed(&mut p).await;
    // Unsigned: refused by the instance layer.
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    assert!(h.handle.serve_stream(theirs, h.addr()));
    let mut p = Framed::new(ours, FrameCodec::new(Profile::Wide));
    let mut hello = crate::protocol::login(bytes::Bytes::new());
    hello.auth.insert(
        crate::protocol::VERSION_FIELD,
        crate::wire::AuthValue::from(2u64.to_be_bytes()),
    );
    let unsigned = call(&mut p, hello.clone()).await;
    assert_eq!(
        unsigned.message_type,
        MessageType::AUTH_ERROR,
        "{unsigned:?}"
    );
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    assert!(h.handle.serve_stream(theirs, h.addr()));
    let mut p = Framed::new(ours, FrameCodec::new(Profile::Wide));
    let ok = call(&mut p, stack.seal(hello).unwrap()).await;
    assert_eq!(ok.message_type, MessageType::RESPOND_URI, "{ok:?}");
    let once = call(&mut p, stack.seal(req("o")).unwrap()).await;
    assert_eq!(text(&once), "once");
    let again = call(&mut p, stack.seal(req("o")).unwrap()).await;
    assert_eq!(text(&again), "any");
}

#[tokio::test]
async fn a_peer_plugin_sees_what_the_peer_advertised() {
    use crate::auth::PluginLayer;
    use crate::peer::LocalPeer;
    let h = Harness::new(
        Server::builder()
            .peers(LocalPeer::new("server", "s"))
            .plugins(PluginLayer::new().with_auth(crate::auth::test_plugin::NeedsPeerData))
            .on((MessageType::REQUEST_URI, "x"), tagged("known"))
            .build(),
    );
    let mut p = h.peer();
    assert_eq!(
        call(&mut p, req("x")).await.message_type,
        MessageType::AUTH_ERROR,
        "not yet"
    );
    let other = LocalPeer::new("other", "data");
    assert_eq!(
        call(&mut p, other.message(MessageType::ADVERTISE_PEER))
            .await
            .message_type,
        MessageType::PEER_DISCOVERED
    );
    assert_eq!(text(&call(&mut p, req("x")).await), "known");
}

#[tokio::test]
async fn bytes_of_a_frame_read_in_parts_are_all_counted() {
    use tokio::io::AsyncWriteExt;
    use tokio_util::codec::Encoder;
    let h = Harness::new(
        Server::builder()
            .on(MessageType::REQUEST_URI, tagged("r"))
            .build(),
    );
    let mut p = h.peer();
    let mut frame = bytes::BytesMut::new();
    FrameCodec::new(Profile::Netaio)
        .encode(
            Message::new(MessageType::REQUEST_URI, "x", vec![7u8; 100]),
            &mut frame,
        )
        .unwrap();
    let (first, rest) = frame.split_at(40);
    p.get_mut().write_all(first).await.unwrap();
    // The server reads the first part (and counts it) before the rest.
    tokio::time::sleep(Duration::from_millis(50)).await;
    p.get_mut().write_all(rest).await.unwrap();
    assert_eq!(text(&recv(&mut p).await), "r");
    until("counted", || h.handle.stats().frames_in == 1).await;
    assert_eq!(h.handle.stats().bytes_in, frame.len() as u64);
}

#[tokio::test]
async fn a_closed_connection_releases_its_subscriptions_and_info_reports_age() {
    let h = Harness::new(Server::builder().subscriptions().build());
    let mut p = h.peer();
    for t in ["a", "b"] {
        let ok = call(&mut p, Message::new(MessageType::SUBSCRIBE_URI, t, "")).await;
        assert_eq!(ok.message_type, MessageType::CONFIRM_SUBSCRIBE);
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let info = &h.handle.connections()[0];
    assert_eq!((info.subscriptions, info.queued), (2, (0, 0)));
    assert!(info.age >= Duration::from_millis(20), "{:?}", info.age);
    assert_eq!(info.id.to_string(), format!("#{}", info.id.get()));
    assert!(h.handle.stats().subscription_bytes > 0);
    drop(p);
    until("gone", || h.handle.connection_count() == 0).await;
    let s = h.handle.stats();
    assert_eq!((s.topics, s.subscription_bytes), (0, 0));
}

#[tokio::test]
async fn only_framewire_peers_are_told_to_move() {
    let limits = Limits {
        drain_timeout: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(5),
        ..Limits::default()
    };
    let h = Harness::new(Server::builder().limits(limits).build());
    let (mut fw, mut netaio) = (h.peer(), h.peer());
    assert!(crate::protocol::is_pong(
        &call(&mut fw, crate::protocol::ping()).await
    ));
    assert_eq!(call(&mut netaio, req("x")).await, Message::not_found(""));
    let handle = h.handle.clone();
    let stopping = tokio::spawn(async move { handle.stop().await });
    assert!(crate::protocol::is_drain(&recv(&mut fw).await));
    assert!(
        quiet(&mut netaio, Duration::from_millis(100)).await,
        "a netaio peer is not told"
    );
    drop(fw);
    timeout(WAIT, stopping).await.unwrap().unwrap();
    closed(&mut netaio).await;
}

#[tokio::test]
async fn shutdown_stops_taking_connections_and_serving_ends() {
    let (acceptor, dialer) = crate::transport::MemoryAcceptor::new();
    let server = Server::builder().build();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve(acceptor, std::future::pending()));
    let _first = dialer.dial().unwrap();
    until("accepted", || handle.stats().accepted == 1).await;
    handle.shutdown();
    timeout(WAIT, serving)
        .await
        .expect("serving ends")
        .unwrap()
        .unwrap();
    let (_ours, theirs) = tokio::io::duplex(1024);
    assert!(!handle.serve_stream(theirs, "127.0.0.1:9".parse().unwrap()));
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn reloading_tls_needs_tls_and_applies_to_the_next_handshake() {
    use crate::tls::test_ca::Ca;
    let plain = Server::builder().build().handle();
    let (chain, key) = Ca::new().leaf("x");
    let config = crate::tls::server_config(chain, key, None).unwrap();
    assert!(plain.reload_tls(config).is_err(), "no TLS to reload");
    let (old, new) = (Ca::new(), Ca::new());
    let (chain, key) = old.leaf("localhost");
    let (handle, dialer) = serve_in_memory(
        Server::builder()
            .tls(crate::tls::server_config(chain, key, None).unwrap())
            .build(),
    );
    let (chain, key) = new.leaf("localhost");
    handle
        .reload_tls(crate::tls::server_config(chain, key, None).unwrap())
        .unwrap();
    // A client that trusts only the old CA no longer gets through.
    let connector =
        tokio_rustls::TlsConnector::from(crate::tls::client_config(old.roots(), None).unwrap());
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    assert!(connector
        .connect(name.clone(), dialer.dial().unwrap())
        .await
        .is_err());
    let connector =
        tokio_rustls::TlsConnector::from(crate::tls::client_config(new.roots(), None).unwrap());
    assert!(connector
        .connect(name, dialer.dial().unwrap())
        .await
        .is_ok());
    handle.stop().await;
}

#[tokio::test]
async fn a_netaio_peer_signed_by_a_user_is_named_but_not_told_to_move() {
    use crate::auth::{MemoryUsers, PluginLayer, PluginStack, User, UserHmac};
    let users = MemoryUsers::new().with(User::new("alice", "alice-key"));
    let limits = Limits {
        drain_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let h = Harness::new(
        Server::builder()
            .plugins(PluginLayer::new().with_auth(UserHmac::server(users)))
            .on(
                (MessageType::REQUEST_URI, "who"),
                |_m: Message, ctx: Context| {
                    let shown = format!("{ctx:?}");
                    std::future::ready(Message::respond("who", shown))
                },
            )
            .limits(limits)
            .build(),
    );
    let alice =
        PluginStack::new(PluginLayer::new().with_auth(UserHmac::client("alice", "alice-key")));
    let mut p = h.peer();
    // No request id, no ping: a netaio-style peer, named by its key.
    let reply = call(&mut p, alice.seal(req("who")).unwrap()).await;
    let id = h.handle.connections()[0].id;
    assert!(
        text(&reply).starts_with(&format!(
            "Context {{ id: {id:?}, peer: 127.0.0.1:40000, identity: Some("
        )),
        "{}",
        text(&reply)
    );
    assert_eq!(h.handle.connections_of("alice").len(), 1);
    // Closed at the end of the drain, never sent the framewire notice.
    stop_without_asking_to_move(&h.handle, &mut p).await;
}

#[tokio::test]
async fn strict_hmac_fan_out_is_sealed_for_each_subscribers_session() {
    use crate::auth::{PluginLayer, StrictHmac};
    let layer = || PluginLayer::new().with_auth(StrictHmac::new("cluster secret"));
    let (handle, dialer) =
        serve_in_memory(Server::builder().plugins(layer()).subscriptions().build());
    let client = crate::client::Client::builder("memory")
        .connector(dialer)
        .plugins(layer())
        .connect()
        .await
        .unwrap();
    let mut stream = client.subscribe("t").await.unwrap();
    assert_eq!(
        handle
            .notify("t", Message::new(MessageType::NOTIFY_URI, "t", "sealed"))
            .unwrap(),
        1
    );
    let note = timeout(WAIT, stream.next())
        .await
        .expect("verified and delivered")
        .unwrap();
    assert_eq!(text(&note), "sealed");
    client.close().await;
    handle.stop().await;
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn a_users_key_must_name_the_party_its_certificate_proved() {
    use crate::auth::{MemoryUsers, PluginLayer, PluginStack, User, UserHmac};
    use crate::tls::test_ca::Ca;
    let ca = Ca::new();
    let (chain, key) = ca.leaf("localhost");
    let users = MemoryUsers::new()
        .with(User::new("alice", "alice-key"))
        .with(User::new("bob", "bob-key"));
    let (handle, dialer) = serve_in_memory(
        Server::builder()
            .tls(crate::tls::server_config(chain, key, Some(ca.roots())).unwrap())
            .plugins(PluginLayer::new().with_auth(UserHmac::server(users)))
            .on(MessageType::REQUEST_URI, tagged("ok"))
            .build(),
    );
    let config = crate::tls::client_config(ca.roots(), Some(ca.leaf("alice"))).unwrap();
    let connector = tokio_rustls::TlsConnector::from(config);
    let signed_as = |name: &str, secret: &str| {
        PluginStack::new(PluginLayer::new().with_auth(UserHmac::client(name, secret)))
            .seal(req("x"))
            .unwrap()
    };
    for (name, secret, want) in [
        ("bob", "bob-key", MessageType::AUTH_ERROR),
        ("alice", "alice-key", MessageType::RESPOND_URI),
    ] {
        let server_name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector
            .connect(server_name, dialer.dial().unwrap())
            .await
            .unwrap();
        let mut peer = Framed::new(tls, FrameCodec::new(Profile::Netaio));
        peer.send(signed_as(name, secret)).await.unwrap();
        let reply = timeout(WAIT, peer.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(
            reply.message_type, want,
            "{name} over alice's certificate: {reply:?}"
        );
    }
    handle.stop().await;
}

#[tokio::test]
async fn a_closed_connection_frees_its_place_in_its_addresss_count() {
    let limits = Limits {
        max_connections_per_address: 2,
        ..Limits::default()
    };
    let h = Harness::new(Server::builder().limits(limits).build());
    let at = |port| SocketAddr::from(([127, 0, 0, 5], port));
    let a = h.try_peer_from(at(1)).unwrap();
    let _b = h.try_peer_from(at(2)).unwrap();
    drop(a);
    until("a gone", || h.handle.connection_count() == 1).await;
    let _c = h.try_peer_from(at(3)).expect("a's place is free");
    assert!(
        h.try_peer_from(at(4)).is_none(),
        "b and c fill the address's two"
    );
}

#[tokio::test]
async fn without_a_drain_time_peers_are_not_asked_to_move() {
    let limits = Limits {
        drain_timeout: Duration::ZERO,
        ..Limits::default()
    };
    let h = Harness::new(Server::builder().limits(limits).build());
    let mut p = h.peer();
    assert!(crate::protocol::is_pong(
        &call(&mut p, crate::protocol::ping()).await
    ));
    stop_without_asking_to_move(&h.handle, &mut p).await;
}

#[tokio::test]
async fn instances_named_at_random_relay_to_each_other_once() {
    let hub = super::MemoryBackplane::new();
    let a = Harness::new(Server::builder().backplane(hub.clone()).build());
    let b = Harness::new(
        Server::builder()
            .backplane(hub.clone())
            .subscriptions()
            .build(),
    );
    let name = a.handle.instance_id().unwrap();
    assert!(
        name.len() == 8 && name.chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
    assert_ne!(Some(name), b.handle.instance_id());
    let _on_a = a.peer();
    let (mut sub, _other) = (b.peer(), b.peer()); // b's backplane started once
    let ok = call(
        &mut sub,
        Message::new(MessageType::SUBSCRIBE_URI, "news", ""),
    )
    .await;
    assert_eq!(ok.message_type, MessageType::CONFIRM_SUBSCRIBE);
    a.handle
        .notify("news", Message::new(MessageType::NOTIFY_URI, "news", "hi"))
        .unwrap();
    assert_eq!(text(&recv(&mut sub).await), "hi");
    assert!(format!("{hub:?}").contains("instances: 2"), "{hub:?}");
    assert_eq!(b.handle.stats().backplane_duplicates, 0);
}

/// Stops the server and reads `p` until it is closed, failing if it is
/// sent the drain notice on the way.
async fn stop_without_asking_to_move(handle: &ServerHandle, p: &mut Raw) {
    let handle = handle.clone();
    let stopping = tokio::spawn(async move { handle.stop().await });
    loop {
        match timeout(WAIT, p.next())
            .await
            .expect("closed within the bound")
        {
            None | Some(Err(_)) => break,
            Some(Ok(m)) => assert!(!crate::protocol::is_drain(&m.unwrap()), "asked to move"),
        }
    }
    timeout(WAIT, stopping).await.unwrap().unwrap();
}

/// A backplane that hands the test its [`super::Inbound`] and keeps what
/// is published.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<(Option<super::Inbound>, Vec<bytes::Bytes>)>>);

impl super::Backplane for Recorder {
    fn start(&self, inbound: super::Inbound) {
        self.0.lock().unwrap().0 = Some(inbound);
    }

    fn publish(&self, envelope: bytes::Bytes) -> bool {
        self.0.lock().unwrap().1.push(envelope);
        true
    }
}

impl Recorder {
    /// A server with subscriptions on a new recording backplane.
    fn server() -> (Recorder, Harness) {
        let rec = Recorder::default();
        let server = Server::builder()
            .backplane(rec.clone())
            .subscriptions()
            .build();
        (rec, Harness::new(server))
    }

    /// The published envelopes whose target `keep` picks.
    fn sent(
        &self,
        keep: impl Fn(&super::backplane::Target) -> bool,
    ) -> Vec<super::backplane::Envelope> {
        let sent = self.0.lock().unwrap().1.clone();
        let all = sent
            .into_iter()
            .map(|e| super::backplane::Envelope::decode(e).unwrap());
        all.filter(|e| keep(&e.target)).collect()
    }
}

/// Joins queue group `group` of `topic` on `peer`.
async fn join_group(peer: &mut Raw, topic: &'static str, group: &'static str) {
    let mut join = Message::new(MessageType::SUBSCRIBE_URI, topic, "");
    join.auth
        .insert(crate::protocol::GROUP_FIELD, group.as_bytes());
    assert_eq!(
        call(peer, join).await.message_type,
        MessageType::CONFIRM_SUBSCRIBE
    );
}

#[tokio::test]
async fn a_group_assigned_here_without_members_is_handed_on_once() {
    use super::backplane::{encode_table, Envelope, Target};
    let (rec, h) = Recorder::server();
    let me = h.handle.shared.groups.me();
    let mut plain = h.peer();
    let ok = call(
        &mut plain,
        Message::new(MessageType::SUBSCRIBE_URI, "jobs", ""),
    )
    .await;
    assert_eq!(ok.message_type, MessageType::CONFIRM_SUBSCRIBE);
    let inbound = rec.0.lock().unwrap().0.clone().expect("started");
    let b = |s: &'static str| bytes::Bytes::from_static(s.as_bytes());
    let mut seq = 0;
    let mut deliver = |inc: u64, target: Target, content: &'static str| {
        seq += 1;
        let msg = Message::new(MessageType::NOTIFY_URI, "jobs", content);
        let origin = bytes::Bytes::from(format!("o{inc}"));
        let env = Envelope {
            origin,
            incarnation: inc,
            seq,
            target,
            msg,
        };
        inbound.deliver(&env.encode().unwrap());
    };
    // Instance 77 has a member of "w" on "jobs"; this one has none.
    let table = encode_table(&[(b("jobs"), b("w"), 1)]);
    deliver(77, Target::Members(table), "");
    // Handoffs published (the server also announces its own groups).
    let handoffs = || rec.sent(|t| matches!(t, Target::Handoff(..)));
    // Another publisher assigned "w" here: the plain subscriber gets it,
    // "w" is handed on to 77, as groups only.
    deliver(88, Target::Grouped(b("jobs"), vec![(b("w"), me)]), "one");
    assert_eq!(text(&recv(&mut plain).await), "one");
    let env = handoffs().pop().expect("handed on");
    assert_eq!(env.target, Target::Handoff(b("jobs"), vec![(b("w"), 77)]));
    assert_eq!(text(&env.msg), "one");
    assert_eq!(h.handle.stats().queue_group_handoffs, 1);
    // A handoff to here: the member only, never the plain subscriber; a
    // group without a member here is counted, not handed on again.
    let mut member = h.peer();
    join_group(&mut member, "jobs", "w").await;
    let groups = vec![(b("w"), me), (b("v"), me)];
    deliver(88, Target::Handoff(b("jobs"), groups), "two");
    assert_eq!(text(&recv(&mut member).await), "two");
    assert!(quiet(&mut plain, Duration::from_millis(50)).await);
    let s = h.handle.stats();
    assert_eq!((s.queue_group_handoffs, s.queue_group_undelivered), (1, 1));
    assert_eq!(handoffs().len(), 1, "nothing handed on twice");
    // Assigned elsewhere: this member is not sent it.
    deliver(88, Target::Grouped(b("jobs"), vec![(b("w"), 77)]), "three");
    assert_eq!(text(&recv(&mut plain).await), "three");
    assert!(quiet(&mut member, Duration::from_millis(50)).await);
    // A handoff of "w" to another instance (and of "v" here, where it has
    // no member): nothing for this member, one more undelivered.
    let groups = vec![(b("w"), 77), (b("v"), me)];
    deliver(88, Target::Handoff(b("jobs"), groups), "four");
    assert!(quiet(&mut member, Duration::from_millis(50)).await);
    assert!(quiet(&mut plain, Duration::from_millis(10)).await);
    assert_eq!(h.handle.stats().queue_group_undelivered, 2);
    h.handle.stop().await;
}

/// An instance with a queue group announces its table at once and every
/// 250 ms after (so the others keep choosing it), not more; the tables of
/// up to 64 other instances are kept, one more is refused and counted.
/// Virtual time: the peers are in memory.
#[tokio::test(start_paused = true)]
async fn group_tables_are_announced_on_change_and_as_heartbeats() {
    use super::backplane::{encode_table, Envelope, Target};
    let (rec, h) = Recorder::server();
    let mut member = h.peer();
    let tables = || rec.sent(|t| matches!(t, Target::Members(_))).len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tables(), 0, "nothing to announce without groups");
    join_group(&mut member, "jobs", "w").await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(tables(), 1, "the change, at once");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let beats = tables() - 1;
    assert!((3..=5).contains(&beats), "{beats} heartbeats in 1 s");
    // Other instances' tables: 64 kept, the 65th refused and counted.
    let inbound = rec.0.lock().unwrap().0.clone().expect("started");
    let b = |s: &'static str| bytes::Bytes::from_static(s.as_bytes());
    for inc in 1..=65u64 {
        let env = Envelope {
            origin: bytes::Bytes::from(format!("o{inc}")),
            incarnation: inc,
            seq: 1,
            target: Target::Members(encode_table(&[(b("jobs"), b("w"), 1)])),
            msg: Message::new(MessageType::NOTIFY_URI, "", ""),
        };
        inbound.deliver(&env.encode().unwrap());
        let invalid = h.handle.stats().backplane_invalid;
        assert_eq!(invalid, u64::from(inc == 65), "after {inc}");
    }
    assert_eq!(h.handle.group_members("jobs", "w"), 1 + 64);
    h.handle.stop().await;
}
