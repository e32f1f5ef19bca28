//! The templates of docs/testing-your-service.md, compiled and run: each
//! code block of that page is a verbatim part of this file or of
//! fuzz/fuzz_targets/service_routes.rs (checked by the last test here).

use std::time::Duration;

use framewire::server::{Server, ServerBuilder};
use framewire::testing::TestServer;
use framewire::{Message, MessageType};

// --- the service under test ---
/// The service's routes, built the way its `main` builds them.
fn routes() -> ServerBuilder {
    Server::builder()
        .on(
            (MessageType::REQUEST_URI, "greet"),
            |m: Message| async move {
                let name = String::from_utf8_lossy(m.content()).into_owned();
                Message::respond("greet", format!("hello, {name}"))
            },
        )
        .on(
            (MessageType::REQUEST_URI, "price"),
            |_m: Message| async move {
                // An upstream that may never answer, bounded by the handler.
                let upstream = std::future::pending::<Message>();
                match tokio::time::timeout(Duration::from_secs(2), upstream).await {
                    Ok(reply) => reply,
                    Err(_) => Message::error("upstream timed out"),
                }
            },
        )
}

// --- 1: one handler ---
#[tokio::test]
async fn greets_by_name() {
    let server = TestServer::new(routes().build());
    let client = server.client().connect().await.unwrap();

    let reply = client.request("greet", "ada").await.unwrap();

    assert_eq!(reply.message_type, MessageType::RESPOND_URI);
    assert_eq!(&reply.content()[..], b"hello, ada");
}

// --- 2: a timeout, in virtual time ---
#[tokio::test(start_paused = true)]
async fn a_silent_upstream_is_cut_off_after_two_seconds() {
    let server = TestServer::new(routes().build());
    let client = server.client().connect().await.unwrap();
    let started = tokio::time::Instant::now();

    let err = client.request("price", "EURUSD").await.unwrap_err();

    // Two seconds passed on the test's clock, none on the wall's.
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    let reply = err.reply().expect("an error reply from the service");
    assert_eq!(&reply.content()[..], b"upstream timed out");
}

// --- 3: hostile bytes ---
#[tokio::test]
async fn garbage_is_refused_and_others_are_still_served() {
    let server = TestServer::new(routes().build());
    let before = server.stats();
    let mut attacker = server.peer().unwrap();
    let mut bystander = server.peer().unwrap();

    // A netaio header announcing message type 14, which does not exist.
    attacker
        .send_raw([14, 0, 0, 0, 0, 0, 0, 0, 0])
        .await
        .unwrap();

    let closed = attacker.closed().await.unwrap();
    assert!(closed.reason().unwrap().contains("unknown message type"));
    let stats = server
        .stats_when(|s| s.since(&before).decode_errors == 1)
        .await
        .unwrap();
    assert_eq!(stats.since(&before).handler_errors, 0);
    let hello = Message::new(MessageType::REQUEST_URI, "greet", "bob");
    assert_eq!(
        &bystander.call(hello).await.unwrap().content()[..],
        b"hello, bob"
    );
}
// --- end of templates ---

/// Every code block of docs/testing-your-service.md is part of this file
/// or of the fuzz target, so the page cannot drift from code that runs.
#[test]
fn the_page_shows_only_code_that_runs() {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |p: &str| std::fs::read_to_string(format!("{root}/{p}")).unwrap();
    let page = read("docs/testing-your-service.md");
    let sources = [
        read("tests/testing_your_service.rs"),
        read("fuzz/fuzz_targets/service_routes.rs"),
    ];
    let blocks: Vec<&str> = page
        .split("```rust\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(
        blocks.len(),
        5,
        "the service, three tests and the fuzz target"
    );
    for block in blocks {
        assert!(
            sources.iter().any(|s| s.contains(block)),
            "not in the test file or the fuzz target:\n{block}"
        );
    }
}
