//! The backplane's fuzz check: arbitrary envelopes, as a backplane hands
//! them to a server once they passed its transport (for Redis: after the
//! cluster-key MAC), through the public `Inbound::deliver` into a server
//! with subscribers (the in-memory test kit). Nothing may panic, a
//! subscriber may only ever be sent the kinds instances relay (NOTIFY),
//! and no envelope is counted twice. Shared by `fuzz_targets/backplane_envelope.rs` and
//! `tests/fuzz_corpus.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use framewire::server::{Backplane, Inbound, Server};
use framewire::testing::TestServer;
use framewire::{Message, MessageType};

/// Publishes nothing; keeps the server's side so the check can deliver.
#[derive(Default, Clone)]
struct Captured(Arc<Mutex<Option<Inbound>>>);

impl Backplane for Captured {
    fn start(&self, inbound: Inbound) {
        inbound.set_connected(true);
        *self.0.lock().expect("lock") = Some(inbound);
    }
    fn publish(&self, _envelope: Bytes) -> bool {
        true
    }
}

/// The envelopes in `data`: records of a 2-byte length (cut to what is
/// left) and that many bytes; at most 32.
fn envelopes(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let [hi, lo, rest @ ..] = data {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
        out.push(&rest[..len]);
        data = &rest[len..];
        if out.len() == 32 {
            break;
        }
    }
    out
}

pub fn check_backplane_envelopes(data: &[u8]) {
    let envelopes = envelopes(data);
    if envelopes.is_empty() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let backplane = Captured::default();
        let server = Server::builder()
            .subscriptions()
            .backplane(backplane.clone())
            .instance_id("me")
            .build();
        let server = TestServer::new(server).timeout(Duration::from_secs(60));
        let mut peers = Vec::new();
        // Plain subscribers of two topics, and a queue-group member.
        for (topic, group) in [("t", None), ("news", None), ("t", Some("w"))] {
            let mut peer = server.peer().expect("a peer");
            let mut subscribe = Message::new(MessageType::SUBSCRIBE_URI, topic, "");
            if let Some(g) = group {
                subscribe
                    .auth
                    .insert(framewire::protocol::GROUP_FIELD, g.as_bytes());
            }
            let confirmed = peer.call(subscribe).await.expect("subscribed");
            assert_eq!(confirmed.message_type, MessageType::CONFIRM_SUBSCRIBE);
            peers.push(peer);
        }
        let inbound = backplane.0.lock().expect("lock").clone();
        let inbound = inbound.expect("the backplane was started");
        for envelope in &envelopes {
            inbound.deliver(envelope);
            tokio::task::yield_now().await;
        }
        let stats = server.stats();
        let accounted = stats.backplane_received
            + stats.backplane_invalid
            + stats.backplane_duplicates
            + stats.backplane_unauthenticated;
        assert!(
            accounted <= envelopes.len() as u64,
            "{} envelopes, {stats:?}",
            envelopes.len()
        );
        for mut peer in peers {
            peer.hang_up().await.expect("hang up");
            let closed = peer.closed().await.expect("closed after the hang-up");
            for m in &closed.messages {
                assert_eq!(m.message_type, MessageType::NOTIFY_URI, "relayed {m:?}");
            }
        }
    });
}

#[cfg(test)]
#[test]
fn envelope_records_are_cut_to_what_is_left() {
    assert_eq!(
        envelopes(&[0, 2, 1, 2, 0, 9, 3]),
        vec![&[1u8, 2][..], &[3][..]]
    );
    assert!(envelopes(&[7]).is_empty());
}
