//! The server's side of the backplane: what this instance relays goes out
//! with its origin (name and incarnation) and the next sequence number;
//! what comes in is checked against the last number delivered from its
//! origin, so echoes of our own messages, repeats and gaps are told apart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tracing::warn;

use crate::protocol::NotifyId;
use crate::server::stats::{once_a_second, Counters};
use crate::sync::lock;
use crate::wire::Message;

use super::envelope::{Envelope, EnvelopeError, Target, MAX_ORIGIN};
use super::Backplane;

/// Origins remembered at once. Past it the table is cleared: at worst one
/// repeat per origin slips through or one gap goes uncounted, and memory
/// stays bounded however many instances come and go.
const MAX_ORIGINS: usize = 4096;

/// The last sequence number delivered from one origin's incarnation.
struct Seen {
    incarnation: u64,
    last: u64,
}

pub(crate) struct Relay {
    backplane: Arc<dyn Backplane>,
    origin: Bytes,
    /// Random per built server, so a restarted instance with the same
    /// name starts a fresh sequence instead of looking like repeats.
    incarnation: u64,
    next_seq: AtomicU64,
    seen: Mutex<HashMap<Bytes, Seen>>,
    started: AtomicBool,
    connected: AtomicBool,
    /// Unix second of the last loss log line.
    logged_at: AtomicU64,
}

/// What an envelope from the backplane turned out to be.
pub(crate) enum Arrival {
    /// Deliver it locally.
    Deliver(Envelope),
    /// One of ours coming back.
    Own,
    /// Already delivered (or older than what was).
    Repeat,
    Invalid(EnvelopeError),
}

impl Relay {
    pub(crate) fn new(backplane: Arc<dyn Backplane>, name: &str) -> Relay {
        Relay {
            backplane,
            origin: Bytes::copy_from_slice(cut(name).as_bytes()),
            incarnation: rand::random(),
            next_seq: AtomicU64::new(1),
            seen: Mutex::new(HashMap::new()),
            started: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            logged_at: AtomicU64::new(0),
        }
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
    /// stamped message for local delivery.
    pub(crate) fn publish(&self, target: Target, mut msg: Message, counters: &Counters) -> Message {
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

    /// Sorts one envelope from the backplane, counting what it skipped.
    pub(crate) fn arrive(&self, bytes: Bytes, counters: &Counters) -> Arrival {
        let envelope = match Envelope::decode(bytes) {
            Ok(e) => e,
            Err(e) => return Arrival::Invalid(e),
        };
        if envelope.origin == self.origin && envelope.incarnation == self.incarnation {
            return Arrival::Own;
        }
        let gap = {
            let mut seen = lock(&self.seen);
            if seen.len() >= MAX_ORIGINS && !seen.contains_key(&envelope.origin) {
                seen.clear();
            }
            let entry = seen
                .entry(Bytes::copy_from_slice(&envelope.origin))
                .or_insert(Seen {
                    incarnation: envelope.incarnation,
                    // The first envelope seen from an origin starts its
                    // count: what it sent before we were listening is not
                    // ours to miss.
                    last: envelope.seq.saturating_sub(1),
                });
            if entry.incarnation != envelope.incarnation {
                *entry = Seen {
                    incarnation: envelope.incarnation,
                    last: envelope.seq.saturating_sub(1),
                };
            }
            if envelope.seq <= entry.last {
                return Arrival::Repeat;
            }
            let gap = envelope.seq - entry.last - 1;
            entry.last = envelope.seq;
            gap
        };
        if gap > 0 {
            counters.backplane_lost(gap);
            self.log_loss(counters, "backplane messages lost (sequence gap)");
        }
        Arrival::Deliver(envelope)
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
    format!("{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::MemoryBackplane;
    use crate::wire::MessageType;

    fn envelope(origin: &str, incarnation: u64, seq: u64) -> Bytes {
        Envelope {
            origin: Bytes::copy_from_slice(origin.as_bytes()),
            incarnation,
            seq,
            target: Target::All,
            msg: Message::new(MessageType::NOTIFY_URI, "t", "x"),
        }
        .encode()
        .unwrap()
    }

    #[test]
    fn gaps_repeats_and_own_echoes_are_told_apart() {
        let relay = Relay::new(Arc::new(MemoryBackplane::new()), "me");
        let counters = Counters::default();
        let kind = |b| match relay.arrive(b, &counters) {
            Arrival::Deliver(_) => "deliver",
            Arrival::Own => "own",
            Arrival::Repeat => "repeat",
            Arrival::Invalid(_) => "invalid",
        };
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
        assert_eq!(kind(Bytes::from_static(b"junk")), "invalid");
    }

    #[test]
    fn names_are_cut_on_a_character_boundary() {
        let long = "é".repeat(200); // 400 bytes
        let cut = cut(&long);
        assert!(cut.len() <= MAX_ORIGIN && cut.len() >= MAX_ORIGIN - 1);
        assert!(long.starts_with(cut));
    }
}
