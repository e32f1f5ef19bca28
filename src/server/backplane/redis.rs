//! [`RedisBackplane`]: instances relay through one Redis pub/sub channel.
//!
//! Two connections per instance: one publishes (a bounded queue drained in
//! pipelined batches, so `publish` never waits on Redis), one subscribes
//! and delivers. Each reconnects on its own with capped exponential
//! backoff and the subscriber resubscribes; a Redis that is down at start
//! just means both are still retrying.
//!
//! One channel for every topic, not one per topic: instances are few,
//! topics come and go with connections, and one channel keeps each
//! origin's messages in one ordered stream with no SUBSCRIBE traffic as
//! local subscriptions change. Each instance filters by its own registry.
//!
//! With a [cluster key](RedisBackplane::secret) every payload carries an
//! HMAC-SHA256 of the envelope (`mac.rs`), added by the publishing task
//! (off the server's hot path) and checked before anything is decoded.
//! `rediss://` urls connect over TLS (rustls, the system's roots or
//! [`tls_root_ca`](RedisBackplane::tls_root_ca)).
//!
//! The crate is `redis` (redis-rs): the most used Rust Redis client, async
//! over Tokio with default features off, and pub/sub plus pipelining are
//! all this needs (`fred` brings a larger client for features unused here).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::handler::BoxFuture;
use crate::wire::MessageType;

pub use crate::redis_url::RedisUrlError;

use super::{Backplane, BackplaneSecretError, ClusterKey, Inbound};

mod task;

use task::{Links, Task};

/// A [`Backplane`] over Redis pub/sub (feature `redis`).
///
/// ```no_run
/// use framewire::server::{RedisBackplane, Server};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = std::fs::read("/etc/framewire/cluster.key")?;
/// let backplane = RedisBackplane::new("rediss://:password@redis.internal:6380")?
///     .channel("chat")
///     .secret(&key)?;
/// let server = Server::builder()
///     .subscriptions()
///     .backplane(backplane)
///     .instance_id("eu-1")
///     .build();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8888").await?;
/// server.serve(listener, std::future::pending()).await?;
/// # Ok(()) }
/// ```
pub struct RedisBackplane {
    client: redis::Client,
    channel: String,
    /// The cluster key's raw bytes until `start` keys it to the channel.
    secret: Option<zeroize::Zeroizing<Vec<u8>>>,
    kinds: Vec<MessageType>,
    queue: usize,
    max_backoff: Duration,
    timeout: Duration,
    tx: OnceLock<mpsc::Sender<Bytes>>,
    stop: CancellationToken,
    links: Arc<Links>,
    /// Envelopes taken and not yet published or given up on.
    unsent: Arc<AtomicUsize>,
    /// Set: relay through a stream of at most about this many entries.
    stream: Option<usize>,
}

impl RedisBackplane {
    /// A backplane on the Redis at `url`: `redis://[:password@]host:port[/db]`,
    /// or `rediss://...` for TLS (certificates checked against the
    /// system's roots; see [`tls_root_ca`](Self::tls_root_ca)). Only
    /// parses the url: connecting happens in the background once the
    /// server starts, and keeps being retried.
    pub fn new(url: &str) -> Result<Self, RedisUrlError> {
        let client = crate::redis_url::open(url)?;
        Ok(RedisBackplane {
            client,
            channel: "framewire".to_owned(),
            secret: None,
            kinds: vec![MessageType::NOTIFY_URI],
            queue: 8192,
            max_backoff: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            tx: OnceLock::new(),
            stop: CancellationToken::new(),
            links: Arc::default(),
            unsent: Arc::default(),
            stream: None,
        })
    }

    /// The pub/sub channel (default `framewire`); instances that should
    /// hear each other use the same one.
    pub fn channel(mut self, name: impl Into<String>) -> Self {
        self.channel = name.into();
        self
    }

    /// The cluster key (at least [`MIN_BACKPLANE_SECRET_LEN`] bytes; 32
    /// random ones are best): every envelope is published with an
    /// HMAC-SHA256 under it, and payloads without a valid one are refused
    /// (counted in
    /// [`Stats::backplane_unauthenticated`](crate::server::Stats::backplane_unauthenticated)).
    /// Every instance on the channel needs the same key. Without one,
    /// anyone who can PUBLISH on the channel can make every instance
    /// deliver forged messages.
    ///
    /// [`MIN_BACKPLANE_SECRET_LEN`]: crate::server::MIN_BACKPLANE_SECRET_LEN
    ///
    /// ```
    /// use framewire::server::RedisBackplane;
    ///
    /// let bp = RedisBackplane::new("redis://127.0.0.1")?.secret([7u8; 32])?;
    /// assert!(format!("{bp:?}").contains("authenticated: true"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn secret(mut self, key: impl AsRef<[u8]>) -> Result<Self, BackplaneSecretError> {
        let key = key.as_ref();
        // Checked now, keyed to the channel (which may still change) at
        // start.
        ClusterKey::new(key, &self.channel)?;
        self.secret = Some(zeroize::Zeroizing::new(key.to_vec()));
        Ok(self)
    }

    /// Trusts the CA certificates in `pem` (instead of the system's
    /// roots) for a `rediss://` url.
    ///
    /// ```
    /// use framewire::server::RedisBackplane;
    ///
    /// let e = RedisBackplane::new("rediss://127.0.0.1")?.tls_root_ca(b"not pem".to_vec());
    /// assert!(e.is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tls_root_ca(mut self, pem: Vec<u8>) -> Result<Self, RedisUrlError> {
        self.client = crate::redis_url::with_root_ca(&self.client, pem)?;
        Ok(self)
    }

    /// A [`RedisStore`](crate::store::RedisStore) on the same Redis,
    /// named after the channel, with this backplane's timeout and sealed
    /// with its cluster key (in a domain of its own): what `framewire
    /// serve --backplane` keeps its key-value store in.
    ///
    /// ```
    /// use framewire::server::RedisBackplane;
    ///
    /// let bp = RedisBackplane::new("redis://127.0.0.1")?.channel("chat").secret([7u8; 32])?;
    /// let store = format!("{:?}", bp.store());
    /// assert!(store.contains("framewire:{chat}:") && store.contains("sealed: true"), "{store}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn store(&self) -> crate::store::RedisStore {
        let store = crate::store::RedisStore::from_client(self.client.clone())
            .name(&self.channel)
            .timeout(self.timeout);
        match &self.secret {
            Some(key) => store
                .secret(&key[..])
                .expect("`secret` checked the key's length"),
            None => store,
        }
    }

    /// The message kinds relayed (default: NOTIFY only); see
    /// [`Backplane::relayed_kinds`]. Every instance on the channel should
    /// have the same list.
    ///
    /// ```
    /// use framewire::server::{Backplane, RedisBackplane};
    /// use framewire::MessageType;
    ///
    /// let kinds = [MessageType::NOTIFY_URI, MessageType::custom(100).unwrap()];
    /// let bp = RedisBackplane::new("redis://127.0.0.1")?.relay_kinds(kinds);
    /// assert_eq!(bp.relayed_kinds().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn relay_kinds(mut self, kinds: impl IntoIterator<Item = MessageType>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// Envelopes waiting to be published at most (default 8 192); past
    /// it, relayed messages are dropped and counted.
    pub fn queue(mut self, envelopes: usize) -> Self {
        self.queue = envelopes.max(1);
        self
    }

    /// Longest pause between reconnection attempts (default 5 s; the
    /// first is 100 ms, doubling).
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// Time allowed to connect and for each batch to be acknowledged
    /// (default 2 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Relays through a Redis stream (`framewire:{CHANNEL}:stream`,
    /// trimmed to about `max_len` entries with `XADD ... MAXLEN ~`)
    /// instead of pub/sub, so nothing is lost to a short outage:
    ///
    /// - an instance whose connection to Redis broke reads on from the last
    ///   entry it delivered when it is back (pub/sub would have lost what
    ///   was published meanwhile);
    /// - what an instance publishes while Redis is unreachable (restarting,
    ///   say) waits in its queue ([`queue`](Self::queue)) and goes out when
    ///   Redis is back; a batch whose fate is unknown is sent again, and the
    ///   receivers drop the repeats by sequence number.
    ///
    /// Losses remain possible and counted as before: past the queue (the
    /// publisher counts publish failures) or past `max_len` (an instance
    /// away long enough that the stream was trimmed counts the gap). The
    /// cost: Redis keeps up to `max_len` envelopes (their bytes), and each
    /// instance blocks in one `XREAD` at a time instead of a subscription.
    ///
    /// ```
    /// use framewire::server::RedisBackplane;
    ///
    /// let backplane = RedisBackplane::new("redis://127.0.0.1:6379")?.stream(100_000);
    /// # Ok::<(), framewire::server::RedisUrlError>(())
    /// ```
    pub fn stream(mut self, max_len: usize) -> Self {
        self.stream = Some(max_len.max(1));
        self
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let d = Duration::from_millis(100).saturating_mul(1 << attempt.min(16));
        d.min(self.max_backoff)
    }
}

impl Backplane for RedisBackplane {
    fn start(&self, inbound: Inbound) {
        let (tx, rx) = mpsc::channel(self.queue);
        if self.tx.set(tx).is_err() {
            return; // already started: one set of loops per backplane
        }
        // Checked in `secret`: keying cannot fail here.
        let key = self
            .secret
            .as_ref()
            .and_then(|s| ClusterKey::new(s, &self.channel).ok());
        let me = Task {
            client: self.client.clone(),
            channel: self.channel.clone(),
            key,
            timeout: self.timeout,
            backoffs: (0..=16).map(|a| self.backoff(a)).collect(),
            stop: self.stop.clone(),
            links: self.links.clone(),
            unsent: self.unsent.clone(),
            inbound,
            stream: self.stream.map(|maxlen| task::StreamMode {
                key: format!("framewire:{{{}}}:stream", self.channel),
                maxlen,
            }),
        };
        let me = Arc::new(me);
        match me.stream.clone() {
            Some(stream) => {
                tokio::spawn(me.clone().publish_stream_loop(rx, stream.clone()));
                tokio::spawn(me.receive_stream_loop(stream));
            }
            None => {
                tokio::spawn(me.clone().publish_loop(rx));
                tokio::spawn(me.receive_loop());
            }
        }
    }

    fn publish(&self, envelope: Bytes) -> bool {
        let Some(tx) = self.tx.get() else {
            return false;
        };
        self.unsent.fetch_add(1, Relaxed);
        let queued = tx.try_send(envelope).is_ok();
        if !queued {
            self.unsent.fetch_sub(1, Relaxed);
        }
        queued
    }

    fn flush(&self) -> BoxFuture<()> {
        let unsent = self.unsent.clone();
        Box::pin(async move {
            while unsent.load(Relaxed) > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    }

    fn stop(&self) {
        self.stop.cancel();
    }

    fn relayed_kinds(&self) -> &[MessageType] {
        &self.kinds
    }
}

impl Drop for RedisBackplane {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl std::fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("channel", &self.channel)
            .field("authenticated", &self.secret.is_some())
            .field("publishing", &self.links.publishing.load(Relaxed))
            .field("receiving", &self.links.receiving.load(Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shutdown's flush waits while envelopes are unsent and returns once
    /// none are. Virtual time: this backplane never started, so no socket.
    #[tokio::test(start_paused = true)]
    async fn flush_waits_for_what_is_unsent() {
        let bp = RedisBackplane::new("redis://127.0.0.1:1").unwrap();
        tokio::time::timeout(Duration::from_millis(1), bp.flush())
            .await
            .expect("nothing unsent: at once");
        bp.unsent.store(2, Relaxed);
        let mut flushed = bp.flush();
        assert!(
            tokio::time::timeout(Duration::from_secs(5), &mut flushed)
                .await
                .is_err(),
            "returned with envelopes unsent"
        );
        bp.unsent.store(0, Relaxed);
        tokio::time::timeout(Duration::from_millis(50), flushed)
            .await
            .expect("returns once all went out");
    }

    #[test]
    fn passwords_never_reach_the_error_message() {
        for url in [
            "redis://:hunter2@127.0.0.1:notaport",
            "rediss://user:hunter2@127.0.0.1:notaport/0",
            "redis+unix:///tmp/x.sock?pass=hunter2&db=x",
            "hunter2@host",
            "redis//:hunter2@host",
        ] {
            if let Err(e) = RedisBackplane::new(url) {
                let shown = format!("{e} {e:?}");
                assert!(!shown.contains("hunter2"), "{url}: {shown}");
            }
        }
        assert_eq!(
            crate::redis_url::redact("redis://:pw@h:1/2?pass=pw"),
            "redis://<redacted>@h:1/2?<redacted>"
        );
        assert_eq!(crate::redis_url::redact("rediss://h:1"), "rediss://h:1");
    }

    #[test]
    fn rediss_urls_are_accepted_and_debug_hides_the_password() {
        let bp = RedisBackplane::new("rediss://:hunter2@127.0.0.1:6380/0").unwrap();
        assert!(bp
            .client
            .get_connection_info()
            .addr()
            .to_string()
            .contains("6380"));
        assert!(matches!(
            bp.client.get_connection_info().addr(),
            redis::ConnectionAddr::TcpTls {
                insecure: false,
                ..
            }
        ));
        let shown = format!("{bp:?} {:?}", bp.client);
        assert!(!shown.contains("hunter2"), "{shown}");
        // "#insecure" (no certificate check) is refused, not accepted.
        let e = RedisBackplane::new("rediss://127.0.0.1:6380/#insecure").unwrap_err();
        assert!(e.to_string().contains("cannot be turned off"), "{e}");
    }

    #[test]
    fn a_root_ca_must_hold_a_certificate() {
        let bp = || RedisBackplane::new("rediss://127.0.0.1").unwrap();
        let ca = crate::tls::test_ca::Ca::new();
        assert!(bp().tls_root_ca(ca.pem().into_bytes()).is_ok());
        assert!(bp().tls_root_ca(b"not pem".to_vec()).is_err());
        assert!(bp().tls_root_ca(Vec::new()).is_err());
    }

    /// 100 ms, doubling per attempt, up to the configured maximum.
    #[test]
    fn reconnect_backoff_doubles_to_its_maximum() {
        let bp = RedisBackplane::new("redis://127.0.0.1")
            .unwrap()
            .max_backoff(Duration::from_millis(700));
        let ms: Vec<_> = (0..5).map(|a| bp.backoff(a).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 700, 700]);
        let far = RedisBackplane::new("redis://127.0.0.1")
            .unwrap()
            .max_backoff(Duration::MAX);
        assert_eq!(
            far.backoff(40),
            Duration::from_millis(100 << 16),
            "the doubling stops at 2^16"
        );
    }

    /// `stop` and dropping both end the backplane's task; `Debug` says
    /// what it is (and never the password: see above).
    #[tokio::test]
    async fn stop_and_drop_end_the_task_and_debug_names_the_channel() {
        let bp = RedisBackplane::new("redis://127.0.0.1:1")
            .unwrap()
            .channel("c1");
        assert_eq!(
            format!("{bp:?}"),
            "RedisBackplane { channel: \"c1\", authenticated: false, publishing: false, receiving: false }"
        );
        let token = bp.stop.clone();
        bp.stop();
        assert!(token.is_cancelled());
        let bp = RedisBackplane::new("redis://127.0.0.1:1").unwrap();
        let token = bp.stop.clone();
        drop(bp);
        assert!(token.is_cancelled());
    }
}
