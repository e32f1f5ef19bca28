//! The route contract `framewire serve` implements: netaio's readme example
//! server (echo, an in-memory key-value store, subscribe / publish /
//! broadcast), so netaio clients work against it unchanged. Built only from
//! the public API of this module's siblings, as an application would.
//! With the in-memory store every handler is a
//! [`SyncHandler`](super::SyncHandler): none waits. With another store
//! ([`readme_routes_with`]) its four routes wait for it.

use std::sync::Arc;

use crate::store::{KvStore, MemoryStore};
use crate::wire::{Message, MessageType};

use super::{Context, ServerBuilder};

pub use crate::store::STORE_MAX_BYTES;

/// Adds netaio's readme route contract to `builder`, what `framewire
/// serve` runs: REQUEST_URI `echo` answers with the content; CREATE_URI,
/// REQUEST_URI, UPDATE_URI and DELETE_URI work an in-memory store keyed by
/// uri ([`MemoryStore`]: OK `stored` / RESPOND_URI value / NOT_FOUND /
/// ERROR `cannot overwrite` or `store full` past [`STORE_MAX_BYTES`] or
/// [`STORE_MAX_KEYS`](crate::store::STORE_MAX_KEYS)); SUBSCRIBE_URI and
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
    let store = MemoryStore::default();
    let mut builder = builder;
    for t in STORE_TYPES {
        let store = store.clone();
        builder = builder.on_sync(t, move |m: Message, _c: &Context| store.handle(&m));
    }
    the_rest(builder)
}

/// [`readme_routes`] with the key-value store in `store`: a
/// [`RedisStore`](crate::store::RedisStore) makes every instance of a
/// service share it (what `framewire serve --backplane` does), your own
/// [`KvStore`] keeps it where you like. Same replies; a store that fails
/// answers ERROR `store unavailable`.
///
/// ```
/// use framewire::server::{readme_routes_with, Server};
/// use framewire::store::MemoryStore;
///
/// let store = MemoryStore::new().max_keys(1000);
/// let server = readme_routes_with(Server::builder(), store).build();
/// # drop(server);
/// ```
pub fn readme_routes_with(builder: ServerBuilder, store: impl KvStore) -> ServerBuilder {
    let store: Arc<dyn KvStore> = Arc::new(store);
    let mut builder = builder;
    for t in STORE_TYPES {
        let store = store.clone();
        builder = builder.on(t, move |m: Message| {
            let reply = crate::store::handle(&store, &m);
            async move {
                match reply {
                    Some(reply) => Some(reply.await),
                    None => None,
                }
            }
        });
    }
    the_rest(builder)
}

/// The message types the store answers, each keyed by uri.
const STORE_TYPES: [MessageType; 4] = [
    MessageType::CREATE_URI,
    MessageType::REQUEST_URI,
    MessageType::UPDATE_URI,
    MessageType::DELETE_URI,
];

/// Echo (its exact route wins over the store's REQUEST_URI), pub/sub.
fn the_rest(builder: ServerBuilder) -> ServerBuilder {
    builder
        .on_sync(
            (MessageType::REQUEST_URI, "echo"),
            |m: Message, _c: &Context| Message::respond("echo", m.content().clone()),
        )
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
