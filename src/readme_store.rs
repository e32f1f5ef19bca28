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

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(store: &Store, t: MessageType, key: &str, value: &str) -> (MessageType, String) {
        let reply = store
            .handle(&Message::new(t, key.to_owned(), value.to_owned()))
            .unwrap();
        assert_eq!(&reply.uri()[..], key.as_bytes(), "replies carry the key");
        let content = String::from_utf8(reply.content().to_vec()).unwrap();
        (reply.message_type, content)
    }

    fn bytes(store: &Store) -> usize {
        crate::sync::lock(&store.0).bytes
    }

    #[test]
    fn create_read_update_delete_and_the_byte_count() {
        use MessageType as T;
        let s = Store::default();
        let ok = |text: &str| (T::OK, text.to_owned());
        assert_eq!(
            ask(&s, T::REQUEST_URI, "k", ""),
            (T::NOT_FOUND, "not found".to_owned())
        );
        assert_eq!(
            ask(&s, T::UPDATE_URI, "k", "v"),
            (T::NOT_FOUND, "not found".to_owned())
        );
        assert_eq!(
            ask(&s, T::DELETE_URI, "k", ""),
            (T::NOT_FOUND, "not found".to_owned())
        );
        assert_eq!(ask(&s, T::CREATE_URI, "k", "vvv"), ok("stored"));
        assert_eq!(bytes(&s), 4);
        assert_eq!(ask(&s, T::CREATE_URI, "k", "x").0, T::ERROR, "no overwrite");
        assert_eq!(
            ask(&s, T::REQUEST_URI, "k", ""),
            (T::RESPOND_URI, "vvv".to_owned())
        );
        assert_eq!(ask(&s, T::UPDATE_URI, "k", "vvvvv"), ok("stored"));
        assert_eq!(bytes(&s), 6);
        assert_eq!(ask(&s, T::REQUEST_URI, "k", "").1, "vvvvv");
        assert_eq!(ask(&s, T::CREATE_URI, "kk", "ab"), ok("stored"));
        assert_eq!(bytes(&s), 10);
        assert_eq!(ask(&s, T::DELETE_URI, "k", ""), ok("deleted"));
        assert_eq!(bytes(&s), 4);
        assert_eq!(ask(&s, T::REQUEST_URI, "k", "").0, T::NOT_FOUND);
        assert_eq!(ask(&s, T::REQUEST_URI, "kk", "").1, "ab");
        assert!(s.handle(&Message::new(T::PUBLISH_URI, "kk", "")).is_none());
        // Clones share the map.
        assert_eq!(ask(&s.clone(), T::REQUEST_URI, "kk", "").1, "ab");
    }

    #[test]
    fn the_store_is_full_past_its_bytes_exactly() {
        use MessageType as T;
        let s = Store::default();
        // A large value fits (the limit is 64 MiB, not a few KiB).
        let big = "x".repeat(2 * 1024 * 1024);
        assert_eq!(ask(&s, T::CREATE_URI, "big", &big).0, T::OK);
        assert_eq!(bytes(&s), 3 + big.len());
        assert_eq!(ask(&s, T::DELETE_URI, "big", "").0, T::OK);
        // Pretend the rest is taken: 3 bytes left.
        crate::sync::lock(&s.0).bytes = STORE_MAX_BYTES - 3;
        assert_eq!(ask(&s, T::CREATE_URI, "k", "vvv").1, "store full");
        assert_eq!(ask(&s, T::CREATE_URI, "k", "vv").1, "stored");
        assert_eq!(bytes(&s), STORE_MAX_BYTES);
        // Growing by one byte does not fit; the same size, or smaller, does.
        assert_eq!(ask(&s, T::UPDATE_URI, "k", "vvv").1, "store full");
        assert_eq!(ask(&s, T::REQUEST_URI, "k", "").1, "vv");
        assert_eq!(ask(&s, T::UPDATE_URI, "k", "ab").1, "stored");
        assert_eq!(ask(&s, T::UPDATE_URI, "k", "a").1, "stored");
        assert_eq!(bytes(&s), STORE_MAX_BYTES - 1);
    }
}
