//! [`MemoryStore`]: the store in this process, behind one mutex (every
//! operation is a map lookup; none waits while holding it).

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::handler::BoxFuture;
use crate::random::HashMap;
use crate::wire::Message;

use super::{reply, Done, KvStore, Op, StoreError, STORE_MAX_BYTES, STORE_MAX_KEYS};

#[derive(Default)]
struct Map {
    map: HashMap<Bytes, Bytes>,
    /// Bytes of keys and values.
    bytes: usize,
}

/// A store in this process's memory; clones share the same map. What
/// `framewire serve` keeps without `--backplane`, and `framewire node`.
///
/// ```
/// use framewire::store::MemoryStore;
///
/// let store = MemoryStore::new().max_bytes(1024).max_keys(10);
/// # drop(store);
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    map: Arc<Mutex<Map>>,
    max_bytes: usize,
    max_keys: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            map: Arc::default(),
            max_bytes: STORE_MAX_BYTES,
            max_keys: STORE_MAX_KEYS,
        }
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (keys, bytes) = self.usage();
        f.debug_struct("MemoryStore")
            .field("keys", &keys)
            .field("bytes", &bytes)
            .field("max_keys", &self.max_keys)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl MemoryStore {
    /// An empty store with the default limits ([`STORE_MAX_BYTES`],
    /// [`STORE_MAX_KEYS`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// The most bytes of keys and values it keeps.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The most keys it keeps.
    pub fn max_keys(mut self, keys: usize) -> Self {
        self.max_keys = keys;
        self
    }

    /// How many keys it holds, and their bytes with their values'.
    pub fn usage(&self) -> (usize, usize) {
        let st = crate::sync::lock(&self.map);
        (st.map.len(), st.bytes)
    }

    pub(super) fn create_now(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let mut st = crate::sync::lock(&self.map);
        if st.map.contains_key(key) {
            return Err(StoreError::Exists);
        }
        let size = key.len().saturating_add(value.len());
        if st.map.len() >= self.max_keys || st.bytes.saturating_add(size) > self.max_bytes {
            return Err(StoreError::Full);
        }
        st.bytes += size;
        // Kept indefinitely: copies, so a few stored bytes do not pin the
        // whole frame (or read buffer) they came in.
        st.map
            .insert(Bytes::copy_from_slice(key), Bytes::copy_from_slice(value));
        Ok(())
    }

    pub(super) fn get_now(&self, key: &[u8]) -> Result<Bytes, StoreError> {
        let st = crate::sync::lock(&self.map);
        st.map.get(key).cloned().ok_or(StoreError::NotFound)
    }

    fn update_now(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let mut st = crate::sync::lock(&self.map);
        let Map { map, bytes } = &mut *st;
        let slot = map.get_mut(key).ok_or(StoreError::NotFound)?;
        // `bytes` counts the old value, so this cannot underflow.
        let after = *bytes - slot.len() + value.len();
        if after > self.max_bytes {
            return Err(StoreError::Full);
        }
        *bytes = after;
        *slot = Bytes::copy_from_slice(value);
        Ok(())
    }

    fn delete_now(&self, key: &[u8]) -> Result<(), StoreError> {
        let mut st = crate::sync::lock(&self.map);
        let old = st.map.remove(key).ok_or(StoreError::NotFound)?;
        st.bytes -= key.len() + old.len();
        Ok(())
    }

    /// The reply to a store message, at once (the readme routes' sync
    /// handlers); `None` for any other type.
    pub(crate) fn handle(&self, m: &Message) -> Option<Message> {
        let (key, value) = (&m.uri()[..], &m.content()[..]);
        let done = match Op::of(m)? {
            Op::Create => self.create_now(key, value).map(|()| Done::Stored),
            Op::Get => self.get_now(key).map(Done::Value),
            Op::Update => self.update_now(key, value).map(|()| Done::Stored),
            Op::Delete => self.delete_now(key).map(|()| Done::Deleted),
        };
        Some(reply(m.uri().clone(), done))
    }
}

/// The same operations as futures that are ready at once.
impl KvStore for MemoryStore {
    fn create(&self, key: Bytes, value: Bytes) -> BoxFuture<Result<(), StoreError>> {
        Box::pin(std::future::ready(self.create_now(&key, &value)))
    }

    fn get(&self, key: Bytes) -> BoxFuture<Result<Bytes, StoreError>> {
        Box::pin(std::future::ready(self.get_now(&key)))
    }

    fn update(&self, key: Bytes, value: Bytes) -> BoxFuture<Result<(), StoreError>> {
        Box::pin(std::future::ready(self.update_now(&key, &value)))
    }

    fn delete(&self, key: Bytes) -> BoxFuture<Result<(), StoreError>> {
        Box::pin(std::future::ready(self.delete_now(&key)))
    }
}
