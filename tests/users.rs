//! Per-user keys and permissions (issue 15): `UserHmac` over a
//! `MemoryUsers` store, the identity fixed by the first verified frame,
//! permissions checked before any handler, and failures that all look the
//! same from the outside.

mod common;

use std::time::Duration;

use common::*;
use framewire::auth::{MemoryUsers, Permissions, Rule, User, UserHmac};
use framewire::client::{Client, ClientError, Reconnect};
use framewire::server::{readme_routes, Context, Server};
use framewire::{Message, MessageType, PluginLayer, PluginStack, ReplyError, StrictHmac};

fn rule(patterns: &[&str]) -> Rule {
    Rule::allow(patterns.iter().map(|p| p.parse().unwrap()))
}

/// alice may publish `pub/news` and subscribe `news`; bob may subscribe
/// to `news` and `alerts/>` but publish nothing.
fn users() -> MemoryUsers {
    MemoryUsers::new()
        .with(
            User::new("alice", "alice-secret").permissions(
                Permissions::default()
                    .publish(rule(&["pub/news"]))
                    .subscribe(rule(&["news"])),
            ),
        )
        .with(
            User::new("bob", "bob-secret").permissions(
                Permissions::default()
                    .publish(rule(&[]))
                    .subscribe(rule(&["news", "alerts/>"])),
            ),
        )
}

async fn server() -> Running {
    let builder = readme_routes(Server::builder())
        .plugins(PluginLayer::new().with_auth(UserHmac::server(users())))
        .on(
            (MessageType::REQUEST_URI, "whoami"),
            |_m: Message, c: Context| async move {
                let who = c
                    .identity()
                    .map(|i| format!("{} {:?}", i.name(), i.source()));
                Message::respond("whoami", who.unwrap_or_default())
            },
        );
    start(builder.build()).await
}

async fn client(srv: &Running, name: &str, secret: &str) -> Client {
    Client::builder(srv.addr.to_string())
        .plugins(PluginLayer::new().with_auth(UserHmac::client(name, secret)))
        .reconnect(Reconnect::disabled())
        .request_timeout(LIMIT)
        .connect()
        .await
        .unwrap()
}

fn stack(name: &str, secret: &str) -> PluginStack {
    PluginStack::new(PluginLayer::new().with_auth(UserHmac::client(name, secret)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_and_subscribe_follow_each_users_permissions() {
    let srv = server().await;
    let alice = client(&srv, "alice", "alice-secret").await;
    let bob = client(&srv, "bob", "bob-secret").await;
    let whoami = alice.request("whoami", "").await.unwrap();
    assert_eq!(&whoami.content()[..], b"alice User");

    let mut news = alice.subscribe("news").await.unwrap();
    let published = alice
        .call(Message::new(
            MessageType::PUBLISH_URI,
            "pub/news",
            "from alice",
        ))
        .await
        .unwrap();
    assert_eq!(published.message_type, MessageType::OK);
    let got = tokio::time::timeout(LIMIT, news.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.content()[..], b"from alice");

    // bob may not publish: NOT_PERMITTED with the uri, and nobody hears it.
    let refused = bob
        .call(Message::new(
            MessageType::PUBLISH_URI,
            "pub/news",
            "from bob",
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ClientError::Reply(ReplyError::NotPermitted(ref m)) if &m.uri()[..] == b"pub/news"),
        "{refused:?}"
    );
    // alice may not subscribe to alerts; no partial subscription is left.
    let refused = alice.subscribe("alerts/fire").await.unwrap_err();
    assert!(refused.is_not_permitted(), "{refused:?}");
    assert_eq!(srv.handle.stats().topics, 1, "only news has a subscriber");
    // A notification proves nothing reached alice from bob's attempt.
    srv.handle
        .notify(
            "news",
            Message::new(MessageType::NOTIFY_URI, "news", "marker"),
        )
        .unwrap();
    let got = tokio::time::timeout(LIMIT, news.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.content()[..], b"marker");
    assert_eq!(srv.handle.stats().permission_denials, 2);
    // bob may subscribe where alice may not.
    let _alerts = bob.subscribe("alerts/fire").await.unwrap();
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_unknown_user_and_missing_field_look_the_same() {
    let srv = server().await;
    let echo = || Message::new(MessageType::REQUEST_URI, "echo", "x");
    let attempts = [
        stack("alice", "bob-secret").seal(echo()).unwrap(),
        stack("mallory", "anything").seal(echo()).unwrap(),
        PluginStack::new(PluginLayer::new().with_auth(StrictHmac::new("alice-secret")))
            .seal(echo())
            .unwrap(),
    ];
    let mut replies = Vec::new();
    for attempt in attempts {
        let mut conn = connect(srv.addr).await;
        replies.push(call(&mut conn, attempt).await);
    }
    assert_eq!(replies[0].message_type, MessageType::AUTH_ERROR);
    assert!(replies.iter().all(|r| r == &replies[0]), "{replies:?}");
    assert_eq!(srv.handle.stats().auth_failures, 3);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cannot_switch_users() {
    let srv = server().await;
    let mut conn = connect(srv.addr).await;
    let (alice, bob) = (stack("alice", "alice-secret"), stack("bob", "bob-secret"));
    let whoami = || Message::new(MessageType::REQUEST_URI, "whoami", "");
    let first = call(&mut conn, alice.seal(whoami()).unwrap()).await;
    assert_eq!(&plain(first).content()[..], b"alice User");
    // bob's frame verifies for bob, but this connection is alice's.
    let switched = call(&mut conn, bob.seal(whoami()).unwrap()).await;
    assert_eq!(switched.message_type, MessageType::AUTH_ERROR);
    assert_eq!(srv.handle.stats().auth_failures, 1);
    let again = call(&mut conn, alice.seal(whoami()).unwrap()).await;
    assert_eq!(&plain(again).content()[..], b"alice User", "still alice's");
    let info = srv.handle.connections();
    assert_eq!(info[0].identity.as_ref().map(|i| i.name()), Some("alice"));
    assert_eq!(srv.handle.connections_of("alice").len(), 1);
    assert!(srv.handle.connections_of("bob").is_empty());
    assert_eq!(srv.handle.disconnect_identity("bob"), 0);
    assert_eq!(srv.handle.disconnect_identity("alice"), 1);
    assert!(until_closed(&mut conn).await.is_empty());
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_are_signed_with_the_users_key() {
    let srv = server().await;
    let mut conn = connect(srv.addr).await;
    let alice = stack("alice", "alice-secret");
    let reply = call(
        &mut conn,
        alice
            .seal(Message::new(MessageType::REQUEST_URI, "echo", "signed"))
            .unwrap(),
    )
    .await;
    assert_eq!(
        reply
            .auth
            .get("user")
            .and_then(|v| v.as_bytes())
            .map(|b| &b[..]),
        Some(&b"alice"[..])
    );
    assert_eq!(&alice.open(reply.clone()).unwrap().content()[..], b"signed");
    assert!(
        stack("alice", "bob-secret").open(reply).is_err(),
        "not bob's key"
    );
    // A subscriber gets notifications sealed for it alone.
    let bob = client(&srv, "bob", "bob-secret").await;
    let mut alerts = bob.subscribe("alerts/x").await.unwrap();
    srv.handle
        .notify(
            "alerts/x",
            Message::new(MessageType::NOTIFY_URI, "alerts/x", "n"),
        )
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), alerts.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.content()[..], b"n");
    srv.stop().await;
}

/// A login gate beside per-user keys: the gate sees the user its key
/// proved (`ConnectionInfo::identity`) and keeps that name, and the
/// user's permissions hold after the login. A gate that names someone
/// else is refused at the login, with the reason, instead of every later
/// frame failing its MAC binding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_gate_keeps_the_users_name_and_permissions() {
    use framewire::server::{ConnectionInfo, Hello, LoginRefused};
    use framewire::{Identity, IdentitySource};
    let gated = |rename: bool| {
        readme_routes(Server::builder())
            .plugins(PluginLayer::new().with_auth(UserHmac::server(users())))
            .login(move |hello: Hello, info: ConnectionInfo| async move {
                if &hello.content[..] != b"token" {
                    return Err(LoginRefused::new("unknown token"));
                }
                let proven = info.identity.map(|i| i.name().to_owned());
                let name = if rename {
                    "someone".to_owned()
                } else {
                    proven.unwrap_or_default()
                };
                Ok(Identity::new(name, IdentitySource::Login))
            })
            .build()
    };
    let connect = |srv: &Running| {
        Client::builder(srv.addr.to_string())
            .plugins(PluginLayer::new().with_auth(UserHmac::client("bob", "bob-secret")))
            .login("token")
            .reconnect(Reconnect::disabled())
            .request_timeout(LIMIT)
            .connect()
    };
    let srv = start(gated(false)).await;
    let bob = connect(&srv).await.unwrap();
    let echo = bob.request("echo", "hi").await.unwrap();
    assert_eq!(&echo.content()[..], b"hi");
    let refused = bob
        .call(Message::new(MessageType::PUBLISH_URI, "pub/news", "x"))
        .await
        .unwrap_err();
    assert!(
        refused.is_not_permitted(),
        "bob's permissions hold: {refused:?}"
    );
    assert_eq!(srv.handle.stats().auth_failures, 0);
    srv.stop().await;

    let srv = start(gated(true)).await;
    let outcome = match connect(&srv).await {
        Ok(c) => c.request("echo", "hi").await.map(|_| ()),
        Err(e) => Err(e),
    };
    let e = outcome.unwrap_err();
    assert!(e.to_string().contains("the key is \"bob\"'s"), "{e}");
    assert_eq!(srv.handle.stats().login_refusals, 1);
    srv.stop().await;
}
