//! [`RedisStore`]: the key-value store in Redis, shared by every instance
//! of a service.
//!
//! Layout under the prefix (`framewire:{<name>}:` by default; the braces
//! are a Redis Cluster hash tag, so one store's keys share a slot and its
//! scripts may touch them together):
//!
//! ```text
//! <prefix>v:<key>  the value (sealed: value | HMAC tag, see auth/cluster_key.rs)
//! <prefix>meta     hash: `bytes` (of keys and values, as the client sent them)
//!                        and `keys`, the limits' counters
//! ```
//!
//! Each write is one Lua script (atomic in Redis: the check of the limits
//! and the write cannot interleave with another instance's), each read one
//! GET. The counters count what the client sent, not the tags, so the
//! limits and the replies are the in-memory store's exactly.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::aio::MultiplexedConnection;

use crate::auth::cluster_key::{ClusterKey, TAG_LEN};
use crate::handler::BoxFuture;
use crate::redis_url::RedisUrlError;
use crate::server::BackplaneSecretError;

use super::{KvStore, StoreError, STORE_MAX_BYTES, STORE_MAX_KEYS};

// Every script takes KEYS: the value, the meta hash; ARGV: what to store,
// its size as the client sent it (key and value), the most bytes, the
// most keys, the stored value's overhead (the tag), the key's length.

/// 1 stored, 0 exists, -1 full.
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local bytes = math.max(0, tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0'))
local keys = math.max(0, tonumber(redis.call('HGET', KEYS[2], 'keys') or '0'))
local size = tonumber(ARGV[2])
if keys + 1 > tonumber(ARGV[4]) or bytes + size > tonumber(ARGV[3]) then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'bytes', bytes + size, 'keys', keys + 1)
return 1
";

/// 1 stored, 0 not found, -1 full.
const UPDATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = math.max(0, redis.call('STRLEN', KEYS[1]) - tonumber(ARGV[5])) + tonumber(ARGV[6])
local bytes = math.max(0, tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0'))
local after = math.max(0, bytes - old) + tonumber(ARGV[2])
if after > tonumber(ARGV[3]) then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'bytes', after)
return 1
";

/// 1 deleted, 0 not found.
const DELETE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = math.max(0, redis.call('STRLEN', KEYS[1]) - tonumber(ARGV[5])) + tonumber(ARGV[6])
redis.call('DEL', KEYS[1])
local bytes = math.max(0, tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0') - old)
local keys = math.max(0, tonumber(redis.call('HGET', KEYS[2], 'keys') or '0') - 1)
redis.call('HSET', KEYS[2], 'bytes', bytes, 'keys', keys)
return 1
";

/// A [`KvStore`] in Redis (feature `redis`): every instance given the
/// same url and name shares it, and it outlives them. With a cluster key
/// ([`secret`](Self::secret)) every value is sealed with an HMAC over the
/// store's name, its key and the value, so a value written into Redis by
/// anyone else, or moved to another key, is refused (ERROR `store value
/// failed authentication`) instead of served. A seal cannot tell an old
/// value of the same key from the current one: someone who can write to
/// Redis can put back a value the key once had.
///
/// One multiplexed connection, made at the first operation and again
/// after one fails; an operation that cannot reach Redis within the
/// [`timeout`](Self::timeout) answers ERROR `store unavailable`.
///
/// ```no_run
/// use framewire::server::{readme_routes_with, Server};
/// use framewire::store::RedisStore;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = std::fs::read("/etc/framewire/cluster.key")?;
/// let store = RedisStore::new("redis://127.0.0.1:6379")?.name("chat").secret(&key)?;
/// let server = readme_routes_with(Server::builder(), store).build();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8888").await?;
/// server.serve(listener, std::future::pending()).await?;
/// # Ok(()) }
/// ```
pub struct RedisStore {
    inner: Arc<Inner>,
}

/// The store's settings and its connection. Cloned only when a setting
/// changes while an operation still holds the old ones.
#[derive(Clone)]
struct Inner {
    client: redis::Client,
    prefix: String,
    /// The cluster key's bytes, to key again when the name changes.
    secret: Option<zeroize::Zeroizing<Vec<u8>>>,
    key: Option<ClusterKey>,
    max_bytes: usize,
    max_keys: usize,
    timeout: Duration,
    /// Made at the first operation, dropped when one fails.
    conn: Arc<tokio::sync::Mutex<Option<MultiplexedConnection>>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let me = &self.inner;
        f.debug_struct("RedisStore")
            .field("addr", &me.client.get_connection_info().addr().to_string())
            .field("prefix", &me.prefix)
            .field("sealed", &me.key.is_some())
            .field("max_keys", &me.max_keys)
            .field("max_bytes", &me.max_bytes)
            .finish_non_exhaustive()
    }
}

/// The prefix of a store named `name`.
fn prefix_of(name: &str) -> String {
    format!("framewire:{{{name}}}:")
}

impl RedisStore {
    /// A store on the Redis at `url` (`redis://[:password@]host:port[/db]`,
    /// `rediss://` for TLS), named `framewire`. Only parses the url.
    pub fn new(url: &str) -> Result<Self, RedisUrlError> {
        Ok(Self::from_client(crate::redis_url::open(url)?))
    }

    pub(crate) fn from_client(client: redis::Client) -> Self {
        RedisStore {
            inner: Arc::new(Inner {
                client,
                prefix: prefix_of("framewire"),
                secret: None,
                key: None,
                max_bytes: STORE_MAX_BYTES,
                max_keys: STORE_MAX_KEYS,
                timeout: Duration::from_secs(2),
                conn: Arc::default(),
            }),
        }
    }

    /// The settings to change, with a connection of their own.
    fn settings(&mut self) -> &mut Inner {
        let inner = Arc::make_mut(&mut self.inner);
        inner.conn = Arc::default();
        inner
    }

    /// The store's name (default `framewire`): instances that share data
    /// use the same one; its keys are under `framewire:{<name>}:`.
    pub fn name(mut self, name: &str) -> Self {
        let me = self.settings();
        me.prefix = prefix_of(name);
        // Checked in `secret`: keying cannot fail here.
        me.key = me
            .secret
            .as_ref()
            .and_then(|s| ClusterKey::for_store(s, &me.prefix).ok());
        self
    }

    /// The cluster key (at least
    /// [`MIN_BACKPLANE_SECRET_LEN`](crate::server::MIN_BACKPLANE_SECRET_LEN)
    /// bytes) that seals every value; every instance needs the same.
    /// Values stored without it (or with another) are refused.
    pub fn secret(mut self, key: impl AsRef<[u8]>) -> Result<Self, BackplaneSecretError> {
        let secret = key.as_ref();
        let me = self.settings();
        me.key = Some(ClusterKey::for_store(secret, &me.prefix)?);
        me.secret = Some(zeroize::Zeroizing::new(secret.to_vec()));
        Ok(self)
    }

    /// Trusts the CA certificates in `pem` (instead of the system's
    /// roots) for a `rediss://` url.
    pub fn tls_root_ca(mut self, pem: Vec<u8>) -> Result<Self, RedisUrlError> {
        let client = crate::redis_url::with_root_ca(&self.inner.client, pem)?;
        self.settings().client = client;
        Ok(self)
    }

    /// The most bytes of keys and values (default [`STORE_MAX_BYTES`]),
    /// across every instance.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.settings().max_bytes = bytes;
        self
    }

    /// The most keys (default [`STORE_MAX_KEYS`]), across every instance.
    pub fn max_keys(mut self, keys: usize) -> Self {
        self.settings().max_keys = keys;
        self
    }

    /// Time allowed to connect and for each operation (default 2 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.settings().timeout = d;
        self
    }
}

impl Inner {
    /// The connection, made now if there is none (one at a time).
    async fn conn(&self) -> Result<MultiplexedConnection, StoreError> {
        let mut conn = self.conn.lock().await;
        if let Some(c) = &*conn {
            return Ok(c.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let made = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(unavailable)?;
        *conn = Some(made.clone());
        Ok(made)
    }

    /// Runs `cmd`; a failure drops the connection so the next operation
    /// makes a new one.
    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn().await?;
        match cmd.query_async(&mut conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                *self.conn.lock().await = None;
                Err(unavailable(e))
            }
        }
    }

    fn value_key(&self, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + 2 + key.len());
        k.extend_from_slice(self.prefix.as_bytes());
        k.extend_from_slice(b"v:");
        k.extend_from_slice(key);
        k
    }

    fn meta_key(&self) -> String {
        format!("{}meta", self.prefix)
    }

    /// What is stored for `value` under `key`.
    fn sealed(&self, key: &[u8], value: &[u8]) -> Bytes {
        match &self.key {
            Some(k) => k.seal_value(key, value),
            None => Bytes::copy_from_slice(value),
        }
    }

    /// The bytes a stored value has beyond the client's (its tag).
    fn overhead(&self) -> usize {
        if self.key.is_some() {
            TAG_LEN
        } else {
            0
        }
    }

    /// Runs a write `script` for `key` (storing `value`, sealed, if
    /// there is one): its answer, 1 done, 0 exists / not found, -1 full.
    async fn write(
        &self,
        script: &str,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<i64, StoreError> {
        let stored = value.map(|v| self.sealed(key, v)).unwrap_or_default();
        let size = key.len().saturating_add(value.map_or(0, <[u8]>::len));
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script)
            .arg(2)
            .arg(self.value_key(key))
            .arg(self.meta_key())
            .arg(&stored[..])
            .arg(size)
            .arg(self.max_bytes)
            .arg(self.max_keys)
            .arg(self.overhead())
            .arg(key.len());
        self.run(&cmd).await
    }

    async fn create_in(&self, key: Bytes, value: Bytes) -> Result<(), StoreError> {
        match self.write(CREATE, &key, Some(&value)).await? {
            1 => Ok(()),
            0 => Err(StoreError::Exists),
            _ => Err(StoreError::Full),
        }
    }

    async fn get_in(&self, key: Bytes) -> Result<Bytes, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.value_key(&key));
        let stored: Option<Vec<u8>> = self.run(&cmd).await?;
        let mut stored = stored.ok_or(StoreError::NotFound)?;
        // Larger than the limit lets anyone store: not written by a store
        // (an outsider with access to Redis); not sent on.
        if stored.len() > self.max_bytes.saturating_add(self.overhead()) {
            return Err(StoreError::Tampered);
        }
        if let Some(k) = &self.key {
            let len = k
                .open_value(&key, &stored)
                .map_err(|_| StoreError::Tampered)?
                .len();
            // The value is the front of what was stored: drop the tag.
            stored.truncate(len);
        }
        Ok(Bytes::from(stored))
    }

    async fn update_in(&self, key: Bytes, value: Bytes) -> Result<(), StoreError> {
        match self.write(UPDATE, &key, Some(&value)).await? {
            1 => Ok(()),
            0 => Err(StoreError::NotFound),
            _ => Err(StoreError::Full),
        }
    }

    async fn delete_in(&self, key: Bytes) -> Result<(), StoreError> {
        match self.write(DELETE, &key, None).await? {
            1 => Ok(()),
            _ => Err(StoreError::NotFound),
        }
    }
}

fn unavailable(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::Unavailable(e.into())
}

impl KvStore for RedisStore {
    fn create(&self, key: Bytes, value: Bytes) -> BoxFuture<Result<(), StoreError>> {
        let me = self.inner.clone();
        Box::pin(async move { me.create_in(key, value).await })
    }

    fn get(&self, key: Bytes) -> BoxFuture<Result<Bytes, StoreError>> {
        let me = self.inner.clone();
        Box::pin(async move { me.get_in(key).await })
    }

    fn update(&self, key: Bytes, value: Bytes) -> BoxFuture<Result<(), StoreError>> {
        let me = self.inner.clone();
        Box::pin(async move { me.update_in(key, value).await })
    }

    fn delete(&self, key: Bytes) -> BoxFuture<Result<(), StoreError>> {
        let me = self.inner.clone();
        Box::pin(async move { me.delete_in(key).await })
    }
}
