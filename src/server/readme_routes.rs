//! The route contract `framewire serve` implements: netaio's readme example
//! server (echo, an in-memory key-value store, subscribe / publish /
//! broadcast), so netaio clients work against it unchanged. Built only from
//! the public API of this module's siblings, as an application would.
//! Every handler is a [`SyncHandler`](super::SyncHandler): none waits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::wire::{Message, MessageType};

use super::{Context, ServerBuilder};

/// The store refuses new keys past this many bytes of keys and values, so
/// clients cannot exhaust the server's memory.
pub const STORE_MAX_BYTES: usize = 64 * 1024 * 1024;

#[derive(Default)]
struct Store {
    map: HashMap<Bytes, Bytes>,
    bytes: usize,
}

type Shared = Arc<Mutex<Store>>;

/// An exact-size copy (see [`Message::detach`]).
fn owned(b: &Bytes) -> Bytes {
    Bytes::copy_from_slice(b)
}

fn lock(store: &Shared) -> std::sync::MutexGuard<'_, Store> {
    crate::sync::lock(store)
}

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
    let store = Shared::default();
    let (create, read, update, delete) = (store.clone(), store.clone(), store.clone(), store);
    builder
        .on_sync(
            (MessageType::REQUEST_URI, "echo"),
            |m: Message, _c: &Context| Message::respond("echo", m.content().clone()),
        )
        .on_sync(MessageType::CREATE_URI, move |m: Message, _c: &Context| {
            let reply = {
                let mut st = lock(&create);
                let size = m.uri().len() + m.content().len();
                if st.map.contains_key(m.uri()) {
                    Message::error("cannot overwrite")
                } else if st.bytes + size > STORE_MAX_BYTES {
                    Message::error("store full")
                } else {
                    st.bytes += size;
                    // Kept indefinitely: copies, so a few stored bytes do
                    // not pin the whole frame (or read buffer) they came in.
                    let (key, value) = (owned(m.uri()), owned(m.content()));
                    st.map.insert(key, value);
                    Message::ok("", "stored")
                }
            };
            reply.with_uri(m.uri().clone())
        })
        .on_sync(MessageType::REQUEST_URI, move |m: Message, _c: &Context| {
            let reply = match lock(&read).map.get(m.uri()) {
                Some(v) => Message::respond(m.uri().clone(), v.clone()),
                None => Message::not_found(m.uri().clone()),
            };
            reply
        })
        .on_sync(MessageType::UPDATE_URI, move |m: Message, _c: &Context| {
            let mut st = lock(&update);
            let reply = match st.map.get(m.uri()).map(|v| v.len()) {
                Some(old) if st.bytes - old + m.content().len() > STORE_MAX_BYTES => {
                    Message::error("store full").with_uri(m.uri().clone())
                }
                Some(old) => {
                    st.bytes = st.bytes - old + m.content().len();
                    st.map.insert(owned(m.uri()), owned(m.content()));
                    Message::ok(m.uri().clone(), "stored")
                }
                None => Message::not_found(m.uri().clone()),
            };
            reply
        })
        .on_sync(MessageType::DELETE_URI, move |m: Message, _c: &Context| {
            let mut st = lock(&delete);
            let reply = match st.map.remove(m.uri()) {
                Some(v) => {
                    st.bytes -= m.uri().len() + v.len();
                    Message::ok(m.uri().clone(), "deleted")
                }
                None => Message::not_found(m.uri().clone()),
            };
            reply
        })
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
