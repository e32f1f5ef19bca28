//! netaio's peer management on the server (`ServerBuilder::peers`): the
//! three handlers `manage_peers_automatically` registers, keyed by
//! (type, app id), over the bounded table of `crate::peer`.
//!
//! - ADVERTISE_PEER: the peer is added (or refreshed) and answered with
//!   this server's PEER_DISCOVERED;
//! - PEER_DISCOVERED: the peer is added, no answer;
//! - DISCONNECT: the peer is forgotten and its connection's subscriptions
//!   dropped, no answer.
//!
//! Unlike netaio, a connection holds one peer and its id is its own:
//!
//! - a connection's new announcement replaces its previous peer (netaio
//!   adds one entry per id announced, so one connection could fill the
//!   table);
//! - an id announced on one connection belongs to it until it closes (or
//!   says DISCONNECT): the same id announced on another connection is
//!   refused, and a DISCONNECT naming another connection's id drops the
//!   sender's own subscriptions, never someone else's entry;
//! - a peer is forgotten when its connection closes, so the table only
//!   holds peers that are there.
//!
//! Announcements that are not `(bytes, bytes)`, repeat our own id, name
//! an id another connection holds, or would overflow the table
//! ([`Limits::max_peer_bytes`](super::Limits::max_peer_bytes),
//! [`Limits::max_peer_entry_bytes`](super::Limits::max_peer_entry_bytes),
//! the count of [`LocalPeer::with_max_peers`](crate::peer::LocalPeer::with_max_peers))
//! are ignored without an answer, as netaio ignores what it cannot unpack.
//! With permissions on the connection's identity, the three messages are
//! checked, before they get here, like a request for the app id.

use std::sync::Arc;

use crate::wire::{Message, MessageType};

use super::{Context, ServerBuilder};

pub(crate) use crate::peer::Peers;

/// Registers the three handlers on `builder` for `peers`' app id.
pub(super) fn register(builder: ServerBuilder, peers: Arc<Peers>) -> ServerBuilder {
    let app_id = peers.local().app_id().clone();
    let (advertised, discovered, leaving) = (peers.clone(), peers.clone(), peers);
    builder
        .on_sync(
            (MessageType::ADVERTISE_PEER, app_id.clone()),
            move |msg: Message, ctx: &Context| {
                advertised
                    .learn(msg.content(), ctx.peer())
                    .then(|| advertised.local().message(MessageType::PEER_DISCOVERED))
            },
        )
        .on_sync(
            (MessageType::PEER_DISCOVERED, app_id.clone()),
            move |msg: Message, ctx: &Context| {
                discovered.learn(msg.content(), ctx.peer());
            },
        )
        .on_sync(
            (MessageType::DISCONNECT, app_id),
            move |msg: Message, ctx: &Context| {
                if let Some((id, _)) = crate::peer::parse(msg.content()) {
                    leaving.remove_from(&id, ctx.peer());
                    ctx.server().unsubscribe_all(ctx.id());
                }
            },
        )
}
