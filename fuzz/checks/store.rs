//! `store_ops`: the key-value store a peer drives through the readme
//! routes (`MemoryStore`, what `framewire serve` keeps), under arbitrary
//! operations, checked against a model: the same answer to every
//! operation, limits never exceeded, the byte count exact.
//!
//! Input: two bytes of limits (keys 1..=8, bytes 0..=79), then operations
//! of `op, key length, value length, key, value` (lengths taken modulo 4
//! and 24, keys from a small alphabet so operations meet on keys).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use framewire::store::{KvStore, MemoryStore, StoreError};

/// A memory store's futures are ready at once: one poll.
fn now<T>(f: impl Future<Output = T>) -> T {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a memory store operation waited"),
    }
}

/// What an operation answered, to compare with the model's.
#[derive(Debug, PartialEq)]
enum Answer {
    Done,
    Value(Vec<u8>),
    Exists,
    NotFound,
    Full,
}

fn answer(r: Result<Option<Bytes>, StoreError>) -> Answer {
    match r {
        Ok(None) => Answer::Done,
        Ok(Some(v)) => Answer::Value(v.to_vec()),
        Err(e) if e.is_exists() => Answer::Exists,
        Err(e) if e.is_not_found() => Answer::NotFound,
        Err(e) if e.is_full() => Answer::Full,
        Err(e) => panic!("a memory store failed otherwise: {e:?}"),
    }
}

pub fn check_store_ops(data: &[u8]) {
    super::assert_counting_allocator();
    let [keys, bytes, ref ops @ ..] = *data else {
        return;
    };
    let mut rest: &[u8] = ops;
    let (max_keys, max_bytes) = (1 + usize::from(keys % 8), usize::from(bytes % 80));
    let store = MemoryStore::new().max_keys(max_keys).max_bytes(max_bytes);
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut used = 0usize;
    while let [op, klen, vlen, ref tail @ ..] = *rest {
        let (klen, vlen) = (usize::from(klen % 4), usize::from(vlen % 24));
        let take = (klen + vlen).min(tail.len());
        let (body, next) = tail.split_at(take);
        rest = next;
        let key: Vec<u8> = body[..klen.min(body.len())]
            .iter()
            .map(|b| b'a' + b % 3)
            .collect();
        let value = body[klen.min(body.len())..].to_vec();
        let size = key.len() + value.len();
        let (k, v) = (Bytes::from(key.clone()), Bytes::from(value.clone()));
        let (got, want) = match op % 4 {
            0 => {
                let want = if model.contains_key(&key) {
                    Answer::Exists
                } else if model.len() >= max_keys || used + size > max_bytes {
                    Answer::Full
                } else {
                    used += size;
                    model.insert(key, value);
                    Answer::Done
                };
                (answer(now(store.create(k, v)).map(|()| None)), want)
            }
            1 => {
                let want = match model.get(&key) {
                    Some(v) => Answer::Value(v.clone()),
                    None => Answer::NotFound,
                };
                (answer(now(store.get(k)).map(Some)), want)
            }
            2 => {
                let want = match model.get(&key).map(Vec::len) {
                    None => Answer::NotFound,
                    Some(old) if used - old + value.len() > max_bytes => Answer::Full,
                    Some(old) => {
                        used = used - old + value.len();
                        model.insert(key, value);
                        Answer::Done
                    }
                };
                (answer(now(store.update(k, v)).map(|()| None)), want)
            }
            _ => {
                let want = match model.remove(&key) {
                    Some(old) => {
                        used -= key.len() + old.len();
                        Answer::Done
                    }
                    None => Answer::NotFound,
                };
                (answer(now(store.delete(k)).map(|()| None)), want)
            }
        };
        assert_eq!(got, want, "op {op}");
        assert_eq!(store.usage(), (model.len(), used));
        assert!(used <= max_bytes && model.len() <= max_keys);
    }
}
