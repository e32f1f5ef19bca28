//! Subscribe / notify / unsubscribe / broadcast with many clients, and the
//! encode-once fan-out.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use framewire::auth::Link;
use framewire::auth::{AuthError, AuthPlugin};
use framewire::server::{Context, Server};
use framewire::{Message, MessageType, NetaioHmac, PluginLayer};

/// netaio's readme subscribe/unsubscribe/publish routes.
fn pubsub() -> framewire::server::ServerBuilder {
    Server::builder().subscriptions().on(
        MessageType::PUBLISH_URI,
        |msg: Message, ctx: Context| async move {
            let note = Message::new(
                MessageType::NOTIFY_URI,
                msg.uri().clone(),
                msg.content().clone(),
            );
            let n = ctx
                .server()
                .notify(msg.uri(), note)
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(Message::ok(msg.uri().clone(), n.to_string()))
        },
    )
}

async fn subscribe(c: &mut Conn, topic: &'static str) {
    let r = call(c, Message::new(MessageType::SUBSCRIBE_URI, topic, "")).await;
    assert_eq!(r, Message::new(MessageType::CONFIRM_SUBSCRIBE, topic, ""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_reaches_exactly_the_subscribers() {
    let srv = start(pubsub().build()).await;
    let mut subs = Vec::new();
    for i in 0..20 {
        let mut c = connect(srv.addr).await;
        subscribe(&mut c, if i % 2 == 0 { "even" } else { "odd" }).await;
        subs.push(c);
    }
    let mut publisher = connect(srv.addr).await;
    for round in 0..10 {
        let r = call(
            &mut publisher,
            Message::new(MessageType::PUBLISH_URI, "even", round.to_string()),
        )
        .await;
        assert_eq!(r, Message::ok("even", "10"));
    }
    for (i, c) in subs.iter_mut().enumerate() {
        if i % 2 == 0 {
            for round in 0..10 {
                let n = recv(c).await;
                assert_eq!(
                    n,
                    Message::new(MessageType::NOTIFY_URI, "even", round.to_string())
                );
            }
        }
    }
    // Odd subscribers got nothing: their next message is the reply to a ping.
    for c in subs.iter_mut().skip(1).step_by(2) {
        let r = call(c, Message::new(MessageType::UNSUBSCRIBE_URI, "odd", "")).await;
        assert_eq!(r.message_type, MessageType::CONFIRM_UNSUBSCRIBE);
    }
    // Unsubscribing twice is fine (netaio raises KeyError here).
    let r = call(
        &mut subs[1],
        Message::new(MessageType::UNSUBSCRIBE_URI, "odd", ""),
    )
    .await;
    assert_eq!(r.message_type, MessageType::CONFIRM_UNSUBSCRIBE);
    let r = call(
        &mut publisher,
        Message::new(MessageType::PUBLISH_URI, "odd", "x"),
    )
    .await;
    assert_eq!(r, Message::ok("odd", "0"));
    assert_eq!(srv.handle.stats().topics, 1);

    // Disconnect removes a connection from every subscription.
    drop(subs);
    eventually("subscribers gone", || srv.handle.stats().topics == 0).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_reaches_everyone_including_the_sender() {
    let srv = start(
        Server::builder()
            .on(
                (MessageType::PUBLISH_URI, "broadcast"),
                |msg: Message, ctx: Context| async move {
                    let note =
                        Message::new(MessageType::NOTIFY_URI, "broadcast", msg.content().clone());
                    ctx.server().broadcast(note).map_err(|e| e.to_string())?;
                    Ok::<_, String>(Message::ok("broadcast", "broadcast"))
                },
            )
            .build(),
    )
    .await;
    let mut clients = Vec::new();
    for _ in 0..30 {
        clients.push(connect(srv.addr).await);
    }
    eventually("all registered", || srv.handle.connection_count() == 30).await;
    send(
        &mut clients[0],
        Message::new(MessageType::PUBLISH_URI, "broadcast", "hello"),
    )
    .await;
    let note = Message::new(MessageType::NOTIFY_URI, "broadcast", "hello");
    // The sender sees the notification first (it is queued before the reply).
    assert_eq!(recv(&mut clients[0]).await, note);
    assert_eq!(
        recv(&mut clients[0]).await,
        Message::ok("broadcast", "broadcast")
    );
    for c in clients.iter_mut().skip(1) {
        assert_eq!(recv(c).await, note);
    }
    srv.stop().await;
}

/// An HMAC plugin that counts its signatures.
#[derive(Debug)]
struct Counting(NetaioHmac, Arc<AtomicUsize>);

impl AuthPlugin for Counting {
    fn make(&self, m: &mut Message, link: &Link<'_>) -> Result<(), AuthError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.make(m, link)
    }
    fn check(&self, m: &Message, link: &Link<'_>) -> Result<(), AuthError> {
        self.0.check(m, link)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_is_signed_once_and_shares_bytes() {
    let signed = Arc::new(AtomicUsize::new(0));
    let plugin = Counting(
        NetaioHmac::new("secret").replay(framewire::auth::ReplayConfig::disabled()),
        signed.clone(),
    );
    let srv = start(
        Server::builder()
            .plugins(PluginLayer::new().with_auth(plugin))
            .build(),
    )
    .await;
    let mut clients = Vec::new();
    for _ in 0..25 {
        clients.push(connect(srv.addr).await);
    }
    eventually("all registered", || srv.handle.connection_count() == 25).await;
    let before = signed.load(Ordering::SeqCst);
    let n = srv
        .handle
        .broadcast(Message::new(MessageType::NOTIFY_URI, "all", "payload"))
        .unwrap();
    assert_eq!(n, 25);
    assert_eq!(
        signed.load(Ordering::SeqCst) - before,
        1,
        "one signature for 25 receivers"
    );
    let mut first: Option<Message> = None;
    for c in clients.iter_mut() {
        let m = recv(c).await;
        // Each receiver has its own plugin (and replay cache).
        NetaioHmac::new("secret")
            .check(&m, &SERVER)
            .expect("valid signature");
        // Same nonce everywhere: the very same frame went to everyone.
        if let Some(f) = &first {
            assert_eq!(&m, f);
        }
        first = Some(m);
    }
    srv.stop().await;
}
