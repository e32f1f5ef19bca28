//! Headers and trace context: application headers through notify,
//! broadcast and the backplane, bound by strict mode's MAC (not by
//! netaio's); a W3C traceparent from a client call to the handler, to the
//! notifications it sends, across the backplane, to the subscriber's
//! handler. In memory through `framewire::testing`. The OpenTelemetry
//! bridge has its own binary (`tests/otel_bridge.rs`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use framewire::auth::Role;
use framewire::client::Client;
use framewire::server::{Context, MemoryBackplane, Server};
use framewire::testing::TestServer;
use framewire::trace::{self, TraceParent};
use framewire::{Message, MessageType, NetaioHmac, PluginLayer, PluginStack, StrictHmac};

const WAIT: Duration = Duration::from_secs(10);

type Seen = Arc<Mutex<Vec<Option<TraceParent>>>>;
/// What a client handler saw: its trace context and the `origin` header.
type Notes = Arc<Mutex<Vec<(Option<TraceParent>, Option<Vec<u8>>)>>>;

/// A server whose `work` handler records the trace context it runs in and
/// notifies `news` (the notification carries the trace on); subscriptions
/// on.
fn traced(seen: Seen, hub: Option<MemoryBackplane>, id: &str) -> Server {
    let mut b = Server::builder().subscriptions().instance_id(id).on(
        (MessageType::REQUEST_URI, "work"),
        move |msg: Message, ctx: Context| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(trace::current());
                let note = Message::notify("news", msg.content().clone())
                    .with_header("origin", "work")
                    .unwrap();
                ctx.server().notify("news", note).unwrap();
                Message::respond("work", "done")
            }
        },
    );
    if let Some(hub) = hub {
        b = b.backplane(hub);
    }
    b.build()
}

async fn subscribe(peer: &mut framewire::testing::TestPeer, topic: &'static str) {
    let ok = peer
        .call(Message::new(MessageType::SUBSCRIBE_URI, topic, ""))
        .await
        .unwrap();
    assert_eq!(ok.message_type, MessageType::CONFIRM_SUBSCRIBE);
}

#[tokio::test]
async fn a_call_in_a_trace_reaches_the_handler_and_its_notifications() {
    let seen = Seen::default();
    let server = TestServer::new(traced(seen.clone(), None, "a"));
    let mut sub = server.peer().unwrap();
    subscribe(&mut sub, "news").await;
    let client = server.client().connect().await.unwrap();

    let root = TraceParent::new_root();
    trace::scope(root, client.request("work", "x"))
        .await
        .unwrap();

    let in_handler = seen.lock().unwrap()[0].expect("the handler ran in the trace");
    assert_eq!(in_handler.trace_id(), root.trace_id());
    assert_ne!(
        in_handler.span_id(),
        root.span_id(),
        "the handler's own span"
    );
    let note = tokio::time::timeout(WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        note.header("origin"),
        Some(&b"work"[..]),
        "a header through notify"
    );
    let carried = TraceParent::of(&note).expect("the notification carries the trace");
    assert_eq!(carried, in_handler, "its parent is the handler's span");

    // Outside any scope nothing is attached, and the handler has none.
    client.request("work", "y").await.unwrap();
    assert_eq!(seen.lock().unwrap()[1], None);
    let note = tokio::time::timeout(WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(TraceParent::of(&note), None);
    // A message's own traceparent wins over the scope's.
    let own = TraceParent::new_root();
    let mut msg = Message::new(MessageType::REQUEST_URI, "work", "z");
    own.attach(&mut msg);
    trace::scope(root, client.call(msg)).await.unwrap();
    assert_eq!(seen.lock().unwrap()[2].unwrap().trace_id(), own.trace_id());
    client.close().await;
}

#[tokio::test]
async fn headers_and_the_trace_cross_the_backplane_to_a_client_handler() {
    let hub = MemoryBackplane::new();
    let a = TestServer::new(traced(Seen::default(), Some(hub.clone()), "a"));
    let b = TestServer::new(
        Server::builder()
            .subscriptions()
            .backplane(hub.clone())
            .instance_id("b")
            .build(),
    );
    let _on_a = a.peer().unwrap(); // a's backplane starts with a connection
    let got = Notes::default();
    let record = got.clone();
    let listener = b
        .client()
        .on(MessageType::NOTIFY_URI, move |m: Message, _c: Client| {
            let record = record.clone();
            async move {
                record
                    .lock()
                    .unwrap()
                    .push((trace::current(), m.header("origin").map(<[u8]>::to_vec)));
            }
        })
        .connect()
        .await
        .unwrap();
    let sub = listener
        .call(Message::new(MessageType::SUBSCRIBE_URI, "news", ""))
        .await
        .unwrap();
    assert_eq!(sub.message_type, MessageType::CONFIRM_SUBSCRIBE);
    let caller = a.client().connect().await.unwrap();
    let root = TraceParent::new_root();
    trace::scope(root, caller.request("work", "x"))
        .await
        .unwrap();
    for _ in 0..1000 {
        if !got.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (in_client_handler, origin) = got.lock().unwrap().pop().expect("relayed within 5 s");
    assert_eq!(
        origin.as_deref(),
        Some(&b"work"[..]),
        "the header crossed the backplane"
    );
    let tp = in_client_handler.expect("the client handler runs in the trace");
    assert_eq!(tp.trace_id(), root.trace_id());
    caller.close().await;
    listener.close().await;
}

#[test]
fn strict_mode_binds_headers_and_netaio_mode_does_not() {
    let msg = Message::new(MessageType::REQUEST_URI, "k", "v")
        .with_header("tenant", "blue")
        .unwrap();
    let strict =
        |role| PluginStack::new(PluginLayer::new().with_auth(StrictHmac::new("s"))).role(role);
    let sealed = strict(Role::Client).seal(msg.clone()).unwrap();
    let mut tampered = sealed.clone();
    tampered.set_header("tenant", "red").unwrap();
    assert!(strict(Role::Server).open(sealed).is_ok());
    assert!(
        strict(Role::Server).open(tampered).is_err(),
        "strict: the header is signed"
    );

    let netaio = || PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new("s")));
    let sealed = netaio().seal(msg).unwrap();
    let mut tampered = sealed.clone();
    tampered.set_header("tenant", "red").unwrap();
    let opened = netaio().role(Role::Server).open(tampered).unwrap();
    assert_eq!(
        opened.header("tenant"),
        Some(&b"red"[..]),
        "netaio's HMAC does not cover headers: documented, and so it stays"
    );
}
