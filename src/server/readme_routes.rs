//! The route contract `framewire serve` implements: netaio's readme example
//! server (echo, an in-memory key-value store, subscribe / publish /
//! broadcast), so netaio clients work against it unchanged. Built only from
//! the public API of this module's siblings, as an application would.
//! Every handler is a [`SyncHandler`](super::SyncHandler): none waits.

use crate::readme_store::Store;
use crate::wire::{Message, MessageType};

use super::{Context, ServerBuilder};

pub use crate::readme_store::STORE_MAX_BYTES;

/// Adds netaio's readme route contract to `builder`, what `framewire
/// serve` runs: REQUEST_URI `echo` answers with the content; CREATE_URI,
/// REQUEST_URI, UPDATE_URI and DELETE_URI work an in-memory store keyed by
/// uri (OK `stored` / RESPOND_URI value / NOT_FOUND / ERROR `cannot
/// overwrite` or `store full` past [`STORE_MAX_BYTES`]); SUBSCRIBE_URI and
/// UNSUBSCRIBE_URI as [`ServerBuilder::subscriptions`]; PUBLISH_URI
/// `pub/<topic>` notifies the topic's subscribers and `broadcast` every
/// connection (OK `published` / `broadcast`).
///
/// ```
/// use framewire::server::{readme_routes, Server};
///
/// let server = readme_routes(Server::builder()).build();
/// # drop(server);
/// ```
pub fn readme_routes(builder: ServerBuilder) -> ServerBuilder {
    let store = Store::default();
    let mut builder = builder.on_sync(
        (MessageType::REQUEST_URI, "echo"),
        |m: Message, _c: &Context| Message::respond("echo", m.content().clone()),
    );
    for t in [
        MessageType::CREATE_URI,
        MessageType::REQUEST_URI,
        MessageType::UPDATE_URI,
        MessageType::DELETE_URI,
    ] {
        let store = store.clone();
        builder = builder.on_sync(t, move |m: Message, _c: &Context| store.handle(&m));
    }
    builder
        .subscriptions()
        .on_sync(MessageType::PUBLISH_URI, |m: Message, ctx: &Context| {
            let uri = m.uri().clone();
            let sent = if &uri[..] == b"broadcast" {
                let note = Message::new(MessageType::NOTIFY_URI, "broadcast", m.content().clone());
                ctx.server().broadcast(note).map(|_| "broadcast")
            } else if let Some(topic) = uri.strip_prefix(b"pub/") {
                let topic = uri.slice_ref(topic);
                let note =
                    Message::new(MessageType::NOTIFY_URI, topic.clone(), m.content().clone());
                ctx.server().notify(&topic, note).map(|_| "published")
            } else {
                return Ok(Message::not_found(uri));
            };
            sent.map(|text| Message::ok(uri, text))
                .map_err(|e| e.to_string())
        })
}
