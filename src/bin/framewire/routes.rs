//! The route contract `framewire serve` implements: netaio's readme example
//! server (echo, an in-memory key-value store, subscribe / publish /
//! broadcast), so netaio clients work against it unchanged. Built only from
//! framewire's public API; `examples/kv_pubsub.rs` runs it on its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use framewire::server::{Builder, Context};
use framewire::{Message, MessageType};

/// The store refuses new keys past this many bytes, so clients cannot
/// exhaust the server's memory.
const STORE_MAX_BYTES: usize = 64 * 1024 * 1024;

#[derive(Default)]
struct Store {
    map: HashMap<Bytes, Bytes>,
    bytes: usize,
}

type Shared = Arc<Mutex<Store>>;

fn lock(store: &Shared) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

/// Adds the contract's routes to `builder`.
pub fn routes(builder: Builder) -> Builder {
    let store = Shared::default();
    let (create, read, update, delete) = (store.clone(), store.clone(), store.clone(), store);
    builder
        .on(
            (MessageType::REQUEST_URI, "echo"),
            |m: Message, _c: Context| async move { Message::respond("echo", m.content().clone()) },
        )
        .on(MessageType::CREATE_URI, move |m: Message, _c: Context| {
            let reply = {
                let mut st = lock(&create);
                let size = m.uri().len() + m.content().len();
                if st.map.contains_key(m.uri()) {
                    Message::error("cannot overwrite")
                } else if st.bytes + size > STORE_MAX_BYTES {
                    Message::error("store full")
                } else {
                    st.bytes += size;
                    st.map.insert(m.uri().clone(), m.content().clone());
                    Message::ok("", "stored")
                }
            };
            std::future::ready(reply.with_uri(m.uri().clone()))
        })
        .on(MessageType::REQUEST_URI, move |m: Message, _c: Context| {
            let reply = match lock(&read).map.get(m.uri()) {
                Some(v) => Message::respond(m.uri().clone(), v.clone()),
                None => Message::not_found(m.uri().clone()),
            };
            std::future::ready(reply)
        })
        .on(MessageType::UPDATE_URI, move |m: Message, _c: Context| {
            let mut st = lock(&update);
            let reply = match st.map.get(m.uri()).map(|v| v.len()) {
                Some(old) if st.bytes - old + m.content().len() > STORE_MAX_BYTES => {
                    Message::error("store full").with_uri(m.uri().clone())
                }
                Some(old) => {
                    st.bytes = st.bytes - old + m.content().len();
                    st.map.insert(m.uri().clone(), m.content().clone());
                    Message::ok(m.uri().clone(), "stored")
                }
                None => Message::not_found(m.uri().clone()),
            };
            std::future::ready(reply)
        })
        .on(MessageType::DELETE_URI, move |m: Message, _c: Context| {
            let mut st = lock(&delete);
            let reply = match st.map.remove(m.uri()) {
                Some(v) => {
                    st.bytes -= m.uri().len() + v.len();
                    Message::ok(m.uri().clone(), "deleted")
                }
                None => Message::not_found(m.uri().clone()),
            };
            std::future::ready(reply)
        })
        .subscriptions()
        .on(
            MessageType::PUBLISH_URI,
            |m: Message, ctx: Context| async move {
                let uri = m.uri().clone();
                let sent = if &uri[..] == b"broadcast" {
                    let note =
                        Message::new(MessageType::NOTIFY_URI, "broadcast", m.content().clone());
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
            },
        )
}
