//! The clock and randomness plugins draw on ([`PluginEnv`]), injected so
//! that signing is reproducible in tests (netaio's golden vectors pin
//! nonce, ts, IV and the cipher's split point). Nothing here knows about
//! messages.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of Unix time in whole seconds (netaio's `int(time())`).
///
/// ```
/// use framewire::auth::{Clock, SystemClock};
///
/// assert!(SystemClock.now_unix() > 1_700_000_000);
/// ```
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> u64;
}

impl<T: Clock + ?Sized> Clock for Arc<T> {
    fn now_unix(&self) -> u64 {
        (**self).now_unix()
    }
}

/// The system wall clock. A clock set before 1970 reads as 0 (every
/// timestamp then looks far in the future and fails the replay window,
/// which is the safe direction).
///
/// ```
/// use framewire::auth::{Clock, SystemClock};
///
/// let now = SystemClock.now_unix();
/// assert!(now >= 1_700_000_000);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; share it (it is `Clock` through an
/// `Arc` too) between a test and the plugins under test.
///
/// ```
/// use std::sync::Arc;
/// use framewire::auth::{Clock, ManualClock};
///
/// let clock = Arc::new(ManualClock::new(1_700_000_000));
/// clock.advance(301);
/// assert_eq!(clock.now_unix(), 1_700_000_301);
/// clock.set(5);
/// assert_eq!(clock.now_unix(), 5);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading `now` seconds.
    pub fn new(now: u64) -> Self {
        ManualClock(AtomicU64::new(now))
    }

    /// Sets the time.
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }

    /// Moves the time forward by `secs` (saturating).
    pub fn advance(&self, secs: u64) {
        // fetch_update cannot fail with a closure that always returns Some.
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(secs))
            });
    }
}

impl Clock for ManualClock {
    fn now_unix(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Randomness for nonces, IVs and the stream cipher's uri/content split.
///
/// ```
/// use framewire::auth::{RandomSource, SystemRandom};
///
/// let mut nonce = [0u8; 16];
/// SystemRandom.fill(&mut nonce);
/// let r = SystemRandom.randint(1, 10);
/// assert!((1..=10).contains(&r));
/// ```
pub trait RandomSource: Send + Sync {
    /// Fills `dest` with random bytes (netaio `os.urandom`).
    fn fill(&self, dest: &mut [u8]);

    /// A value in `low..=high` (Python `random.randint`). Callers ensure
    /// `low <= high`; an implementation must not panic if they do not.
    fn randint(&self, low: usize, high: usize) -> usize;
}

impl<T: RandomSource + ?Sized> RandomSource for Arc<T> {
    fn fill(&self, dest: &mut [u8]) {
        (**self).fill(dest)
    }

    fn randint(&self, low: usize, high: usize) -> usize {
        (**self).randint(low, high)
    }
}

/// `rand::thread_rng()`: a ChaCha CSPRNG seeded and periodically reseeded
/// from the OS. Used instead of `OsRng` because it avoids a system call per
/// nonce while remaining cryptographically secure. (On a thread seeded for
/// a simulation, `framewire::testing::seed_thread_randomness` with feature
/// `sim`, the seed's generator instead.)
///
/// ```
/// use framewire::auth::{RandomSource, SystemRandom};
///
/// let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
/// SystemRandom.fill(&mut a);
/// SystemRandom.fill(&mut b);
/// assert_ne!(a, b);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRandom;

impl RandomSource for SystemRandom {
    fn fill(&self, dest: &mut [u8]) {
        crate::random::fill(dest);
    }

    fn randint(&self, low: usize, high: usize) -> usize {
        crate::random::usize_in(low, high)
    }
}

/// Deterministic "randomness" for tests and golden vectors: every `fill`
/// writes `bytes` repeated from its start, and `randint` returns `int`
/// clamped into the requested range. Never use it to sign real traffic:
/// every message would get the same nonce.
///
/// ```
/// use framewire::auth::{FixedRandom, RandomSource};
///
/// let r = FixedRandom::new((0u8..16).collect::<Vec<_>>(), 3);
/// let mut nonce = [0xffu8; 16];
/// r.fill(&mut nonce);
/// assert_eq!(nonce[15], 15);
/// assert_eq!(r.randint(1, 10), 3);
/// assert_eq!(r.randint(5, 10), 5);
/// ```
#[derive(Debug, Clone)]
pub struct FixedRandom {
    bytes: Vec<u8>,
    int: usize,
}

impl FixedRandom {
    /// Fills with `bytes` (repeated; zeros if empty), `randint` gives `int`.
    pub fn new(bytes: impl Into<Vec<u8>>, int: usize) -> Self {
        FixedRandom {
            bytes: bytes.into(),
            int,
        }
    }
}

impl RandomSource for FixedRandom {
    fn fill(&self, dest: &mut [u8]) {
        if self.bytes.is_empty() {
            dest.fill(0);
            return;
        }
        for (d, s) in dest.iter_mut().zip(self.bytes.iter().cycle()) {
            *d = *s;
        }
    }

    fn randint(&self, low: usize, high: usize) -> usize {
        self.int.max(low).min(high.max(low))
    }
}

/// The clock and randomness one plugin uses. Defaults to [`SystemClock`]
/// and [`SystemRandom`].
///
/// ```
/// use framewire::auth::{PluginEnv, FixedRandom, ManualClock};
///
/// let ctx = PluginEnv::new(ManualClock::new(1_700_000_000), FixedRandom::new(vec![0xa0], 3));
/// assert_eq!(ctx.now(), 1_700_000_000);
/// let mut iv = [0u8; 2];
/// ctx.fill(&mut iv);
/// assert_eq!(iv, [0xa0, 0xa0]);
/// ```
#[derive(Clone)]
pub struct PluginEnv {
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
}

impl PluginEnv {
    /// A context from a clock and a random source. Pass an `Arc` to keep
    /// a handle (e.g. to move a [`ManualClock`] during a test).
    pub fn new(clock: impl Clock + 'static, random: impl RandomSource + 'static) -> Self {
        PluginEnv {
            clock: Arc::new(clock),
            random: Arc::new(random),
        }
    }

    /// The system clock and [`SystemRandom`].
    pub fn system() -> Self {
        Self::new(SystemClock, SystemRandom)
    }

    /// Unix seconds now.
    pub fn now(&self) -> u64 {
        self.clock.now_unix()
    }

    /// Fills `dest` with random bytes.
    pub fn fill(&self, dest: &mut [u8]) {
        self.random.fill(dest)
    }

    /// A random value in `low..=high`.
    pub fn randint(&self, low: usize, high: usize) -> usize {
        self.random.randint(low, high)
    }
}

impl Default for PluginEnv {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for PluginEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginEnv").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_random_clamps_and_repeats() {
        let r = FixedRandom::new(vec![1, 2, 3], 100);
        let mut b = [0u8; 7];
        r.fill(&mut b);
        assert_eq!(b, [1, 2, 3, 1, 2, 3, 1]);
        assert_eq!(r.randint(1, 10), 10);
        assert_eq!(r.randint(4, 2), 4);
        let z = FixedRandom::new(Vec::new(), 0);
        let mut b = [9u8; 3];
        z.fill(&mut b);
        assert_eq!(b, [0, 0, 0]);
    }

    #[test]
    fn the_system_clock_reads_the_wall_clock() {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(SystemClock.now_unix().abs_diff(wall) <= 5);
    }

    #[test]
    fn a_plugin_env_debugs_by_name_without_its_sources() {
        assert_eq!(format!("{:?}", PluginEnv::system()), "PluginEnv { .. }");
    }

    #[test]
    fn system_random_range_is_inclusive_and_safe() {
        assert_eq!(SystemRandom.randint(3, 3), 3);
        assert_eq!(SystemRandom.randint(5, 1), 5);
        for _ in 0..100 {
            assert!((1..=2).contains(&SystemRandom.randint(1, 2)));
        }
    }

    #[test]
    fn a_manual_clock_is_set_and_advanced_by_hand() {
        let c = ManualClock::new(10);
        c.advance(5);
        assert_eq!(c.now_unix(), 15);
        c.set(3);
        assert_eq!(c.now_unix(), 3);
        c.advance(u64::MAX);
        assert_eq!(c.now_unix(), u64::MAX, "saturates");
    }
}
