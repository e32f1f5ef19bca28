//! netaio's peer management on the server (`ServerBuilder::peers`): the
//! three handlers `manage_peers_automatically` registers, keyed by
//! (type, app id), over the bounded table of `crate::peer`.
//!
//! - ADVERTISE_PEER: the peer is added (or refreshed) and answered with
//!   this server's PEER_DISCOVERED;
//! - PEER_DISCOVERED: the peer is added, no answer;
//! - DISCONNECT: the peer is forgotten and its connection's subscriptions
//!   dropped, no answer. Unlike netaio, only a peer heard on this very
//!   connection is forgotten: a DISCONNECT naming another peer's id drops
//!   the sender's own subscriptions, never someone else's entry.
//!
//! Announcements that are not `(bytes, bytes)`, repeat our own id, or
//! would overflow the table are ignored without an answer, as netaio
//! ignores what it cannot unpack. Unlike netaio, a peer is also forgotten
//! when the connection it was heard on closes, so the table only holds
//! peers that are there.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::peer::{parse, LocalPeer, Peer, PeerTable};
use crate::sync::lock;
use crate::wire::{Message, MessageType};

use super::{Context, ServerBuilder};

/// This server's identity and the peers it knows.
pub(crate) struct Peers {
    local: LocalPeer,
    table: Mutex<PeerTable>,
}

impl Peers {
    pub(crate) fn new(local: LocalPeer) -> Self {
        let table = Mutex::new(PeerTable::new(local.max_peers()));
        Peers { local, table }
    }

    pub(crate) fn local(&self) -> &LocalPeer {
        &self.local
    }

    pub(crate) fn all(&self) -> Vec<Peer> {
        lock(&self.table).all()
    }

    pub(crate) fn get(&self, id: &[u8]) -> Option<Peer> {
        lock(&self.table).get(id)
    }

    pub(crate) fn remove(&self, id: &[u8]) -> Option<Peer> {
        lock(&self.table).remove(id)
    }

    /// Forgets `id` if it was heard from `addr`.
    fn remove_from(&self, id: &[u8], addr: SocketAddr) -> bool {
        let mut table = lock(&self.table);
        let theirs = table.get(id).is_some_and(|p| p.addr == addr);
        theirs && table.remove(id).is_some()
    }

    /// A connection closed: its peers are gone.
    pub(crate) fn connection_closed(&self, addr: SocketAddr) {
        lock(&self.table).remove_at(addr);
    }

    /// Adds or refreshes the announced peer; whether it was taken.
    fn learn(&self, msg: &Message, ctx: &Context) -> bool {
        let Some((id, Some(data))) = parse(msg.content()) else {
            tracing::debug!("peer announcement is not (id, data): ignored");
            return false;
        };
        if id == self.local.id() {
            return false;
        }
        let taken = lock(&self.table).upsert(id, data, ctx.peer(), Instant::now());
        if !taken {
            tracing::debug!("peer refused: table full or entry too large");
        }
        taken
    }
}

/// Registers the three handlers on `builder` for `peers`' app id.
pub(super) fn register(builder: ServerBuilder, peers: std::sync::Arc<Peers>) -> ServerBuilder {
    let app_id = peers.local.app_id().clone();
    let (advertised, discovered, leaving) = (peers.clone(), peers.clone(), peers);
    builder
        .on_sync(
            (MessageType::ADVERTISE_PEER, app_id.clone()),
            move |msg: Message, ctx: &Context| {
                advertised
                    .learn(&msg, ctx)
                    .then(|| advertised.local.message(MessageType::PEER_DISCOVERED))
            },
        )
        .on_sync(
            (MessageType::PEER_DISCOVERED, app_id.clone()),
            move |msg: Message, ctx: &Context| {
                discovered.learn(&msg, ctx);
            },
        )
        .on_sync(
            (MessageType::DISCONNECT, app_id),
            move |msg: Message, ctx: &Context| {
                if let Some((id, _)) = parse(msg.content()) {
                    leaving.remove_from(&id, ctx.peer());
                    ctx.server().unsubscribe_all(ctx.id());
                }
            },
        )
}
