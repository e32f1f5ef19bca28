//! Key-value stores: what `framewire serve`'s readme routes (netaio's
//! readme example) keep, as a trait with two implementations.
//!
//! - [`MemoryStore`]: in this process, the default; gone when it exits.
//! - [`RedisStore`] (feature `redis`): in Redis, shared by every instance
//!   of a service and kept while instances die and restart (as long as
//!   Redis keeps it: its persistence is Redis's configuration). `framewire
//!   serve --backplane redis://…` uses it, under the backplane's channel
//!   name and sealed with its cluster key.
//!
//! Both keep the same limits (bytes of keys and values, number of keys)
//! and give the same answers, so a client cannot tell them apart; what a
//! message becomes is decided once, here
//! ([`readme_routes_with`](crate::server::readme_routes_with) and the
//! node's routes share it).
//!
//! ```
//! use bytes::Bytes;
//! use framewire::store::{KvStore, MemoryStore};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let store = MemoryStore::new();
//! store.create(Bytes::from("k"), Bytes::from("v")).await.unwrap();
//! let again = store.create(Bytes::from("k"), Bytes::from("w")).await.unwrap_err();
//! assert!(again.is_exists());
//! assert_eq!(store.get(Bytes::from("k")).await.unwrap(), "v");
//! # }
//! ```

use std::sync::Arc;

use bytes::Bytes;

use crate::handler::BoxFuture;
use crate::wire::{Message, MessageType};

mod memory;
#[cfg(feature = "redis")]
mod redis;

pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::RedisStore;

/// The default limit of a store: bytes of keys and values together. New
/// keys and growing values past it are refused ("store full"), so peers
/// cannot exhaust the memory of the process (or of Redis).
pub const STORE_MAX_BYTES: usize = 64 * 1024 * 1024;

/// The default limit of a store: how many keys. Each key costs more than
/// its bytes (a map entry, two allocations; in Redis, a key object), so
/// a flood of tiny keys is bounded by count as well as by bytes.
pub const STORE_MAX_KEYS: usize = 256 * 1024;

/// A key-value store with netaio's readme semantics: create never
/// overwrites, update and delete need the key, every operation is atomic.
/// Implement it to keep the readme routes' data elsewhere.
pub trait KvStore: Send + Sync + 'static {
    /// Stores `value` under a new `key`: [`StoreError::Exists`] if it is
    /// there, [`StoreError::Full`] past the limits.
    fn create(&self, key: Bytes, value: Bytes) -> BoxFuture<Result<(), StoreError>>;
    /// The value under `key`, or [`StoreError::NotFound`].
    fn get(&self, key: Bytes) -> BoxFuture<Result<Bytes, StoreError>>;
    /// Replaces the value under an existing `key`:
    /// [`StoreError::NotFound`], or [`StoreError::Full`] if the larger
    /// value does not fit.
    fn update(&self, key: Bytes, value: Bytes) -> BoxFuture<Result<(), StoreError>>;
    /// Removes `key`, or [`StoreError::NotFound`].
    fn delete(&self, key: Bytes) -> BoxFuture<Result<(), StoreError>>;
}

/// Why a store operation failed; each becomes its readme reply (see
/// [`StoreError::reply_type`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Create of a key that exists (netaio: ERROR `cannot overwrite`).
    #[error("cannot overwrite")]
    Exists,
    /// No such key (NOT_FOUND).
    #[error("not found")]
    NotFound,
    /// Past the store's bytes or keys (ERROR `store full`).
    #[error("store full")]
    Full,
    /// The store could not be reached or failed (ERROR `store
    /// unavailable`; the cause stays in the server's log, not the reply).
    #[error("store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored value the store could not have written: its seal does not
    /// verify (written by someone without the cluster key, or moved from
    /// another key), or it is larger than the store's limit (ERROR `store
    /// value failed authentication`).
    #[error("store value failed authentication")]
    Tampered,
}

crate::predicates::predicates!(StoreError {
    /// [`StoreError::Exists`].
    is_exists => StoreError::Exists,
    /// [`StoreError::NotFound`].
    is_not_found => StoreError::NotFound,
    /// [`StoreError::Full`].
    is_full => StoreError::Full,
    /// [`StoreError::Unavailable`].
    is_unavailable => StoreError::Unavailable(_),
    /// [`StoreError::Tampered`].
    is_tampered => StoreError::Tampered,
});

impl StoreError {
    /// The reply type a client is answered with: NOT_FOUND for
    /// [`NotFound`](Self::NotFound), ERROR otherwise.
    pub fn reply_type(&self) -> MessageType {
        match self {
            StoreError::NotFound => MessageType::NOT_FOUND,
            _ => MessageType::ERROR,
        }
    }
}

/// What a message asks of a store, by its type; the key is its uri.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Get,
    Update,
    Delete,
}

impl Op {
    fn of(m: &Message) -> Option<Op> {
        Some(match m.message_type {
            MessageType::CREATE_URI => Op::Create,
            MessageType::REQUEST_URI => Op::Get,
            MessageType::UPDATE_URI => Op::Update,
            MessageType::DELETE_URI => Op::Delete,
            _ => return None,
        })
    }
}

/// What a store operation that succeeded answers.
enum Done {
    Stored,
    Value(Bytes),
    Deleted,
}

/// The readme reply, carrying the key as its uri: OK `stored` /
/// RESPOND_URI value / OK `deleted`, or the error's (NOT_FOUND, ERROR
/// with its text).
fn reply(uri: Bytes, done: Result<Done, StoreError>) -> Message {
    let reply = match done {
        Ok(Done::Stored) => Message::ok("", "stored"),
        Ok(Done::Value(v)) => Message::respond("", v),
        Ok(Done::Deleted) => Message::ok("", "deleted"),
        Err(e) => {
            if e.is_unavailable() {
                tracing::warn!(error = %ErrorChain(&e), "key-value store");
            }
            // The type from the error, not from its text (which
            // `Message::error` would read "auth" in).
            Message::new(e.reply_type(), "", e.to_string())
        }
    };
    reply.with_uri(uri)
}

/// An error and its sources on one line, for the log.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

/// The reply to a CREATE_URI, REQUEST_URI, UPDATE_URI or DELETE_URI
/// keyed by its uri, from any store; `None` for any other type.
pub(crate) fn handle(store: &Arc<dyn KvStore>, m: &Message) -> Option<BoxFuture<Message>> {
    let op = Op::of(m)?;
    // A store may keep them past the handler call: copies, so a few bytes
    // do not pin the frame (or read buffer) they came in.
    let key = Bytes::copy_from_slice(m.uri());
    let uri = key.clone();
    let value = match op {
        Op::Create | Op::Update => Bytes::copy_from_slice(m.content()),
        Op::Get | Op::Delete => Bytes::new(),
    };
    let store = store.clone();
    Some(Box::pin(async move {
        let done = match op {
            Op::Create => store.create(key, value).await.map(|()| Done::Stored),
            Op::Get => store.get(key).await.map(Done::Value),
            Op::Update => store.update(key, value).await.map(|()| Done::Stored),
            Op::Delete => store.delete(key).await.map(|()| Done::Deleted),
        };
        reply(uri, done)
    }))
}

#[cfg(test)]
mod tests;
