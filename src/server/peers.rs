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
