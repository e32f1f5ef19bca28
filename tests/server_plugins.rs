//! Instance and per-handler plugins on the server, with netaio's reactions:
//! unsigned AUTH_ERROR on a failed check (connection kept), silence on
//! undecryptable input; plus framewire's replay refusal. The checksum and
//! auth-failure caps are hostile-input rows: `hostile_server.rs`.

mod common;

use common::*;
use framewire::server::{Context, Server};
use framewire::{Message, MessageType, NetaioHmac, NetaioStreamCipher, PluginLayer, PluginStack};
use futures::SinkExt;

fn echo(m: Message, _c: Context) -> std::future::Ready<Message> {
    std::future::ready(Message::respond(m.uri().clone(), m.content().clone()))
}

fn hmac(secret: &str) -> PluginLayer {
    PluginLayer::new().with_auth(NetaioHmac::new(secret))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_hmac_signs_replies_and_refuses_unsigned_and_replayed() {
    let srv = start(
        Server::builder()
            .on(MessageType::REQUEST_URI, echo)
            .plugins(hmac("test-secret"))
            .build(),
    )
    .await;
    let client = PluginStack::new(hmac("test-secret"));
    let mut c = connect(srv.addr).await;

    let signed = client
        .seal(Message::new(MessageType::REQUEST_URI, "echo", "hi"))
        .unwrap();
    let reply = call(&mut c, signed.clone()).await;
    let reply = plain(
        client
            .open(reply)
            .expect("reply signed with the shared secret"),
    );
    assert_eq!(reply, Message::respond("echo", "hi"));

    // Unsigned: netaio's AUTH_ERROR, itself unsigned; the connection stays.
    let r = call(&mut c, Message::new(MessageType::REQUEST_URI, "echo", "hi")).await;
    assert_eq!(r, Message::error("HMAC auth failed"));
    assert!(r.auth.is_empty());

    // The same signed frame again is a replay.
    assert_eq!(
        call(&mut c, signed).await,
        Message::error("HMAC auth failed")
    );

    // An error report that fails the check gets no answer (no ping-pong):
    // the next frame we see answers the signed request after it.
    send(&mut c, Message::error("bogus")).await;
    let ok = client
        .seal(Message::new(MessageType::REQUEST_URI, "echo", "after"))
        .unwrap();
    assert_eq!(
        plain(client.open(call(&mut c, ok).await).unwrap()),
        Message::respond("echo", "after")
    );
    assert_eq!(srv.handle.stats().auth_failures, 3);
    srv.stop().await;
}

/// netaio's readme: the handler layer, HMAC "tset" on field `camh`.
fn inner() -> PluginLayer {
    PluginLayer::new().with_auth(NetaioHmac::new("tset").hmac_field("camh"))
}

/// Instance HMAC "test" on `hmac`; CREATE_URI also needs [`inner`].
fn guarded_create() -> framewire::server::ServerBuilder {
    Server::builder().plugins(hmac("test")).on_with(
        MessageType::CREATE_URI,
        |m: Message, _c: Context| async move { Message::ok(m.uri().clone(), "stored") },
        inner(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_handler_plugin_stacks_on_the_instance_one() {
    let server = guarded_create().on(MessageType::REQUEST_URI, echo).build();
    let srv = start(server).await;
    let outer_only = PluginStack::new(hmac("test"));
    let both = PluginStack::new(hmac("test")).with_handler(inner());
    let mut c = connect(srv.addr).await;

    let create = || Message::new(MessageType::CREATE_URI, "test1", "content");
    let r = call(&mut c, both.seal(create()).unwrap()).await;
    assert!(
        r.auth.contains("hmac") && r.auth.contains("camh"),
        "reply sealed by both layers"
    );
    assert_eq!(plain(both.open(r).unwrap()), Message::ok("test1", "stored"));

    // Outer signature only: the handler's plugin refuses, unsigned reply.
    let r = call(&mut c, outer_only.seal(create()).unwrap()).await;
    assert_eq!(r, Message::error("HMAC auth failed"));

    // Routes without a handler plugin need only the outer one.
    let r = call(
        &mut c,
        outer_only
            .seal(Message::new(MessageType::REQUEST_URI, "echo", "x"))
            .unwrap(),
    )
    .await;
    assert!(!r.auth.contains("camh"));
    assert_eq!(
        plain(outer_only.open(r).unwrap()),
        Message::respond("echo", "x")
    );
    srv.stop().await;
}

/// Per-handler layers added while the server runs, and on one-shot
/// handlers (netaio allows both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_handler_plugins_at_run_time_and_on_one_shot_handlers() {
    let srv = start(Server::builder().plugins(hmac("test")).build()).await;
    let ok = |m: Message, _c: Context| async move { Message::ok(m.uri().clone(), "done") };
    srv.handle.on_with(MessageType::CREATE_URI, ok, inner());
    srv.handle.once_with(MessageType::DELETE_URI, ok, inner());
    let (outer_only, both) = (
        PluginStack::new(hmac("test")),
        PluginStack::new(hmac("test")).with_handler(inner()),
    );
    let mut c = connect(srv.addr).await;
    for ty in [MessageType::CREATE_URI, MessageType::DELETE_URI] {
        let r = call(&mut c, outer_only.seal(Message::new(ty, "k", "")).unwrap()).await;
        assert_eq!(
            r,
            Message::error("HMAC auth failed"),
            "{ty:?} needs the inner layer"
        );
        let r = call(&mut c, both.seal(Message::new(ty, "k", "")).unwrap()).await;
        assert_eq!(plain(both.open(r).unwrap()), Message::ok("k", "done"));
    }
    // The one-shot handler is gone; the default answers.
    let r = call(
        &mut c,
        both.seal(Message::new(MessageType::DELETE_URI, "k", ""))
            .unwrap(),
    )
    .await;
    assert_eq!(
        plain(outer_only.open(r).unwrap()).message_type,
        MessageType::NOT_FOUND
    );
    srv.stop().await;
}

/// Per-call layers (netaio's per-call plugins): a client request sealed
/// with an extra layer for a route that demands it, and fan-out sealed with
/// one for the receivers that check it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_call_layers_on_requests_and_fan_out() {
    let server = guarded_create().build();
    let srv = start(server).await;
    let client = framewire::client::Client::builder(srv.addr.to_string())
        .plugins(hmac("test"))
        .connect()
        .await
        .unwrap();
    let create = || Message::new(MessageType::CREATE_URI, "cfg", "v2");
    let ok = client.call_with(create(), &inner()).await.unwrap();
    assert_eq!(
        (ok.message_type, &ok.content()[..]),
        (MessageType::OK, &b"stored"[..])
    );
    let refused = client.call(create()).await.unwrap_err();
    assert!(refused.is_auth_error(), "{refused:?}");
    // A reply that does not carry the per-call layer's signature fails it.
    let wrong = PluginLayer::new().with_auth(NetaioHmac::new("other").hmac_field("camh"));
    assert!(client.call_with(create(), &wrong).await.is_err());
    client.close().await;
    eventually("client gone", || srv.handle.connection_count() == 0).await;

    let mut sub = connect(srv.addr).await;
    let id = conn_id(&srv, sub.get_ref().local_addr().unwrap()).await;
    srv.handle.subscribe("ops", id).unwrap();
    let note = || Message::new(MessageType::NOTIFY_URI, "ops", "restart");
    assert_eq!(srv.handle.notify_with("ops", note(), &inner()).unwrap(), 1);
    assert_eq!(
        srv.handle
            .send_to_with(id, note(), &inner())
            .map(|()| 1)
            .unwrap(),
        1
    );
    assert_eq!(srv.handle.broadcast_with(note(), &inner()).unwrap(), 1);
    let both = PluginStack::new(hmac("test")).with_handler(inner());
    for _ in 0..3 {
        let got = recv(&mut sub).await;
        assert!(got.auth.contains("camh"), "sealed with the per-call layer");
        assert_eq!(&both.open(got).unwrap().content()[..], b"restart");
    }
    srv.handle.notify("ops", note()).unwrap();
    assert!(!recv(&mut sub).await.auth.contains("camh"));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cipher_routes_on_the_decrypted_uri_and_drops_plaintext() {
    let layer = || {
        PluginLayer::new()
            .with_cipher(NetaioStreamCipher::new("test-key"))
            .with_auth(NetaioHmac::new("test-secret"))
    };
    let srv = start(
        Server::builder()
            .on((MessageType::REQUEST_URI, "echo"), echo)
            .plugins(layer())
            .build(),
    )
    .await;
    let client = PluginStack::new(layer());
    let mut c = connect(srv.addr).await;
    let sealed = client
        .seal(Message::new(MessageType::REQUEST_URI, "echo", "secret"))
        .unwrap();
    assert_ne!(&sealed.uri()[..], b"echo", "uri is encrypted on the wire");
    let reply = call(&mut c, sealed).await;
    assert_ne!(&reply.content()[..], b"secret");
    assert_eq!(
        plain(client.open(reply).unwrap()),
        Message::respond("echo", "secret")
    );

    // Signed but not encrypted (no iv): dropped silently, as netaio does.
    let signed_only = PluginStack::new(hmac("test-secret"));
    c.send(
        signed_only
            .seal(Message::new(MessageType::REQUEST_URI, "echo", "plain"))
            .unwrap(),
    )
    .await
    .unwrap();
    let next = client
        .seal(Message::new(MessageType::REQUEST_URI, "echo", "next"))
        .unwrap();
    assert_eq!(
        plain(client.open(call(&mut c, next).await).unwrap()),
        Message::respond("echo", "next")
    );
    assert_eq!(srv.handle.stats().decrypt_failures, 1);
    srv.stop().await;
}

/// A cipher that does not depend on the receiver (netaio's stream cipher)
/// is applied once per fan-out: every subscriber gets the same bytes, the
/// same IV. In memory (`framewire::testing`).
#[tokio::test]
async fn fan_out_is_encrypted_once_for_every_receiver() {
    let layer = || PluginLayer::new().with_cipher(NetaioStreamCipher::new("test-key"));
    let srv = framewire::testing::TestServer::new(
        Server::builder().subscriptions().plugins(layer()).build(),
    );
    let client = PluginStack::new(layer());
    let mut subs = Vec::new();
    for _ in 0..3 {
        let mut p = srv.peer().unwrap();
        let sub = client
            .seal(Message::new(MessageType::SUBSCRIBE_URI, "t", ""))
            .unwrap();
        let confirm = client.open(p.call(sub).await.unwrap()).unwrap();
        assert_eq!(confirm.message_type, MessageType::CONFIRM_SUBSCRIBE);
        subs.push(p);
    }
    let sent = srv
        .handle()
        .notify("t", Message::new(MessageType::NOTIFY_URI, "t", "news"))
        .unwrap();
    assert_eq!(sent, 3);
    let mut got = Vec::new();
    for p in &mut subs {
        got.push(p.recv().await.unwrap());
    }
    assert!(
        got.iter().all(|m| m == &got[0]),
        "one encryption for all: {got:?}"
    );
    assert_eq!(&client.open(got[0].clone()).unwrap().content()[..], b"news");
}
