//! The client's move off a draining server, as a state machine with no
//! runtime: the old connection is read on until a newer one has its
//! subscriptions, then for the handover overlap (both servers deliver; a
//! notification heard on both is delivered once, by its id), then its
//! topics are left, and it is done when that is confirmed and every reply
//! due on it has come. What the old server sent before it took the
//! unsubscribe arrives before the confirmation, so a notification is lost
//! only if the two servers got it from the backplane more than the overlap
//! apart. The clock is the caller's.

use std::time::{Duration, Instant};

/// One retiring connection (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Handover {
    overlap: Duration,
    /// When to leave the topics here, once a newer connection has its
    /// subscriptions.
    leave_at: Option<Instant>,
    /// Whether the topics here were left (or there was nothing to hand
    /// over to).
    left: bool,
}

impl Handover {
    /// A connection being left, with `overlap` of both servers delivering.
    /// `alone`: there is no other server to hand over to, so it is only
    /// read until the replies due on it have come.
    pub(crate) fn new(overlap: Duration, alone: bool) -> Self {
        Handover {
            overlap,
            leave_at: None,
            left: alone,
        }
    }

    /// A newer connection has confirmed its subscriptions, seen at `now`.
    pub(crate) fn handle_resubscribed(&mut self, now: Instant) {
        if self.leave_at.is_none() && !self.left {
            self.leave_at = Some(now.checked_add(self.overlap).unwrap_or(now));
        }
    }

    /// When [`poll_leave`](Self::poll_leave) will say yes, if that is
    /// known yet.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.leave_at.filter(|_| !self.left)
    }

    /// Whether to leave the topics here now (true once).
    pub(crate) fn poll_leave(&mut self, now: Instant) -> bool {
        if self.left || self.leave_at.is_none_or(|t| now < t) {
            return false;
        }
        self.left = true;
        true
    }

    /// Whether the connection is done with, `due` replies being still
    /// due on it.
    pub(crate) fn is_done(&self, due: usize) -> bool {
        self.left && due == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OVERLAP: Duration = Duration::from_millis(500);

    #[test]
    fn the_topics_are_left_an_overlap_after_the_successor_resubscribed() {
        let t0 = Instant::now();
        let mut h = Handover::new(OVERLAP, false);
        assert_eq!(h.poll_timeout(), None, "nothing to wait for yet");
        assert!(!h.poll_leave(t0 + Duration::from_secs(60)));
        assert!(!h.is_done(0), "the successor has not resubscribed");
        let seen = t0 + Duration::from_secs(1);
        h.handle_resubscribed(seen);
        // A second confirmation does not move the time.
        h.handle_resubscribed(seen + Duration::from_millis(100));
        assert_eq!(h.poll_timeout(), Some(seen + OVERLAP));
        assert!(!h.poll_leave(seen + OVERLAP - Duration::from_millis(1)));
        assert!(h.poll_leave(seen + OVERLAP));
        assert!(!h.poll_leave(seen + OVERLAP), "once");
        assert_eq!(h.poll_timeout(), None);
        assert!(!h.is_done(2), "replies still due here");
        assert!(h.is_done(0));
    }

    #[test]
    fn with_nowhere_to_go_only_the_replies_due_are_waited_for() {
        let mut h = Handover::new(OVERLAP, true);
        assert!(h.is_done(0));
        assert!(!h.is_done(1));
        h.handle_resubscribed(Instant::now());
        assert_eq!(h.poll_timeout(), None);
        assert!(!h.poll_leave(Instant::now() + OVERLAP));
    }
}
