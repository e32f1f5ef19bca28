//! Routing precedence (type+uri+peer → type+uri → type → default) and
//! one-shot handlers, in memory (`framewire::testing`).

use framewire::server::{Context, Server};
use framewire::testing::{TestPeer, TestServer};
use framewire::{Message, MessageType, RouteKey};

async fn call(peer: &mut TestPeer, msg: Message) -> Message {
    peer.call(msg).await.expect("a reply")
}

fn tagged(tag: &'static str) -> impl Fn(Message, Context) -> std::future::Ready<Message> {
    move |msg: Message, _ctx: Context| std::future::ready(Message::respond(msg.uri().clone(), tag))
}

#[tokio::test]
async fn most_specific_route_wins() {
    let server = Server::builder()
        .on(MessageType::REQUEST_URI, tagged("type"))
        .on((MessageType::REQUEST_URI, "echo"), tagged("type+uri"))
        .build();
    let srv = TestServer::new(server);
    let mut a = srv.peer().unwrap();
    let mut b = srv.peer().unwrap();
    // Register a peer-specific route for `a` only, now that its address is known.
    let a_addr = a.addr();
    srv.handle().on(
        (MessageType::REQUEST_URI, "echo", a_addr),
        tagged("type+uri+peer"),
    );

    let req = |uri: &'static str| Message::new(MessageType::REQUEST_URI, uri, "");
    assert_eq!(
        &call(&mut a, req("echo")).await.content()[..],
        b"type+uri+peer"
    );
    assert_eq!(&call(&mut b, req("echo")).await.content()[..], b"type+uri");
    assert_eq!(&call(&mut b, req("other")).await.content()[..], b"type");

    // Unrouted type: netaio's default NOT_FOUND, uri "" (not the request's).
    let reply = call(&mut b, Message::new(MessageType::CREATE_URI, "k", "v")).await;
    assert_eq!(reply, Message::not_found(""));

    assert!(srv.handle().remove_handler(MessageType::REQUEST_URI));
    assert_eq!(call(&mut b, req("other")).await, Message::not_found(""));
}

#[tokio::test]
async fn one_shot_handlers_fire_once_in_order() {
    let server = Server::builder()
        .on((MessageType::REQUEST_URI, "k"), tagged("persistent"))
        .once((MessageType::REQUEST_URI, "k"), tagged("once-1"))
        .build();
    let srv = TestServer::new(server);
    srv.handle().once(
        RouteKey::TypeUri(MessageType::REQUEST_URI, "k".into()),
        tagged("once-2"),
    );
    let mut c = srv.peer().unwrap();
    let req = || Message::new(MessageType::REQUEST_URI, "k", "");
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(String::from_utf8(call(&mut c, req()).await.content().to_vec()).unwrap());
    }
    assert_eq!(got, ["once-1", "once-2", "persistent", "persistent"]);
}

#[tokio::test]
async fn custom_default_handler_and_custom_types() {
    let chat = MessageType::custom(40).unwrap();
    let server = Server::builder()
        .on(chat, |msg: Message, ctx: Context| async move {
            Message::new(
                msg.message_type,
                msg.uri().clone(),
                format!("from {}", ctx.peer()),
            )
        })
        .default_handler(|msg: Message, _ctx: Context| async move {
            Message::not_found(msg.uri().clone())
        })
        .build();
    let srv = TestServer::new(server);
    let mut c = srv.peer().unwrap();
    let me = c.addr();
    let reply = call(&mut c, Message::new(chat, "room", "hi")).await;
    assert_eq!(reply.message_type, chat);
    assert_eq!(reply.content()[..], format!("from {me}").into_bytes()[..]);
    let reply = call(&mut c, Message::new(MessageType::DELETE_URI, "gone", "")).await;
    assert_eq!(reply, Message::not_found("gone"));
}
