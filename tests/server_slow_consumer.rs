//! A subscriber that stops reading is cut off (or has frames dropped, by
//! policy) while the others keep receiving everything; the publisher never
//! blocks.

mod common;

use std::time::Duration;

use common::*;
use framewire::server::{Limits, Server, SlowConsumerPolicy};
use framewire::{Message, MessageType};
use tokio::sync::mpsc;

const ROUNDS: usize = 1000;
const SIZE: usize = 16 * 1024;

/// Subscribes a fresh connection to `t` via the handle.
async fn subscriber(srv: &Running) -> Conn {
    let c = connect(srv.addr).await;
    let id = conn_id(srv, c.get_ref().local_addr().unwrap()).await;
    srv.handle.subscribe("t", id).unwrap();
    c
}

/// Returns the server, the stalled connection, and the healthy readers
/// (still connected).
async fn run(policy: SlowConsumerPolicy) -> (Running, Conn, [tokio::task::JoinHandle<()>; 2]) {
    let limits = Limits::default()
        .max_queued_frames(64)
        .max_queued_bytes(256 * 1024)
        .slow_consumer(policy)
        .write_timeout(Duration::from_secs(2));
    let srv = start(Server::builder().limits(limits).build()).await;
    let stalled = subscriber(&srv).await; // never read from
    let (tx, mut rx) = mpsc::unbounded_channel();
    let healthy = [
        count_notes(subscriber(&srv).await, tx.clone()),
        count_notes(subscriber(&srv).await, tx),
    ];
    let mut expected = [0u32; 2];
    for round in 0..ROUNDS {
        let mut content = vec![0u8; SIZE];
        content[..4].copy_from_slice(&(round as u32).to_be_bytes());
        // Never blocks, whatever the stalled subscriber does.
        srv.handle
            .notify("t", Message::new(MessageType::NOTIFY_URI, "t", content))
            .unwrap();
        // Lock-step with the healthy readers so only the stalled one lags.
        for _ in 0..2 {
            let n = tokio::time::timeout(LIMIT, rx.recv())
                .await
                .expect("healthy reader keeps up")
                .unwrap();
            let slot = if expected[0] == n { 0 } else { 1 };
            assert_eq!(expected[slot], n, "in order, nothing lost");
            expected[slot] += 1;
        }
    }
    assert_eq!(expected, [ROUNDS as u32; 2]);
    (srv, stalled, healthy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_subscriber_is_disconnected() {
    let (srv, mut stalled, healthy) = run(SlowConsumerPolicy::Disconnect).await;
    assert_eq!(srv.handle.stats().slow_consumer_disconnects, 1);
    // What it did get is a prefix of the stream (rounds 0, 1, 2, ... with
    // none missing), then the close.
    let got = rounds(&until_closed(&mut stalled).await);
    assert!(got.len() < ROUNDS);
    let prefix: Vec<u32> = (0..got.len() as u32).collect();
    assert_eq!(got, prefix, "a prefix of the stream");
    eventually("removed", || srv.handle.connection_count() == 2).await;
    assert!(
        healthy.iter().all(|h| !h.is_finished()),
        "healthy readers still connected"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_newest_policy_drops_then_write_deadline_cuts_off() {
    let (srv, mut stalled, healthy) = run(SlowConsumerPolicy::DropNewest).await;
    let stats = srv.handle.stats();
    assert!(stats.slow_consumer_drops > 0, "{stats:?}");
    assert_eq!(stats.slow_consumer_disconnects, 0);
    // The peer still does not read: the write deadline (2 s) closes it.
    eventually("write deadline", || srv.handle.connection_count() == 2).await;
    assert_eq!(srv.handle.stats().timeouts, 1);
    // Dropping the newest keeps what was queued in order: an increasing
    // run of rounds from the first, with gaps where frames were dropped.
    let got = rounds(&until_closed(&mut stalled).await);
    assert!(got.len() < ROUNDS);
    assert_eq!(got.first(), Some(&0), "{got:?}");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order: {got:?}");
    assert!(
        healthy.iter().all(|h| !h.is_finished()),
        "healthy readers still connected"
    );
    srv.stop().await;
}

/// The round numbers the notifications carry, in the order received.
fn rounds(notes: &[Message]) -> Vec<u32> {
    notes
        .iter()
        .map(|m| {
            assert_eq!(m.content().len(), SIZE, "whole notifications only");
            u32::from_be_bytes(m.content()[..4].try_into().unwrap())
        })
        .collect()
}
