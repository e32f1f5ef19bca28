//! [`check_kv_store`]: the behaviour every [`KvStore`] shares, as one
//! check an implementation runs against itself.

use bytes::Bytes;

use crate::store::{KvStore, StoreError};

/// What an operation that should have failed with `want` did instead.
fn expect_err<T: std::fmt::Debug>(
    what: &str,
    got: Result<T, StoreError>,
    want: fn(&StoreError) -> bool,
) {
    match got {
        Err(e) if want(&e) => {}
        other => panic!("{what}: got {other:?}"),
    }
}

fn b(s: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(s.as_ref())
}

/// Checks that `store` behaves as [`KvStore`] says and as
/// [`MemoryStore`](crate::store::MemoryStore) does, with the limits it
/// was made with (`max_keys` keys, `max_bytes` bytes of keys and values,
/// counted exactly). `store` must start empty, with `max_keys` at least 2
/// and `max_bytes` at least `4 * max_keys`; it is left empty. Panics with
/// what differed.
///
/// ```
/// use framewire::store::MemoryStore;
/// use framewire::testing::check_kv_store;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// check_kv_store(&MemoryStore::new().max_keys(4).max_bytes(64), 4, 64).await;
/// # }
/// ```
pub async fn check_kv_store(store: &dyn KvStore, max_keys: usize, max_bytes: usize) {
    assert!(
        max_keys >= 2 && max_bytes >= 4 * max_keys,
        "limits too small to check"
    );
    // Nothing there yet.
    expect_err(
        "get of a missing key",
        store.get(b("k")).await,
        StoreError::is_not_found,
    );
    expect_err(
        "update of a missing key",
        store.update(b("k"), b("v")).await,
        StoreError::is_not_found,
    );
    expect_err(
        "delete of a missing key",
        store.delete(b("k")).await,
        StoreError::is_not_found,
    );
    // Create, never overwrite, read, update, delete.
    store.create(b("k"), b("vvv")).await.expect("create");
    expect_err(
        "create of an existing key",
        store.create(b("k"), b("x")).await,
        StoreError::is_exists,
    );
    assert_eq!(
        store.get(b("k")).await.expect("get"),
        "vvv",
        "create does not overwrite"
    );
    store.update(b("k"), b("vvvvv")).await.expect("update");
    assert_eq!(store.get(b("k")).await.expect("get"), "vvvvv");
    store.delete(b("k")).await.expect("delete");
    expect_err(
        "get of a deleted key",
        store.get(b("k")).await,
        StoreError::is_not_found,
    );
    expect_err(
        "delete of a deleted key",
        store.delete(b("k")).await,
        StoreError::is_not_found,
    );
    // Any bytes, empty values.
    let binary = [0u8, 0xff, b'/', b' ', 0x80];
    let value: Vec<u8> = (0..=255u8).collect();
    if max_bytes >= binary.len() + value.len() {
        store
            .create(b(binary), b(&value))
            .await
            .expect("create binary");
        assert_eq!(store.get(b(binary)).await.expect("get binary"), value);
        store.delete(b(binary)).await.expect("delete binary");
    }
    store.create(b("e"), b("")).await.expect("create empty");
    assert_eq!(store.get(b("e")).await.expect("get empty"), "");
    store.delete(b("e")).await.expect("delete empty");
    // Bytes, counted exactly: key and value.
    let fill = "x".repeat(max_bytes - 1);
    store
        .create(b("a"), b(&fill))
        .await
        .expect("create up to the limit");
    expect_err(
        "create past the bytes",
        store.create(b("b"), b("")).await,
        StoreError::is_full,
    );
    expect_err(
        "update past the bytes",
        store.update(b("a"), b(format!("{fill}x"))).await,
        StoreError::is_full,
    );
    assert_eq!(
        store.get(b("a")).await.expect("get").len(),
        fill.len(),
        "a refused update changes nothing"
    );
    store
        .update(b("a"), b(&fill))
        .await
        .expect("update to the same size");
    store.update(b("a"), b("")).await.expect("update smaller");
    store
        .create(b("b"), b("x".repeat(max_bytes - 2)))
        .await
        .expect("create into what the update freed");
    expect_err(
        "create past the bytes again",
        store.create(b("c"), b("")).await,
        StoreError::is_full,
    );
    store.delete(b("a")).await.expect("delete a");
    store.delete(b("b")).await.expect("delete b");
    // Keys, counted.
    let name = |i: usize| b(format!("k{i}"));
    for i in 0..max_keys {
        store
            .create(name(i), b(""))
            .await
            .expect("create up to the keys");
    }
    expect_err(
        "create past the keys",
        store.create(b("z"), b("")).await,
        StoreError::is_full,
    );
    store.delete(name(0)).await.expect("delete one key");
    store
        .create(b("z"), b(""))
        .await
        .expect("create into the freed key");
    store.delete(b("z")).await.expect("delete z");
    for i in 1..max_keys {
        store.delete(name(i)).await.expect("delete the keys");
    }
    // Empty again: the whole of the bytes is free.
    store
        .create(b("a"), b(&fill))
        .await
        .expect("everything was freed");
    store.delete(b("a")).await.expect("delete a");
}
