//! The client's table of waiting requests is bounded: past
//! `max_pending_requests` a request fails at once with a typed error, and
//! what each waiting request costs is measured (RSS of this process; one
//! test in this binary, so nothing else allocates meanwhile).

mod common;

use std::time::Duration;

use common::*;
use framewire::client::{Client, BYTES_PER_PENDING_REQUEST};
use futures::StreamExt;
use tokio::net::TcpListener;

const N: usize = 50_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_requests_are_bounded_and_cheap() {
    // A server that reads everything and answers nothing.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let mut f = tokio_util::codec::Framed::new(
            s,
            framewire::FrameCodec::new(framewire::Profile::Netaio),
        );
        while let Some(Ok(_)) = f.next().await {}
    });
    let client = Client::builder(addr.to_string())
        .keepalive(None)
        .request_timeout(Duration::from_secs(60))
        .max_pending_requests(N)
        .connect()
        .await
        .unwrap();
    // Measured from the connected client: its tasks and buffers exist.
    let before = rss();
    let mut waiting = Vec::with_capacity(N);
    for i in 0..N {
        let c = client.clone();
        waiting.push(tokio::spawn(
            async move { c.request(format!("k{i}"), "").await },
        ));
    }
    eventually("all requests waiting", || client.pending_requests() == N).await;
    let per_request = rss().saturating_sub(before) as f64 / N as f64;
    eprintln!("{per_request:.0} bytes per waiting request (tasks included)");
    // One more is refused at once, typed.
    let err = client.request("one-too-many", "").await.unwrap_err();
    assert!(err.is_too_many_pending(), "{err}");
    assert_eq!(
        err.to_string(),
        format!("{N} requests already waiting for replies")
    );
    // The table's own share (this also counts each waiting task and its
    // future, about 1 KiB here) stays within a few times the documented
    // estimate; 6x leaves room for allocators that round differently
    // while still catching, say, a buffer kept per request.
    assert!(
        per_request < 6.0 * BYTES_PER_PENDING_REQUEST as f64,
        "{per_request:.0} bytes per waiting request"
    );
    client.close().await;
    for w in waiting {
        assert!(w.await.unwrap().is_err());
    }
    assert_eq!(client.pending_requests(), 0);
    sink.abort();
}
