//! Replay protection: a timestamp window plus a bounded cache of the nonces
//! seen inside it, in one share per session.
//!
//! netaio 0.0.9 has neither (a captured frame is accepted forever); the HMAC
//! plugins here add both by default, with [`ReplayConfig::disabled`] for
//! exact netaio behaviour. The guard knows nonces, timestamps and session
//! ids; it does not know what a MAC is (its callers verify before they
//! record) or what a connection is (an owner is just a number).
//!
//! # Why the combination is sound
//!
//! A frame is accepted only if `now - max_past <= ts <= now + max_future`,
//! and its nonce is remembered until `ts + max_past` has passed. A replay of
//! the same bytes carries the same `ts`, so it is either still inside the
//! window — and then its nonce is still cached — or outside it and rejected
//! by the window. Expiry is judged against the latest time the guard has
//! seen, so a clock stepping backwards cannot resurrect an expired nonce.
//! The future side is short (30 s by default): a signer dating frames ahead
//! cannot make its nonces linger much longer than honest ones.
//!
//! # Shares
//!
//! Nonces are kept in one **share** per session id (`None`: frames that
//! carry none, as netaio's HMAC sends them — one share for everyone). A
//! session's share is pinned to the connection that first used it: the
//! same session on another connection is refused as a replay, since a
//! frame carries its session inside its MAC and an honest client never
//! reuses one. So a frame can only ever be checked against its own share,
//! and each share's floor (below) is sound on its own.
//!
//! # When a share or the cache is full
//!
//! A session may hold at most [`ReplayConfig::max_entries_per_session`]
//! nonces; the whole cache at most [`ReplayConfig::max_entries`]. To make
//! room the guard evicts the nonces closest to expiry — from the share that
//! is full, or, when the whole cache is, from the largest share — and
//! raises that share's **floor**: from then on it refuses (as
//! [`AuthError::ReplayCacheFull`], capacity, not the peer's fault) every
//! message of that share whose `ts` is not newer than the newest evicted
//! one. A replay of an evicted frame carries such a `ts` and the same
//! session, so it is still refused, while fresh messages keep flowing:
//! under load beyond capacity a share's accepted window shrinks toward the
//! present. One session flooding the cache shrinks its own window, not
//! anyone else's. Frames without a session share one floor: there, one
//! signer flooding validly signed frames can raise it for all (what
//! netaio-compatible mode cannot prevent; see the README's security
//! model). Only frames whose MAC verified are recorded, so a peer without
//! the key can push nothing.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use super::crypto::NONCE_LEN;
pub use super::replay_config::{ReplayConfig, ReplayScope};
use super::{AuthError, AuthFieldRole};
use crate::protocol::SessionId;
use crate::wire::AuthValue;

type Nonce = [u8; NONCE_LEN];

/// The nonces of one session (or of every frame without one).
#[derive(Default)]
struct Share {
    /// nonce → expiry (`ts + max_past`).
    seen: HashMap<Nonce, u64>,
    /// The same entries ordered by expiry, so pruning is
    /// O(expired · log n) rather than a scan.
    by_expiry: BinaryHeap<Reverse<(u64, Nonce)>>,
    /// Messages of this share with `ts <= floor` are refused: nonces that
    /// old may have been evicted to make room.
    floor: Option<u64>,
    /// The connection that first used this session.
    owner: Option<u64>,
}

impl Share {
    fn prune(&mut self, now: u64) -> usize {
        let mut dropped = 0;
        while let Some(Reverse((expires, nonce))) = self.by_expiry.peek().copied() {
            if expires >= now {
                break;
            }
            self.by_expiry.pop();
            self.seen.remove(&nonce);
            dropped += 1;
        }
        dropped
    }

    /// Drops the entry closest to expiry and raises the floor to its ts.
    fn evict_oldest(&mut self, max_past: u64) -> bool {
        let Some(Reverse((expiry, nonce))) = self.by_expiry.pop() else {
            return false;
        };
        self.seen.remove(&nonce);
        let ts = expiry.saturating_sub(max_past);
        self.floor = Some(self.floor.map_or(ts, |f| f.max(ts)));
        true
    }

    /// The ts of the entry closest to expiry.
    fn oldest_ts(&self, max_past: u64) -> Option<u64> {
        self.by_expiry
            .peek()
            .map(|Reverse((e, _))| e.saturating_sub(max_past))
    }
}

#[derive(Default)]
struct Cache {
    shares: HashMap<Option<SessionId>, Share>,
    total: usize,
    /// The latest `now` used for pruning.
    high_water: u64,
}

impl Cache {
    /// Drops what expired by `now`. Timestamps are whole seconds, so
    /// nothing new expires until the clock reaches the next second: the
    /// sweep over every share runs at most once a second, not per message.
    fn prune(&mut self, now: u64, max_past: u64) {
        if now <= self.high_water && self.high_water != 0 {
            return;
        }
        self.high_water = self.high_water.max(now);
        let horizon = self.high_water;
        let mut dropped = 0;
        self.shares.retain(|_, share| {
            dropped += share.prune(horizon);
            // An empty share is forgotten with its floor and owner once
            // every frame it could still refuse is outside the window.
            !share.seen.is_empty()
                || share
                    .floor
                    .is_some_and(|f| f.saturating_add(max_past) >= horizon)
        });
        self.total -= dropped;
    }
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
/// assert!(guard.check_window(now + 31, now).unwrap_err().is_stale());
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
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ReplayConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Cache> {
        // Every mutation keeps maps, heaps and the total in step.
        crate::sync::lock(&self.cache)
    }

    /// Whether `ts` is within the window around `now`. Cheap; call it
    /// before verifying the MAC. Always `Ok` when protection is disabled.
    pub fn check_window(&self, ts: u64, now: u64) -> Result<(), AuthError> {
        if !self.config.enabled {
            return Ok(());
        }
        let (past, future) = (self.config.max_past_secs, self.config.max_future_secs);
        if ts < now.saturating_sub(past) || ts > now.saturating_add(future) {
            return Err(AuthError::Stale { ts, now });
        }
        Ok(())
    }

    /// [`record_in`](Self::record_in) the share of frames without a
    /// session.
    pub fn record(&self, nonce: &[u8; NONCE_LEN], ts: u64, now: u64) -> Result<(), AuthError> {
        self.record_in(ReplayScope::default(), nonce, ts, now)
    }

    /// Records the nonce of a message whose MAC has verified (or that this
    /// node has just signed, so a reflection of it is a replay). Fails if
    /// it was already seen inside the window, if `ts` has expired relative
    /// to the latest time the guard has seen, if `ts` is at or below the
    /// share's floor, or if the session belongs to another connection.
    /// Always `Ok` when protection is disabled.
    pub fn record_in(
        &self,
        scope: ReplayScope,
        nonce: &[u8; NONCE_LEN],
        ts: u64,
        now: u64,
    ) -> Result<(), AuthError> {
        if !self.config.enabled {
            return Ok(());
        }
        self.check_window(ts, now)?;
        let past = self.config.max_past_secs;
        let expires = ts.saturating_add(past);
        let full = || AuthError::ReplayCacheFull {
            capacity: self.config.max_entries,
        };
        let mut cache = self.lock();
        cache.prune(now, past);
        if expires < cache.high_water {
            // Its nonce may already have been pruned: refuse rather than
            // accept a frame we can no longer prove fresh.
            return Err(AuthError::Stale {
                ts,
                now: cache.high_water,
            });
        }
        let key = scope.session;
        let share_cap = match key {
            Some(_) => self.config.max_entries_per_session,
            None => self.config.max_entries,
        }
        .max(1);
        {
            let share = cache.shares.entry(key).or_default();
            if key.is_some() {
                match (share.owner, scope.connection) {
                    (Some(owner), Some(c)) if owner != c => return Err(AuthError::Replayed),
                    (None, c) => share.owner = c,
                    _ => {}
                }
            }
            if share.floor.is_some_and(|floor| ts <= floor) {
                return Err(full());
            }
            if share.seen.contains_key(nonce) {
                return Err(AuthError::Replayed);
            }
        }
        // Make room: first within the share, then (the cache being full)
        // in the largest share. Evicting raises that share's floor to the
        // evicted ts; a message no newer than what its own share would
        // have to evict could not be told from a replay afterwards, so it
        // is refused without evicting anything.
        let mut evicted = 0;
        {
            let share = cache.shares.get_mut(&key).expect("share just made");
            while share.seen.len() >= share_cap {
                if share.oldest_ts(past).is_some_and(|oldest| ts <= oldest) {
                    return Err(full());
                }
                share.evict_oldest(past);
                evicted += 1;
            }
        }
        cache.total -= evicted;
        while cache.total >= self.config.max_entries.max(1) {
            let victim = largest_share(&cache.shares, key);
            let share = cache.shares.get_mut(&victim).expect("largest share exists");
            let own_share = victim == key; // public: share keys are session ids
            if own_share && share.oldest_ts(past).is_some_and(|oldest| ts <= oldest) {
                return Err(full());
            }
            if !share.evict_oldest(past) {
                break;
            }
            cache.total -= 1;
        }
        let share = cache.shares.get_mut(&key).expect("share just made");
        share.seen.insert(*nonce, expires);
        share.by_expiry.push(Reverse((expires, *nonce)));
        cache.total += 1;
        Ok(())
    }

    /// Drops the nonces that expired by `now`.
    pub fn prune(&self, now: u64) {
        self.lock().prune(now, self.config.max_past_secs);
    }

    /// Nonces currently cached (expired ones may linger until the next
    /// [`record`](Self::record) or [`prune`](Self::prune)).
    pub fn len(&self) -> usize {
        self.lock().total
    }

    /// Whether no nonce is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The share holding the most nonces (`prefer` on a tie, so a flooding
/// share evicts its own first).
fn largest_share(
    shares: &HashMap<Option<SessionId>, Share>,
    prefer: Option<SessionId>,
) -> Option<SessionId> {
    let preferred = shares.get(&prefer).map_or(0, |s| s.seen.len());
    shares
        .iter()
        .filter(|(_, s)| s.seen.len() > preferred)
        .max_by_key(|(_, s)| s.seen.len())
        .map_or(prefer, |(k, _)| *k)
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
mod tests;
