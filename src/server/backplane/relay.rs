//! The server's side of the backplane: what this instance relays goes out
//! with its origin (name and incarnation) and the next sequence number;
//! what comes in is checked against the last number delivered from its
//! origin (`sequence.rs`), so echoes of our own messages, repeats and gaps
//! are told apart, and only the message kinds instances relay are let in.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tracing::warn;

use crate::protocol::NotifyId;
use crate::server::stats::{once_a_second, Counters};
use crate::sync::lock;
use crate::wire::{Message, MessageType};

use super::envelope::{Envelope, Target, MAX_ORIGIN};
use super::sequence::{Sequences, Verdict};
use super::Backplane;
#[cfg(feature = "redis")]
use super::MacError;

/// Seconds between two log lines about refused envelopes: a flood of
/// forged or broken envelopes costs one WARN per period, saying how many
/// were not logged.
const REFUSAL_LOG_PERIOD: u64 = 10;

pub(crate) struct Relay {
    backplane: Arc<dyn Backplane>,
    origin: Bytes,
    /// Random per built server, so a restarted instance with the same
    /// name starts a fresh sequence instead of looking like repeats.
    incarnation: u64,
    next_seq: AtomicU64,
    /// The message kinds relayed, out and in.
    kinds: Vec<MessageType>,
    seen: Mutex<Sequences>,
    started: AtomicBool,
    connected: AtomicBool,
    /// Unix second of the last loss log line.
    logged_at: AtomicU64,
    /// Log lines about envelopes refused on the way in.
    refusals: Throttle,
    /// Log lines about messages of a kind that is not relayed.
    unrelayed: Throttle,
}

/// What an envelope from the backplane turned out to be.
// Returned and matched at once, never kept: boxing the envelope would
// cost an allocation per relayed message for nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Arrival {
    /// Deliver it locally.
    Deliver(Envelope),
    /// One of ours coming back.
    Own,
    /// Already delivered (or older than what was).
    Repeat,
    /// Undecodable, of a kind not relayed, or out of its origin's
    /// sequence window: counted and logged (rate-limited) already.
    Refused,
}

impl Relay {
    pub(crate) fn new(backplane: Arc<dyn Backplane>, name: &str) -> Relay {
        let kinds = backplane.relayed_kinds().to_vec();
        Relay {
            backplane,
            origin: Bytes::copy_from_slice(cut(name).as_bytes()),
            incarnation: crate::random::u64(),
            next_seq: AtomicU64::new(1),
            kinds,
            seen: Mutex::new(Sequences::default()),
            started: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            logged_at: AtomicU64::new(0),
            refusals: Throttle::default(),
            unrelayed: Throttle::default(),
        }
    }

    /// This instance's incarnation (random per built server).
    pub(crate) fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// This instance's name on the backplane.
    pub(crate) fn name(&self) -> &[u8] {
        &self.origin
    }

    /// Whether this is the first call (the backplane must be started).
    pub(crate) fn first_start(&self) -> bool {
        !self.started.swap(true, Relaxed)
    }

    pub(crate) fn backplane(&self) -> &dyn Backplane {
        &*self.backplane
    }

    pub(crate) fn set_connected(&self, up: bool) {
        self.connected.store(up, Relaxed);
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Relaxed)
    }

    /// Numbers `msg`, stamps it with its notification id (so a client
    /// that hears it from two instances while moving keeps one), encodes
    /// it for `target` once and hands it to the backplane. Returns the
    /// stamped message for local delivery. A message of a kind that is
    /// not relayed stays local (the other instances would refuse it).
    pub(crate) fn publish(&self, target: Target, mut msg: Message, counters: &Counters) -> Message {
        if !self.kinds.contains(&msg.message_type) {
            if let Some(suppressed) = self.unrelayed.allow() {
                warn!(message_type = %msg.message_type, suppressed,
                      "message kind not relayed by the backplane: delivered on this instance only");
            }
            return msg;
        }
        let seq = self.next_seq.fetch_add(1, Relaxed);
        NotifyId::new(self.incarnation, seq).attach(&mut msg);
        let envelope = Envelope {
            origin: self.origin.clone(),
            incarnation: self.incarnation,
            seq,
            target,
            msg,
        };
        let published = match envelope.encode() {
            Ok(bytes) => self.backplane.publish(bytes),
            Err(e) => {
                warn!(error = %e, "message cannot be relayed");
                false
            }
        };
        if published {
            counters.backplane_published();
        } else {
            counters.backplane_publish_failed(1);
            self.log_loss(counters, "backplane publish failed: message not relayed");
        }
        envelope.msg
    }

    /// Sorts one envelope from the backplane, counting what it skipped or
    /// refused.
    pub(crate) fn arrive(&self, bytes: Bytes, counters: &Counters) -> Arrival {
        let envelope = match Envelope::decode(bytes) {
            Ok(e) => e,
            Err(e) => return self.refuse(counters, &e),
        };
        if envelope.origin == self.origin && envelope.incarnation == self.incarnation {
            return Arrival::Own;
        }
        if !self.kinds.contains(&envelope.msg.message_type) {
            let why = format!("message kind {} is not relayed", envelope.msg.message_type);
            return self.refuse(counters, &why);
        }
        let verdict = lock(&self.seen).check(&envelope.origin, envelope.incarnation, envelope.seq);
        match verdict {
            Verdict::Deliver { lost } => {
                if lost > 0 {
                    counters.backplane_lost(lost);
                    self.log_loss(counters, "backplane messages lost (sequence gap)");
                }
                Arrival::Deliver(envelope)
            }
            Verdict::Repeat => Arrival::Repeat,
            Verdict::OutOfWindow => self.refuse(counters, &"sequence number outside its window"),
        }
    }

    /// Counts and logs (rate-limited) an envelope refused as invalid.
    pub(crate) fn refuse(&self, counters: &Counters, why: &dyn std::fmt::Display) -> Arrival {
        counters.backplane_invalid();
        if let Some(suppressed) = self.refusals.allow() {
            warn!(error = %why, suppressed, "backplane envelope refused");
        }
        Arrival::Refused
    }

    /// Counts and logs (rate-limited, with the other refusals) a payload
    /// whose cluster-key MAC is missing or wrong.
    #[cfg(feature = "redis")]
    pub(crate) fn refuse_unauthenticated(&self, counters: &Counters, why: MacError) {
        counters.backplane_unauthenticated();
        if let Some(suppressed) = self.refusals.allow() {
            warn!(error = %why, suppressed, "backplane envelope refused");
        }
    }

    fn log_loss(&self, counters: &Counters, what: &'static str) {
        if once_a_second(&self.logged_at) {
            let (failed, lost) = counters.backplane_losses();
            warn!(
                publish_failures = failed,
                lost,
                instance = %String::from_utf8_lossy(&self.origin),
                "{what}"
            );
        }
    }
}

/// At most one log line per [`REFUSAL_LOG_PERIOD`]; the events in between
/// are counted and reported with the next line.
#[derive(Default)]
struct Throttle {
    /// Unix second of the last line (0: none yet).
    logged_at: AtomicU64,
    suppressed: AtomicU64,
}

impl Throttle {
    /// Some(events suppressed since the last line) if a line may be
    /// logged now.
    fn allow(&self) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_secs().max(1));
        self.allow_at(now)
    }

    fn allow_at(&self, now: u64) -> Option<u64> {
        let then = self.logged_at.load(Relaxed);
        let due = then == 0 || now >= then.saturating_add(REFUSAL_LOG_PERIOD);
        if due
            && self
                .logged_at
                .compare_exchange(then, now, Relaxed, Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Relaxed));
        }
        self.suppressed.fetch_add(1, Relaxed);
        None
    }
}

/// `name` cut to the envelope's limit on a character boundary.
fn cut(name: &str) -> &str {
    let mut end = name.len().min(MAX_ORIGIN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// A random instance name: 8 hex digits.
pub(crate) fn random_name() -> String {
    format!("{:08x}", crate::random::u32())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::MemoryBackplane;

    fn envelope_of(origin: &str, incarnation: u64, seq: u64, msg: Message) -> Bytes {
        Envelope {
            origin: Bytes::copy_from_slice(origin.as_bytes()),
            incarnation,
            seq,
            target: Target::All,
            msg,
        }
        .encode()
        .unwrap()
    }

    fn envelope(origin: &str, incarnation: u64, seq: u64) -> Bytes {
        let msg = Message::new(MessageType::NOTIFY_URI, "t", "x");
        envelope_of(origin, incarnation, seq, msg)
    }

    fn kind(relay: &Relay, counters: &Counters, b: Bytes) -> &'static str {
        match relay.arrive(b, counters) {
            Arrival::Deliver(_) => "deliver",
            Arrival::Own => "own",
            Arrival::Repeat => "repeat",
            Arrival::Refused => "refused",
        }
    }

    #[test]
    fn gaps_repeats_and_own_echoes_are_told_apart() {
        let relay = Relay::new(Arc::new(MemoryBackplane::new()), "me");
        let counters = Counters::default();
        let kind = |b| kind(&relay, &counters, b);
        assert_eq!(kind(envelope("a", 1, 5)), "deliver");
        assert_eq!(kind(envelope("a", 1, 6)), "deliver");
        assert_eq!(kind(envelope("a", 1, 6)), "repeat");
        assert_eq!(kind(envelope("a", 1, 9)), "deliver"); // 7 and 8 lost
        assert_eq!(kind(envelope("a", 1, 8)), "repeat"); // late: never twice
        assert_eq!(counters.backplane_losses(), (0, 2));
        // A restarted "a" starts over without counting a gap.
        assert_eq!(kind(envelope("a", 2, 1)), "deliver");
        assert_eq!(counters.backplane_losses(), (0, 2));
        // The same name with our incarnation is us; another is not.
        assert_eq!(kind(envelope("me", relay.incarnation, 3)), "own");
        assert_eq!(kind(envelope("me", relay.incarnation ^ 1, 3)), "deliver");
        assert_eq!(kind(Bytes::from_static(b"junk")), "refused");
        assert_eq!(counters.snapshot(0, 0).backplane_invalid, 1);
    }

    #[test]
    fn a_max_sequence_envelope_does_not_silence_its_origin() {
        let relay = Relay::new(Arc::new(MemoryBackplane::new()), "me");
        let counters = Counters::default();
        let kind = |b| kind(&relay, &counters, b);
        assert_eq!(kind(envelope("a", 1, 1)), "deliver");
        assert_eq!(kind(envelope("a", 1, u64::MAX)), "refused");
        assert_eq!(kind(envelope("a", 1, 2)), "deliver");
        assert_eq!(counters.snapshot(0, 0).backplane_invalid, 1);
    }

    #[test]
    fn only_relayed_kinds_get_in_or_out() {
        let relay = Relay::new(Arc::new(MemoryBackplane::new()), "me");
        let counters = Counters::default();
        for t in [
            MessageType::OK,
            MessageType::RESPOND_URI,
            MessageType::DISCONNECT,
            MessageType::PUBLISH_URI,
            MessageType::ADVERTISE_PEER,
        ] {
            let msg = Message::new(t, "t", "forged");
            assert_eq!(
                kind(&relay, &counters, envelope_of("a", 1, 1, msg)),
                "refused"
            );
        }
        assert_eq!(counters.snapshot(0, 0).backplane_invalid, 5);
        // The refused ones left no sequence state behind.
        assert_eq!(kind(&relay, &counters, envelope("a", 1, 1)), "deliver");
        // Out: an OK is delivered here only, not numbered or published.
        let out = relay.publish(
            Target::All,
            Message::new(MessageType::OK, "t", ""),
            &counters,
        );
        assert!(NotifyId::of(&out).is_none());
        let s = counters.snapshot(0, 0);
        assert_eq!(
            (s.backplane_published, s.backplane_publish_failures),
            (0, 0)
        );
    }

    #[test]
    fn refusal_lines_are_throttled_with_a_count() {
        let t = Throttle::default();
        assert_eq!(t.allow_at(100), Some(0));
        for _ in 0..1000 {
            assert_eq!(t.allow_at(105), None);
        }
        assert_eq!(t.allow_at(110), Some(1000));
        assert_eq!(t.allow_at(110), None);
    }

    #[test]
    fn names_are_cut_on_a_character_boundary() {
        let long = "é".repeat(200); // 400 bytes
        let cut = cut(&long);
        assert!(cut.len() <= MAX_ORIGIN && cut.len() >= MAX_ORIGIN - 1);
        assert!(long.starts_with(cut));
    }
}
