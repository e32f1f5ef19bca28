//! What replay protection is told: its settings ([`ReplayConfig`]) and
//! where a nonce belongs ([`ReplayScope`]). The guard that applies them is
//! `replay.rs`.

use crate::protocol::SessionId;

/// Replay protection settings. On by default: a `ts` up to 300 s old or
/// 30 s ahead, at most 131 072 cached nonces, 16 384 per session.
///
/// ```
/// use framewire::ReplayConfig;
///
/// let cfg = ReplayConfig::default().max_past_secs(60).max_entries(10_000);
/// assert!(cfg.enabled);
/// assert_eq!((cfg.max_past_secs, cfg.max_future_secs), (60, 30));
/// assert_eq!(cfg.approx_max_memory_bytes(), 1_000_000);
/// assert!(!ReplayConfig::disabled().enabled);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayConfig {
    /// Whether replay protection is on.
    pub enabled: bool,
    /// Accept a `ts` up to this many seconds before the local clock; nonces
    /// are remembered this long after their `ts`.
    pub max_past_secs: u64,
    /// Accept a `ts` up to this many seconds after the local clock (clock
    /// skew between honest peers).
    pub max_future_secs: u64,
    /// Most nonces remembered at once (memory ≈ this ×
    /// [`APPROX_BYTES_PER_ENTRY`](Self::APPROX_BYTES_PER_ENTRY)).
    pub max_entries: usize,
    /// Most nonces one session may hold (frames without a session share
    /// the whole cache).
    pub max_entries_per_session: usize,
}

impl ReplayConfig {
    /// Default tolerance for a `ts` in the past.
    pub const DEFAULT_MAX_PAST_SECS: u64 = 300;
    /// Default tolerance for a `ts` in the future.
    pub const DEFAULT_MAX_FUTURE_SECS: u64 = 30;
    /// Default nonce cache size, at most ~13 MiB. It covers the whole
    /// window up to ~400 authenticated messages per second; above that the
    /// accepted window shrinks to about `max_entries / rate` seconds (e.g.
    /// ~2.6 s at 50 000 msg/s), and only past 131 072 messages within one
    /// second does the guard refuse.
    pub const DEFAULT_MAX_ENTRIES: usize = 1 << 17;
    /// Upper estimate of the heap cost of one cached nonce: a hash-map slot
    /// and an expiry-heap slot (40 bytes) plus the slack both keep after
    /// doubling their capacity.
    pub const APPROX_BYTES_PER_ENTRY: usize = 100;

    /// Replay protection on, with the defaults.
    pub const fn new() -> Self {
        ReplayConfig {
            enabled: true,
            max_past_secs: Self::DEFAULT_MAX_PAST_SECS,
            max_future_secs: Self::DEFAULT_MAX_FUTURE_SECS,
            max_entries: Self::DEFAULT_MAX_ENTRIES,
            max_entries_per_session: Self::DEFAULT_MAX_ENTRIES / 8,
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

    /// Sets [`ReplayConfig::max_past_secs`].
    pub const fn max_past_secs(mut self, secs: u64) -> Self {
        self.max_past_secs = secs;
        self
    }

    /// Sets [`ReplayConfig::max_future_secs`].
    pub const fn max_future_secs(mut self, secs: u64) -> Self {
        self.max_future_secs = secs;
        self
    }

    /// Sets both tolerances to `secs` (a symmetric window).
    pub const fn window_secs(self, secs: u64) -> Self {
        self.max_past_secs(secs).max_future_secs(secs)
    }

    /// Sets [`ReplayConfig::max_entries`] (and caps the per-session share
    /// at it).
    pub const fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n;
        if self.max_entries_per_session > n {
            self.max_entries_per_session = n;
        }
        self
    }

    /// Sets [`ReplayConfig::max_entries_per_session`].
    pub const fn max_entries_per_session(mut self, n: usize) -> Self {
        self.max_entries_per_session = n;
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

/// Where a nonce is recorded: its session (if the frame carries one) and
/// the connection it arrived on or leaves by (if any).
///
/// ```
/// use framewire::auth::ReplayScope;
///
/// let global = ReplayScope::default();
/// assert!(global.session.is_none() && global.connection.is_none());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayScope {
    /// The frame's (MAC-bound) session id.
    pub session: Option<SessionId>,
    /// The connection it travels on.
    pub connection: Option<u64>,
}

impl ReplayScope {
    /// A scope for `session` on `connection`.
    pub fn new(session: Option<SessionId>, connection: Option<u64>) -> Self {
        ReplayScope {
            session,
            connection,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_entries_caps_the_share_only_when_smaller() {
        let base = ReplayConfig::new().max_entries_per_session(50);
        let smaller = base.max_entries(10);
        assert_eq!(
            (smaller.max_entries, smaller.max_entries_per_session),
            (10, 10)
        );
        let larger = base.max_entries(1_000);
        assert_eq!(
            (larger.max_entries, larger.max_entries_per_session),
            (1_000, 50)
        );
        let equal = base.max_entries(50);
        assert_eq!((equal.max_entries, equal.max_entries_per_session), (50, 50));
    }

    #[test]
    fn memory_estimate_is_per_entry_and_saturates() {
        let c = ReplayConfig::new().max_entries(1_000);
        assert_eq!(
            c.approx_max_memory_bytes(),
            1_000 * ReplayConfig::APPROX_BYTES_PER_ENTRY
        );
        assert_eq!(
            ReplayConfig::new()
                .max_entries(usize::MAX)
                .approx_max_memory_bytes(),
            usize::MAX
        );
    }
}
