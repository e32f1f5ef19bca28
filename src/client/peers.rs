//! netaio's peer management on the client (`ClientBuilder::peer`): the
//! client advertises itself on every connection and says DISCONNECT on
//! `close()`; what servers announce (PEER_DISCOVERED, ADVERTISE_PEER,
//! DISCONNECT, keyed by the app id) fills a bounded table, as netaio's
//! TCPClient does after `manage_peers_automatically`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::peer::{parse, LocalPeer, Peer, PeerTable};
use crate::sync::lock;
use crate::wire::{Message, MessageType};

use super::{Client, ClientBuilder};

/// This client's identity and the peers it learned of.
pub(crate) struct Peers {
    pub(crate) local: LocalPeer,
    table: Mutex<PeerTable>,
}

impl Peers {
    pub(crate) fn all(&self) -> Vec<Peer> {
        lock(&self.table).all()
    }

    /// Adds the announced peer (heard from the server `client` is on now);
    /// whether it was taken.
    fn learn(&self, msg: &Message, client: &Client) -> bool {
        let (Some((id, Some(data))), Some(addr)) = (parse(msg.content()), client.peer_addr())
        else {
            return false;
        };
        id != self.local.id() && lock(&self.table).upsert(id, data, addr, Instant::now())
    }
}

/// Sets up `builder` to manage peers as `local`.
pub(super) fn register(builder: ClientBuilder, local: LocalPeer) -> (ClientBuilder, Arc<Peers>) {
    let table = Mutex::new(PeerTable::new(local.max_peers()));
    let peers = Arc::new(Peers { local, table });
    let app_id = peers.local.app_id().clone();
    let (advertised, discovered, leaving) = (peers.clone(), peers.clone(), peers.clone());
    let builder = builder
        .on(
            (MessageType::ADVERTISE_PEER, app_id.clone()),
            move |msg: Message, client: Client| {
                // A netaio server that starts managing peers advertises to
                // the clients it has: answered as netaio's client does.
                let reply = advertised
                    .learn(&msg, &client)
                    .then(|| advertised.local.message(MessageType::PEER_DISCOVERED));
                std::future::ready(reply)
            },
        )
        .on(
            (MessageType::PEER_DISCOVERED, app_id.clone()),
            move |msg: Message, client: Client| {
                discovered.learn(&msg, &client);
                std::future::ready(())
            },
        )
        .on(
            (MessageType::DISCONNECT, app_id),
            move |msg: Message, _client: Client| {
                if let Some((id, _)) = parse(msg.content()) {
                    lock(&leaving.table).remove(&id);
                }
                std::future::ready(())
            },
        );
    (builder, peers)
}
