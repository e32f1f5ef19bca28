//! netaio's peer management on a UDP node (`manage_peers_automatically`):
//! the three handlers, keyed by (type, app id), over an evicting table;
//! the advertisement loop (to the group and the seeds, every
//! `advertise_every`, dropping peers silent for `peer_timeout`). Sending
//! an announcement (these, and the DISCONNECT a stopping node sends) is
//! `Shared::announce`'s, in `handle.rs`, which this file builds on.
//!
//! - ADVERTISE_PEER: the peer is added (or refreshed) at the datagram's
//!   source and answered with this node's PEER_DISCOVERED (through the
//!   guard: no larger than the advertisement for an unverified source);
//! - PEER_DISCOVERED: the peer is added, no answer;
//! - DISCONNECT: the peer is forgotten, with its address's
//!   subscriptions, if it was heard from that address, no answer.
//!
//! # What netaio's model allows, and what is held
//!
//! Announcements carry no proof of who sent them (an auth plugin proves
//! only that the sender knows the shared secret), and a datagram's source
//! address can be forged. So anyone who can reach the node can announce
//! any id with any data, from any address they can forge; a flood of
//! announcements from many forged sources evicts real peers (the table
//! makes room by dropping the one heard from least recently), and a
//! victim's id announced from elsewhere before the victim does is held by
//! the announcer. Ids are public (every announcement carries one).
//!
//! What holds, short of a forged source:
//!
//! - a source address holds one id: a new announcement from it replaces
//!   its previous one, so one address cannot fill the table;
//! - an id belongs to the address that announced it until it times out
//!   (`peer_timeout`), says DISCONNECT, or is evicted: the same id from
//!   another address is ignored, so it neither moves the peer (and its
//!   broadcasts) elsewhere nor lets the other address remove it;
//! - a DISCONNECT removes only the entry its source address holds.
//!
//! A node restarted on a new port announces a new random id, so holding
//! ids costs real peers nothing; one restarted with a fixed id at a new
//! address is ignored until its old entry times out.

use std::sync::{Arc, Weak};

use tokio_util::sync::CancellationToken;

use crate::peer::Peers;
use crate::wire::{Message, MessageType};

use super::handle::{now, Shared};
use super::{NodeBuilder, Origin};

/// Registers the three handlers on `builder` for `peers`' app id.
pub(super) fn register(builder: NodeBuilder, peers: Arc<Peers>) -> NodeBuilder {
    let app_id = peers.local().app_id().clone();
    let (advertised, discovered, leaving) = (peers.clone(), peers.clone(), peers);
    builder
        .on(
            (MessageType::ADVERTISE_PEER, app_id.clone()),
            move |msg: Message, from: Origin| {
                let learned = advertised.learn_at(msg.content(), from.addr(), now());
                let reply =
                    learned.then(|| advertised.local().message(MessageType::PEER_DISCOVERED));
                async move { reply }
            },
        )
        .on(
            (MessageType::PEER_DISCOVERED, app_id.clone()),
            move |msg: Message, from: Origin| {
                discovered.learn_at(msg.content(), from.addr(), now());
                async {}
            },
        )
        .on(
            (MessageType::DISCONNECT, app_id),
            move |msg: Message, from: Origin| {
                if let Some((id, _)) = crate::peer::parse(msg.content()) {
                    if leaving.remove_from(&id, from.addr()) {
                        from.node().shared.forget_subscriptions(from.addr());
                    }
                }
                async {}
            },
        )
}

/// Advertises every `advertise_every` and drops silent peers, until the
/// node stops (or is dropped).
pub(crate) async fn advertise(node: Weak<Shared>, stop: CancellationToken) {
    loop {
        let every = {
            let Some(shared) = node.upgrade() else {
                return;
            };
            expire(&shared);
            shared.announce(MessageType::ADVERTISE_PEER, false).await;
            shared
                .limits
                .advertise_every
                .max(std::time::Duration::from_millis(100))
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

fn expire(shared: &Shared) {
    let Some(peers) = &shared.peers else {
        return;
    };
    let Some(before) = now().checked_sub(shared.limits.peer_timeout) else {
        return;
    };
    for gone in peers.expire(before) {
        tracing::debug!(addr = %gone.addr, "peer timed out");
        shared.forget_subscriptions(gone.addr);
    }
}
