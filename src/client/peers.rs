//! netaio's peer management on the client (`ClientBuilder::peer`): the
//! client advertises itself on every connection and says DISCONNECT on
//! `close()`; what servers announce (PEER_DISCOVERED, ADVERTISE_PEER,
//! DISCONNECT, keyed by the app id) fills a bounded table, as netaio's
//! TCPClient does after `manage_peers_automatically`.

use std::sync::Arc;

use crate::peer::{parse, LocalPeer};
use crate::wire::{Message, MessageType};

use super::{Client, ClientBuilder};

pub(crate) use crate::peer::Peers;

/// Adds the announced peer, heard from the server `client` is on now,
/// and keeps its data for the connection's per-peer ciphers.
fn learn(peers: &Peers, msg: &Message, client: &Client) -> bool {
    let Some(addr) = client.peer_addr() else {
        return false;
    };
    if !peers.learn(msg.content(), addr) {
        return false;
    }
    if let (Ok(current), Some(peer)) = (client.inner.current(), peers.at(addr)) {
        let _ = current.peer_data.set(peer.data);
    }
    true
}

/// Sets up `builder` to manage peers as `local`.
pub(super) fn register(builder: ClientBuilder, local: LocalPeer) -> (ClientBuilder, Arc<Peers>) {
    let peers = Arc::new(Peers::new(local));
    let app_id = peers.local().app_id().clone();
    let (advertised, discovered, leaving) = (peers.clone(), peers.clone(), peers.clone());
    let builder = builder
        .on(
            (MessageType::ADVERTISE_PEER, app_id.clone()),
            move |msg: Message, client: Client| {
                // A netaio server that starts managing peers advertises to
                // the clients it has: answered as netaio's client does.
                let reply = learn(&advertised, &msg, &client)
                    .then(|| advertised.local().message(MessageType::PEER_DISCOVERED));
                std::future::ready(reply)
            },
        )
        .on(
            (MessageType::PEER_DISCOVERED, app_id.clone()),
            move |msg: Message, client: Client| {
                learn(&discovered, &msg, &client);
                std::future::ready(())
            },
        )
        .on(
            (MessageType::DISCONNECT, app_id),
            move |msg: Message, _client: Client| {
                if let Some((id, _)) = parse(msg.content()) {
                    leaving.remove(&id);
                }
                std::future::ready(())
            },
        );
    (builder, peers)
}
