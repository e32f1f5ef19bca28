//! Replay protection: a timestamp window plus a bounded cache of the nonces
//! seen inside it.
//!
//! netaio 0.0.9 has neither (a captured frame is accepted forever); the HMAC
//! plugins here add both by default, with [`ReplayConfig::disabled`] for
//! exact netaio behaviour.
//!
//! # Why the combination is sound
//!
//! A frame is accepted only if `now - window <= ts <= now + window`, and its
//! nonce is remembered until `ts + window` has passed. A replay of the same
//! bytes carries the same `ts`, so it is either still inside the window —
//! and then its nonce is still cached — or outside it and rejected by the
//! window. Expiry is judged against the latest time the cache has seen, so
//! a clock stepping backwards cannot resurrect an expired nonce.
//!
//! # When the cache is full
//!
//! It evicts the nonces closest to expiry and raises a **floor**: from then
//! on it refuses every message whose `ts` is not newer than the newest
//! evicted one ([`AuthError::ReplayCacheFull`]). A replay of an evicted
//! frame carries such a `ts`, so it is still refused — the guarantee above
//! holds — while fresh messages keep flowing: under load beyond capacity
//! the accepted window shrinks toward the present instead of the server
//! refusing everything. Only when more than `max_entries` authenticated
//! messages arrive within one second does the floor reach the current
//! second and the guard fail closed. Only frames whose MAC verified are
//! recorded, so a peer without the key cannot push the floor.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use super::crypto::NONCE_LEN;
use super::{AuthError, AuthFieldRole};
use crate::wire::AuthValue;

/// Replay protection settings. On by default: ±300 s window, at most
/// 131 072 cached nonces.
///
/// ```
/// use framewire::ReplayConfig;
///
/// let cfg = ReplayConfig::default().window_secs(60).max_entries(10_000);
/// assert!(cfg.enabled);
/// assert_eq!(cfg.window_secs, 60);
/// assert_eq!(cfg.approx_max_memory_bytes(), 1_000_000);
/// assert!(!ReplayConfig::disabled().enabled);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayConfig {
    /// Whether replay protection is on.
    pub enabled: bool,
    /// Accept `ts` up to this many seconds before or after the local clock.
    pub window_secs: u64,
    /// Most nonces remembered at once (memory ≈ this ×
    /// [`APPROX_BYTES_PER_ENTRY`](Self::APPROX_BYTES_PER_ENTRY)).
    pub max_entries: usize,
}

impl ReplayConfig {
    /// Default tolerance between a message's `ts` and the local clock.
    pub const DEFAULT_WINDOW_SECS: u64 = 300;
    /// Default nonce cache size, at most ~13 MiB. It covers the whole
    /// ±300 s window up to ~430 authenticated messages per second per
    /// plugin; above that the accepted window shrinks to about
    /// `max_entries / rate` seconds (e.g. ~2.6 s at 50 000 msg/s), and only
    /// past 131 072 messages within one second does the guard refuse.
    pub const DEFAULT_MAX_ENTRIES: usize = 1 << 17;
    /// Upper estimate of the heap cost of one cached nonce: a hash-map slot
    /// and an expiry-heap slot (40 bytes) plus the slack both keep after
    /// doubling their capacity.
    pub const APPROX_BYTES_PER_ENTRY: usize = 100;

    /// Replay protection on, with the defaults.
    pub const fn new() -> Self {
        ReplayConfig {
            enabled: true,
            window_secs: Self::DEFAULT_WINDOW_SECS,
            max_entries: Self::DEFAULT_MAX_ENTRIES,
        }
    }

    /// No window and no nonce cache: netaio 0.0.9's behaviour, where any
    /// correctly signed frame is accepted again and again.
    pub const fn disabled() -> Self {
        ReplayConfig {
            enabled: false,
            ..Self::new()
        }
    }

    /// Sets [`ReplayConfig::window_secs`].
    pub const fn window_secs(mut self, secs: u64) -> Self {
        self.window_secs = secs;
        self
    }

    /// Sets [`ReplayConfig::max_entries`].
    pub const fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n;
        self
    }

    /// Upper estimate of the cache's heap use when full.
    pub const fn approx_max_memory_bytes(&self) -> usize {
        self.max_entries
            .saturating_mul(Self::APPROX_BYTES_PER_ENTRY)
    }
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self::new()
    }
}

type Nonce = [u8; NONCE_LEN];

struct Cache {
    /// nonce → expiry (`ts + window`).
    seen: HashMap<Nonce, u64>,
    /// The same entries ordered by expiry, so pruning is
    /// O(expired · log n) rather than a scan.
    by_expiry: BinaryHeap<Reverse<(u64, Nonce)>>,
    /// The latest `now` used for pruning.
    high_water: u64,
    /// Messages with `ts <= floor` are refused: nonces that old may have
    /// been evicted to make room.
    floor: Option<u64>,
}

/// The window check and nonce cache of one plugin instance.
///
/// Two plugins never share a guard, which is what lets netaio's two-layer
/// pattern (an instance plugin and a per-handler plugin signing the same
/// message with one nonce and ts) pass: each layer sees the nonce once.
///
/// ```
/// use framewire::auth::ReplayGuard;
/// use framewire::ReplayConfig;
///
/// let guard = ReplayGuard::new(ReplayConfig::default());
/// let now = 1_700_000_000;
/// guard.check_window(now - 300, now).unwrap();
/// assert!(guard.check_window(now - 301, now).unwrap_err().is_stale());
///
/// let nonce = [7u8; 16];
/// guard.record(&nonce, now, now).unwrap();
/// assert!(guard.record(&nonce, now, now + 1).unwrap_err().is_replayed());
/// assert_eq!(guard.len(), 1);
/// guard.record(&[8u8; 16], now + 301, now + 301).unwrap();
/// assert_eq!(guard.len(), 1); // the first nonce expired
/// ```
pub struct ReplayGuard {
    config: ReplayConfig,
    cache: Mutex<Cache>,
}

impl ReplayGuard {
    /// An empty guard.
    pub fn new(config: ReplayConfig) -> Self {
        ReplayGuard {
            config,
            cache: Mutex::new(Cache {
                seen: HashMap::new(),
                by_expiry: BinaryHeap::new(),
                high_water: 0,
                floor: None,
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ReplayConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Cache> {
        // Every mutation keeps map and heap in step.
        crate::sync::lock(&self.cache)
    }

    /// Whether `ts` is within the window around `now`. Cheap; call it
    /// before verifying the MAC. Always `Ok` when protection is disabled.
    pub fn check_window(&self, ts: u64, now: u64) -> Result<(), AuthError> {
        if !self.config.enabled {
            return Ok(());
        }
        let w = self.config.window_secs;
        if ts < now.saturating_sub(w) || ts > now.saturating_add(w) {
            return Err(AuthError::Stale { ts, now });
        }
        Ok(())
    }

    /// Records the nonce of a message whose MAC has verified. Fails if it
    /// was already seen inside the window, if `ts` has expired relative to
    /// the latest time the guard has seen, or if `ts` is at or below the
    /// floor raised by evictions from a full cache. Always `Ok` when
    /// protection is disabled.
    pub fn record(&self, nonce: &[u8; NONCE_LEN], ts: u64, now: u64) -> Result<(), AuthError> {
        if !self.config.enabled {
            return Ok(());
        }
        self.check_window(ts, now)?;
        let expires = ts.saturating_add(self.config.window_secs);
        let mut cache = self.lock();
        cache.high_water = cache.high_water.max(now);
        let horizon = cache.high_water;
        if expires < horizon {
            // Its nonce may already have been pruned: refuse rather than
            // accept a frame we can no longer prove fresh.
            return Err(AuthError::Stale { ts, now: horizon });
        }
        prune(&mut cache, horizon);
        let full = || AuthError::ReplayCacheFull {
            capacity: self.config.max_entries,
        };
        if cache.floor.is_some_and(|floor| ts <= floor) {
            return Err(full());
        }
        if cache.seen.contains_key(nonce) {
            return Err(AuthError::Replayed);
        }
        while cache.seen.len() >= self.config.max_entries.max(1) {
            let Some(&Reverse((oldest_expiry, oldest))) = cache.by_expiry.peek() else {
                break;
            };
            // Evicting `oldest` raises the floor to its ts; a message no
            // newer than that could not be told from a replay afterwards, so
            // it is refused without evicting anything.
            let oldest_ts = oldest_expiry.saturating_sub(self.config.window_secs);
            if ts <= oldest_ts {
                return Err(full());
            }
            cache.by_expiry.pop();
            cache.seen.remove(&oldest);
            cache.floor = Some(cache.floor.map_or(oldest_ts, |f| f.max(oldest_ts)));
        }
        cache.seen.insert(*nonce, expires);
        cache.by_expiry.push(Reverse((expires, *nonce)));
        Ok(())
    }

    /// Drops the nonces that expired by `now`.
    pub fn prune(&self, now: u64) {
        let mut cache = self.lock();
        cache.high_water = cache.high_water.max(now);
        let horizon = cache.high_water;
        prune(&mut cache, horizon);
    }

    /// Nonces currently cached (expired ones may linger until the next
    /// [`record`](Self::record) or [`prune`](Self::prune)).
    pub fn len(&self) -> usize {
        self.lock().seen.len()
    }

    /// Whether no nonce is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn prune(cache: &mut Cache, now: u64) {
    while let Some(Reverse((expires, nonce))) = cache.by_expiry.peek().copied() {
        if expires >= now {
            break;
        }
        cache.by_expiry.pop();
        cache.seen.remove(&nonce);
    }
}

impl fmt::Debug for ReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayGuard")
            .field("config", &self.config)
            .field("len", &self.len())
            .finish()
    }
}

/// A received `ts` as a number, for the window: a packify int, or bytes
/// read as a big-endian integer of any length (netaio MACs the bytes as
/// received, so a peer may legally send other widths). Values that do not
/// fit a `u64` saturate, negatives become 0: both land outside any window.
pub(crate) fn ts_number(value: &AuthValue) -> u64 {
    match value {
        AuthValue::Int(i) => u64::try_from(*i).unwrap_or(if *i < 0 { 0 } else { u64::MAX }),
        AuthValue::Bytes(b) => {
            let significant = b.iter().skip_while(|x| **x == 0).count();
            if significant > 8 {
                return u64::MAX;
            }
            b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x))
        }
    }
}

/// The nonce as a cache key: replay protection needs exactly netaio's
/// 16-byte nonces (what every netaio `make` produces).
pub(crate) fn nonce_key(nonce: &[u8]) -> Result<&[u8; NONCE_LEN], AuthError> {
    nonce
        .try_into()
        .map_err(|_| AuthError::MalformedField(AuthFieldRole::Nonce))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const T: u64 = 1_700_000_000;

    fn guard(max: usize) -> ReplayGuard {
        ReplayGuard::new(ReplayConfig::default().max_entries(max))
    }

    #[test]
    fn window_edges_are_inclusive() {
        let g = guard(8);
        assert!(g.check_window(T - 300, T).is_ok());
        assert!(g.check_window(T + 300, T).is_ok());
        assert!(g.check_window(T - 301, T).unwrap_err().is_stale());
        assert!(g.check_window(T + 301, T).unwrap_err().is_stale());
        assert!(g.check_window(0, T).is_err());
        assert!(g.check_window(u64::MAX, T).is_err());
        // Near the ends of the number line nothing overflows.
        assert!(g.check_window(0, 0).is_ok());
        assert!(g.check_window(u64::MAX, u64::MAX).is_ok());
    }

    #[test]
    fn entries_expire_after_the_window() {
        let g = guard(8);
        g.record(&[1; 16], T, T).unwrap();
        // Still inside the window at ts + 300: kept, replay refused.
        assert!(g.record(&[1; 16], T, T + 300).unwrap_err().is_replayed());
        g.prune(T + 300);
        assert_eq!(g.len(), 1);
        g.prune(T + 301);
        assert_eq!(g.len(), 0);
        // Once expired, the frame itself is outside the window.
        assert!(g.record(&[1; 16], T, T + 301).unwrap_err().is_stale());
    }

    #[test]
    fn future_ts_is_kept_until_its_own_expiry() {
        let g = guard(8);
        g.record(&[2; 16], T + 300, T).unwrap();
        g.prune(T + 599);
        assert_eq!(g.len(), 1);
        assert!(g
            .record(&[2; 16], T + 300, T + 599)
            .unwrap_err()
            .is_replayed());
        g.prune(T + 601);
        assert!(g.is_empty());
    }

    #[test]
    fn clock_going_backwards_cannot_revive_a_pruned_nonce() {
        let g = guard(8);
        g.record(&[3; 16], T, T).unwrap();
        g.prune(T + 1000);
        assert!(g.is_empty());
        // The clock steps back: the window alone would accept ts = T again.
        assert!(g.check_window(T, T + 10).is_ok());
        assert!(g.record(&[3; 16], T, T + 10).unwrap_err().is_stale());
    }

    #[test]
    fn full_cache_of_one_second_fails_closed_until_entries_expire() {
        let g = guard(3);
        for i in 0..3u8 {
            g.record(&[i; 16], T, T).unwrap();
        }
        let e = g.record(&[9; 16], T, T).unwrap_err();
        assert!(e.is_replay_cache_full());
        assert_eq!(g.len(), 3);
        // The refused nonce was not recorded, and old ones are still there.
        assert!(g.record(&[0; 16], T, T).unwrap_err().is_replayed());
        g.record(&[9; 16], T + 301, T + 301).unwrap();
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn full_cache_evicts_the_oldest_and_raises_the_floor() {
        let g = guard(3);
        for i in 0..3u8 {
            g.record(&[i; 16], T + u64::from(i), T + 3).unwrap();
        }
        // A newer message evicts the oldest nonce (ts T): floor = T.
        g.record(&[3; 16], T + 3, T + 3).unwrap();
        assert_eq!(g.len(), 3);
        // The evicted frame cannot be replayed, nor can anything as old.
        assert!(g
            .record(&[0; 16], T, T + 3)
            .unwrap_err()
            .is_replay_cache_full());
        assert!(g
            .record(&[7; 16], T, T + 3)
            .unwrap_err()
            .is_replay_cache_full());
        // Still cached nonces are still replays.
        assert!(g.record(&[1; 16], T + 1, T + 3).unwrap_err().is_replayed());
        // A message no newer than the oldest cached one is refused without
        // evicting (the cache holds T+1, T+2, T+3).
        assert!(g
            .record(&[8; 16], T + 1, T + 3)
            .unwrap_err()
            .is_replay_cache_full());
        assert_eq!(g.len(), 3);
        g.record(&[9; 16], T + 4, T + 4).unwrap();
    }

    #[test]
    fn disabled_accepts_everything_and_caches_nothing() {
        let g = ReplayGuard::new(ReplayConfig::disabled().max_entries(0));
        for _ in 0..3 {
            g.check_window(0, T).unwrap();
            g.record(&[1; 16], 0, T).unwrap();
        }
        assert!(g.is_empty());
    }

    #[test]
    fn ts_numbers() {
        let b = |s: &'static [u8]| AuthValue::Bytes(Bytes::from_static(s));
        assert_eq!(ts_number(&b(&[0x65, 0x53, 0xf1, 0x00])), 1_700_000_000);
        assert_eq!(
            ts_number(&b(&[0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00])),
            1_700_000_000
        );
        assert_eq!(ts_number(&b(&[])), 0);
        assert_eq!(ts_number(&b(&[1, 0, 0, 0, 0, 0, 0, 0, 0])), u64::MAX);
        assert_eq!(
            ts_number(&b(&[0, 1, 2, 3, 4, 5, 6, 7, 8])),
            0x0102_0304_0506_0708
        );
        assert_eq!(ts_number(&AuthValue::Int(-5)), 0);
        assert_eq!(ts_number(&AuthValue::Int(i128::MAX)), u64::MAX);
        assert_eq!(ts_number(&AuthValue::Int(42)), 42);
        assert!(nonce_key(&[0; 15]).is_err());
        assert!(nonce_key(&[0; 16]).is_ok());
    }
}
