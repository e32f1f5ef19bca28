//! The guard's rules, with an explicit clock.

use super::*;
use bytes::Bytes;

const T: u64 = 1_700_000_000;

fn guard(max: usize) -> ReplayGuard {
    ReplayGuard::new(ReplayConfig::default().max_entries(max))
}

/// A guard holding `max` nonces in all, at most `per_session` per session.
fn shared_guard(max: usize, per_session: usize) -> ReplayGuard {
    ReplayGuard::new(
        ReplayConfig::default()
            .max_entries(max)
            .max_entries_per_session(per_session),
    )
}

#[test]
fn window_edges_are_inclusive() {
    let g = guard(8);
    assert!(g.check_window(T - 300, T).is_ok());
    assert!(g.check_window(T + 30, T).is_ok());
    assert!(g.check_window(T - 301, T).unwrap_err().is_stale());
    assert!(g.check_window(T + 31, T).unwrap_err().is_stale());
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
    g.record(&[2; 16], T + 30, T).unwrap();
    g.prune(T + 329);
    assert_eq!(g.len(), 1);
    assert!(g
        .record(&[2; 16], T + 30, T + 329)
        .unwrap_err()
        .is_replayed());
    g.prune(T + 331);
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

fn session(n: u8) -> Option<SessionId> {
    Some(SessionId::from_bytes([n; 16]))
}

#[test]
fn a_session_flooding_its_share_shrinks_only_its_own_window() {
    let g = shared_guard(100, 10);
    let flood = ReplayScope::new(session(1), Some(1));
    let honest = ReplayScope::new(session(2), Some(2));
    // The flooder dates everything as far ahead as allowed.
    for i in 0..50u32 {
        let mut n = [0u8; 16];
        n[..4].copy_from_slice(&i.to_be_bytes());
        let _ = g.record_in(flood, &n, T + 30, T);
    }
    assert!(g.len() <= 10, "{}", g.len());
    // Its own floor rose; the honest session is untouched, now and later.
    for (i, now) in [T, T + 1, T + 30].into_iter().enumerate() {
        g.record_in(honest, &[100 + i as u8; 16], now, now).unwrap();
    }
    let mut n = [0xee; 16];
    n[0] = 1;
    assert!(g
        .record_in(flood, &n, T + 29, T)
        .unwrap_err()
        .is_replay_cache_full());
}

#[test]
fn a_full_cache_evicts_from_the_largest_share_first() {
    let g = shared_guard(20, 20);
    let big = ReplayScope::new(session(1), Some(1));
    for i in 0..20u8 {
        g.record_in(big, &[i; 16], T + 30, T).unwrap();
    }
    assert_eq!(g.len(), 20);
    // A newcomer gets room at the expense of the share that holds most.
    let small = ReplayScope::new(session(2), Some(2));
    g.record_in(small, &[200; 16], T, T).unwrap();
    g.record_in(small, &[201; 16], T, T).unwrap();
    assert_eq!(g.len(), 20);
    assert!(g
        .record_in(small, &[200; 16], T, T)
        .unwrap_err()
        .is_replayed());
}

#[test]
fn a_session_belongs_to_the_connection_that_used_it_first() {
    let g = guard(8);
    g.record_in(ReplayScope::new(session(1), Some(7)), &[1; 16], T, T)
        .unwrap();
    // The same session on another connection: a replay, even with a fresh
    // nonce (an honest client never reuses a session).
    let other = ReplayScope::new(session(1), Some(8));
    assert!(g
        .record_in(other, &[2; 16], T, T)
        .unwrap_err()
        .is_replayed());
    g.record_in(ReplayScope::new(session(1), Some(7)), &[3; 16], T, T)
        .unwrap();
    // Frames without a session are not pinned.
    g.record_in(ReplayScope::new(None, Some(8)), &[4; 16], T, T)
        .unwrap();
}

#[test]
fn the_same_nonce_in_different_sessions_is_two_frames() {
    let g = guard(8);
    g.record_in(ReplayScope::new(session(1), Some(1)), &[1; 16], T, T)
        .unwrap();
    g.record_in(ReplayScope::new(session(2), Some(2)), &[1; 16], T, T)
        .unwrap();
    assert_eq!(g.len(), 2);
}

#[test]
fn a_full_cache_evicts_from_the_recording_share_only_for_newer_frames() {
    let g = shared_guard(2, 10);
    assert!(g.is_empty());
    let a = ReplayScope::new(session(1), Some(1));
    g.record_in(a, &[1; 16], T, T).unwrap();
    assert!(!g.is_empty());
    g.record_in(a, &[2; 16], T + 1, T).unwrap();
    // The cache is full and this share is the largest: a newer frame makes
    // room by evicting the share's own oldest nonce...
    g.record_in(a, &[3; 16], T + 2, T).unwrap();
    assert_eq!(g.len(), 2);
    // ...a frame no newer than what would have to go is refused instead.
    assert!(g
        .record_in(a, &[4; 16], T + 1, T)
        .unwrap_err()
        .is_replay_cache_full());
    assert_eq!(g.len(), 2);
}

#[test]
fn an_emptied_share_keeps_its_floor_while_the_floor_is_in_the_window() {
    let g = shared_guard(1, 1);
    let a = ReplayScope::new(session(1), Some(1));
    let b = ReplayScope::new(session(2), Some(2));
    g.record_in(a, &[1; 16], T + 1, T).unwrap();
    // b's frame evicts a's only nonce: a's share is empty, its floor T + 1.
    g.record_in(b, &[2; 16], T, T).unwrap();
    // A second later the sweep runs; a's share must survive it, or a
    // frame at its floor (a replay of the evicted one, say) would pass.
    assert!(g
        .record_in(a, &[1; 16], T + 1, T + 2)
        .unwrap_err()
        .is_replay_cache_full());
    // Once the floor has left the window the share is forgotten.
    g.record_in(a, &[5; 16], T + 302, T + 302).unwrap();
}

#[test]
fn the_preferred_share_wins_a_tie_for_largest() {
    let mut shares = HashMap::new();
    for n in 1..=8u8 {
        let mut s = Share::default();
        s.seen.insert([n; 16], 0);
        shares.insert(session(n), s);
    }
    // Every share holds one nonce: each, preferred, is its own victim.
    for n in 1..=8u8 {
        assert_eq!(largest_share(&shares, session(n)), session(n));
    }
    // A strictly larger share is chosen over the preferred one.
    if let Some(s) = shares.get_mut(&session(3)) {
        s.seen.insert([99; 16], 0);
    }
    assert_eq!(largest_share(&shares, session(1)), session(3));
    assert_eq!(largest_share(&shares, session(9)), session(3));
}

#[test]
fn a_guard_debugs_its_config_and_size() {
    let g = guard(8);
    g.record(&[1; 16], T, T).unwrap();
    let d = format!("{g:?}");
    assert!(d.starts_with("ReplayGuard") && d.contains("len: 1"), "{d}");
    assert!(d.contains("config"), "{d}");
}
