//! Typed services: route patterns with parameters, extractors, typed
//! content with reasons, shared state, and examples/team_rooms.rs's
//! contract (in memory here, through `framewire::testing`; against
//! netaio 0.0.9 from Python in `team_rooms_contract_holds_for_netaio`).

#[path = "../examples/team_rooms.rs"]
#[allow(dead_code)]
mod team_rooms;

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use framewire::auth::Params;
use framewire::content::{Json, MsgPack, Valid};
use framewire::handler::HandlerError;
use framewire::server::{Context, FromRequest, Path, Request, Server, ServerBuilder, State};
use framewire::testing::TestServer;
use framewire::{Identity, Message, MessageType, RouteKey};
use serde::{Deserialize, Serialize};

const T: Duration = Duration::from_secs(10);

fn pattern(t: MessageType, p: &str) -> RouteKey {
    RouteKey::pattern(t, p).unwrap()
}

fn text(m: &Message) -> String {
    String::from_utf8_lossy(m.content()).into_owned()
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Item {
    name: String,
    qty: u32,
}

impl framewire::content::Validate for Item {
    fn validate(&self) -> Result<(), framewire::content::Invalid> {
        framewire::content::in_range("qty", self.qty, 1..=10)
    }
}

fn service() -> Server {
    routes().build()
}

/// The routes of [`service`], before `build`.
fn routes() -> ServerBuilder {
    Server::builder()
        .state(Arc::new(AtomicUsize::new(0)))
        // Exact first, then the most specific pattern, then the type.
        .on(
            (MessageType::REQUEST_URI, "items/special"),
            |_m: Message| async { Message::respond("items/special", "exact") },
        )
        .on(
            pattern(MessageType::REQUEST_URI, "items/{id}"),
            |Path(id): Path<u32>, State(n): State<Arc<AtomicUsize>>| async move {
                n.fetch_add(1, Ordering::Relaxed);
                Message::respond(format!("items/{id}"), format!("item {id}"))
            },
        )
        .on(
            pattern(MessageType::REQUEST_URI, "items/>"),
            |m: Message| async move { Message::respond(m.uri().clone(), "rest") },
        )
        .on(
            pattern(MessageType::REQUEST_URI, "pair/{a}/{b}"),
            // Any order: the content extractor after the message.
            |m: Message, params: Params, ctx: Context| async move {
                let a = params.get("a").unwrap_or_default().to_owned();
                let b = params.get("b").unwrap_or_default().to_owned();
                let _ = ctx.id();
                Message::respond(m.uri().clone(), format!("{a}+{b}"))
            },
        )
        .on(
            (MessageType::CREATE_URI, "items"),
            |Valid(Json(item)): Valid<Json<Item>>, m: Message| async move {
                // The message is still whole after the content was read.
                assert_eq!(m.uri().as_ref(), b"items");
                Json(item)
            },
        )
        .on(
            (MessageType::REQUEST_URI, "packed"),
            |MsgPack(item): MsgPack<Item>| async move { MsgPack(item) },
        )
        .on(
            (MessageType::REQUEST_URI, "who"),
            |who: Option<Identity>| async move {
                Message::respond("who", who.map(|i| i.name().to_owned()).unwrap_or_default())
            },
        )
        .on(
            (MessageType::REQUEST_URI, "must-be-someone"),
            |_who: Identity| async move { Message::respond("must-be-someone", "") },
        )
        .on((MessageType::REQUEST_URI, "fails"), || async {
            Err::<Message, _>(HandlerError::from("it failed"))
        })
        .on(
            (MessageType::REQUEST_URI, "maybe"),
            // A fallible typed reply: the reply to the request when Ok.
            |m: Message| async move {
                match m.content().is_empty() {
                    true => Err(HandlerError::from("empty")),
                    false => Ok(Json(m.content().len())),
                }
            },
        )
        .on(
            pattern(MessageType::REQUEST_URI, "debug/{x}"),
            |Dbg(d): Dbg| async move { Message::respond("debug", d) },
        )
}

/// A custom extractor: the request as `Debug` prints it.
struct Dbg(String);

impl FromRequest for Dbg {
    fn from_request(req: &Request<'_>) -> Result<Self, HandlerError> {
        Ok(Dbg(format!("{req:?}")))
    }
}

#[tokio::test]
async fn patterns_route_most_specific_first_and_extract_parameters() {
    let server = TestServer::new(service());
    let mut peer = server.peer().unwrap();
    let ask = |uri: &'static str| Message::new(MessageType::REQUEST_URI, uri, "");
    for (uri, want_type, want) in [
        ("items/special", MessageType::RESPOND_URI, "exact"),
        ("items/7", MessageType::RESPOND_URI, "item 7"),
        ("items/a/b", MessageType::RESPOND_URI, "rest"),
        ("pair/x/y", MessageType::RESPOND_URI, "x+y"),
        ("nothing", MessageType::NOT_FOUND, "not found"),
    ] {
        let reply = tokio::time::timeout(T, peer.call(ask(uri)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (reply.message_type, text(&reply).as_str()),
            (want_type, want),
            "{uri}"
        );
    }
    // `items/x` matches `items/{id}`, whose Path<u32> refuses it: the
    // reply names the parameter, nothing falls through to `items/>`.
    let before = server.stats();
    let reply = peer.call(ask("items/x")).await.unwrap();
    assert_eq!(reply.message_type, MessageType::ERROR);
    assert_eq!(text(&reply), "id: invalid digit found in string");
    assert_eq!(&reply.uri()[..], b"items/x");
    let s = server
        .stats_when(|s| s.since(&before).content_rejections == 1)
        .await
        .unwrap();
    assert_eq!(s.since(&before).handler_errors, 0);
    assert_eq!(
        server
            .handle()
            .state::<Arc<AtomicUsize>>()
            .unwrap()
            .load(Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn typed_content_is_parsed_validated_and_answered_with_reasons() {
    let server = TestServer::new(service());
    let mut peer = server.peer().unwrap();
    let create = |body: &str| Message::new(MessageType::CREATE_URI, "items", body.to_owned());
    let reply = peer
        .call(create(r#"{"name": "a", "qty": 2}"#))
        .await
        .unwrap();
    assert_eq!(reply.message_type, MessageType::OK, "OK to a CREATE_URI");
    assert_eq!(&reply.uri()[..], b"items");
    let item: Item = serde_json::from_slice(reply.content()).unwrap();
    assert_eq!(
        item,
        Item {
            name: "a".into(),
            qty: 2
        }
    );
    let before = server.stats();
    for (body, reason) in [
        (
            "nope",
            "content does not parse as JSON: expected ident at line 1 column 2",
        ),
        (
            r#"{"name": "a"}"#,
            "missing field `qty` at line 1 column 13",
        ),
        (
            r#"{"name": 5, "qty": 1}"#,
            "name: invalid type: integer `5`, expected a string at line 1 column 10",
        ),
        (
            r#"{"name": "a", "qty": 11}"#,
            "qty: must be in 1..=10, not 11",
        ),
    ] {
        let reply = peer.call(create(body)).await.unwrap();
        assert_eq!(reply.message_type, MessageType::ERROR, "{body}");
        assert_eq!(text(&reply), reason, "{body}");
    }
    server
        .stats_when(|s| s.since(&before).content_rejections == 4)
        .await
        .unwrap();
    // MessagePack both ways, and a REQUEST_URI answered RESPOND_URI.
    let packed = rmp_serde::to_vec_named(&Item {
        name: "b".into(),
        qty: 3,
    })
    .unwrap();
    let reply = peer
        .call(Message::new(MessageType::REQUEST_URI, "packed", packed))
        .await
        .unwrap();
    assert_eq!(reply.message_type, MessageType::RESPOND_URI);
    let back: Item = rmp_serde::from_slice(reply.content()).unwrap();
    assert_eq!(back.name, "b");
    let reply = peer
        .call(Message::new(MessageType::REQUEST_URI, "packed", vec![0xc1]))
        .await
        .unwrap();
    assert!(
        text(&reply).starts_with("content does not parse as MessagePack"),
        "{}",
        text(&reply)
    );
}

#[tokio::test]
async fn a_proved_identity_reaches_identity_extractors() {
    use framewire::auth::{MemoryUsers, User, UserHmac};
    use framewire::PluginLayer;
    let users = MemoryUsers::new().with(User::new("carol", "carol-key"));
    let server = TestServer::new(
        routes()
            .plugins(PluginLayer::new().with_auth(UserHmac::server(users)))
            .build(),
    );
    let carol = server
        .client()
        .plugins(PluginLayer::new().with_auth(UserHmac::client("carol", "carol-key")))
        .connect()
        .await
        .unwrap();
    for uri in ["who", "must-be-someone"] {
        let reply = carol
            .call(Message::new(MessageType::REQUEST_URI, uri, ""))
            .await
            .unwrap();
        assert_eq!(reply.message_type, MessageType::RESPOND_URI, "{uri}");
        if uri == "who" {
            assert_eq!(text(&reply), "carol", "Option<Identity> is Some");
        }
    }
    carol.close().await;
}

#[tokio::test]
async fn a_fallible_typed_reply_answers_the_request_or_errs() {
    let server = TestServer::new(service());
    let mut peer = server.peer().unwrap();
    let reply = peer
        .call(Message::new(MessageType::REQUEST_URI, "maybe", "abc"))
        .await
        .unwrap();
    assert_eq!(
        (reply.message_type, &reply.uri()[..], text(&reply).as_str()),
        (MessageType::RESPOND_URI, &b"maybe"[..], "3")
    );
    let reply = peer
        .call(Message::new(MessageType::REQUEST_URI, "maybe", ""))
        .await
        .unwrap();
    assert_eq!(
        (reply.message_type, text(&reply).as_str()),
        (MessageType::ERROR, "empty")
    );
}

#[tokio::test]
async fn a_request_prints_its_message_and_pattern() {
    let server = TestServer::new(service());
    let mut peer = server.peer().unwrap();
    let reply = peer
        .call(Message::new(MessageType::REQUEST_URI, "debug/seven", ""))
        .await
        .unwrap();
    let printed = text(&reply);
    assert!(printed.starts_with("Request {"), "{printed}");
    assert!(printed.contains("debug/seven"), "the message: {printed}");
    assert!(printed.contains("debug/{x}"), "the pattern: {printed}");
}

#[tokio::test]
async fn identity_and_plain_errors_keep_their_reply_types() {
    let server = TestServer::new(service());
    let mut peer = server.peer().unwrap();
    let ask = |uri: &'static str| Message::new(MessageType::REQUEST_URI, uri, "");
    let reply = peer.call(ask("who")).await.unwrap();
    assert_eq!(
        (reply.message_type, text(&reply).as_str()),
        (MessageType::RESPOND_URI, "")
    );
    let reply = peer.call(ask("must-be-someone")).await.unwrap();
    assert_eq!(reply.message_type, MessageType::NOT_PERMITTED);
    let before = server.stats();
    let reply = peer.call(ask("fails")).await.unwrap();
    assert_eq!(
        (reply.message_type, text(&reply).as_str()),
        (MessageType::ERROR, "it failed")
    );
    let s = server
        .stats_when(|s| s.since(&before).handler_errors == 1)
        .await
        .unwrap();
    assert_eq!(
        s.since(&before).content_rejections,
        0,
        "a handler's own error is not a rejection"
    );
}

// --- examples/team_rooms.rs ---

fn post(room: &str, body: &str) -> Message {
    Message::new(
        MessageType::PUBLISH_URI,
        format!("post/{room}"),
        body.to_owned(),
    )
}

#[tokio::test]
async fn team_rooms_posts_reach_subscribers_and_history() {
    let server = TestServer::new(team_rooms::team_rooms().build());
    let mut alice = server.peer().unwrap();
    let mut bob = server.peer().unwrap();
    let sub = bob
        .call(Message::new(MessageType::SUBSCRIBE_URI, "lobby", ""))
        .await
        .unwrap();
    assert_eq!(sub.message_type, MessageType::CONFIRM_SUBSCRIBE);
    for i in 0..25 {
        let ok = alice
            .call(post("lobby", &format!(r#"{{"text": "hi {i}"}}"#)))
            .await
            .unwrap();
        assert_eq!(ok.message_type, MessageType::OK);
        assert_eq!(text(&ok), r#"{"delivered":1}"#);
        let note = tokio::time::timeout(T, bob.recv()).await.unwrap().unwrap();
        assert_eq!(note.message_type, MessageType::NOTIFY_URI);
        assert_eq!(&note.uri()[..], b"lobby");
        assert_eq!(text(&note), format!(r#"{{"text":"hi {i}"}}"#));
    }
    let history = alice
        .call(Message::new(MessageType::REQUEST_URI, "history/lobby", ""))
        .await
        .unwrap();
    assert_eq!(history.message_type, MessageType::RESPOND_URI);
    let posts: Vec<serde_json::Value> = serde_json::from_slice(history.content()).unwrap();
    let texts: Vec<&str> = posts.iter().map(|p| p["text"].as_str().unwrap()).collect();
    let want: Vec<String> = (5..25).map(|i| format!("hi {i}")).collect();
    assert_eq!(texts, want, "the last 20, oldest first");
    let empty = alice
        .call(Message::new(
            MessageType::REQUEST_URI,
            "history/kitchen",
            "",
        ))
        .await
        .unwrap();
    assert_eq!(text(&empty), "[]");
}

#[tokio::test]
async fn team_rooms_refuses_what_breaks_the_contract_and_serves_others() {
    let server = TestServer::new(team_rooms::team_rooms().build());
    let mut mallory = server.peer().unwrap();
    let long = format!(r#"{{"text": "{}"}}"#, "x".repeat(501));
    for (body, has) in [
        ("not json", "does not parse as JSON"),
        ("{}", "missing field `text`"),
        (r#"{"text": 5}"#, "text: invalid type"),
        (r#"{"text": ""}"#, "text: must be 1..=500 characters"),
        (long.as_str(), "text: must be 1..=500 characters"),
    ] {
        let reply = mallory.call(post("lobby", body)).await.unwrap();
        assert_eq!(reply.message_type, MessageType::ERROR, "{body}");
        assert!(text(&reply).contains(has), "{body}: {}", text(&reply));
    }
    let ok500 = format!(r#"{{"text": "{}"}}"#, "é".repeat(500));
    assert_eq!(
        mallory
            .call(post("lobby", &ok500))
            .await
            .unwrap()
            .message_type,
        MessageType::OK
    );
    let bad_room = "a".repeat(65);
    for msg in [
        post("bad room", r#"{"text": "x"}"#),
        post(&bad_room, r#"{"text": "x"}"#),
        post("a/b", r#"{"text": "x"}"#),
        Message::new(MessageType::REQUEST_URI, "history/a.b", ""),
        Message::new(MessageType::SUBSCRIBE_URI, "a/b", ""),
        Message::new(MessageType::SUBSCRIBE_URI, "ü", ""),
        Message::new(MessageType::REQUEST_URI, "elsewhere", ""),
        Message::new(MessageType::PUBLISH_URI, "post", r#"{"text": "x"}"#),
    ] {
        let reply = mallory.call(msg.clone()).await.unwrap();
        assert_eq!(
            reply.message_type,
            MessageType::NOT_FOUND,
            "{:?}",
            msg.uri()
        );
    }
    // Garbage bytes close only mallory; a bystander is still served.
    mallory
        .send_raw([14, 0, 0, 0, 0, 0, 0, 0, 0])
        .await
        .unwrap();
    mallory.closed().await.unwrap();
    let mut other = server.peer().unwrap();
    let ok = other
        .call(post("lobby", r#"{"text": "still here"}"#))
        .await
        .unwrap();
    assert_eq!(ok.message_type, MessageType::OK);
}

#[tokio::test]
async fn team_rooms_with_per_user_keys_lets_writers_post_and_readers_read() {
    use framewire::auth::UserHmac;
    use framewire::PluginLayer;
    let server = TestServer::new(
        team_rooms::with_users(&[("alice", "alice-key")], &[("bob", "bob-key")]).build(),
    );
    let signed = |name: &str, key: &str| {
        server
            .client()
            .plugins(PluginLayer::new().with_auth(UserHmac::client(name, key)))
    };
    let alice = signed("alice", "alice-key").connect().await.unwrap();
    let bob = signed("bob", "bob-key").connect().await.unwrap();
    let posted: serde_json::Value = alice
        .call_json(
            MessageType::PUBLISH_URI,
            "post/lobby",
            &serde_json::json!({"text": "hi"}),
        )
        .await
        .unwrap();
    assert_eq!(posted["delivered"], 0);
    let refused = bob
        .call_json::<serde_json::Value>(
            MessageType::PUBLISH_URI,
            "post/lobby",
            &serde_json::json!({"text": "x"}),
        )
        .await
        .unwrap_err();
    assert!(refused.is_not_permitted(), "{refused}");
    let history: Vec<serde_json::Value> = bob
        .call_json(MessageType::REQUEST_URI, "history/lobby", &())
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["text"], "hi");
    // A wrong key is refused at connect.
    let wrong = signed("alice", "guess").connect().await.unwrap_err();
    assert!(wrong.is_auth_error(), "{wrong}");
    // A body that is not a post comes back as a typed error with the reason.
    let bad = alice
        .call_json::<serde_json::Value>(
            MessageType::PUBLISH_URI,
            "post/lobby",
            &serde_json::json!({"text": ""}),
        )
        .await
        .unwrap_err();
    assert!(bad.is_error(), "{bad}");
    assert_eq!(
        bad.reason().as_deref(),
        Some("text: must be 1..=500 characters, not 0")
    );
    alice.close().await;
    bob.close().await;
}

/// The contract from Python: raw netaio 0.0.9 frames over TCP
/// (tests/python/team_rooms_check.py), against the example's routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python with netaio 0.0.9 (FRAMEWIRE_PYTHON or .venv)"]
async fn team_rooms_contract_holds_for_netaio() {
    let python = common::process::netaio_python();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = team_rooms::team_rooms().build();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve(listener, std::future::pending()));
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/team_rooms_check.py"
    );
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(python)
            .args([script, &addr.ip().to_string(), &addr.port().to_string()])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the check finished within 60 s")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("contract holds"), "{stdout}");
    handle.shutdown();
    tokio::time::timeout(T, serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
