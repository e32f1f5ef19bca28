//! The key-value store in Redis (`framewire::store::RedisStore`) against
//! a real `redis-server` started per test on a Unix socket in the test's
//! own directory: the `KvStore` contract, values shared by stores on one
//! Redis, sealed values refusing forgeries and moves, Redis down and back.
//! `framewire serve --backplane` sharing it across processes is in
//! `backplane_redis.rs`.

#![cfg(feature = "redis")]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::redis::Redis;
use framewire::store::{KvStore, RedisStore};
use framewire::testing::check_kv_store;

const KEY: &[u8] = b"store_redis test cluster key....";

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn store(redis: &Redis, name: &str) -> RedisStore {
    RedisStore::new(&redis.url())
        .unwrap()
        .name(name)
        .timeout(Duration::from_secs(2))
}

/// A raw Redis command from the test itself (an outsider with access to
/// Redis).
async fn raw<T: redis::FromRedisValue>(redis: &Redis, cmd: &redis::Cmd) -> T {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    cmd.query_async(&mut conn).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (apt-get install redis-server); run with --include-ignored"]
async fn the_redis_store_keeps_the_contract_sealed_or_not() {
    let redis = Redis::start();
    check_kv_store(&store(&redis, "plain").max_keys(4).max_bytes(300), 4, 300).await;
    let sealed = store(&redis, "sealed").secret(KEY).unwrap();
    check_kv_store(&sealed.max_keys(3).max_bytes(12), 3, 12).await;
    // Left empty, counters included.
    let meta: Vec<(String, i64)> =
        raw(&redis, redis::cmd("HGETALL").arg("framewire:{sealed}:meta")).await;
    assert!(meta.iter().all(|(_, n)| *n == 0), "{meta:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (apt-get install redis-server); run with --include-ignored"]
async fn stores_with_one_name_share_values_and_limits() {
    let redis = Redis::start();
    let a = store(&redis, "shared").secret(KEY).unwrap().max_keys(2);
    let b_ = store(&redis, "shared").secret(KEY).unwrap().max_keys(2);
    let other = store(&redis, "other").secret(KEY).unwrap();
    a.create(b("k"), b("from a")).await.unwrap();
    assert_eq!(b_.get(b("k")).await.unwrap(), "from a");
    assert!(b_.create(b("k"), b("x")).await.unwrap_err().is_exists());
    b_.create(b("j"), b("from b")).await.unwrap();
    // The counters, where the module docs say: the client's bytes (keys
    // and values, not the tags) and the keys.
    let mut meta: Vec<(String, i64)> =
        raw(&redis, redis::cmd("HGETALL").arg("framewire:{shared}:meta")).await;
    meta.sort();
    assert_eq!(meta, [("bytes".into(), 1 + 6 + 1 + 6), ("keys".into(), 2)]);
    // The limit counts both instances' keys.
    assert!(a.create(b("i"), b("")).await.unwrap_err().is_full());
    // Another name is another store.
    assert!(other.get(b("k")).await.unwrap_err().is_not_found());
    a.update(b("k"), b("again")).await.unwrap();
    assert_eq!(b_.get(b("k")).await.unwrap(), "again");
    b_.delete(b("k")).await.unwrap();
    assert!(a.get(b("k")).await.unwrap_err().is_not_found());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (apt-get install redis-server); run with --include-ignored"]
async fn sealed_values_written_or_moved_by_others_are_refused() {
    let redis = Redis::start();
    let s = store(&redis, "t").secret(KEY).unwrap();
    s.create(b("a"), b("genuine")).await.unwrap();
    s.create(b("b"), b("other")).await.unwrap();
    // Written by someone without the key.
    let () = raw(
        &redis,
        redis::cmd("SET").arg("framewire:{t}:v:b").arg("forged"),
    )
    .await;
    assert!(s.get(b("b")).await.unwrap_err().is_tampered());
    // A genuine value moved to another key.
    let genuine: Vec<u8> = raw(&redis, redis::cmd("GET").arg("framewire:{t}:v:a")).await;
    let () = raw(
        &redis,
        redis::cmd("SET").arg("framewire:{t}:v:b").arg(&genuine[..]),
    )
    .await;
    assert!(s.get(b("b")).await.unwrap_err().is_tampered());
    // Another key, or none.
    let stranger = store(&redis, "t")
        .secret(b"another cluster key of 32 bytes.")
        .unwrap();
    assert!(stranger.get(b("a")).await.unwrap_err().is_tampered());
    assert_eq!(s.get(b("a")).await.unwrap(), "genuine");
    // A refused value is still the key's: it can be replaced or deleted.
    s.update(b("b"), b("fixed")).await.unwrap();
    assert_eq!(s.get(b("b")).await.unwrap(), "fixed");
    // Without a key, a value larger than the store could hold is not
    // sent on either.
    let plain = store(&redis, "p").max_bytes(16);
    plain.create(b("k"), b("v")).await.unwrap();
    let huge = [b'x'; 17];
    let () = raw(
        &redis,
        redis::cmd("SET").arg("framewire:{p}:v:k").arg(&huge[..]),
    )
    .await;
    assert!(plain.get(b("k")).await.unwrap_err().is_tampered());
    let () = raw(
        &redis,
        redis::cmd("SET").arg("framewire:{p}:v:k").arg(&huge[..16]),
    )
    .await;
    assert_eq!(plain.get(b("k")).await.unwrap().len(), 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (apt-get install redis-server); run with --include-ignored"]
async fn redis_down_answers_unavailable_within_the_timeout_and_then_recovers() {
    let mut redis = Redis::start();
    let s = store(&redis, "d").timeout(Duration::from_millis(500));
    s.create(b("k"), b("v")).await.unwrap();
    redis.kill();
    let started = Instant::now();
    let e = s.get(b("k")).await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the timeout"
    );
    // Persistence is off in the test's Redis: back, empty, and reachable
    // again through a new connection.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match s.get(b("k")).await {
            Err(e) if e.is_not_found() => break,
            Err(e) if e.is_unavailable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("after the restart: {other:?}"),
        }
    }
    s.create(b("k"), b("v2")).await.unwrap();
    assert_eq!(s.get(b("k")).await.unwrap(), "v2");
}
