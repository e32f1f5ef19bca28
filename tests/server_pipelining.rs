//! Replies on one connection go out in request order, even when handlers
//! take different times; connections are served concurrently.

mod common;

use std::time::Duration;

use common::*;
use framewire::server::{Context, Server};
use framewire::{Message, MessageType};
use futures::SinkExt;

async fn slow_echo(msg: Message, _ctx: Context) -> Message {
    // Earlier requests sleep longer: out-of-order completion would show.
    let n: u64 = std::str::from_utf8(msg.content()).unwrap().parse().unwrap();
    tokio::time::sleep(Duration::from_millis((20 - n % 20) / 4)).await;
    Message::respond(msg.uri().clone(), msg.content().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_replies_keep_request_order() {
    let srv = start(
        Server::builder()
            .on(MessageType::REQUEST_URI, slow_echo)
            .build(),
    )
    .await;
    let mut c = connect(srv.addr).await;
    const N: usize = 200;
    for i in 0..N {
        c.feed(Message::new(
            MessageType::REQUEST_URI,
            "echo",
            i.to_string(),
        ))
        .await
        .unwrap();
    }
    c.flush().await.unwrap();
    for i in 0..N {
        let reply = recv(&mut c).await;
        assert_eq!(reply.content()[..], i.to_string().into_bytes()[..]);
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_handler_does_not_stall_other_connections() {
    // The "slow" handler waits until the test releases it, after the other
    // connection got all its answers: no timing involved.
    let release = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let gate = release.clone();
    let server = Server::builder()
        .on(
            (MessageType::REQUEST_URI, "slow"),
            move |_m: Message, _c: Context| {
                let gate = gate.clone();
                async move {
                    let _permit = gate.acquire().await.expect("semaphore open");
                    Message::ok("slow", "")
                }
            },
        )
        .on(
            (MessageType::REQUEST_URI, "fast"),
            |_m: Message, _c: Context| async { Message::ok("fast", "") },
        )
        .build();
    let srv = start(server).await;
    let mut slow = connect(srv.addr).await;
    send(
        &mut slow,
        Message::new(MessageType::REQUEST_URI, "slow", ""),
    )
    .await;
    let mut fast = connect(srv.addr).await;
    for _ in 0..50 {
        let r = call(
            &mut fast,
            Message::new(MessageType::REQUEST_URI, "fast", ""),
        )
        .await;
        assert_eq!(r.message_type, MessageType::OK);
    }
    release.add_permits(1);
    assert_eq!(&recv(&mut slow).await.uri()[..], b"slow");
    srv.stop().await;
}
