//! Graceful shutdown: stop accepting, finish in-flight handlers, deliver
//! what was queued, close cleanly; abort after the grace period.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use framewire::server::{Context, Limits, Server};
use framewire::{Message, MessageType};
use tokio::sync::Semaphore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_frames_and_in_flight_replies_are_delivered() {
    let gate = Arc::new(Semaphore::new(0));
    let entered = Arc::new(Semaphore::new(0));
    let (g, e) = (gate.clone(), entered.clone());
    let server = Server::builder()
        .on(
            (MessageType::REQUEST_URI, "work"),
            move |_m: Message, _c: Context| {
                let (g, e) = (g.clone(), e.clone());
                async move {
                    e.add_permits(1);
                    let _p = g.acquire().await.expect("open");
                    Message::ok("work", "done")
                }
            },
        )
        .build();
    let srv = start(server).await;
    let mut worker = connect(srv.addr).await;
    let mut listener = connect(srv.addr).await;
    eventually("both registered", || srv.handle.connection_count() == 2).await;
    send(
        &mut worker,
        Message::new(MessageType::REQUEST_URI, "work", ""),
    )
    .await;
    let _ = tokio::time::timeout(LIMIT, entered.acquire())
        .await
        .expect("handler started");

    // Queue 500 notifications for the listener, then shut down while the
    // worker's handler is still running.
    for i in 0..500 {
        srv.handle
            .broadcast(Message::new(MessageType::NOTIFY_URI, "n", i.to_string()))
            .unwrap();
    }
    srv.handle.shutdown();
    // New connections are no longer accepted once the listener is dropped.
    eventually("listener closed", || {
        std::net::TcpStream::connect(srv.addr).is_err()
    })
    .await;
    gate.add_permits(1);

    let got = until_closed(&mut listener).await;
    assert_eq!(
        got.len(),
        500,
        "every queued notification delivered before close"
    );
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, m)| m.content()[..] == *i.to_string().as_bytes()));
    let got = until_closed(&mut worker).await;
    assert_eq!(got.len(), 501);
    assert_eq!(got.last().unwrap(), &Message::ok("work", "done"));
    tokio::time::timeout(LIMIT, srv.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_handlers_are_aborted_after_the_grace_period() {
    use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
    /// 1 while the handler runs, 2 once its future was dropped (aborted).
    static STATE: AtomicU8 = AtomicU8::new(0);
    struct Dropped;
    impl Drop for Dropped {
        fn drop(&mut self) {
            STATE.store(2, SeqCst);
        }
    }
    const GRACE: Duration = Duration::from_millis(300);
    let server = Server::builder()
        .on(MessageType::REQUEST_URI, |_m: Message, _c: Context| async {
            let _guard = Dropped;
            STATE.store(1, SeqCst);
            std::future::pending::<()>().await;
            Message::ok("", "")
        })
        .limits(Limits::default().shutdown_grace(GRACE))
        .build();
    let srv = start(server).await;
    let mut c = connect(srv.addr).await;
    send(&mut c, Message::new(MessageType::REQUEST_URI, "stuck", "")).await;
    eventually("the handler runs", || STATE.load(SeqCst) == 1).await;
    let asked = tokio::time::Instant::now();
    srv.handle.shutdown();
    tokio::time::timeout(LIMIT, srv.task)
        .await
        .expect("serve returned")
        .unwrap()
        .unwrap();
    let took = asked.elapsed();
    // The grace period was given in full, then the handler was aborted
    // (its future dropped), not left running.
    assert!(took >= GRACE, "stopped after {took:?}, before the grace");
    assert_eq!(STATE.load(SeqCst), 2, "the stuck handler was aborted");
    assert!(until_closed(&mut c).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shutdown_future_stops_the_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(Server::builder().build().serve(listener, async {
        let _ = rx.await;
    }));
    let mut c = connect(addr).await;
    assert_eq!(
        call(&mut c, Message::new(MessageType::REQUEST_URI, "x", "")).await,
        Message::not_found("")
    );
    tx.send(()).unwrap();
    tokio::time::timeout(LIMIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(until_closed(&mut c).await.is_empty());
}

/// An acceptor that yields nothing more ends `serve` as a shutdown would:
/// `Ok` when it closes, the error when it fails; a transient error is
/// retried, not the end.
#[tokio::test(start_paused = true)]
async fn serve_ends_when_its_acceptor_closes_or_fails() {
    use framewire::transport::{AcceptError, AcceptFuture, Acceptor};

    /// Gives these errors in turn, then closes.
    struct Failing(Vec<AcceptError>);

    impl Acceptor for Failing {
        fn accept(&mut self) -> AcceptFuture<'_> {
            let next = self.0.pop().unwrap_or(AcceptError::Closed);
            Box::pin(std::future::ready(Err(next)))
        }
    }

    let emfile = || AcceptError::Transient(std::io::Error::from_raw_os_error(24));
    let closing = Failing(vec![emfile(), emfile()]);
    Server::builder()
        .build()
        .serve(closing, std::future::pending())
        .await
        .expect("a closed acceptor is a clean end");

    let broken = std::io::Error::other("listener gone");
    let failing = Failing(vec![AcceptError::Fatal(broken), emfile()]);
    let e = Server::builder()
        .build()
        .serve(failing, std::future::pending())
        .await
        .expect_err("a failed acceptor is returned");
    assert!(e.to_string().contains("listener gone"), "{e}");
}
