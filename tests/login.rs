//! The login gate (issue 15, hoist's model): a connection's first message
//! must be a login the gate accepts; before that nothing is routed, a
//! refusal closes the connection, and a connection that never logs in is
//! closed at the authentication deadline.

mod common;

use std::time::Duration;

use common::*;
use framewire::client::{Client, ClientError, Reconnect};
use framewire::protocol::{LOGIN_URI, PROTOCOL_VERSION, VERSION_FIELD};
use framewire::server::{Context, Hello, Limits, LoginRefused, Server, ServerBuilder};
use framewire::{AuthValue, Identity, IdentitySource, Message, MessageType};

fn gated() -> ServerBuilder {
    Server::builder()
        .login(|hello: Hello, _info| async move {
            match &hello.content[..] {
                b"carol-token" => Ok(Identity::new("carol", IdentitySource::Login)),
                b"boom" => panic!("a buggy gate"),
                _ => Err(LoginRefused::new("unknown token")),
            }
        })
        .on(
            (MessageType::REQUEST_URI, "whoami"),
            |_m: Message, c: Context| async move {
                let name = c.identity().map(|i| i.name().to_owned());
                Message::respond("whoami", name.unwrap_or_default())
            },
        )
}

async fn client(srv: &Running, token: &str) -> Result<Client, ClientError> {
    Client::builder(srv.addr.to_string())
        .login(token.to_owned())
        .reconnect(Reconnect::disabled())
        .request_timeout(LIMIT)
        .connect()
        .await
}

fn login(token: &str, version: Option<u64>) -> Message {
    let mut m = Message::new(MessageType::REQUEST_URI, LOGIN_URI, token.to_owned());
    if let Some(v) = version {
        m.auth
            .insert(VERSION_FIELD, AuthValue::from(v.to_be_bytes()));
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_decides_who_is_in() {
    let srv = start(gated().build()).await;
    let carol = client(&srv, "carol-token").await.unwrap();
    let whoami = carol.request("whoami", "").await.unwrap();
    assert_eq!(&whoami.content()[..], b"carol");
    assert_eq!(
        srv.handle.connections()[0]
            .identity
            .as_ref()
            .map(|i| i.source()),
        Some(IdentitySource::Login)
    );
    let refused = client(&srv, "guess").await.unwrap_err();
    assert!(refused.is_auth_error(), "{refused:?}");
    assert_eq!(&refused.reply().unwrap().content()[..], b"unknown token");
    let panicked = client(&srv, "boom").await.unwrap_err();
    assert!(panicked.is_auth_error(), "{panicked:?}");
    assert_eq!(srv.handle.stats().login_refusals, 2);
    eventually("refused connections closed", || {
        srv.handle.connection_count() == 1
    })
    .await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_routed_before_the_login() {
    let srv = start(gated().build()).await;
    let mut conn = connect(srv.addr).await;
    let early = call(
        &mut conn,
        Message::new(MessageType::REQUEST_URI, "whoami", ""),
    )
    .await;
    assert_eq!(early.message_type, MessageType::AUTH_ERROR);
    assert_eq!(&early.content()[..], b"login required");
    let ok = call(&mut conn, login("carol-token", Some(PROTOCOL_VERSION))).await;
    assert_eq!(ok.message_type, MessageType::RESPOND_URI);
    let whoami = call(
        &mut conn,
        Message::new(MessageType::REQUEST_URI, "whoami", ""),
    )
    .await;
    assert_eq!(&whoami.content()[..], b"carol");
    // A refused login is answered, then the connection is closed.
    let mut other = connect(srv.addr).await;
    let no = call(&mut other, login("nope", None)).await;
    assert_eq!(
        (no.message_type, &no.content()[..]),
        (MessageType::AUTH_ERROR, &b"unknown token"[..])
    );
    assert!(until_closed(&mut other).await.is_empty());
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minimum_protocol_version_is_enforced() {
    let srv = start(gated().min_protocol_version(PROTOCOL_VERSION + 1).build()).await;
    let old = client(&srv, "carol-token").await.unwrap_err();
    let reason = String::from_utf8_lossy(old.reply().unwrap().content()).into_owned();
    assert!(reason.contains("older than"), "{reason}");
    let mut conn = connect(srv.addr).await;
    let unversioned = call(&mut conn, login("carol-token", None)).await;
    assert_eq!(unversioned.message_type, MessageType::AUTH_ERROR);
    let mut conn = connect(srv.addr).await;
    let newer = call(&mut conn, login("carol-token", Some(PROTOCOL_VERSION + 1))).await;
    assert_eq!(newer.message_type, MessageType::RESPOND_URI);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_log_in_again_after_reconnecting_and_anywhere() {
    let srv = start(gated().subscriptions().build()).await;
    let client = Client::builder(srv.addr.to_string())
        .login("carol-token")
        .reconnect(Reconnect::default().initial(Duration::from_millis(10)))
        .connect()
        .await
        .unwrap();
    let mut events = client.events();
    let mut sub = client.subscribe("news").await.unwrap();
    assert!(srv.handle.disconnect_identity("carol") == 1);
    reconnected(&mut events).await;
    // Resubscribed after logging in again (a subscription before the login
    // would have been refused).
    eventually("resubscribed", || srv.handle.stats().topics == 1).await;
    srv.handle
        .notify(
            "news",
            Message::new(MessageType::NOTIFY_URI, "news", "again"),
        )
        .unwrap();
    let got = tokio::time::timeout(LIMIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.content()[..], b"again");
    assert_eq!(
        srv.handle.stats().auth_failures,
        0,
        "nothing went out before the login"
    );
    // A server without a gate answers a login too.
    let plain = start(Server::builder().build()).await;
    let c = Client::builder(plain.addr.to_string())
        .login("x")
        .connect()
        .await;
    assert!(c.is_ok(), "{c:?}");
    plain.stop().await;
    srv.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_never_logs_in_is_closed_at_the_auth_deadline() {
    // In memory (`framewire::testing`): under the paused clock, a real
    // socket's late event would let the clock jump past the deadline.
    let limits = Limits::default().auth_timeout(Duration::from_secs(10));
    let srv = framewire::testing::TestServer::new(gated().limits(limits).build())
        .timeout(Duration::from_secs(3600));
    let mut bystander = Bystander::join_memory(&srv, None).await;
    let started = tokio::time::Instant::now();
    // Pings are answered, but they do not log anyone in.
    let mut pinger = srv.peer().unwrap();
    let mut silent = srv.peer().unwrap();
    for _ in 0..3 {
        let pong = pinger
            .call(Message::new(
                MessageType::REQUEST_URI,
                framewire::protocol::PING_URI,
                "",
            ))
            .await
            .unwrap();
        assert_eq!(pong.message_type, MessageType::RESPOND_URI);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let closed = silent.closed().await.expect("closed within the hour");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(11),
        "{took:?}"
    );
    assert_eq!(
        closed.reason().as_deref(),
        Some("not authenticated in time")
    );
    let last = pinger.closed().await.expect("the pinger closed too");
    assert_eq!(last.reason().as_deref(), Some("not authenticated in time"));
    srv.stats_when(|s| s.auth_timeouts == 2)
        .await
        .expect("both closes counted");
    bystander.check(&srv).await;
    srv.stop().await;
}
