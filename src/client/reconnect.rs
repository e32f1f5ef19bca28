//! Reconnection policy: exponential backoff with jitter and a cap.

use std::time::Duration;

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
#[non_exhaustive]
pub struct Reconnect {
    /// Whether to reconnect at all.
    pub enabled: bool,
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Growth factor per attempt (values below 1, or not finite, count as 1).
    pub multiplier: f64,
    /// Random spread, as a fraction of the delay (clamped to 0..=1).
    pub jitter: f64,
    /// Give up after this many failed attempts in a row.
    pub max_attempts: Option<u32>,
    /// How long a connection must last to count as recovered and reset the
    /// backoff.
    pub stable_after: Duration,
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
        self.multiplier = m;
        self
    }

    /// Random spread, as a fraction of the delay (0 to 1).
    pub fn jitter(mut self, j: f64) -> Self {
        self.jitter = j;
        self
    }

    /// The multiplier in force: at least 1 (1 if not finite).
    fn growth(&self) -> f64 {
        if self.multiplier.is_finite() {
            self.multiplier.max(1.0)
        } else {
            1.0
        }
    }

    /// The jitter in force: within 0..=1 (0 if not finite).
    fn spread(&self) -> f64 {
        if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        }
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

    /// The delay before attempt `attempt` without jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = self.growth().powi(attempt.min(64) as i32);
        let secs = (self.initial.as_secs_f64() * factor).min(self.max.as_secs_f64());
        Duration::from_secs_f64(secs)
    }

    /// The jittered delay before attempt `attempt`, or `None` when the
    /// policy says to stop.
    pub fn delay_for_attempt(&self, attempt: u32) -> Option<Duration> {
        self.delay_in_rotation(attempt, 1)
    }

    /// The jittered delay before attempt `attempt` when each attempt tries
    /// the next of `servers` addresses: the backoff grows once per round of
    /// the list, so a lost server is replaced by the next one quickly.
    /// `max_attempts` still counts attempts.
    pub(crate) fn delay_in_rotation(&self, attempt: u32, servers: usize) -> Option<Duration> {
        if !self.enabled || self.max_attempts.is_some_and(|m| attempt >= m) {
            return None;
        }
        let rounds = u32::try_from(servers.max(1)).unwrap_or(u32::MAX);
        let base = self.delay(attempt / rounds);
        let jitter = self.spread();
        if jitter == 0.0 {
            return Some(base);
        }
        let spread = crate::random::f64_within(jitter);
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

    #[test]
    fn a_rotation_grows_the_backoff_once_per_round() {
        let p = Reconnect::default().jitter(0.0).max_attempts(7);
        let delays: Vec<_> = (0..8)
            .map(|a| p.delay_in_rotation(a, 3).map(|d| d.as_millis()))
            .collect();
        assert_eq!(
            delays,
            [
                Some(100),
                Some(100),
                Some(100),
                Some(200),
                Some(200),
                Some(200),
                Some(400),
                None
            ]
        );
    }

    #[test]
    fn the_builders_set_what_they_name() {
        assert_eq!(Reconnect::disabled().delay_for_attempt(0), None);
        assert!(Reconnect::default().delay_for_attempt(0).is_some());
        let p = Reconnect::default()
            .jitter(0.0)
            .initial(Duration::from_millis(50))
            .max(Duration::from_millis(120));
        let delays: Vec<_> = (0..4).map(|a| p.delay(a).as_millis()).collect();
        assert_eq!(delays, [50, 100, 120, 120]);
        let p = Reconnect::default().stable_after(Duration::from_secs(5));
        assert!(
            p.is_stable(Duration::from_secs(5)),
            "exactly the bound is stable"
        );
        assert!(p.is_stable(Duration::from_secs(6)));
        assert!(!p.is_stable(Duration::from_millis(4_999)));
    }

    #[test]
    fn jitter_spreads_both_ways_within_its_fraction() {
        // Full jitter: each delay within 0..=2x the base; over 400 draws
        // some land below 0.9x and some above 1.1x (each side has odds of
        // 0.45 a draw), which no fixed or one-sided delay does.
        let p = Reconnect::default().jitter(1.0).max_attempts(1000);
        let base = p.delay(3).as_secs_f64();
        let (mut low, mut high) = (0, 0);
        for _ in 0..400 {
            let d = p.delay_for_attempt(3).unwrap().as_secs_f64();
            assert!((0.0..=2.0 * base + 1e-9).contains(&d), "{d} vs base {base}");
            low += usize::from(d < 0.9 * base);
            high += usize::from(d > 1.1 * base);
        }
        assert!(low > 0 && high > 0, "low {low}, high {high}");
    }
}
