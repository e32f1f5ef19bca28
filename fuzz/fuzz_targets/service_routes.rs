#![no_main]
//! The fuzz template of docs/testing-your-service.md: arbitrary messages
//! through a service's routes in an in-memory server. Run it with
//! `cargo fuzz run -s none service_routes` (fuzz/run.sh does, bounded).

use std::time::Duration;

use framewire::server::{Server, ServerBuilder};
use framewire::testing::TestServer;
use framewire::{Message, MessageType};
use libfuzzer_sys::fuzz_target;

/// The service's routes (in your crate: `use my_service::routes;`).
fn routes() -> ServerBuilder {
    Server::builder().on((MessageType::REQUEST_URI, "greet"), |m: Message| async move {
        let name = String::from_utf8_lossy(m.content()).into_owned();
        Message::respond("greet", format!("hello, {name}"))
    })
}

fuzz_target!(|messages: Vec<Message>| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true) // every deadline passes at once
        .build()
        .unwrap();
    rt.block_on(async {
        let server = TestServer::new(routes().build()).timeout(Duration::from_secs(60));
        let mut peer = server.peer().unwrap();
        for msg in messages.into_iter().take(16) {
            peer.send(msg).await.unwrap(); // arbitrary messages always encode
        }
        peer.hang_up().await.unwrap();
        // The invariants: the server answers in valid frames, closes after
        // the peer hangs up, and no handler panicked on any input.
        peer.closed().await.unwrap();
        assert_eq!(server.stats().handler_panics, 0);
    });
});
