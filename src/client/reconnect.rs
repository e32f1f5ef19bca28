//! Reconnection policy: exponential backoff with jitter and a cap.

use std::time::Duration;

use rand::Rng;

/// How a [`Client`](crate::client::Client) reconnects after losing its
/// server. The delay before attempt `n` (0-based) is
/// `min(initial × multiplier^n, max)`, then spread by ±`jitter` (a
/// fraction) so many clients do not reconnect in lockstep.
///
/// ```
/// use std::time::Duration;
/// use framewire::client::Reconnect;
///
/// let policy = Reconnect::default().jitter(0.0);
/// assert_eq!(policy.delay(0), Duration::from_millis(100));
/// assert_eq!(policy.delay(3), Duration::from_millis(800));
/// assert_eq!(policy.delay(20), Duration::from_secs(10)); // capped
/// assert!(Reconnect::disabled().delay_for_attempt(0).is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Reconnect {
    enabled: bool,
    initial: Duration,
    max: Duration,
    multiplier: f64,
    jitter: f64,
    max_attempts: Option<u32>,
    stable_after: Duration,
}

impl Default for Reconnect {
    /// 100 ms doubling to a 10 s cap, ±20 % jitter, retrying forever; a
    /// connection must stay up 2 s to reset the backoff.
    fn default() -> Self {
        Reconnect {
            enabled: true,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: 0.2,
            max_attempts: None,
            stable_after: Duration::from_secs(2),
        }
    }
}

impl Reconnect {
    /// Never reconnect: a lost connection ends the client.
    pub fn disabled() -> Self {
        Reconnect {
            enabled: false,
            ..Self::default()
        }
    }

    /// First delay.
    pub fn initial(mut self, d: Duration) -> Self {
        self.initial = d;
        self
    }

    /// Largest delay.
    pub fn max(mut self, d: Duration) -> Self {
        self.max = d;
        self
    }

    /// Growth factor per attempt (at least 1).
    pub fn multiplier(mut self, m: f64) -> Self {
        self.multiplier = if m.is_finite() { m.max(1.0) } else { 1.0 };
        self
    }

    /// Random spread, as a fraction of the delay (0 to 1).
    pub fn jitter(mut self, j: f64) -> Self {
        self.jitter = if j.is_finite() {
            j.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// Give up after this many failed attempts in a row.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }

    /// How long a connection must last to count as recovered and reset the
    /// backoff. A server that accepts and drops connections at once would
    /// otherwise be hammered at the initial delay forever.
    pub fn stable_after(mut self, d: Duration) -> Self {
        self.stable_after = d;
        self
    }

    /// Whether a connection that lasted `lived` resets the backoff.
    pub fn is_stable(&self, lived: Duration) -> bool {
        lived >= self.stable_after
    }

    /// Whether reconnection is on.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The delay before attempt `attempt` without jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = self.multiplier.powi(attempt.min(64) as i32);
        let secs = (self.initial.as_secs_f64() * factor).min(self.max.as_secs_f64());
        Duration::from_secs_f64(secs)
    }

    /// The jittered delay before attempt `attempt`, or `None` when the
    /// policy says to stop.
    pub fn delay_for_attempt(&self, attempt: u32) -> Option<Duration> {
        if !self.enabled || self.max_attempts.is_some_and(|m| attempt >= m) {
            return None;
        }
        let base = self.delay(attempt);
        if self.jitter == 0.0 {
            return Some(base);
        }
        let spread = rand::thread_rng().gen_range(-self.jitter..=self.jitter);
        Some(Duration::from_secs_f64(base.as_secs_f64() * (1.0 + spread)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_bounds_and_attempts_stop() {
        let p = Reconnect::default().max_attempts(5);
        for attempt in 0..5 {
            let d = p.delay_for_attempt(attempt).unwrap();
            let base = p.delay(attempt).as_secs_f64();
            assert!(d.as_secs_f64() >= base * 0.8 - 1e-9 && d.as_secs_f64() <= base * 1.2 + 1e-9);
        }
        assert_eq!(p.delay_for_attempt(5), None);
        assert_eq!(
            Reconnect::default().multiplier(f64::NAN).delay(5),
            Duration::from_millis(100)
        );
    }
}
