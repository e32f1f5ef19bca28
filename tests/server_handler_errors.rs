//! Handler errors become error replies typed by how they were made (ERROR
//! unless typed, whatever the text); a panicking handler (async or
//! sync) is answered and isolated: its connection and the server keep
//! working. In memory (`framewire::testing`), with a bystander.

mod common;

use common::Bystander;
use framewire::handler::HandlerError;
use framewire::server::{Context, Server};
use framewire::testing::{TestPeer, TestServer};
use framewire::{Message, MessageType};

async fn call(peer: &mut TestPeer, msg: Message) -> Message {
    peer.call(msg).await.expect("a reply")
}

fn server() -> Server {
    Server::builder()
        .on(
            (MessageType::REQUEST_URI, "fail"),
            |_m: Message, _c: Context| async { Err::<Message, _>("cannot overwrite") },
        )
        .on(
            (MessageType::REQUEST_URI, "missing"),
            |_m: Message, _c: Context| async {
                Err::<Message, _>(HandlerError::not_found("thing not found"))
            },
        )
        .on(
            (MessageType::REQUEST_URI, "says-not-found"),
            |_m: Message, _c: Context| async {
                Err::<Message, _>(std::io::Error::other("thing not found"))
            },
        )
        .on(
            (MessageType::REQUEST_URI, "panic"),
            |_m: Message, _c: Context| async {
                if true {
                    panic!("handler bug");
                }
                Message::ok("", "")
            },
        )
        .on(
            (MessageType::REQUEST_URI, "panic-early"),
            |_m: Message, _c: Context| -> std::future::Ready<Message> {
                panic!("panics before returning a future")
            },
        )
        .on(
            (MessageType::REQUEST_URI, "echo"),
            |m: Message, _c: Context| async move { Message::respond("echo", m.content().clone()) },
        )
        .on(
            (MessageType::REQUEST_URI, "silent"),
            |_m: Message, _c: Context| async {},
        )
        .on_sync(
            (MessageType::REQUEST_URI, "panic-sync"),
            |_m: Message, _c: &Context| -> Message { panic!("a synchronous handler bug") },
        )
        .on_sync(
            (MessageType::REQUEST_URI, "fail-sync"),
            |_m: Message, _c: &Context| Err::<Message, _>("cannot overwrite"),
        )
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_panics_are_answered_and_isolated() {
    let srv = TestServer::new(server());
    let mut c = srv.peer().unwrap();
    let mut other = srv.peer().unwrap();
    let mut bystander = Bystander::join_memory(&srv, None).await;
    let req = |uri: &'static str| Message::new(MessageType::REQUEST_URI, uri, "x");

    // The reply echoes the request uri so a netaio client's request() sees it.
    assert_eq!(
        call(&mut c, req("fail")).await,
        Message::error("cannot overwrite").with_uri("fail")
    );
    let r = call(&mut c, req("missing")).await;
    assert_eq!(
        (r.message_type, &r.uri()[..]),
        (MessageType::NOT_FOUND, &b"missing"[..])
    );
    // An untyped error is ERROR, whatever its text says.
    let r = call(&mut c, req("says-not-found")).await;
    assert_eq!(
        (r.message_type, &r.content()[..]),
        (MessageType::ERROR, &b"thing not found"[..])
    );

    assert_eq!(
        call(&mut c, req("fail-sync")).await,
        Message::error("cannot overwrite").with_uri("fail-sync")
    );
    for uri in ["panic", "panic-early", "panic-sync"] {
        let r = call(&mut c, req(uri)).await;
        assert_eq!(r, Message::error("internal error").with_uri(uri));
        // Same connection still served, other connections untouched.
        assert_eq!(&call(&mut c, req("echo")).await.content()[..], b"x");
        assert_eq!(&call(&mut other, req("echo")).await.content()[..], b"x");
        bystander.check(&srv).await;
    }
    // A handler that returns nothing sends nothing: the next reply is echo's.
    c.send(req("silent")).await.unwrap();
    assert_eq!(&call(&mut c, req("echo")).await.uri()[..], b"echo");

    let stats = srv.stats();
    assert_eq!(stats.handler_panics, 3);
    assert_eq!(stats.handler_errors, 4);
    bystander.check(&srv).await;
}
