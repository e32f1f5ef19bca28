//! Per-origin sequence state that one odd envelope cannot poison. Pure:
//! no I/O, no clock.
//!
//! Each origin name keeps its last few incarnations (not only the newest),
//! so a replayed envelope of a recent earlier incarnation is a repeat, not
//! a "restart" that resets the count. Within an incarnation a number is
//! delivered only if it is ahead of the last one by at most [`WINDOW`]; a
//! number outside `last ± WINDOW` (a forged `seq = 2^64-1`, say) is
//! refused and changes nothing, so the origin's real traffic keeps
//! arriving. Two such numbers in a row that follow each other (the second
//! at most `WINDOW` past the first) move the state there instead: that is
//! what a genuine origin looks like after a receiver missed more than
//! `WINDOW` of its messages, or after a forger did move the state (then
//! the origin's own traffic, now "far behind", moves it back after one
//! refused message). Either way an origin is never silenced for longer
//! than one message.

use crate::random::HashMap;

use bytes::Bytes;

/// How far ahead of the last delivered number an envelope may be: past
/// it, one envelope alone cannot move the state. 2^20 messages from one
/// origin missed while this receiver was unsubscribed (about a minute at
/// 16 000 relayed messages a second) before a resync costs one message.
pub(crate) const WINDOW: u64 = 1 << 20;

/// Incarnations remembered per origin name (an instance restarted more
/// often than this is treated as new again: at worst an envelope replayed
/// from an incarnation that old is delivered once more per eviction).
pub(crate) const INCARNATIONS: usize = 8;

/// Origin names remembered at once. Past it the table is cleared: at
/// worst one repeat per origin slips through or one gap goes uncounted,
/// and memory stays bounded (4 096 × (255 B + 8 × 32 B)) however many
/// instances come and go.
pub(crate) const MAX_ORIGINS: usize = 4096;

/// What to do with one envelope's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// New: deliver it; `lost` numbers were skipped before it.
    Deliver { lost: u64 },
    /// At or below the last delivered number: already delivered.
    Repeat,
    /// Too far from the last delivered number to be believed alone.
    OutOfWindow,
}

/// One incarnation's state.
#[derive(Debug)]
struct Seen {
    incarnation: u64,
    last: u64,
    /// The last out-of-window number, if the previous envelope was one.
    stray: Option<u64>,
}

/// Sequence state for every origin heard from.
#[derive(Debug, Default)]
pub(crate) struct Sequences {
    origins: HashMap<Bytes, Vec<Seen>>,
}

impl Sequences {
    /// Judges `seq` from `origin`'s `incarnation` and records it.
    pub(crate) fn check(&mut self, origin: &[u8], incarnation: u64, seq: u64) -> Verdict {
        if self.origins.len() >= MAX_ORIGINS && !self.origins.contains_key(origin) {
            self.origins.clear();
        }
        let seen = self
            .origins
            .entry(Bytes::copy_from_slice(origin))
            .or_default();
        let Some(at) = seen.iter().position(|s| s.incarnation == incarnation) else {
            // The first envelope seen from an incarnation starts its
            // count: what it sent before we were listening is not ours to
            // miss.
            if seen.len() >= INCARNATIONS {
                seen.remove(0);
            }
            seen.push(Seen {
                incarnation,
                last: seq,
                stray: None,
            });
            return Verdict::Deliver { lost: 0 };
        };
        let entry = &mut seen[at];
        let last = entry.last;
        if seq > last && seq - last <= WINDOW {
            entry.last = seq;
            entry.stray = None;
            return Verdict::Deliver {
                lost: seq - last - 1,
            };
        }
        if seq <= last && last - seq <= WINDOW {
            entry.stray = None;
            return Verdict::Repeat;
        }
        match entry.stray {
            Some(prev) if seq > prev && seq - prev <= WINDOW => {
                entry.last = seq;
                entry.stray = None;
                // Forward, the numbers in between were genuinely missed
                // (the refused stray among them); backward there is no
                // honest count to make.
                let lost = seq.checked_sub(last).map_or(0, |d| d - 1);
                Verdict::Deliver { lost }
            }
            _ => {
                entry.stray = Some(seq);
                Verdict::OutOfWindow
            }
        }
    }

    #[cfg(test)]
    fn incarnations(&self, origin: &[u8]) -> usize {
        self.origins.get(origin).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::*;

    #[test]
    fn gaps_and_repeats_within_the_window() {
        let mut s = Sequences::default();
        assert_eq!(s.check(b"a", 1, 5), Deliver { lost: 0 });
        assert_eq!(s.check(b"a", 1, 6), Deliver { lost: 0 });
        assert_eq!(s.check(b"a", 1, 6), Repeat);
        assert_eq!(s.check(b"a", 1, 9), Deliver { lost: 2 });
        assert_eq!(s.check(b"a", 1, 8), Repeat);
        assert_eq!(s.check(b"a", 1, 9 + WINDOW), Deliver { lost: WINDOW - 1 });
    }

    #[test]
    fn a_forged_max_sequence_does_not_silence_the_origin() {
        let mut s = Sequences::default();
        assert_eq!(s.check(b"a", 7, 1), Deliver { lost: 0 });
        assert_eq!(s.check(b"a", 7, u64::MAX), OutOfWindow);
        // The origin's own traffic goes on as if nothing happened.
        assert_eq!(s.check(b"a", 7, 2), Deliver { lost: 0 });
        assert_eq!(s.check(b"a", 7, 3), Deliver { lost: 0 });
        // Two forged numbers in a row move the state; the origin's next
        // message is refused, the one after moves it back.
        assert_eq!(s.check(b"a", 7, u64::MAX - 1), OutOfWindow);
        assert_eq!(s.check(b"a", 7, u64::MAX), Deliver { lost: u64::MAX - 4 });
        assert_eq!(s.check(b"a", 7, 4), OutOfWindow);
        assert_eq!(s.check(b"a", 7, 5), Deliver { lost: 0 });
        assert_eq!(s.check(b"a", 7, 6), Deliver { lost: 0 });
        assert_eq!(s.check(b"a", 7, 5), Repeat);
    }

    /// Only a stray followed closely by a later one moves the state: a
    /// stray repeated, one that goes backwards, or one far past the
    /// previous stray is refused again (each becomes the new stray), and
    /// a number far behind the last is not a repeat.
    #[test]
    fn strays_that_do_not_follow_each_other_never_move_the_state() {
        let mut s = Sequences::default();
        let last = 3 * WINDOW + 10;
        assert_eq!(s.check(b"a", 1, last), Deliver { lost: 0 });
        // Far behind (by more than the window) is out of it, not a repeat.
        assert_eq!(s.check(b"a", 1, 4), OutOfWindow);
        let stray = last + 2 * WINDOW;
        assert_eq!(s.check(b"a", 1, stray), OutOfWindow);
        // The same stray again.
        assert_eq!(s.check(b"a", 1, stray), OutOfWindow);
        // Backwards from the stray (and still far ahead of `last`).
        assert_eq!(s.check(b"a", 1, stray - 1), OutOfWindow);
        // Forwards, but by more than the window.
        assert_eq!(s.check(b"a", 1, stray + 2 * WINDOW), OutOfWindow);
        // The state never moved: the origin's own next number arrives.
        assert_eq!(s.check(b"a", 1, last + 1), Deliver { lost: 0 });
    }

    #[test]
    fn a_long_outage_resyncs_after_one_message_and_counts_the_loss() {
        let mut s = Sequences::default();
        assert_eq!(s.check(b"a", 1, 10), Deliver { lost: 0 });
        let far = 10 + WINDOW + 100;
        assert_eq!(s.check(b"a", 1, far), OutOfWindow);
        // Everything between 10 and far+1, the refused one included.
        assert_eq!(s.check(b"a", 1, far + 1), Deliver { lost: WINDOW + 100 });
        assert_eq!(s.check(b"a", 1, far + 2), Deliver { lost: 0 });
    }

    #[test]
    fn replays_of_an_earlier_incarnation_stay_repeats() {
        let mut s = Sequences::default();
        assert_eq!(s.check(b"a", 1, 1), Deliver { lost: 0 });
        assert_eq!(s.check(b"a", 1, 2), Deliver { lost: 0 });
        // "a" restarts as incarnation 2.
        assert_eq!(s.check(b"a", 2, 1), Deliver { lost: 0 });
        // Replaying incarnation 1's envelopes, interleaved with the new
        // one's traffic, delivers nothing twice.
        for seq in 2..10 {
            assert_eq!(s.check(b"a", 1, 2), Repeat);
            assert_eq!(s.check(b"a", 1, 1), Repeat);
            assert_eq!(s.check(b"a", 2, seq), Deliver { lost: 0 });
        }
    }

    #[test]
    fn incarnations_and_origins_are_bounded() {
        let mut s = Sequences::default();
        for inc in 0..100u64 {
            s.check(b"a", inc, 1);
        }
        assert_eq!(s.incarnations(b"a"), INCARNATIONS);
        for o in 0..MAX_ORIGINS + 10 {
            s.check(o.to_string().as_bytes(), 1, 1);
        }
        assert!(s.origins.len() <= MAX_ORIGINS);
    }

    /// The table is cleared only for a new origin past the cap: a known
    /// origin, or any origin under the cap, keeps what was seen.
    #[test]
    fn origins_are_forgotten_only_past_the_cap() {
        let mut s = Sequences::default();
        assert!(matches!(s.check(b"first", 1, 1), Verdict::Deliver { .. }));
        for i in 1..4096u32 {
            s.check(&i.to_be_bytes(), 1, 1);
        }
        assert_eq!(
            s.check(b"first", 1, 1),
            Verdict::Repeat,
            "known, at the cap"
        );
        s.check(b"one more", 1, 1);
        assert!(
            matches!(s.check(b"first", 1, 1), Verdict::Deliver { .. }),
            "cleared"
        );
    }
}
