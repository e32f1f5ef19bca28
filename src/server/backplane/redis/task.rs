//! The two background loops of a [`RedisBackplane`](super::RedisBackplane):
//! one publishes queued envelopes in pipelined batches (sealing each with
//! the cluster key), one subscribes and hands what verifies to the server.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::server::stats::once_a_second;

use super::super::{ClusterKey, Inbound};

/// Envelopes one pipelined PUBLISH batch carries at most.
const BATCH: usize = 256;

/// Entries one XREAD returns at most.
const READ_COUNT: usize = 512;

/// Relaying through a Redis stream instead of pub/sub (see
/// [`RedisBackplane::stream`](super::RedisBackplane::stream)).
#[derive(Debug, Clone)]
pub(super) struct StreamMode {
    /// The stream's key.
    pub(super) key: String,
    /// `XADD ... MAXLEN ~` this.
    pub(super) maxlen: usize,
}

/// What [`Task::dial`] came back with.
enum Dialled {
    Up(redis::aio::MultiplexedConnection),
    Retry,
    Stopped,
}

/// Whether a failed batch is worth sending again on a new connection (the
/// connection broke, timed out, or Redis is loading): anything Redis
/// refused outright (out of memory, a wrong type) would be refused again.
fn transient(e: &redis::RedisError) -> bool {
    !matches!(e.retry_method(), redis::RetryMethod::NoRetry)
}

/// The (id, payload) entries of an XREAD reply for one stream (RESP2
/// arrays or RESP3 maps); entries without a `p` field are skipped.
fn stream_entries(reply: redis::Value) -> Vec<(Vec<u8>, Vec<u8>)> {
    use redis::Value;
    fn pairs(v: Value) -> Vec<(Value, Value)> {
        match v {
            Value::Map(m) => m,
            Value::Array(items) => {
                let mut out = Vec::new();
                let mut it = items.into_iter();
                while let Some(first) = it.next() {
                    match first {
                        // [key, entries] arrays inside the outer array.
                        Value::Array(mut kv) if kv.len() == 2 => {
                            let v = kv.pop().unwrap_or(Value::Nil);
                            let k = kv.pop().unwrap_or(Value::Nil);
                            out.push((k, v));
                        }
                        k => {
                            let v = it.next().unwrap_or(Value::Nil);
                            out.push((k, v));
                        }
                    }
                }
                out
            }
            _ => Vec::new(),
        }
    }
    fn bytes(v: Value) -> Option<Vec<u8>> {
        match v {
            Value::BulkString(b) => Some(b),
            Value::SimpleString(s) => Some(s.into_bytes()),
            _ => None,
        }
    }
    let mut out = Vec::new();
    for (_key, entries) in pairs(reply) {
        let Value::Array(entries) = entries else {
            continue;
        };
        for entry in entries {
            let Value::Array(mut parts) = entry else {
                continue;
            };
            if parts.len() != 2 {
                continue;
            }
            let fields = parts.pop().unwrap_or(Value::Nil);
            let Some(id) = parts.pop().and_then(bytes) else {
                continue;
            };
            let fields: Vec<Value> = match fields {
                Value::Array(f) => f,
                Value::Map(m) => m.into_iter().flat_map(|(k, v)| [k, v]).collect(),
                _ => Vec::new(),
            };
            let mut fields = fields.into_iter();
            let mut payload = None;
            while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
                if bytes(name).as_deref() == Some(b"p") {
                    payload = bytes(value);
                }
            }
            // An entry that is not ours still moves the cursor past it.
            out.push((id, payload.unwrap_or_default()));
        }
    }
    out
}

/// Whether each of the two connections is up.
#[derive(Default)]
pub(super) struct Links {
    pub(super) publishing: AtomicBool,
    pub(super) receiving: AtomicBool,
    /// Unix second of the last connection log line.
    logged_at: std::sync::atomic::AtomicU64,
}

impl Links {
    fn set(&self, which: &AtomicBool, up: bool, inbound: &Inbound) {
        which.store(up, Relaxed);
        inbound.set_connected(self.publishing.load(Relaxed) && self.receiving.load(Relaxed));
    }
}

/// What the two background loops share.
pub(super) struct Task {
    pub(super) client: redis::Client,
    pub(super) channel: String,
    pub(super) key: Option<ClusterKey>,
    pub(super) timeout: Duration,
    pub(super) backoffs: Vec<Duration>,
    pub(super) stop: CancellationToken,
    pub(super) links: Arc<Links>,
    pub(super) unsent: Arc<AtomicUsize>,
    pub(super) inbound: Inbound,
    /// Set: relay through this stream, not the channel.
    pub(super) stream: Option<StreamMode>,
}

impl Task {
    fn backoff(&self, attempt: u32) -> Duration {
        let i = (attempt as usize).min(self.backoffs.len() - 1);
        self.backoffs[i]
    }

    fn stopped(&self) -> bool {
        self.stop.is_cancelled() || self.inbound.is_closed()
    }

    fn log_down(&self, what: &str, error: &dyn std::fmt::Display) {
        if once_a_second(&self.links.logged_at) {
            warn!(channel = %self.channel, %error, "redis backplane: {what}");
        }
    }

    /// What goes on the channel for `envelope`: sealed with the key if
    /// there is one.
    fn payload(&self, envelope: Bytes) -> Bytes {
        match &self.key {
            Some(key) => key.seal(&envelope),
            None => envelope,
        }
    }

    /// Hands a payload from the channel to the server if it verifies.
    fn receive(&self, payload: &[u8]) {
        match &self.key {
            None => self.inbound.deliver(payload),
            Some(key) => match key.open(payload) {
                Ok(envelope) => self.inbound.deliver(envelope),
                Err(why) => self.inbound.refuse_unauthenticated(why),
            },
        }
    }

    fn config(&self) -> redis::AsyncConnectionConfig {
        redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
    }

    /// Publishes queued envelopes in pipelined batches, in order; while
    /// Redis is unreachable, what arrives in the queue is dropped and
    /// counted (relaying it minutes late would be worse than not at all).
    pub(super) async fn publish_loop(self: Arc<Self>, mut rx: mpsc::Receiver<Bytes>) {
        let mut attempt = 0u32;
        while !self.stopped() {
            let config = self.config();
            let connected = tokio::select! {
                _ = self.stop.cancelled() => return,
                r = self.client.get_multiplexed_async_connection_with_config(&config) => r,
            };
            let mut conn = match connected {
                Ok(c) => c,
                Err(e) => {
                    self.log_down("cannot connect to publish", &e);
                    if !self.drop_for(&mut rx, self.backoff(attempt)).await {
                        return;
                    }
                    attempt = attempt.saturating_add(1);
                    continue;
                }
            };
            attempt = 0;
            info!(channel = %self.channel, "redis backplane: publishing");
            self.links.set(&self.links.publishing, true, &self.inbound);
            loop {
                let first = tokio::select! {
                    _ = self.stop.cancelled() => return,
                    m = rx.recv() => match m {
                        Some(m) => m,
                        None => return,
                    },
                };
                let mut pipe = redis::pipe();
                pipe.cmd("PUBLISH")
                    .arg(&self.channel)
                    .arg(&self.payload(first)[..])
                    .ignore();
                let mut n = 1u64;
                while n < BATCH as u64 {
                    let Ok(next) = rx.try_recv() else { break };
                    pipe.cmd("PUBLISH")
                        .arg(&self.channel)
                        .arg(&self.payload(next)[..])
                        .ignore();
                    n += 1;
                }
                let result = pipe.exec_async(&mut conn).await;
                self.unsent.fetch_sub(n as usize, Relaxed);
                if let Err(e) = result {
                    // Some of the batch may have gone out; receivers' gap
                    // counts say exactly what did not arrive.
                    self.inbound.publish_failed(n);
                    self.links.set(&self.links.publishing, false, &self.inbound);
                    self.log_down("publishing failed", &e);
                    break;
                }
            }
        }
    }

    /// The stream variant of [`publish_loop`](Self::publish_loop): XADD
    /// in pipelined batches; a batch that fails with the connection is
    /// kept and sent again on the next one (receivers drop what arrives
    /// twice by its sequence number), and while Redis is unreachable what
    /// is published waits in the bounded queue (past it, `publish`
    /// refuses and the server counts it).
    pub(super) async fn publish_stream_loop(
        self: Arc<Self>,
        mut rx: mpsc::Receiver<Bytes>,
        stream: StreamMode,
    ) {
        let mut attempt = 0u32;
        let mut held: Vec<Bytes> = Vec::new();
        while !self.stopped() {
            let config = self.config();
            let mut conn = match self
                .dial(&config, "cannot connect to publish", &mut attempt)
                .await
            {
                Dialled::Up(c) => c,
                Dialled::Retry => continue,
                Dialled::Stopped => return,
            };
            attempt = 0;
            info!(stream = %stream.key, "redis backplane: publishing to the stream");
            self.links.set(&self.links.publishing, true, &self.inbound);
            loop {
                if held.is_empty() {
                    let first = tokio::select! {
                        _ = self.stop.cancelled() => return,
                        m = rx.recv() => match m {
                            Some(m) => m,
                            None => return,
                        },
                    };
                    held.push(self.payload(first));
                    while held.len() < BATCH {
                        let Ok(next) = rx.try_recv() else { break };
                        held.push(self.payload(next));
                    }
                }
                let mut pipe = redis::pipe();
                for p in &held {
                    pipe.cmd("XADD")
                        .arg(&stream.key)
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(stream.maxlen)
                        .arg("*")
                        .arg("p")
                        .arg(&p[..])
                        .ignore();
                }
                match pipe.exec_async(&mut conn).await {
                    Ok(()) => {
                        self.unsent.fetch_sub(held.len(), Relaxed);
                        held.clear();
                    }
                    Err(e) if transient(&e) => {
                        self.links.set(&self.links.publishing, false, &self.inbound);
                        self.log_down("publishing failed (kept, sent again)", &e);
                        break;
                    }
                    Err(e) => {
                        self.unsent.fetch_sub(held.len(), Relaxed);
                        self.inbound.publish_failed(held.len() as u64);
                        held.clear();
                        self.log_down("publishing refused", &e);
                    }
                }
            }
        }
    }

    /// The stream variant of [`receive_loop`](Self::receive_loop): reads
    /// the stream from where this instance started (its end then), and
    /// after a lost connection from the last entry it delivered, so what
    /// was added meanwhile arrives late instead of never (as long as the
    /// stream still holds it: past `MAXLEN` the sequence gaps count it).
    pub(super) async fn receive_stream_loop(self: Arc<Self>, stream: StreamMode) {
        let mut attempt = 0u32;
        let mut last: Option<Vec<u8>> = None;
        let (block, response) = read_waits(self.timeout);
        while !self.stopped() {
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(Some(response));
            let what = "cannot connect to read the stream";
            let mut conn = match self.dial(&config, what, &mut attempt).await {
                Dialled::Up(c) => c,
                Dialled::Retry => continue,
                Dialled::Stopped => return,
            };
            if last.is_none() {
                // The first time: from the stream's end, as a subscription.
                let end: redis::RedisResult<redis::Value> = redis::cmd("XREVRANGE")
                    .arg(&stream.key)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut conn)
                    .await;
                match end {
                    Ok(v) => {
                        let newest = newest_id(v);
                        last = Some(newest.unwrap_or_else(|| b"0-0".to_vec()));
                    }
                    Err(e) => {
                        self.log_down("cannot read the stream", &e);
                        if !self.back_off(&mut attempt).await {
                            return;
                        }
                        continue;
                    }
                }
            }
            attempt = 0;
            info!(stream = %stream.key, "redis backplane: reading the stream");
            self.links.set(&self.links.receiving, true, &self.inbound);
            loop {
                let from = last.clone().unwrap_or_else(|| b"0-0".to_vec());
                let mut xread = redis::cmd("XREAD");
                xread
                    .arg("COUNT")
                    .arg(READ_COUNT)
                    .arg("BLOCK")
                    .arg(block.as_millis() as u64)
                    .arg("STREAMS")
                    .arg(&stream.key)
                    .arg(&from[..]);
                let read = xread.query_async::<redis::Value>(&mut conn);
                let reply = tokio::select! {
                    _ = self.stop.cancelled() => return,
                    r = read => r,
                };
                match reply {
                    Ok(v) => {
                        for (id, payload) in stream_entries(v) {
                            if !payload.is_empty() {
                                self.receive(&payload);
                            }
                            last = Some(id);
                        }
                    }
                    Err(e) => {
                        self.links.set(&self.links.receiving, false, &self.inbound);
                        self.log_down("reading the stream failed", &e);
                        break;
                    }
                }
            }
            if !self.back_off(&mut attempt).await {
                return;
            }
        }
    }

    /// Waits the backoff of `attempt` and counts it; false if the
    /// backplane stopped meanwhile.
    async fn back_off(&self, attempt: &mut u32) -> bool {
        tokio::select! {
            _ = self.stop.cancelled() => return false,
            _ = tokio::time::sleep(self.backoff(*attempt)) => {}
        }
        *attempt = attempt.saturating_add(1);
        true
    }

    /// A connection with `config`; on failure, `what` logged and the
    /// backoff waited (the caller tries again).
    async fn dial(
        &self,
        config: &redis::AsyncConnectionConfig,
        what: &str,
        attempt: &mut u32,
    ) -> Dialled {
        let connected = tokio::select! {
            _ = self.stop.cancelled() => return Dialled::Stopped,
            r = self.client.get_multiplexed_async_connection_with_config(config) => r,
        };
        match connected {
            Ok(c) => Dialled::Up(c),
            Err(e) => {
                self.log_down(what, &e);
                match self.back_off(attempt).await {
                    true => Dialled::Retry,
                    false => Dialled::Stopped,
                }
            }
        }
    }

    /// Waits `delay`, dropping (and counting) what is queued meanwhile;
    /// false if the backplane stopped.
    async fn drop_for(&self, rx: &mut mpsc::Receiver<Bytes>, delay: Duration) -> bool {
        let until = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return false,
                _ = tokio::time::sleep_until(until) => return true,
                m = rx.recv() => match m {
                    Some(_) => {
                        self.unsent.fetch_sub(1, Relaxed);
                        self.inbound.publish_failed(1);
                    }
                    None => return false,
                },
            }
        }
    }

    /// Subscribes to the channel and delivers what arrives; resubscribes
    /// after every loss of the connection.
    pub(super) async fn receive_loop(self: Arc<Self>) {
        let mut attempt = 0u32;
        while !self.stopped() {
            let subscribed = async {
                let mut pubsub = self.client.get_async_pubsub().await?;
                pubsub.subscribe(&self.channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            let subscribed = tokio::select! {
                _ = self.stop.cancelled() => return,
                r = tokio::time::timeout(self.timeout, subscribed) => r,
            };
            match subscribed {
                Ok(Ok(pubsub)) => {
                    attempt = 0;
                    info!(channel = %self.channel, "redis backplane: subscribed");
                    self.links.set(&self.links.receiving, true, &self.inbound);
                    let mut messages = pubsub.into_on_message();
                    loop {
                        tokio::select! {
                            _ = self.stop.cancelled() => return,
                            m = messages.next() => match m {
                                Some(m) => self.receive(m.get_payload_bytes()),
                                None => break,
                            },
                        }
                    }
                    self.links.set(&self.links.receiving, false, &self.inbound);
                    self.log_down("subscription lost", &"connection closed");
                }
                Ok(Err(e)) => self.log_down("cannot subscribe", &e),
                Err(_) => self.log_down("cannot subscribe", &"timed out"),
            }
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep(self.backoff(attempt)) => {}
            }
            attempt = attempt.saturating_add(1);
        }
    }
}

/// How long an `XREAD` blocks, and how long its reply may take, for the
/// backplane's `timeout`: the block half the timeout (at least 10 ms, at
/// most 1 s: short enough that a stop is seen soon), the reply the
/// timeout beyond the block (an empty reply comes only once the block
/// ran out, so a reply timeout inside it would break a healthy link).
fn read_waits(timeout: Duration) -> (Duration, Duration) {
    let block = (timeout / 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
    (block, timeout + block)
}

/// The id of the one entry an `XREVRANGE ... COUNT 1` returned.
fn newest_id(reply: redis::Value) -> Option<Vec<u8>> {
    let redis::Value::Array(entries) = reply else {
        return None;
    };
    let redis::Value::Array(mut entry) = entries.into_iter().next()? else {
        return None;
    };
    if entry.is_empty() {
        return None;
    }
    match entry.swap_remove(0) {
        redis::Value::BulkString(id) => Some(id),
        redis::Value::SimpleString(id) => Some(id.into_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{MemoryBackplane, Server};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A task whose server is `server` (`None`: gone already).
    fn task(backoffs: Vec<Duration>, server: Option<&crate::server::ServerHandle>) -> Task {
        let shared: std::sync::Weak<dyn crate::server::backplane::Instance> = match server {
            Some(h) => {
                let strong: Arc<dyn crate::server::backplane::Instance> = h.shared.clone();
                Arc::downgrade(&strong)
            }
            None => std::sync::Weak::<crate::server::shared::Shared>::new(),
        };
        Task {
            client: redis::Client::open("redis://127.0.0.1:1").unwrap(),
            channel: "c".into(),
            key: None,
            timeout: Duration::from_secs(1),
            backoffs,
            stop: CancellationToken::new(),
            links: Default::default(),
            unsent: Default::default(),
            inbound: Inbound { shared },
            stream: None,
        }
    }

    fn bulk(b: &[u8]) -> redis::Value {
        redis::Value::BulkString(b.to_vec())
    }

    /// One XREAD entry: `[id, [field, value, ...]]`.
    fn entry(id: &[u8], fields: &[&[u8]]) -> redis::Value {
        redis::Value::Array(vec![
            bulk(id),
            redis::Value::Array(fields.iter().map(|f| bulk(f)).collect()),
        ])
    }

    fn got(pairs: &[(&[u8], &[u8])]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_vec(), b.to_vec()))
            .collect()
    }

    #[test]
    fn stream_entries_reads_resp2_and_resp3_replies() {
        use redis::Value;
        // RESP2: [[key, [entry, ...]]], the payload under `p` wherever it
        // is among the fields.
        let entries = Value::Array(vec![
            entry(b"1-0", &[b"p", b"one"]),
            entry(b"2-0", &[b"x", b"y", b"p", b"two"]),
        ]);
        let resp2 = Value::Array(vec![Value::Array(vec![bulk(b"k"), entries.clone()])]);
        let want = got(&[(b"1-0", b"one"), (b"2-0", b"two")]);
        assert_eq!(stream_entries(resp2), want);
        // The same as a flat [key, entries] array.
        let flat = Value::Array(vec![bulk(b"k"), entries.clone()]);
        assert_eq!(stream_entries(flat), want);
        // RESP3: a map of key to entries, the fields a map too, ids as
        // simple strings.
        let resp3 = Value::Map(vec![(
            bulk(b"k"),
            Value::Array(vec![Value::Array(vec![
                Value::SimpleString("3-0".into()),
                Value::Map(vec![(Value::SimpleString("p".into()), bulk(b"three"))]),
            ])]),
        )]);
        assert_eq!(stream_entries(resp3), got(&[(b"3-0", b"three")]));
        // Only a two-element array is a [key, entries] pair: a key that is
        // an array of three is a key like any other, its entries next.
        let odd_key = Value::Array(vec![
            Value::Array(vec![bulk(b"a"), bulk(b"b"), bulk(b"c")]),
            entries,
        ]);
        assert_eq!(stream_entries(odd_key), want);
        // Nil (XREAD timed out) and anything else: nothing.
        assert!(stream_entries(Value::Nil).is_empty());
        assert!(stream_entries(Value::Int(3)).is_empty());
    }

    #[test]
    fn stream_entries_keeps_foreign_entries_and_skips_malformed_ones() {
        use redis::Value;
        let entries = Value::Array(vec![
            // No `p` field: not ours, but the cursor moves past it.
            entry(b"1-0", &[b"q", b"x"]),
            // Not an [id, fields] pair.
            Value::Array(vec![bulk(b"2-0")]),
            Value::Array(vec![bulk(b"2-1"), Value::Nil, Value::Nil]),
            bulk(b"2-2"),
            // An id that is not a string.
            Value::Array(vec![
                Value::Int(5),
                Value::Array(vec![bulk(b"p"), bulk(b"x")]),
            ]),
            // Fields that are neither array nor map.
            Value::Array(vec![bulk(b"3-0"), Value::Int(1)]),
            // A dangling field name and a payload that is not a string.
            entry(b"4-0", &[b"p", b"four", b"p"]),
            Value::Array(vec![
                bulk(b"5-0"),
                Value::Array(vec![bulk(b"p"), Value::Int(9)]),
            ]),
        ]);
        let reply = Value::Array(vec![
            Value::Array(vec![bulk(b"k"), entries]),
            // A second stream whose entries are not an array.
            Value::Array(vec![bulk(b"other"), Value::Int(1)]),
        ]);
        assert_eq!(
            stream_entries(reply),
            got(&[
                (b"1-0", b""),
                (b"3-0", b""),
                (b"4-0", b"four"),
                (b"5-0", b"")
            ])
        );
    }

    #[test]
    fn newest_id_is_the_first_entrys_id() {
        use redis::Value;
        let one = Value::Array(vec![entry(b"7-1", &[b"p", b"x"]), entry(b"6-0", &[])]);
        assert_eq!(newest_id(one), Some(b"7-1".to_vec()));
        let simple = Value::Array(vec![Value::Array(vec![Value::SimpleString("8-0".into())])]);
        assert_eq!(newest_id(simple), Some(b"8-0".to_vec()));
        // An empty stream, an empty entry, an id that is not a string, and
        // a reply that is not an array: none.
        assert_eq!(newest_id(Value::Array(vec![])), None);
        assert_eq!(newest_id(Value::Array(vec![Value::Array(vec![])])), None);
        assert_eq!(newest_id(Value::Array(vec![bulk(b"9-0")])), None);
        assert_eq!(
            newest_id(Value::Array(vec![Value::Array(vec![Value::Int(1)])])),
            None
        );
        assert_eq!(newest_id(Value::Nil), None);
    }

    #[test]
    fn only_failures_of_unknown_fate_are_sent_again() {
        use redis::{ErrorKind, RedisError};
        let broken: RedisError = std::io::Error::from(std::io::ErrorKind::ConnectionReset).into();
        assert!(transient(&broken), "a broken connection");
        let refused = RedisError::from((ErrorKind::Client, "WRONGTYPE"));
        assert!(!transient(&refused), "a refusal would be refused again");
    }

    #[test]
    fn backoff_takes_the_attempts_entry_then_stays_at_the_last() {
        let t = task(vec![ms(1), ms(2), ms(3)], None);
        assert_eq!(
            [0, 1, 2, 3, 100].map(|a| t.backoff(a)),
            [ms(1), ms(2), ms(3), ms(3), ms(3)]
        );
    }

    #[test]
    fn stopped_when_told_or_when_the_server_is_gone() {
        let server = Server::builder()
            .backplane(MemoryBackplane::new())
            .build()
            .handle();
        let live = task(vec![ms(1)], Some(&server));
        assert!(!live.stopped());
        live.stop.cancel();
        assert!(live.stopped());
        assert!(task(vec![ms(1)], None).stopped(), "no server");
    }

    /// Between connection attempts the loop waits the whole backoff,
    /// dropping (and counting) what is queued meanwhile rather than
    /// relaying it late. Virtual time: nothing here touches a socket.
    #[tokio::test(start_paused = true)]
    async fn drop_for_waits_the_whole_delay_dropping_what_arrives() {
        let server = Server::builder()
            .backplane(MemoryBackplane::new())
            .build()
            .handle();
        let t = Arc::new(task(vec![ms(1)], Some(&server)));
        let (tx, mut rx) = mpsc::channel(4);
        let waiter = {
            let t = t.clone();
            tokio::spawn(async move { t.drop_for(&mut rx, ms(1000)).await })
        };
        tokio::time::sleep(ms(500)).await;
        assert!(!waiter.is_finished(), "returned before its delay");
        t.unsent.fetch_add(2, Relaxed);
        tx.send(Bytes::from_static(b"a")).await.unwrap();
        tx.send(Bytes::from_static(b"b")).await.unwrap();
        tokio::time::sleep(ms(400)).await;
        assert!(!waiter.is_finished(), "returned before its delay");
        assert_eq!(t.unsent.load(Relaxed), 0, "what arrived is not unsent");
        assert_eq!(server.stats().backplane_publish_failures, 2);
        tokio::time::sleep(ms(200)).await;
        assert!(waiter.await.unwrap(), "the delay ran out: go on");
        // Stopped, or the queue closed: false, at once.
        let (tx, mut rx) = mpsc::channel::<Bytes>(1);
        drop(tx);
        assert!(!t.drop_for(&mut rx, ms(1000)).await);
        let (_tx, mut rx) = mpsc::channel::<Bytes>(1);
        t.stop.cancel();
        assert!(!t.drop_for(&mut rx, ms(1000)).await);
    }

    /// A running server (memory backplane) and a task of it talking to
    /// the Redis at `url`, backing off 50 ms.
    fn task_on(url: &str) -> (crate::server::ServerHandle, Arc<Task>) {
        let server = Server::builder()
            .backplane(MemoryBackplane::new())
            .build()
            .handle();
        let mut t = task(vec![ms(50)], Some(&server));
        t.client = redis::Client::open(url).unwrap();
        (server, Arc::new(t))
    }

    /// Stops `t` and waits (bounded) for its loop to end.
    async fn stops(t: &Task, looping: tokio::task::JoinHandle<()>) {
        t.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), looping)
            .await
            .expect("the loop stops when told")
            .unwrap();
    }

    /// A minimal Redis on a real loopback socket: it answers every
    /// command (`:0` to PUBLISH, an id to XADD, an error to an XADD of
    /// the payload `refuse`, `+OK` to the rest) once it has read nothing
    /// for 100 ms, so each pipelined batch arrives whole before any reply
    /// and the sizes of the PUBLISH and XADD batches are recorded.
    async fn fake_redis() -> (String, Arc<std::sync::Mutex<Vec<usize>>>) {
        let (url, batches, _) = fake_redis_counting().await;
        (url, batches)
    }

    /// [`fake_redis`], taking any number of connections, and counting the
    /// `XREVRANGE`s it was sent: the first is answered with an error,
    /// the others with an empty stream (and an `XREAD` with nil).
    async fn fake_redis_counting() -> (
        String,
        Arc<std::sync::Mutex<Vec<usize>>>,
        Arc<std::sync::atomic::AtomicUsize>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let batches = Arc::new(std::sync::Mutex::new(Vec::new()));
        let ends = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (seen, asked) = (batches.clone(), ends.clone());
        let answer = move |c: &Vec<Vec<u8>>, publishes: &mut usize, reply: &mut Vec<u8>| {
            let is = |name: &[u8]| c[0].eq_ignore_ascii_case(name);
            if is(b"PUBLISH") {
                *publishes += 1;
                reply.extend_from_slice(b":0\r\n");
            } else if is(b"XADD") {
                *publishes += 1;
                if c.last().is_some_and(|p| p == b"refuse") {
                    reply.extend_from_slice(b"-WRONGTYPE not a stream\r\n");
                } else {
                    reply.extend_from_slice(b"$3\r\n1-0\r\n");
                }
            } else if is(b"XREVRANGE") {
                if asked.fetch_add(1, Relaxed) == 0 {
                    reply.extend_from_slice(b"-ERR not now\r\n");
                } else {
                    reply.extend_from_slice(b"*0\r\n");
                }
            } else if is(b"XREAD") {
                reply.extend_from_slice(b"*-1\r\n");
            } else {
                reply.extend_from_slice(b"+OK\r\n");
            }
        };
        let answer = Arc::new(answer);
        tokio::spawn(async move {
            // Bounded: a test makes a few connections at most.
            for _ in 0..16 {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (seen, answer) = (seen.clone(), answer.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let mut chunk = [0u8; 65536];
                        match tokio::time::timeout(ms(100), sock.read(&mut chunk)).await {
                            Ok(Ok(0)) | Ok(Err(_)) => return,
                            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                            Err(_) => {
                                let (commands, used) = parse_resp(&buf);
                                buf.drain(..used);
                                let mut reply = Vec::new();
                                let mut publishes = 0;
                                for c in &commands {
                                    answer(c, &mut publishes, &mut reply);
                                }
                                if publishes > 0 {
                                    seen.lock().unwrap().push(publishes);
                                }
                                if sock.write_all(&reply).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        (url, batches, ends)
    }

    /// The complete RESP command arrays at the front of `buf`, and the
    /// bytes they took.
    fn parse_resp(buf: &[u8]) -> (Vec<Vec<Vec<u8>>>, usize) {
        fn line(buf: &[u8], at: usize) -> Option<(usize, usize)> {
            let end = at + buf.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
            let n = std::str::from_utf8(&buf[at + 1..end]).ok()?.parse().ok()?;
            Some((n, end + 2))
        }
        let (mut commands, mut used) = (Vec::new(), 0);
        'commands: while let Some((parts, mut at)) = line(buf, used) {
            let mut command = Vec::new();
            for _ in 0..parts {
                let Some((len, start)) = line(buf, at) else {
                    break 'commands;
                };
                if buf.len() < start + len + 2 {
                    break 'commands;
                }
                command.push(buf[start..start + len].to_vec());
                at = start + len + 2;
            }
            commands.push(command);
            used = at;
        }
        (commands, used)
    }

    /// What is queued goes out in pipelined batches of at most `BATCH`,
    /// and every envelope sent leaves the unsent count (which shutdown's
    /// flush waits on).
    #[tokio::test]
    async fn queued_envelopes_go_out_in_bounded_batches_and_leave_unsent() {
        batches_are_bounded(None).await;
    }

    /// The same for a stream: `XADD`s pipelined, at most `BATCH` a batch.
    #[tokio::test]
    async fn queued_envelopes_go_to_the_stream_in_bounded_batches() {
        batches_are_bounded(Some(stream_mode())).await;
    }

    fn stream_mode() -> StreamMode {
        StreamMode {
            key: "framewire:{c}:stream".into(),
            maxlen: 100,
        }
    }

    async fn batches_are_bounded(stream: Option<StreamMode>) {
        let (url, batches) = fake_redis().await;
        let (server, t) = task_on(&url);
        let total = 2 * BATCH + 88;
        let (tx, rx) = mpsc::channel(total);
        for i in 0..total {
            t.unsent.fetch_add(1, Relaxed);
            tx.try_send(Bytes::from(i.to_string())).unwrap();
        }
        let publisher = match stream {
            None => tokio::spawn(t.clone().publish_loop(rx)),
            Some(stream) => tokio::spawn(t.clone().publish_stream_loop(rx, stream)),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while t.unsent.load(Relaxed) > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(ms(20)).await;
        }
        assert_eq!(
            t.unsent.load(Relaxed),
            0,
            "batches: {:?}",
            batches.lock().unwrap()
        );
        let sizes = batches.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), total, "{sizes:?}");
        assert!(sizes.iter().all(|&n| n <= BATCH), "{sizes:?}");
        assert!(sizes.iter().any(|&n| n > 1), "nothing pipelined: {sizes:?}");
        assert_eq!(server.stats().backplane_publish_failures, 0);
        stops(&t, publisher).await;
    }

    /// A batch Redis refuses outright is dropped and counted, not sent
    /// again (it would be refused again, forever); the next goes out.
    #[tokio::test]
    async fn a_refused_stream_batch_is_counted_and_the_next_goes_out() {
        let (url, batches) = fake_redis().await;
        let (server, t) = task_on(&url);
        let (tx, rx) = mpsc::channel(8);
        let publisher = tokio::spawn(t.clone().publish_stream_loop(rx, stream_mode()));
        let send = |what: &'static str| {
            t.unsent.fetch_add(1, Relaxed);
            tx.try_send(Bytes::from_static(what.as_bytes())).unwrap();
        };
        let settled = |want: usize| {
            let t = t.clone();
            let batches = batches.clone();
            async move {
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while (t.unsent.load(Relaxed) > 0 || batches.lock().unwrap().len() < want)
                    && std::time::Instant::now() < deadline
                {
                    tokio::time::sleep(ms(20)).await;
                }
            }
        };
        send("refuse");
        settled(1).await;
        assert_eq!(t.unsent.load(Relaxed), 0, "the refused batch left");
        assert_eq!(server.stats().backplane_publish_failures, 1);
        send("fine");
        settled(2).await;
        assert_eq!(t.unsent.load(Relaxed), 0);
        assert_eq!(*batches.lock().unwrap(), vec![1, 1], "each sent once");
        assert_eq!(server.stats().backplane_publish_failures, 1);
        stops(&t, publisher).await;
    }

    /// Reading where the stream ends fails once: the reader backs off and
    /// asks again on a new connection, then reads (it does not give up).
    #[tokio::test]
    async fn the_stream_reader_asks_for_the_end_again_after_a_failure() {
        let (url, _, ends) = fake_redis_counting().await;
        let (_server, t) = task_on(&url); // kept: the task stops once its server is gone
        let reader = tokio::spawn(t.clone().receive_stream_loop(stream_mode()));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !t.links.receiving.load(Relaxed) && std::time::Instant::now() < deadline {
            tokio::time::sleep(ms(20)).await;
        }
        assert!(t.links.receiving.load(Relaxed), "reading the stream");
        assert_eq!(ends.load(Relaxed), 2, "asked twice");
        assert!(!reader.is_finished());
        stops(&t, reader).await;
    }

    #[test]
    fn an_xread_blocks_half_the_timeout_and_its_reply_may_take_the_timeout_more() {
        assert_eq!(read_waits(ms(1000)), (ms(500), ms(1500)));
        assert_eq!(read_waits(ms(4)), (ms(10), ms(14)), "at least 10 ms");
        assert_eq!(read_waits(ms(5000)), (ms(1000), ms(6000)), "at most 1 s");
    }

    #[test]
    fn connected_only_while_both_links_are_up() {
        let server = Server::builder()
            .backplane(MemoryBackplane::new())
            .build()
            .handle();
        let t = task(vec![ms(1)], Some(&server));
        let links = &t.links;
        links.set(&links.publishing, true, &t.inbound);
        assert!(!server.stats().backplane_connected, "receiving is down");
        links.set(&links.receiving, true, &t.inbound);
        assert!(server.stats().backplane_connected);
        links.set(&links.publishing, false, &t.inbound);
        assert!(!server.stats().backplane_connected);
    }
}
