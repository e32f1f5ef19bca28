//! The in-memory key-value store of netaio's readme example, as a plain
//! function of a message: what `framewire serve`'s and `framewire node`'s
//! route contracts (`server::readme_routes`, `node::readme_routes`) both
//! run. It knows messages, not connections or datagrams.

use crate::random::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::wire::{Message, MessageType};

/// The store refuses new keys past this many bytes of keys and values, so
/// peers cannot exhaust the process's memory.
pub const STORE_MAX_BYTES: usize = 64 * 1024 * 1024;

#[derive(Default)]
struct Map {
    map: HashMap<Bytes, Bytes>,
    bytes: usize,
}

/// A shared store; clones share the same map.
#[derive(Clone, Default)]
pub(crate) struct Store(Arc<Mutex<Map>>);

/// An exact-size copy (see [`Message::detach`]).
fn owned(b: &Bytes) -> Bytes {
    Bytes::copy_from_slice(b)
}

impl Store {
    /// The reply to a CREATE_URI, REQUEST_URI, UPDATE_URI or DELETE_URI
    /// keyed by its uri: OK `stored` / RESPOND_URI value / OK `deleted` /
    /// NOT_FOUND / ERROR `cannot overwrite` or `store full`. `None` for
    /// any other type.
    pub(crate) fn handle(&self, m: &Message) -> Option<Message> {
        let uri = m.uri();
        let mut st = crate::sync::lock(&self.0);
        let reply = match m.message_type {
            MessageType::CREATE_URI => {
                let size = uri.len() + m.content().len();
                if st.map.contains_key(uri) {
                    Message::error("cannot overwrite")
                } else if st.bytes + size > STORE_MAX_BYTES {
                    Message::error("store full")
                } else {
                    st.bytes += size;
                    // Kept indefinitely: copies, so a few stored bytes do
                    // not pin the whole frame (or read buffer) they came in.
                    st.map.insert(owned(uri), owned(m.content()));
                    Message::ok("", "stored")
                }
            }
            MessageType::REQUEST_URI => match st.map.get(uri) {
                Some(v) => Message::respond("", v.clone()),
                None => Message::not_found(""),
            },
            MessageType::UPDATE_URI => match st.map.get(uri).map(|v| v.len()) {
                Some(old) if st.bytes - old + m.content().len() > STORE_MAX_BYTES => {
                    Message::error("store full")
                }
                Some(old) => {
                    st.bytes = st.bytes - old + m.content().len();
                    st.map.insert(owned(uri), owned(m.content()));
                    Message::ok("", "stored")
                }
                None => Message::not_found(""),
            },
            MessageType::DELETE_URI => match st.map.remove(uri) {
                Some(v) => {
                    st.bytes -= uri.len() + v.len();
                    Message::ok("", "deleted")
                }
                None => Message::not_found(""),
            },
            _ => return None,
        };
        Some(reply.with_uri(uri.clone()))
    }
}
