//! The node's defences against being used as a reflector: no reply larger
//! than its request to an unverified source, and a token bucket per source
//! IP over a bounded table. Pure: the caller passes the time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::NodeLimits;

/// Why a datagram to a source was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Larger than the datagram that caused it allows.
    Amplification,
    /// The source's bucket is empty, or the table of sources is full.
    RateLimited,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Per-source-IP buckets.
#[derive(Debug)]
pub(crate) struct Guard {
    buckets: HashMap<IpAddr, Bucket>,
    rate: f64,
    burst: f64,
    max_sources: usize,
    factor: usize,
    last_sweep: Option<Instant>,
}

/// How often a full table may be swept for idle sources: a flood of new
/// spoofed sources cannot make every datagram scan the table.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl Guard {
    pub(crate) fn new(limits: &NodeLimits) -> Self {
        Guard {
            buckets: HashMap::new(),
            rate: f64::from(limits.replies_per_second),
            burst: f64::from(limits.reply_burst.max(1)),
            max_sources: limits.max_sources,
            factor: limits.amplification,
            last_sweep: None,
        }
    }

    /// Whether a reply of `len` bytes to `to`, caused by a datagram of
    /// `cause` bytes, may go (`cause = None`: not a reply, only the rate
    /// applies). Verified peers are not limited.
    pub(crate) fn permit(
        &mut self,
        to: IpAddr,
        len: usize,
        cause: Option<usize>,
        verified: bool,
        now: Instant,
    ) -> Result<(), Refusal> {
        if verified {
            return Ok(());
        }
        if cause.is_some_and(|c| len > c.saturating_mul(self.factor)) {
            return Err(Refusal::Amplification);
        }
        if !self.buckets.contains_key(&to) && self.buckets.len() >= self.max_sources {
            self.sweep(now);
            if self.buckets.len() >= self.max_sources {
                return Err(Refusal::RateLimited);
            }
        }
        let (rate, burst) = (self.rate, self.burst);
        let bucket = self.buckets.entry(to).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            return Err(Refusal::RateLimited);
        }
        bucket.tokens -= 1.0;
        Ok(())
    }

    /// Drops the buckets that have refilled (their sources are idle: a
    /// fresh bucket would be the same).
    fn sweep(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|t| now.saturating_duration_since(t) < SWEEP_EVERY)
        {
            return;
        }
        self.last_sweep = Some(now);
        let (rate, burst) = (self.rate, self.burst);
        self.buckets.retain(|_, b| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens + elapsed * rate < burst
        });
    }

    #[cfg(test)]
    fn sources(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    fn guard(rate: u32, burst: u32, sources: usize) -> Guard {
        Guard::new(
            &NodeLimits::default()
                .replies_per_second(rate)
                .reply_burst(burst)
                .max_sources(sources),
        )
    }

    #[test]
    fn no_reply_to_an_unverified_source_is_larger_than_its_request() {
        let mut g = guard(100, 100, 10);
        let now = Instant::now();
        assert_eq!(g.permit(ip(1), 40, Some(40), false, now), Ok(()));
        assert_eq!(
            g.permit(ip(1), 41, Some(40), false, now),
            Err(Refusal::Amplification)
        );
        assert_eq!(
            g.permit(ip(1), 4000, Some(40), true, now),
            Ok(()),
            "verified"
        );
        assert_eq!(
            g.permit(ip(1), 4000, None, false, now),
            Ok(()),
            "not a reply"
        );
    }

    #[test]
    fn each_source_gets_its_burst_then_its_rate() {
        let mut g = guard(10, 3, 10);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(g.permit(ip(1), 1, Some(1), false, t0), Ok(()));
        }
        assert_eq!(
            g.permit(ip(1), 1, Some(1), false, t0),
            Err(Refusal::RateLimited)
        );
        assert_eq!(
            g.permit(ip(2), 1, Some(1), false, t0),
            Ok(()),
            "another source"
        );
        let later = t0 + Duration::from_millis(100);
        assert_eq!(
            g.permit(ip(1), 1, Some(1), false, later),
            Ok(()),
            "one token back"
        );
        assert_eq!(
            g.permit(ip(1), 1, Some(1), false, later),
            Err(Refusal::RateLimited)
        );
        for _ in 0..100 {
            assert_eq!(g.permit(ip(1), 1, Some(1), true, later), Ok(()), "verified");
        }
    }

    #[test]
    fn the_source_table_is_bounded_and_idle_sources_make_room() {
        let mut g = guard(10, 2, 2);
        let t0 = Instant::now();
        assert!(g.permit(ip(1), 1, None, false, t0).is_ok());
        assert!(g.permit(ip(2), 1, None, false, t0).is_ok());
        assert_eq!(
            g.permit(ip(3), 1, None, false, t0),
            Err(Refusal::RateLimited)
        );
        assert_eq!(g.sources(), 2);
        // A second later both buckets are full again: idle, swept.
        let t1 = t0 + Duration::from_secs(1);
        assert!(g.permit(ip(3), 1, None, false, t1).is_ok());
        assert_eq!(g.sources(), 1);
    }
}
