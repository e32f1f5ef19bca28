//! Every random choice framewire makes comes from here: request, session
//! and peer ids, instance names and incarnations, reconnect jitter, nonce
//! tags and nonces ([`SystemRandom`](crate::auth::SystemRandom)), and the
//! keys of the hash tables whose iteration order the code acts on
//! ([`Keys`]).
//!
//! Normally that is the thread's CSPRNG (`rand::thread_rng`: ChaCha,
//! seeded and reseeded from the OS) and `std`'s randomly keyed SipHash.
//!
//! With the `sim` feature, a simulation can make one thread's choices come
//! from a seed ([`seed_thread`], re-exported as
//! `framewire::testing::seed_thread_randomness`), so that a run under
//! turmoil replays exactly: the same ids, the same jitter, the same order
//! of every table walk. Only the thread that asked is affected, and only
//! until the guard drops; the feature is for test builds (the crate's own
//! tests enable it through their dev-dependency) and changes nothing for a
//! thread that never calls it.

use std::collections::hash_map::{DefaultHasher, RandomState};
use std::hash::BuildHasher;

use rand::{Rng, RngCore};

#[cfg(feature = "sim")]
mod seeded {
    use std::cell::RefCell;

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    thread_local! {
        static SEEDED: RefCell<Option<StdRng>> = const { RefCell::new(None) };
    }

    /// Runs `f` on the thread's seeded generator, if it has one.
    pub(super) fn with<T>(f: impl FnOnce(&mut StdRng) -> T) -> Option<T> {
        SEEDED.with(|s| s.borrow_mut().as_mut().map(f))
    }

    /// While alive, the current thread's random choices come from a seed.
    /// Dropping it returns the thread to what it had before: the OS-seeded
    /// CSPRNG, or an outer guard's generator.
    #[derive(Debug)]
    #[must_use = "the seed applies only while the guard lives"]
    pub struct SeededRandomness {
        /// What the thread had before (guards nest).
        previous: Option<StdRng>,
        // Not Send: the seed belongs to the thread that set it.
        _thread: std::marker::PhantomData<*const ()>,
    }

    /// Makes the current thread's random choices come from `seed` until the
    /// returned guard drops. For deterministic simulation only: on this
    /// thread, ids and nonces become predictable.
    ///
    /// ```
    /// let first = {
    ///     let _seeded = framewire::testing::seed_thread_randomness(7);
    ///     framewire::protocol::SessionId::random()
    /// };
    /// let again = {
    ///     let _seeded = framewire::testing::seed_thread_randomness(7);
    ///     framewire::protocol::SessionId::random()
    /// };
    /// assert_eq!(first, again);
    /// assert_ne!(first, framewire::protocol::SessionId::random());
    /// ```
    pub fn seed_thread(seed: u64) -> SeededRandomness {
        let previous = SEEDED.with(|s| s.borrow_mut().replace(StdRng::seed_from_u64(seed)));
        SeededRandomness {
            previous,
            _thread: std::marker::PhantomData,
        }
    }

    impl Drop for SeededRandomness {
        fn drop(&mut self) {
            let previous = self.previous.take();
            SEEDED.with(|s| *s.borrow_mut() = previous);
        }
    }
}

#[cfg(feature = "sim")]
pub use seeded::{seed_thread, SeededRandomness};

/// Fills `dest` with random bytes.
pub(crate) fn fill(dest: &mut [u8]) {
    #[cfg(feature = "sim")]
    if seeded::with(|r| r.fill_bytes(dest)).is_some() {
        return;
    }
    rand::thread_rng().fill_bytes(dest);
}

/// A random `u64`.
pub(crate) fn u64() -> u64 {
    let mut b = [0u8; 8];
    fill(&mut b);
    u64::from_le_bytes(b)
}

/// A random `u32`.
pub(crate) fn u32() -> u32 {
    let mut b = [0u8; 4];
    fill(&mut b);
    u32::from_le_bytes(b)
}

/// `N` random bytes.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    fill(&mut b);
    b
}

/// A uniform `usize` in `low..=high` (`low` when the range is empty).
pub(crate) fn usize_in(low: usize, high: usize) -> usize {
    if low >= high {
        return low;
    }
    #[cfg(feature = "sim")]
    if let Some(v) = seeded::with(|r| r.gen_range(low..=high)) {
        return v;
    }
    rand::thread_rng().gen_range(low..=high)
}

/// A uniform `f64` in `-spread..=spread` (`0.0` for a spread that is not
/// positive and finite).
pub(crate) fn f64_within(spread: f64) -> f64 {
    if !(spread.is_finite() && spread > 0.0) {
        return 0.0;
    }
    #[cfg(feature = "sim")]
    if let Some(v) = seeded::with(|r| r.gen_range(-spread..=spread)) {
        return v;
    }
    rand::thread_rng().gen_range(-spread..=spread)
}

/// The hasher of the tables whose iteration order framewire acts on (the
/// connections a notify or a shutdown walks, topics, peers): `std`'s
/// randomly keyed SipHash, so a peer cannot aim keys at one bucket; on a
/// seeded thread ([`seed_thread`]), SipHash keyed from the seed, so walks
/// happen in the same order every run.
#[derive(Clone, Debug)]
pub(crate) struct Keys(Inner);

#[derive(Clone, Debug)]
enum Inner {
    Os(RandomState),
    #[cfg(feature = "sim")]
    Seeded(u64),
}

impl Default for Keys {
    fn default() -> Self {
        #[cfg(feature = "sim")]
        if let Some(k) = seeded::with(|r| r.next_u64()) {
            return Keys(Inner::Seeded(k));
        }
        Keys(Inner::Os(RandomState::new()))
    }
}

impl BuildHasher for Keys {
    type Hasher = DefaultHasher;

    fn build_hasher(&self) -> DefaultHasher {
        match &self.0 {
            Inner::Os(s) => s.build_hasher(),
            #[cfg(feature = "sim")]
            Inner::Seeded(k) => {
                // `DefaultHasher::new()` has fixed keys; the seeded word
                // hashed first makes the order depend on the seed only.
                let mut h = DefaultHasher::new();
                std::hash::Hasher::write_u64(&mut h, *k);
                h
            }
        }
    }
}

/// A `HashMap` walked in an order that replays under a seed.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, Keys>;
/// A `HashSet` walked in an order that replays under a seed.
pub(crate) type HashSet<T> = std::collections::HashSet<T, Keys>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_their_bounds() {
        for _ in 0..200 {
            assert!((3..=5).contains(&usize_in(3, 5)));
            assert!(f64_within(0.25).abs() <= 0.25);
        }
        assert_eq!(usize_in(4, 4), 4);
        assert_eq!(usize_in(9, 2), 9);
        assert_eq!(f64_within(0.0), 0.0);
        assert_eq!(f64_within(-1.0), 0.0);
        assert_eq!(f64_within(f64::NAN), 0.0);
    }

    #[test]
    fn draws_differ_unseeded() {
        assert_ne!(u64(), u64());
        assert_ne!(bytes::<16>(), bytes::<16>());
        assert_ne!(u32(), u32());
        let spread: Vec<usize> = (0..64).map(|_| usize_in(0, 1_000_000)).collect();
        assert!(spread.iter().any(|v| *v != spread[0]));
        let jitter: Vec<f64> = (0..64).map(|_| f64_within(1.0)).collect();
        assert!(jitter.iter().any(|v| *v != jitter[0]));
    }

    #[test]
    fn unseeded_tables_are_keyed_apart() {
        use std::hash::BuildHasher;
        let (a, b) = (Keys::default(), Keys::default());
        assert_ne!(a.hash_one(42u64), b.hash_one(42u64));
    }

    #[cfg(feature = "sim")]
    #[test]
    fn a_seed_replays_every_kind_of_choice() {
        use std::hash::BuildHasher;
        let run = || {
            let _seeded = seed_thread(11);
            (
                u64(),
                u32(),
                bytes::<16>(),
                usize_in(0, 1 << 40),
                f64_within(0.5).to_bits(),
                Keys::default().hash_one("topic"),
            )
        };
        assert_eq!(run(), run());
        let other = {
            let _seeded = seed_thread(12);
            u64()
        };
        assert_ne!(run().0, other);
        // The guard's drop returns the thread to the OS generator.
        let after = u64();
        assert_ne!(after, run().0);
        // Guards nest; another thread is never seeded by this one.
        let _outer = seed_thread(11);
        let first = u64();
        let theirs = std::thread::spawn(u64).join().unwrap();
        assert_ne!(theirs, first);
        assert_eq!(run().0, first);
        let second = u64();
        assert_ne!(second, first);
        drop(_outer);
        let again = {
            let _s = seed_thread(11);
            (u64(), u64())
        };
        assert_eq!(again, (first, second));
    }
}
