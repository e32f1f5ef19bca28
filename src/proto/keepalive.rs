//! The client's keepalive rule as a state machine with no runtime: a ping
//! after `interval` with nothing arriving, or nothing *answering* (a
//! server that stopped reading may still send notifications, so only
//! answers to what this client sent show it hears us:
//! [`protocol::is_answer`]); the connection is dead if nothing answers
//! within `timeout` of the ping. The clock is the caller's.

use std::time::{Duration, Instant};

use crate::protocol;
use crate::wire::MessageType;

/// What the keepalive wants when its deadline has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeepaliveAction {
    /// Send a ping now.
    Ping,
    /// A ping went unanswered: the connection is dead.
    Dead,
}

/// One connection's keepalive (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Keepalive {
    interval: Duration,
    timeout: Duration,
    last_rx: Instant,
    /// The last frame that answered something this side sent.
    last_answer: Instant,
    ping_sent: Option<Instant>,
}

impl Keepalive {
    /// A connection made at `now`.
    pub(crate) fn new(interval: Duration, timeout: Duration, now: Instant) -> Self {
        Keepalive {
            interval,
            timeout,
            last_rx: now,
            last_answer: now,
            ping_sent: None,
        }
    }

    /// A frame arrived at `now`: of type `ty`, or damaged (`None`: the
    /// server still sends, but it answered nothing).
    pub(crate) fn handle_frame(&mut self, now: Instant, ty: Option<MessageType>) {
        self.last_rx = now;
        if ty.is_some_and(protocol::is_answer) {
            self.last_answer = now;
            self.ping_sent = None;
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) has something to do.
    pub(crate) fn poll_timeout(&self) -> Instant {
        let (from, after) = match self.ping_sent {
            None => (self.last_rx.min(self.last_answer), self.interval),
            Some(t) => (t, self.timeout),
        };
        from.checked_add(after).unwrap_or(from)
    }

    /// The deadline may have passed at `now`: what to do, if anything.
    /// After [`KeepaliveAction::Ping`] the ping counts as sent at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<KeepaliveAction> {
        if now < self.poll_timeout() {
            return None;
        }
        if self.ping_sent.is_some() {
            return Some(KeepaliveAction::Dead);
        }
        self.ping_sent = Some(now);
        Some(KeepaliveAction::Ping)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const I: Duration = Duration::from_secs(10);
    const T: Duration = Duration::from_secs(3);

    #[test]
    fn a_ping_after_the_interval_and_dead_after_the_timeout() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(I, T, t0);
        assert_eq!(k.poll_timeout(), t0 + I);
        assert_eq!(k.handle_timeout(t0 + I - Duration::from_millis(1)), None);
        assert_eq!(k.handle_timeout(t0 + I), Some(KeepaliveAction::Ping));
        assert_eq!(k.poll_timeout(), t0 + I + T);
        assert_eq!(
            k.handle_timeout(t0 + I + T - Duration::from_millis(1)),
            None
        );
        assert_eq!(k.handle_timeout(t0 + I + T), Some(KeepaliveAction::Dead));
    }

    #[test]
    fn an_answer_clears_the_ping_and_notifications_alone_do_not() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(I, T, t0);
        // Notifications keep coming, but nothing answers: still a ping.
        for s in 1..=10 {
            k.handle_frame(t0 + Duration::from_secs(s), Some(MessageType::NOTIFY_URI));
        }
        assert_eq!(k.poll_timeout(), t0 + I, "the oldest of rx and answer");
        assert_eq!(k.handle_timeout(t0 + I), Some(KeepaliveAction::Ping));
        k.handle_frame(
            t0 + I + Duration::from_secs(1),
            Some(MessageType::NOTIFY_URI),
        );
        assert_eq!(k.poll_timeout(), t0 + I + T, "a notification is no answer");
        let answered = t0 + I + Duration::from_secs(2);
        k.handle_frame(answered, Some(MessageType::OK));
        assert_eq!(k.poll_timeout(), answered + I);
        assert_eq!(k.handle_timeout(answered + T), None);
    }
}
