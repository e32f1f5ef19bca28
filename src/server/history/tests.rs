use super::*;
use crate::protocol::{gap_of, GAP_UNKNOWN};
use crate::wire::MessageType;

const EPOCH: u64 = 7;

fn note(text: &str) -> Message {
    Message::new(MessageType::NOTIFY_URI, "t", text.to_owned())
}

fn text(m: &Message) -> String {
    String::from_utf8(m.content().to_vec()).unwrap()
}

/// Publishes `texts` on "t"; returns the positions they were sent with.
fn publish(h: &Histories, texts: &[&str]) -> Vec<u64> {
    texts
        .iter()
        .map(|t| h.publish(b"t", note(t), |m| m, |m| Position::of(&m).unwrap().n()))
        .collect()
}

/// What a resume from `from` sends: the gap notice's lost count if any,
/// and the texts with their numbers.
fn resume(h: &Histories, from: Position) -> (Option<u64>, Vec<(u64, String)>) {
    let mut sent = Vec::new();
    let mut subscribed = false;
    h.resume(
        b"t",
        from,
        || {
            subscribed = true;
            Ok::<(), ()>(())
        },
        |m| sent.push(m),
    )
    .unwrap();
    assert!(subscribed);
    let gap = sent.first().and_then(gap_of);
    let rest = sent
        .iter()
        .skip(usize::from(gap.is_some()))
        .map(|m| (Position::of(m).unwrap().n(), text(m)))
        .collect();
    (gap, rest)
}

fn at(n: u64) -> Position {
    Position::new(EPOCH, n)
}

#[test]
fn notifications_are_numbered_per_topic_and_resumed_after_a_position() {
    let h = Histories::with_epoch(History::default(), EPOCH);
    assert_eq!(publish(&h, &["a", "b", "c"]), [1, 2, 3]);
    let other = h.publish(b"u", note("x"), |m| m, |m| Position::of(&m).unwrap());
    assert_eq!(other, Position::new(EPOCH, 1), "each topic counts its own");
    assert_eq!(
        resume(&h, at(1)),
        (None, vec![(2, "b".into()), (3, "c".into())])
    );
    assert_eq!(resume(&h, at(3)), (None, vec![]));
    assert_eq!(resume(&h, at(0)).1.len(), 3);
    assert_eq!(resume(&h, at(9)), (None, vec![]), "ahead: nothing");
    assert_eq!(h.usage().0, 2);
}

#[test]
fn a_history_that_no_longer_reaches_back_sends_a_gap_with_the_loss() {
    let h = Histories::with_epoch(History::default().per_topic(2), EPOCH);
    publish(&h, &["a", "b", "c", "d", "e"]);
    // Kept: 4 and 5; 1 delivered: 2 and 3 lost.
    let (gap, rest) = resume(&h, at(1));
    assert_eq!(gap, Some(2));
    assert_eq!(rest, vec![(4, "d".into()), (5, "e".into())]);
    // The notice's position is the last lost one.
    let mut first = None;
    h.resume(
        b"t",
        at(1),
        || Ok::<(), ()>(()),
        |m| {
            first.get_or_insert(m);
        },
    )
    .unwrap();
    assert_eq!(Position::of(&first.unwrap()), Some(at(3)));
    // From 3, nothing is lost.
    assert_eq!(
        resume(&h, at(3)),
        (None, vec![(4, "d".into()), (5, "e".into())])
    );
    assert_eq!(resume(&h, at(2)).0, Some(1));
}

#[test]
fn another_epoch_gets_an_unknown_gap_and_everything_kept() {
    let h = Histories::with_epoch(History::default().per_topic(2), EPOCH);
    publish(&h, &["a", "b", "c"]);
    let (gap, rest) = resume(&h, Position::new(EPOCH + 1, 3));
    assert_eq!(gap, Some(GAP_UNKNOWN));
    assert_eq!(rest, vec![(2, "b".into()), (3, "c".into())]);
    // The notice stands just before the first one kept.
    let mut first = None;
    h.resume(
        b"t",
        Position::new(EPOCH + 1, 3),
        || Ok::<(), ()>(()),
        |m| {
            first.get_or_insert(m);
        },
    )
    .unwrap();
    assert_eq!(Position::of(&first.unwrap()), Some(at(1)));
}

/// The cost `keep` counts for one "0123456789" notification.
fn one() -> usize {
    let mut probe = note("0123456789");
    Position::new(EPOCH, 1).attach(&mut probe);
    probe.body.encoded_len() + probe.auth.encoded_len() + ENTRY_COST
}

/// How many of "t"'s notifications are kept, and their bytes.
fn kept(h: &Histories) -> (usize, usize) {
    let shard = lock(h.shard(b"t"));
    shard
        .get(&b"t"[..])
        .map_or((0, 0), |t| (t.kept.len(), t.bytes))
}

#[test]
fn a_topic_keeps_its_bytes_exactly() {
    let one = one();
    // Two fit in a topic's bytes; the total is no limit here.
    let h = Histories::with_epoch(History::default().per_topic_bytes(2 * one), EPOCH);
    for _ in 0..5 {
        publish(&h, &["0123456789"]);
    }
    assert_eq!(kept(&h), (2, 2 * one));
    assert_eq!(h.usage().1, 2 * one);
    // A message of exactly a topic's bytes is kept (alone).
    let h = Histories::with_epoch(History::default().per_topic_bytes(one), EPOCH);
    publish(&h, &["0123456789", "0123456789"]);
    assert_eq!(kept(&h), (1, one));
    // Of exactly the total: kept; one byte more: not.
    let h = Histories::with_epoch(History::default().total_bytes(one), EPOCH);
    publish(&h, &["0123456789"]);
    assert_eq!(kept(&h), (1, one));
    publish(&h, &["0123456789x"]);
    assert_eq!(
        kept(&h),
        (0, 0),
        "larger than the total: the topic is emptied"
    );
}

#[test]
fn a_history_of_no_messages_keeps_none() {
    let h = Histories::with_epoch(History::default().per_topic(0), EPOCH);
    assert_eq!(publish(&h, &["a", "b"]), [1, 2], "still numbered");
    assert_eq!(kept(&h), (0, 0));
    assert_eq!(resume(&h, at(0)).0, Some(2));
}

#[test]
fn a_refused_subscription_sends_nothing() {
    let h = Histories::with_epoch(History::default(), EPOCH);
    publish(&h, &["a"]);
    let mut sent = 0;
    let r = h.resume(b"t", at(0), || Err("full"), |_| sent += 1);
    assert_eq!((r, sent), (Err("full"), 0));
    // A topic never published: subscribed, nothing sent.
    let r = h.resume(b"new", at(5), || Ok::<(), ()>(()), |_| sent += 1);
    assert_eq!((r, sent), (Ok(()), 0));
}

#[test]
fn bytes_are_bounded_per_topic_and_in_all() {
    let cost = |m: &Message| m.body.encoded_len() + m.auth.encoded_len() + ENTRY_COST;
    let mut probe = note("0123456789");
    Position::new(EPOCH, 1).attach(&mut probe);
    let one = cost(&probe);
    // Room for two per topic, three in all.
    let limits = History::default()
        .per_topic_bytes(2 * one)
        .total_bytes(3 * one);
    let h = Histories::with_epoch(limits, EPOCH);
    for _ in 0..3 {
        publish(&h, &["0123456789"]);
    }
    assert_eq!(h.usage(), (1, 2 * one), "two kept of three");
    assert_eq!(resume(&h, at(0)).0, Some(1));
    h.publish(b"u", note("0123456789"), |m| m, |_| ());
    assert_eq!(h.usage(), (2, 3 * one));
    // The total is full: u's next one takes the place of u's first.
    h.publish(b"u", note("0123456789"), |m| m, |_| ());
    assert_eq!(h.usage(), (2, 3 * one));
    // A message larger than a topic's bytes is not kept, and empties it.
    let big = "x".repeat(2 * one);
    h.publish(b"t", note(&big), |m| m, |_| ());
    assert_eq!(h.usage(), (2, one));
    let (gap, rest) = resume(&h, at(3));
    assert_eq!((gap, rest.len()), (Some(1), 0));
}

#[test]
fn topics_past_the_bound_are_sent_without_a_position() {
    let h = Histories::with_epoch(History::default().topics(1), EPOCH);
    assert!(h
        .publish(b"t", note("a"), |m| m, |m| Position::of(&m))
        .is_some());
    assert!(h
        .publish(b"u", note("a"), |m| m, |m| Position::of(&m))
        .is_none());
    assert!(h
        .publish(b"t", note("b"), |m| m, |m| Position::of(&m))
        .is_some());
    assert_eq!(h.usage().0, 1);
}

#[test]
fn topics_spread_over_the_locks() {
    assert_eq!(shard_of(b""), 0x811c_9dc5 % SHARDS);
    // FNV-1a of "a": 0xe40c292c.
    assert_eq!(shard_of(b"a"), 0xe40c_292c % SHARDS);
    let used: std::collections::HashSet<usize> = (0..64)
        .map(|i| shard_of(format!("topic/{i}").as_bytes()))
        .collect();
    assert!(used.len() > SHARDS / 2, "{used:?}");
}

#[test]
fn kept_messages_own_their_bytes() {
    let h = Histories::with_epoch(History::default(), EPOCH);
    let frame = Bytes::from(vec![b'x'; 4096]);
    let m = Message::new(MessageType::NOTIFY_URI, "t", frame.slice(0..4));
    h.publish(b"t", m, |m| m, |_| ());
    let shard = lock(h.shard(b"t"));
    let kept = &shard.get(&b"t"[..]).unwrap().kept[0].1;
    assert_eq!(&kept.content()[..], b"xxxx");
    assert_ne!(
        kept.content().as_ptr(),
        frame.as_ptr(),
        "a copy, not a slice"
    );
}
