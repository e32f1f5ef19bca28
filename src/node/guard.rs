//! The node's defences against being used as a reflector, per source IP
//! over a bounded table: a byte credit (what an unverified address sent
//! is all it may be sent), no reply larger than its request, and a token
//! bucket. Pure: the caller passes the time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::NodeLimits;

/// Why a datagram to a source was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Larger than the datagram that caused it allows, or than what the
    /// address has sent and not yet been sent back.
    Amplification,
    /// The source's bucket is empty, or the table of sources is full.
    RateLimited,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// Bytes that may still go to this IP: earned by what it sent.
    credit: usize,
    earned: Instant,
}

/// Per-source-IP buckets and credits.
#[derive(Debug)]
pub(crate) struct Guard {
    buckets: HashMap<IpAddr, Bucket>,
    rate: f64,
    burst: f64,
    max_sources: usize,
    factor: usize,
    max_credit: usize,
    last_sweep: Option<Instant>,
}

/// How often a full table may be swept for idle sources: a flood of new
/// spoofed sources cannot make every datagram scan the table. A source
/// that earned credit this recently is not idle: its reply is coming.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl Guard {
    pub(crate) fn new(limits: &NodeLimits) -> Self {
        Guard {
            buckets: HashMap::new(),
            rate: f64::from(limits.replies_per_second),
            burst: f64::from(limits.reply_burst.max(1)),
            max_sources: limits.max_sources,
            factor: limits.amplification,
            max_credit: limits.unverified_credit,
            last_sweep: None,
        }
    }

    /// A datagram of `len` bytes came from unverified `from`: it earns
    /// `factor` times that (up to the cap). Nothing if the table is full.
    pub(crate) fn earn(&mut self, from: IpAddr, len: usize, now: Instant) {
        let (factor, max) = (self.factor, self.max_credit);
        if let Some(b) = self.bucket(from, now) {
            b.credit = b.credit.saturating_add(len.saturating_mul(factor)).min(max);
            b.earned = now;
        }
    }

    /// Whether `len` bytes may go to unverified `to`, caused by a datagram
    /// of `cause` bytes (`None`: not a reply, a notification or a
    /// broadcast); if so they are spent from its credit and its bucket.
    pub(crate) fn permit(
        &mut self,
        to: IpAddr,
        len: usize,
        cause: Option<usize>,
        now: Instant,
    ) -> Result<(), Refusal> {
        if cause.is_some_and(|c| len > c.saturating_mul(self.factor)) {
            return Err(Refusal::Amplification);
        }
        let bucket = self.bucket(to, now).ok_or(Refusal::RateLimited)?;
        if bucket.tokens < 1.0 {
            return Err(Refusal::RateLimited);
        }
        if len > bucket.credit {
            return Err(Refusal::Amplification);
        }
        bucket.tokens -= 1.0;
        bucket.credit -= len;
        Ok(())
    }

    /// `ip`'s bucket, refilled to `now`; made if the table has room (after
    /// sweeping idle sources).
    fn bucket(&mut self, ip: IpAddr, now: Instant) -> Option<&mut Bucket> {
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= self.max_sources {
            self.sweep(now);
            if self.buckets.len() >= self.max_sources {
                return None;
            }
        }
        let (rate, burst) = (self.rate, self.burst);
        let bucket = self.buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
            credit: 0,
            earned: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        Some(bucket)
    }

    /// Drops the sources that are idle: their buckets have refilled (a
    /// fresh one would be the same) and they earned nothing lately (what
    /// credit they had is forgotten: stricter, never looser).
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
                || now.saturating_duration_since(b.earned) < SWEEP_EVERY
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
        g.earn(ip(1), 1000, now);
        assert_eq!(g.permit(ip(1), 40, Some(40), now), Ok(()));
        assert_eq!(
            g.permit(ip(1), 41, Some(40), now),
            Err(Refusal::Amplification)
        );
    }

    #[test]
    fn an_unverified_address_is_sent_no_more_than_it_sent() {
        let mut g = guard(100, 100, 10);
        let now = Instant::now();
        assert_eq!(
            g.permit(ip(1), 1, None, now),
            Err(Refusal::Amplification),
            "nothing earned"
        );
        g.earn(ip(1), 100, now);
        assert_eq!(g.permit(ip(1), 60, Some(100), now), Ok(()));
        assert_eq!(
            g.permit(ip(1), 41, None, now),
            Err(Refusal::Amplification),
            "40 left"
        );
        assert_eq!(g.permit(ip(1), 40, None, now), Ok(()));
        assert_eq!(g.permit(ip(1), 1, None, now), Err(Refusal::Amplification));
        assert_eq!(
            g.permit(ip(2), 1, None, now),
            Err(Refusal::Amplification),
            "credit is per IP"
        );
        // Saving up is capped.
        for _ in 0..10 {
            g.earn(ip(1), 65_000, now);
        }
        assert_eq!(
            g.permit(ip(1), 64 * 1024 + 1, None, now),
            Err(Refusal::Amplification)
        );
        assert_eq!(g.permit(ip(1), 64 * 1024, None, now), Ok(()));
    }

    #[test]
    fn each_source_gets_its_burst_then_its_rate() {
        let mut g = guard(10, 3, 10);
        let t0 = Instant::now();
        g.earn(ip(1), 1000, t0);
        g.earn(ip(2), 1000, t0);
        for _ in 0..3 {
            assert_eq!(g.permit(ip(1), 1, Some(1), t0), Ok(()));
        }
        assert_eq!(g.permit(ip(1), 1, Some(1), t0), Err(Refusal::RateLimited));
        assert_eq!(g.permit(ip(2), 1, Some(1), t0), Ok(()), "another source");
        let later = t0 + Duration::from_millis(100);
        assert_eq!(g.permit(ip(1), 1, Some(1), later), Ok(()), "one token back");
        assert_eq!(
            g.permit(ip(1), 1, Some(1), later),
            Err(Refusal::RateLimited)
        );
    }

    #[test]
    fn the_source_table_is_bounded_and_idle_sources_make_room() {
        let mut g = guard(10, 2, 2);
        let t0 = Instant::now();
        g.earn(ip(1), 10, t0);
        g.earn(ip(2), 10, t0);
        g.earn(ip(3), 10, t0);
        assert!(g.permit(ip(1), 1, None, t0).is_ok());
        assert!(g.permit(ip(2), 1, None, t0).is_ok());
        assert_eq!(g.permit(ip(3), 1, None, t0), Err(Refusal::RateLimited));
        assert_eq!(g.sources(), 2);
        // A second later both buckets are full again and earned nothing
        // since: idle, swept.
        let t1 = t0 + Duration::from_secs(1);
        g.earn(ip(3), 10, t1);
        assert!(g.permit(ip(3), 1, None, t1).is_ok());
        assert_eq!(g.sources(), 1);
    }

    #[test]
    fn a_full_table_is_swept_at_most_once_a_second() {
        let mut g = guard(10, 2, 1);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        g.earn(ip(1), 10, t0);
        // Full, and 1 earned 0.9 s ago: not idle, so 2 finds no room
        // (the table was swept).
        assert_eq!(g.permit(ip(2), 1, None, at(900)), Err(Refusal::RateLimited));
        // At 1.5 s, 1 is idle (nothing earned for a second, bucket full),
        // but the last sweep was 0.6 s ago: no new one, still no room.
        assert_eq!(
            g.permit(ip(2), 1, None, at(1500)),
            Err(Refusal::RateLimited)
        );
        // At 2 s a new sweep drops 1: 2 gets a bucket (and no credit,
        // having sent nothing).
        assert_eq!(
            g.permit(ip(2), 1, None, at(2000)),
            Err(Refusal::Amplification)
        );
        assert_eq!(g.sources(), 1);
    }

    #[test]
    fn a_refilled_bucket_is_idle_and_a_refilling_one_is_not() {
        // Rate 1/s, burst 2, room for one source.
        let t0 = Instant::now();
        let t2 = t0 + Duration::from_secs(2);

        // 1 earned at t0, was last seen (a refused send: no token spent)
        // at t2 with a full bucket: idle at t2, swept for 2.
        let mut g = guard(1, 2, 1);
        g.earn(ip(1), 0, t0);
        assert_eq!(g.permit(ip(1), 1, None, t2), Err(Refusal::Amplification));
        g.earn(ip(2), 10, t2);
        assert_eq!(g.permit(ip(2), 1, None, t2), Ok(()), "1 was idle");

        // 1 spent its whole burst at t0: a second later its bucket holds
        // one token of two, still refilling: not idle, not swept.
        let mut g = guard(1, 2, 1);
        g.earn(ip(1), 10, t0);
        assert!(g.permit(ip(1), 1, None, t0).is_ok());
        assert!(g.permit(ip(1), 1, None, t0).is_ok());
        let t1 = t0 + Duration::from_secs(1);
        g.earn(ip(2), 10, t1);
        assert_eq!(g.permit(ip(2), 1, None, t1), Err(Refusal::RateLimited));
        assert_eq!(g.permit(ip(1), 1, None, t1), Ok(()), "1 kept its credit");
    }

    #[test]
    fn a_source_that_just_earned_is_not_swept_before_its_reply() {
        let mut g = guard(10, 2, 1);
        let t0 = Instant::now();
        g.earn(ip(1), 10, t0);
        let t1 = t0 + Duration::from_millis(500);
        g.earn(ip(2), 10, t1);
        assert_eq!(g.sources(), 1);
        assert!(g.permit(ip(1), 10, Some(10), t1).is_ok());
    }
}
