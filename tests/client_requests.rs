//! Client request helpers against a framewire server: typed replies,
//! netaio's reply matching, and request ids that let any number of requests
//! to one uri be in flight and answered in any order.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use framewire::client::{Client, ClientError};
use framewire::handler::HandlerError;
use framewire::protocol::REQUEST_ID_FIELD;
use framewire::server::{Context, Server};
use framewire::{Message, MessageType, NetaioHmac, PluginLayer, ReplyError};
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

/// A bare server on a fresh loopback port: `serve` gets its one
/// connection, framed (the port stops listening once it is accepted). Its
/// address, and the task serving it.
async fn bare_server<T, F>(
    serve: impl FnOnce(Framed<TcpStream, framewire::FrameCodec>) -> F + Send + 'static,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<T>)
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        // One connection: nothing to reconnect to once it is closed.
        drop(listener);
        serve(Framed::new(s, framewire::FrameCodec::default())).await
    });
    (addr, server)
}

async fn kv_server(layer: Option<PluginLayer>) -> Running {
    let mut b = framewire::server::readme_routes(Server::builder());
    if let Some(l) = layer {
        b = b.plugins(l);
    }
    start(b.build()).await
}

async fn client(addr: std::net::SocketAddr) -> Client {
    Client::builder(addr.to_string()).connect().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helpers_and_typed_errors() {
    let srv = kv_server(None).await;
    let c = client(srv.addr).await;
    assert_eq!(&c.request("echo", "hi").await.unwrap().content()[..], b"hi");
    assert!(c.request("k", "").await.unwrap_err().is_not_found());
    assert_eq!(&c.create("k", "v1").await.unwrap().content()[..], b"stored");
    let err = c.create("k", "again").await.unwrap_err();
    match &err {
        ClientError::Reply(ReplyError::Remote(m)) => {
            assert_eq!(&m.content()[..], b"cannot overwrite")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.to_string(), "server error: cannot overwrite");
    assert_eq!(&c.request("k", "").await.unwrap().content()[..], b"v1");
    assert_eq!(&c.update("k", "v2").await.unwrap().content()[..], b"stored");
    assert_eq!(&c.delete("k").await.unwrap().content()[..], b"deleted");
    assert!(c.delete("k").await.unwrap_err().is_not_found());
    assert!(c.update("k", "x").await.unwrap_err().is_not_found());
    // Unrouted type: the default NOT_FOUND has uri "", which netaio's
    // matching cannot pair with the request (netaio's client times out);
    // the echoed request id pairs it at once.
    let err = c
        .call_timeout(
            Message::new(MessageType::PEER_DISCOVERED, "x", ""),
            Duration::from_secs(30),
        )
        .await
        .unwrap_err();
    assert_eq!(err.reply().map(|m| &m.uri()[..]), Some(&b""[..]));
    assert!(err.is_not_found(), "{err}");
    assert_eq!(c.pending_requests(), 0);
    c.close().await;
    srv.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_reply_that_never_comes_is_a_timeout() {
    // In memory (`framewire::testing`): with real sockets, the paused
    // clock could jump to the timeout while the request was still on its
    // way.
    let srv = framewire::testing::TestServer::new(
        Server::builder()
            .on(MessageType::REQUEST_URI, |_m: Message, _c: Context| async {
            })
            .build(),
    )
    .timeout(Duration::from_secs(3600));
    let c = srv
        .client()
        .request_timeout(Duration::from_secs(10))
        .keepalive(None)
        .connect()
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let err = c.request("silence", "").await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // Virtual time: the full 10 s, and not a moment later.
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(c.pending_requests(), 0, "timed-out waiter removed");
    c.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_timed_out_takes_no_later_netaio_reply() {
    // A netaio-like server (no request ids echoed): it answers only the
    // second request. Its reply goes to the oldest waiting request of the
    // uri, so the first, timed out, must have left the table.
    let (addr, server) = bare_server(|mut f| async move {
        let mut seen = 0;
        while let Some(Ok(Ok(req))) = f.next().await {
            seen += 1;
            if seen == 2 {
                let reply = Message::respond(req.uri().clone(), "second");
                f.send(reply).await.unwrap();
            }
        }
    })
    .await;
    let c = Client::builder(addr.to_string())
        .keepalive(None)
        .connect()
        .await
        .unwrap();
    let first = Message::new(MessageType::REQUEST_URI, "k", "1");
    let err = c
        .call_timeout(first, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let second = Message::new(MessageType::REQUEST_URI, "k", "2");
    let reply = c.call_timeout(second, LIMIT).await.unwrap();
    assert_eq!(&reply.content()[..], b"second");
    c.close().await;
    tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_requests_to_one_uri() {
    let srv =
        start(
            Server::builder()
                .on(
                    (MessageType::REQUEST_URI, "same"),
                    |m: Message, _c: Context| async move {
                        Message::respond("same", m.content().clone())
                    },
                )
                .build(),
        )
        .await;
    let c = client(srv.addr).await;
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move { (i, c.request("same", i.to_string()).await) })
        })
        .collect();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        assert_eq!(
            r.unwrap().content()[..],
            *i.to_string().as_bytes(),
            "request {i}"
        );
    }
    assert_eq!(c.pending_requests(), 0);
    c.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_in_reverse_order_find_their_requests_by_id() {
    // A bare server that collects 100 requests, then answers them last
    // first, echoing each request id as a framewire server does.
    let (addr, server) = bare_server(|mut f| async move {
        let mut got = Vec::new();
        while got.len() < 100 {
            got.push(f.next().await.unwrap().unwrap().unwrap());
        }
        for req in got.into_iter().rev() {
            let mut reply = Message::respond(req.uri().clone(), req.content().clone());
            reply.auth.insert(
                REQUEST_ID_FIELD,
                req.auth.get(REQUEST_ID_FIELD).unwrap().clone(),
            );
            f.send(reply).await.unwrap();
        }
        f
    })
    .await;
    let c = Client::builder(addr.to_string())
        .keepalive(None)
        .connect()
        .await
        .unwrap();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move { (i, c.request("same", i.to_string()).await.unwrap()) })
        })
        .collect();
    for t in tasks {
        let (i, r) = tokio::time::timeout(LIMIT, t)
            .await
            .expect("a reply in time")
            .unwrap();
        assert_eq!(r.content()[..], *i.to_string().as_bytes());
    }
    drop(
        tokio::time::timeout(LIMIT, server)
            .await
            .expect("the fake server finished in time")
            .unwrap(),
    );
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_lost_connection_never_sent_fails_at_once_not_at_the_timeout() {
    // A server that reads nothing, so requests pile up in the client's
    // queue (and wait for room behind it), then closes the connection and
    // stops listening: no reconnection comes to send them.
    const N: usize = 600;
    let (close, closed) = tokio::sync::oneshot::channel::<()>();
    let (addr, server) = bare_server(|f| async move {
        let _ = closed.await;
        drop(f);
    })
    .await;
    let c = Client::builder(addr.to_string())
        .keepalive(None)
        .request_timeout(Duration::from_secs(120))
        .connect()
        .await
        .unwrap();
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.request("k", vec![b'.'; 60_000]).await })
        })
        .collect();
    let mut queued = false;
    for _ in 0..200 {
        if c.queued().0 > 0 && c.pending_requests() == N {
            queued = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(queued, "frames queued: {:?}", c.queued());
    close.send(()).unwrap();
    for t in tasks {
        let r = tokio::time::timeout(LIMIT, t)
            .await
            .expect("failed at once")
            .unwrap();
        assert!(r.unwrap_err().is_connection_lost());
    }
    assert_eq!(c.pending_requests(), 0);
    server.await.unwrap();
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_wait_for_room_in_the_queue_keep_wire_order() {
    // A netaio-like server: answers in order and echoes no request id, so
    // each reply goes to the oldest waiting request. It reads nothing
    // until told, so the client's queue (16 MiB) and the socket buffers
    // fill and later requests have to wait for room.
    const N: usize = 1000;
    let (go, mut wait) = tokio::sync::mpsc::channel::<()>(1);
    let (addr, server) = bare_server(|mut f| async move {
        wait.recv().await;
        let mut answered = 0;
        while answered < N {
            let req = f.next().await.unwrap().unwrap().unwrap();
            if req.message_type == MessageType::REQUEST_URI {
                f.send(Message::respond(req.uri().clone(), req.content().clone()))
                    .await
                    .unwrap();
                answered += 1;
            }
        }
        f
    })
    .await;
    let c = Client::builder(addr.to_string())
        .keepalive(None)
        .request_timeout(Duration::from_secs(60))
        .connect()
        .await
        .unwrap();
    let content = |i: usize| {
        let mut v = format!("{i:08}").into_bytes();
        v.resize(60_000, b'.');
        v
    };
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move { (i, c.request("same", content(i)).await) })
        })
        .collect();
    // Until the client's queue is full (bounded: 10 s): the requests
    // beyond it (60 MB asked, 16 MiB queued, a few MiB in the sockets)
    // wait for room.
    const QUEUE_BYTES: usize = 16 * 1024 * 1024;
    let mut full = false;
    for _ in 0..200 {
        if c.queued().1 + 60_100 > QUEUE_BYTES {
            full = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(full, "the queue filled: {:?} queued", c.queued());
    const _: () = assert!(
        N * 60_000 > 3 * QUEUE_BYTES,
        "more than queue and sockets hold"
    );
    go.send(()).await.unwrap();
    for t in tasks {
        let (i, r) = tokio::time::timeout(LIMIT, t).await.unwrap().unwrap();
        assert_eq!(r.unwrap().content()[..], content(i)[..], "request {i}");
    }
    drop(
        tokio::time::timeout(LIMIT, server)
            .await
            .expect("the fake server finished in time")
            .unwrap(),
    );
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_on_both_ends_and_wrong_secret_fails_fast() {
    let layer = || PluginLayer::new().with_auth(NetaioHmac::new("s3cret"));
    let srv = kv_server(Some(layer())).await;
    let good = Client::builder(srv.addr.to_string())
        .plugins(layer())
        .connect()
        .await
        .unwrap();
    assert_eq!(
        &good.request("echo", "signed").await.unwrap().content()[..],
        b"signed"
    );

    // A wrong secret is noticed at connect (one signed ping), from the
    // server's reply, not from the 30 s timeout.
    let started = std::time::Instant::now();
    let refused = Client::builder(srv.addr.to_string())
        .plugins(PluginLayer::new().with_auth(NetaioHmac::new("wrong")))
        .request_timeout(Duration::from_secs(30))
        .connect()
        .await
        .unwrap_err();
    assert!(refused.is_auth_error(), "{refused}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Unchecked at connect, the first request fails as fast.
    let wrong = Client::builder(srv.addr.to_string())
        .plugins(PluginLayer::new().with_auth(NetaioHmac::new("wrong")))
        .request_timeout(Duration::from_secs(30))
        .check_credentials(false)
        .connect()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    match wrong.request("echo", "x").await.unwrap_err() {
        ClientError::Reply(ReplyError::AuthRejected { verified, message }) => {
            assert!(!verified);
            assert_eq!(&message.content()[..], b"HMAC auth failed");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    good.close().await;
    wrong.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_and_one_shots_for_unsolicited_messages() {
    let srv = kv_server(None).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let (tx1, tx2) = (tx.clone(), tx);
    let c = Client::builder(srv.addr.to_string())
        .on(MessageType::NOTIFY_URI, move |m: Message, _c: Client| {
            let tx = tx1.clone();
            async move {
                let _ = tx.send(format!("every {}", String::from_utf8_lossy(m.content())));
            }
        })
        .once(
            (MessageType::NOTIFY_URI, "broadcast"),
            move |m: Message, _c: Client| {
                let tx = tx2.clone();
                async move {
                    let _ = tx.send(format!("once {}", String::from_utf8_lossy(m.content())));
                }
            },
        )
        .connect()
        .await
        .unwrap();
    for text in ["a", "b"] {
        let r = c
            .call(Message::new(MessageType::PUBLISH_URI, "broadcast", text))
            .await
            .unwrap();
        assert_eq!(&r.content()[..], b"broadcast");
    }
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(
            tokio::time::timeout(LIMIT, rx.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    // The one-shot on (NOTIFY_URI, "broadcast") wins first, then the
    // type-wide handler takes over.
    assert_eq!(seen, ["once a", "every b"]);
    c.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_flushes_what_was_sent() {
    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r2 = received.clone();
    let srv = start(
        Server::builder()
            .on(MessageType::PUBLISH_URI, move |_m: Message, _c: Context| {
                r2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async {}
            })
            .build(),
    )
    .await;
    let c = client(srv.addr).await;
    for i in 0..500 {
        c.send(Message::new(MessageType::PUBLISH_URI, "t", i.to_string()))
            .await
            .unwrap();
    }
    c.close().await;
    assert!(matches!(
        c.request("echo", "").await,
        Err(ClientError::Closed)
    ));
    eventually("all 500 delivered", || {
        received.load(std::sync::atomic::Ordering::SeqCst) == 500
    })
    .await;
    srv.stop().await;
}

/// A server whose handlers fail: with text netaio's `make_error_msg` would
/// read as an auth failure, and with the typed not-found.
fn failing_server() -> Server {
    Server::builder()
        .on(
            (MessageType::CREATE_URI, "user"),
            |_m: Message, _c: Context| async { Err::<Message, _>("invalid author") },
        )
        .on(
            (MessageType::REQUEST_URI, "user"),
            |_m: Message, _c: Context| async {
                Err::<Message, _>(HandlerError::not_found("no such user"))
            },
        )
        .on(
            (MessageType::UPDATE_URI, "user"),
            |_m: Message, _c: Context| async { Message::not_found("user") },
        )
        .on(
            (MessageType::CREATE_URI, "gone"),
            |_m: Message, _c: Context| async { Message::not_found("gone") },
        )
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_answered_not_found_fails_at_once_not_at_the_timeout() {
    let srv = start(failing_server()).await;
    let c = Client::builder(srv.addr.to_string())
        .request_timeout(Duration::from_secs(30))
        .connect()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    // No route: the server's default NOT_FOUND (empty uri), with the id.
    let err = c.create("unrouted", "v").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    // A CREATE handler answering Message::not_found.
    let err = c.create("gone", "v").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}: the replies were not matched",
        started.elapsed()
    );
    assert_eq!(c.pending_requests(), 0);
    c.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_errors_text_does_not_decide_the_reply_type() {
    let srv = start(failing_server()).await;
    let c = client(srv.addr).await;
    // "author" contains "auth": netaio's make_error_msg would say AUTH_ERROR.
    let err = c.create("user", "{}").await.unwrap_err();
    assert!(err.is_error() && !err.is_auth_error(), "{err}");
    let reply = err.reply().unwrap();
    assert_eq!(
        (reply.message_type, &reply.uri()[..], &reply.content()[..]),
        (MessageType::ERROR, &b"user"[..], &b"invalid author"[..])
    );
    assert_eq!(err.to_string(), "server error: invalid author");
    // The typed not-found is answered NOT_FOUND.
    let err = c.request("user", "").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(&err.reply().unwrap().content()[..], b"no such user");
    // A handler's own Message::not_found still answers an UPDATE.
    assert!(c.update("user", "").await.unwrap_err().is_not_found());
    c.close().await;
    srv.stop().await;
}
