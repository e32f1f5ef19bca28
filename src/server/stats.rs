//! Server counters, readable from the handle.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::warn;

use crate::proto::pipeline::Count;

use super::metrics;
use super::registry::Conn;

const REJECTED: &str = "framewire_frames_rejected_total";
const HANDLER_ERRORS: &str = "framewire_handler_errors_total";
const BACKPLANE: &str = "framewire_backplane_messages_total";
const QUEUE_GROUP: &str = "framewire_queue_group_messages_total";
use super::{SlowConsumerPolicy, SubscribeError};

/// A snapshot of the server's counters (totals since it was built, except
/// the gauges `connections` and `topics`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections open now.
    pub connections: usize,
    /// Topics with at least one subscriber now.
    pub topics: usize,
    /// What every subscription counts for now against
    /// [`Limits::max_subscription_bytes`](super::Limits::max_subscription_bytes)
    /// (topic bytes plus
    /// [`Limits::SUBSCRIPTION_OVERHEAD`](super::Limits::SUBSCRIPTION_OVERHEAD)
    /// each).
    pub subscription_bytes: usize,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections refused because of `max_connections` (or shutdown).
    pub rejected: u64,
    /// Connections refused because their address already had
    /// `max_connections_per_address`.
    pub rejected_per_address: u64,
    /// Frames decoded.
    pub frames_in: u64,
    /// Frames written to sockets.
    pub frames_out: u64,
    /// Bytes read from sockets (TLS: the decrypted stream).
    pub bytes_in: u64,
    /// Bytes of frames written to sockets.
    pub bytes_out: u64,
    /// Frames whose checksum did not match.
    pub checksum_errors: u64,
    /// Frames that failed an auth check.
    pub auth_failures: u64,
    /// Verified frames refused because the replay cache was full (the
    /// server's capacity: answered with a signed "server busy" ERROR, not
    /// counted against the peer).
    pub replay_capacity_refusals: u64,
    /// Frames dropped because decryption failed.
    pub decrypt_failures: u64,
    /// Connections closed for a structural decode error.
    pub decode_errors: u64,
    /// Frames that did not fit a receiver's queue.
    pub slow_consumer_drops: u64,
    /// Connections closed because their queue was full.
    pub slow_consumer_disconnects: u64,
    /// Handlers that returned an error.
    pub handler_errors: u64,
    /// Handlers that panicked.
    pub handler_panics: u64,
    /// Messages a typed handler's extractors refused (content that does
    /// not parse or validate, a missing parameter), answered ERROR with
    /// the reason; not counted in `handler_errors`.
    pub content_rejections: u64,
    /// Connections closed by the frame or idle deadline, or a stalled write.
    pub timeouts: u64,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// TLS handshakes that failed or ran out of time (also counted in
    /// `timeouts` when they ran out of time).
    pub tls_handshake_failures: u64,
    /// Connections closed for not authenticating within
    /// [`Limits::auth_timeout`](super::Limits::auth_timeout) (also in
    /// `timeouts`).
    pub auth_timeouts: u64,
    /// Connections closed for sending no frame within
    /// [`Limits::first_frame_timeout`](super::Limits::first_frame_timeout)
    /// (also in `timeouts`).
    pub first_frame_timeouts: u64,
    /// Messages refused by their sender's permissions (answered
    /// NOT_PERMITTED, never handled).
    pub permission_denials: u64,
    /// Logins the login gate (or the protocol version check) refused.
    pub login_refusals: u64,
    /// Subscriptions refused by a bound: the count, the topic's length,
    /// the connection's or the server's subscription bytes (answered
    /// with an ERROR by the ready-made SUBSCRIBE handler).
    pub subscriptions_refused: u64,
    /// Whether the [backplane](super::Backplane) is connected now (false
    /// without one).
    pub backplane_connected: bool,
    /// Messages the backplane took for the other instances (some may
    /// still fail later: see `backplane_publish_failures`).
    pub backplane_published: u64,
    /// Messages that were not relayed: refused by the backplane (down, or
    /// its queue full) or lost after it took them (the connection to Redis
    /// broke): the other instances never get them.
    pub backplane_publish_failures: u64,
    /// Messages from other instances delivered here.
    pub backplane_received: u64,
    /// Messages from other instances that never arrived here, counted from
    /// the gaps in each origin's sequence numbers (once something later
    /// from that origin arrives).
    pub backplane_lost: u64,
    /// Messages from other instances dropped as already delivered.
    pub backplane_duplicates: u64,
    /// Backplane payloads refused as invalid: not framewire envelopes,
    /// carrying a message kind that is not relayed, or with a sequence
    /// number too far from its origin's.
    pub backplane_invalid: u64,
    /// Backplane payloads refused because their cluster-key MAC was
    /// missing or wrong (forged, or an instance with another key or
    /// none).
    pub backplane_unauthenticated: u64,
    /// Queue-group notifications this instance was assigned after its
    /// last member of the group left, handed on to another instance that
    /// has members.
    pub queue_group_handoffs: u64,
    /// Queue-group notifications no member got: assigned to an instance
    /// with no member of the group left and nowhere to hand them on (or
    /// handed on to one that had none either).
    pub queue_group_undelivered: u64,
}

impl Stats {
    /// What changed since `earlier`: every counter as the difference
    /// (zero if `earlier` is the later one), the gauges (`connections`,
    /// `topics`, `backplane_connected`) as they are now. For a test's
    /// "this much happened".
    ///
    /// ```
    /// use framewire::server::Server;
    ///
    /// let handle = Server::builder().build().handle();
    /// let before = handle.stats();
    /// // ... traffic ...
    /// assert_eq!(handle.stats().since(&before).frames_in, 0);
    /// ```
    pub fn since(&self, earlier: &Stats) -> Stats {
        // A struct literal: a counter added to Stats and not listed here
        // does not compile.
        macro_rules! delta {
            ($($counter:ident),* $(,)?) => {
                Stats {
                    connections: self.connections,
                    topics: self.topics,
                    subscription_bytes: self.subscription_bytes,
                    backplane_connected: self.backplane_connected,
                    $($counter: self.$counter.saturating_sub(earlier.$counter),)*
                }
            };
        }
        delta!(
            accepted,
            rejected,
            rejected_per_address,
            frames_in,
            frames_out,
            bytes_in,
            bytes_out,
            checksum_errors,
            auth_failures,
            replay_capacity_refusals,
            decrypt_failures,
            decode_errors,
            slow_consumer_drops,
            slow_consumer_disconnects,
            handler_errors,
            handler_panics,
            content_rejections,
            timeouts,
            tls_handshakes,
            tls_handshake_failures,
            auth_timeouts,
            first_frame_timeouts,
            permission_denials,
            login_refusals,
            subscriptions_refused,
            backplane_published,
            backplane_publish_failures,
            backplane_received,
            backplane_lost,
            backplane_duplicates,
            backplane_invalid,
            backplane_unauthenticated,
            queue_group_handoffs,
            queue_group_undelivered,
        )
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    accepted: AtomicU64,
    rejected: AtomicU64,
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    checksum_errors: AtomicU64,
    auth_failures: AtomicU64,
    replay_capacity: AtomicU64,
    rejected_per_address: AtomicU64,
    decrypt_failures: AtomicU64,
    decode_errors: AtomicU64,
    slow_drops: AtomicU64,
    slow_disconnects: AtomicU64,
    handler_errors: AtomicU64,
    handler_panics: AtomicU64,
    content_rejections: AtomicU64,
    timeouts: AtomicU64,
    tls_handshakes: AtomicU64,
    pub(crate) tls_failures: AtomicU64,
    auth_timeouts: AtomicU64,
    first_frame_timeouts: AtomicU64,
    permission_denials: AtomicU64,
    login_refusals: AtomicU64,
    subscriptions_refused: AtomicU64,
    bp_published: AtomicU64,
    bp_publish_failures: AtomicU64,
    bp_received: AtomicU64,
    bp_lost: AtomicU64,
    bp_duplicates: AtomicU64,
    bp_invalid: AtomicU64,
    bp_unauthenticated: AtomicU64,
    group_handoffs: AtomicU64,
    group_undelivered: AtomicU64,
    /// Unix second of the last slow-consumer log line.
    slow_logged_at: AtomicU64,
    /// Unix second of the last TLS handshake failure log line.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) tls_logged_at: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

/// Whether a rate-limited log line may be written now: true at most once
/// per wall-clock second for each `last` (the Unix second it last said
/// yes), so a flood of failures never becomes a flood of logs.
pub(crate) fn once_a_second(last: &AtomicU64) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let then = last.load(Relaxed);
    now > then && last.compare_exchange(then, now, Relaxed, Relaxed).is_ok()
}

impl Counters {
    pub(crate) fn accepted(&self) {
        bump(&self.accepted);
        metrics::counter("framewire_connections_accepted_total", 1);
    }

    pub(crate) fn rejected(&self) {
        bump(&self.rejected);
        metrics::counter_with(
            "framewire_connections_refused_total",
            "reason",
            "max_connections",
            1,
        );
    }

    pub(crate) fn rejected_per_address(&self) {
        bump(&self.rejected_per_address);
        metrics::counter_with(
            "framewire_connections_refused_total",
            "reason",
            "per_address",
            1,
        );
    }

    pub(crate) fn frames_in(&self, frames: u64, bytes: u64) {
        self.frames_in.fetch_add(frames, Relaxed);
        self.bytes_in.fetch_add(bytes, Relaxed);
        metrics::counter("framewire_frames_received_total", frames);
        metrics::counter("framewire_received_bytes_total", bytes);
    }

    pub(crate) fn frames_out(&self, frames: u64, bytes: u64) {
        self.frames_out.fetch_add(frames, Relaxed);
        self.bytes_out.fetch_add(bytes, Relaxed);
        metrics::counter("framewire_frames_sent_total", frames);
        metrics::counter("framewire_sent_bytes_total", bytes);
        // The frames a writer took at once: the queue's depth when it got
        // to write.
        metrics::histogram("framewire_outbound_queue_frames", frames as f64);
    }

    pub(crate) fn decode_error(&self) {
        bump(&self.decode_errors);
        metrics::counter_with("framewire_frames_rejected_total", "reason", "decode", 1);
    }

    /// A connection closed by a deadline: `kind` is `deadline` (frame or
    /// idle), `write`, `auth`, `first_frame` or `tls_handshake`.
    pub(crate) fn timeout(&self, kind: &'static str) {
        bump(&self.timeouts);
        match kind {
            "auth" => bump(&self.auth_timeouts),
            "first_frame" => bump(&self.first_frame_timeouts),
            _ => {}
        }
        metrics::counter_with("framewire_timeouts_total", "kind", kind, 1);
    }

    /// A TLS handshake that completed (or not).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn tls_handshake(&self, ok: bool) {
        bump(if ok {
            &self.tls_handshakes
        } else {
            &self.tls_failures
        });
        let result = if ok { "ok" } else { "failed" };
        metrics::counter_with("framewire_tls_handshakes_total", "result", result, 1);
    }

    /// The open connections now (the gauge).
    pub(crate) fn connections_open(&self, n: usize) {
        metrics::gauge("framewire_connections_open", n as f64);
    }

    /// Counts what the pipeline reported.
    pub(crate) fn count(&self, what: Count) {
        let (counter, name, label) = match what {
            Count::ChecksumError => (&self.checksum_errors, REJECTED, Some("checksum")),
            Count::AuthFailure => (&self.auth_failures, REJECTED, Some("auth")),
            Count::ReplayCapacity => (&self.replay_capacity, REJECTED, Some("replay_capacity")),
            Count::DecryptFailure => (&self.decrypt_failures, REJECTED, Some("decrypt")),
            Count::PermissionDenied => (&self.permission_denials, REJECTED, Some("permission")),
            Count::HandlerError => (&self.handler_errors, HANDLER_ERRORS, Some("error")),
            Count::HandlerPanic => (&self.handler_panics, HANDLER_ERRORS, Some("panic")),
            Count::ContentRejected => (&self.content_rejections, HANDLER_ERRORS, Some("rejected")),
            Count::LoginRefused => (&self.login_refusals, "framewire_logins_refused_total", None),
        };
        bump(counter);
        match (name, label) {
            (REJECTED, Some(reason)) => metrics::counter_with(name, "reason", reason, 1),
            (_, Some(kind)) => metrics::counter_with(name, "kind", kind, 1),
            (_, None) => metrics::counter(name, 1),
        }
    }

    /// Counts a frame that did not fit `conn`'s queue, logging at most once
    /// a second: a flood of slow receivers must not become a flood of logs.
    pub(crate) fn slow_consumer(&self, conn: &Conn, policy: SlowConsumerPolicy) {
        let total = match policy {
            SlowConsumerPolicy::Disconnect => self.slow_disconnects.fetch_add(1, Relaxed),
            _ => self.slow_drops.fetch_add(1, Relaxed),
        } + 1;
        let action = match policy {
            SlowConsumerPolicy::Disconnect => "disconnect",
            _ => "drop",
        };
        metrics::counter_with("framewire_slow_consumer_total", "action", action, 1);
        if once_a_second(&self.slow_logged_at) {
            let (frames, bytes) = conn.outbound.len();
            warn!(conn = %conn.id, peer = %conn.peer, ?policy, queued_frames = frames,
                  queued_bytes = bytes, total, "slow consumer: outbound queue full");
        }
    }

    /// A subscription a bound refused (a closed connection is not
    /// counted: nothing was refused).
    pub(crate) fn subscription_refused(&self, e: &SubscribeError) {
        let reason = match e {
            SubscribeError::TooMany { .. } => "count",
            SubscribeError::TopicTooLong { .. } => "topic_len",
            SubscribeError::TooManyBytes { .. } => "connection_bytes",
            SubscribeError::ServerFull { .. } => "server_bytes",
            SubscribeError::TooManyGroups { .. } => "queue_groups",
            SubscribeError::BadGroup => "group_name",
            SubscribeError::NoSuchConnection(_) => return,
        };
        bump(&self.subscriptions_refused);
        metrics::counter_with("framewire_subscriptions_refused_total", "reason", reason, 1);
    }

    pub(crate) fn backplane_published(&self) {
        bump(&self.bp_published);
        metrics::counter_with(BACKPLANE, "event", "published", 1);
    }

    pub(crate) fn backplane_publish_failed(&self, n: u64) {
        self.bp_publish_failures.fetch_add(n, Relaxed);
        metrics::counter_with(BACKPLANE, "event", "publish_failed", n);
    }

    pub(crate) fn backplane_lost(&self, n: u64) {
        self.bp_lost.fetch_add(n, Relaxed);
        metrics::counter_with(BACKPLANE, "event", "lost", n);
    }

    pub(crate) fn backplane_received(&self) {
        bump(&self.bp_received);
        metrics::counter_with(BACKPLANE, "event", "received", 1);
    }

    pub(crate) fn backplane_duplicate(&self) {
        bump(&self.bp_duplicates);
        metrics::counter_with(BACKPLANE, "event", "duplicate", 1);
    }

    pub(crate) fn backplane_invalid(&self) {
        bump(&self.bp_invalid);
        metrics::counter_with(BACKPLANE, "event", "invalid", 1);
    }

    #[cfg(feature = "redis")]
    pub(crate) fn backplane_unauthenticated(&self) {
        bump(&self.bp_unauthenticated);
        metrics::counter_with(BACKPLANE, "event", "unauthenticated", 1);
    }

    pub(crate) fn queue_group_handoff(&self) {
        bump(&self.group_handoffs);
        metrics::counter_with(QUEUE_GROUP, "event", "handoff", 1);
    }

    pub(crate) fn queue_group_undelivered(&self) {
        bump(&self.group_undelivered);
        metrics::counter_with(QUEUE_GROUP, "event", "undelivered", 1);
    }

    pub(crate) fn backplane_connected(&self, up: bool) {
        metrics::gauge("framewire_backplane_connected", f64::from(u8::from(up)));
    }

    /// Publish failures and losses so far, for the log line.
    pub(crate) fn backplane_losses(&self) -> (u64, u64) {
        (
            self.bp_publish_failures.load(Relaxed),
            self.bp_lost.load(Relaxed),
        )
    }

    pub(crate) fn snapshot(&self, connections: usize, topics: usize) -> Stats {
        let g = |c: &AtomicU64| c.load(Relaxed);
        Stats {
            connections,
            topics,
            subscription_bytes: 0,
            accepted: g(&self.accepted),
            rejected: g(&self.rejected),
            frames_in: g(&self.frames_in),
            frames_out: g(&self.frames_out),
            bytes_in: g(&self.bytes_in),
            bytes_out: g(&self.bytes_out),
            checksum_errors: g(&self.checksum_errors),
            auth_failures: g(&self.auth_failures),
            replay_capacity_refusals: g(&self.replay_capacity),
            rejected_per_address: g(&self.rejected_per_address),
            decrypt_failures: g(&self.decrypt_failures),
            decode_errors: g(&self.decode_errors),
            slow_consumer_drops: g(&self.slow_drops),
            slow_consumer_disconnects: g(&self.slow_disconnects),
            handler_errors: g(&self.handler_errors),
            handler_panics: g(&self.handler_panics),
            content_rejections: g(&self.content_rejections),
            timeouts: g(&self.timeouts),
            tls_handshakes: g(&self.tls_handshakes),
            tls_handshake_failures: g(&self.tls_failures),
            auth_timeouts: g(&self.auth_timeouts),
            first_frame_timeouts: g(&self.first_frame_timeouts),
            permission_denials: g(&self.permission_denials),
            login_refusals: g(&self.login_refusals),
            subscriptions_refused: g(&self.subscriptions_refused),
            backplane_connected: false,
            backplane_published: g(&self.bp_published),
            backplane_publish_failures: g(&self.bp_publish_failures),
            backplane_received: g(&self.bp_received),
            backplane_lost: g(&self.bp_lost),
            backplane_duplicates: g(&self.bp_duplicates),
            backplane_invalid: g(&self.bp_invalid),
            backplane_unauthenticated: g(&self.bp_unauthenticated),
            queue_group_handoffs: g(&self.group_handoffs),
            queue_group_undelivered: g(&self.group_undelivered),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each counter bumped a different number of times: a counter read
    /// into the wrong field, or bumped by the wrong call, shows.
    #[test]
    fn every_counter_lands_in_its_own_field() {
        let c = Counters::default();
        let times = |n: u64, f: &dyn Fn()| (0..n).for_each(|_| f());
        times(1, &|| c.accepted());
        times(2, &|| c.rejected());
        times(3, &|| c.rejected_per_address());
        c.frames_in(4, 40);
        c.frames_out(5, 50);
        times(6, &|| c.decode_error());
        times(7, &|| c.timeout("write"));
        times(8, &|| c.timeout("auth"));
        times(9, &|| c.timeout("first_frame"));
        times(10, &|| c.tls_handshake(true));
        times(11, &|| c.tls_handshake(false));
        for (n, what) in [
            (12, Count::ChecksumError),
            (13, Count::AuthFailure),
            (14, Count::ReplayCapacity),
            (15, Count::DecryptFailure),
            (16, Count::PermissionDenied),
            (17, Count::HandlerError),
            (18, Count::HandlerPanic),
            (19, Count::LoginRefused),
            (27, Count::ContentRejected),
        ] {
            times(n, &|| c.count(what));
        }
        times(20, &|| {
            c.subscription_refused(&SubscribeError::TooMany { max: 1 })
        });
        c.subscription_refused(&SubscribeError::TopicTooLong { len: 2, max: 1 });
        c.subscription_refused(&SubscribeError::TooManyBytes { max: 1 });
        c.subscription_refused(&SubscribeError::ServerFull { max: 1 });
        let gone = crate::server::ConnectionId(9);
        c.subscription_refused(&SubscribeError::NoSuchConnection(gone));
        times(21, &|| c.backplane_published());
        c.backplane_publish_failed(22);
        c.backplane_lost(23);
        times(24, &|| c.backplane_received());
        times(25, &|| c.backplane_duplicate());
        times(26, &|| c.backplane_invalid());
        times(30, &|| c.queue_group_handoff());
        times(31, &|| c.queue_group_undelivered());
        #[cfg(feature = "redis")]
        c.backplane_unauthenticated();
        assert_eq!(c.backplane_losses(), (22, 23));
        let s = c.snapshot(28, 29);
        let got = [
            s.accepted,
            s.rejected,
            s.rejected_per_address,
            s.frames_in,
            s.bytes_in,
            s.frames_out,
            s.bytes_out,
            s.decode_errors,
            s.timeouts,
            s.auth_timeouts,
            s.first_frame_timeouts,
            s.tls_handshakes,
            s.tls_handshake_failures,
            s.checksum_errors,
            s.auth_failures,
            s.replay_capacity_refusals,
            s.decrypt_failures,
            s.permission_denials,
            s.handler_errors,
            s.handler_panics,
            s.login_refusals,
            s.subscriptions_refused,
            s.backplane_published,
            s.backplane_publish_failures,
            s.backplane_lost,
            s.backplane_received,
            s.backplane_duplicates,
            s.backplane_invalid,
            s.content_rejections,
        ];
        assert_eq!(
            got,
            [
                1, 2, 3, 4, 40, 5, 50, 6, 24, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 23, 21,
                22, 23, 24, 25, 26, 27
            ]
        );
        assert_eq!((s.connections, s.topics), (28, 29));
        assert_eq!(
            (s.queue_group_handoffs, s.queue_group_undelivered),
            (30, 31)
        );
        #[cfg(feature = "redis")]
        assert_eq!(s.backplane_unauthenticated, 1);
    }

    #[test]
    fn once_a_second_lets_one_through_per_second() {
        let last = AtomicU64::new(0);
        assert!(once_a_second(&last), "the first");
        assert!(!once_a_second(&last), "the same second");
        last.store(u64::MAX, Relaxed);
        assert!(!once_a_second(&last), "a time in the future");
    }

    /// The gauges and the slow-consumer label reach the installed recorder.
    #[cfg(feature = "cli")]
    #[tokio::test]
    async fn gauges_and_labels_reach_the_recorder() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let server = crate::server::Server::builder().build().handle();
        let conn = crate::server::connection::register(&server, "127.0.0.1:9".parse().unwrap());
        ::metrics::with_local_recorder(&recorder, || {
            let c = Counters::default();
            c.connections_open(3);
            c.backplane_connected(true);
            c.slow_consumer(&conn, SlowConsumerPolicy::Disconnect);
            c.slow_consumer(&conn, SlowConsumerPolicy::DropNewest);
            c.slow_consumer(&conn, SlowConsumerPolicy::DropNewest);
        });
        let text = handle.render();
        for line in [
            "framewire_connections_open 3",
            "framewire_backplane_connected 1",
            "framewire_slow_consumer_total{action=\"disconnect\"} 1",
            "framewire_slow_consumer_total{action=\"drop\"} 2",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
