//! Queue groups: each notification goes to one member of each group —
//! on one server, and across instances on a backplane — while plain
//! subscribers get every one; hostile names and tables are refused.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use common::cluster::*;
use common::*;
use framewire::protocol::GROUP_FIELD;
use framewire::server::{readme_routes, Backplane, MemoryBackplane, Server};
use framewire::{Message, MessageType};

/// A connection in queue group `group` of `topic`.
async fn member(srv: &Running, topic: &str, group: &str) -> Conn {
    let mut c = connect(srv.addr).await;
    let mut subscribe = Message::new(MessageType::SUBSCRIBE_URI, topic.to_owned(), "");
    subscribe
        .auth
        .insert(GROUP_FIELD, Bytes::copy_from_slice(group.as_bytes()));
    let r = call(&mut c, subscribe).await;
    assert_eq!(r.message_type, MessageType::CONFIRM_SUBSCRIBE, "{r:?}");
    c
}

/// Everything `c` is sent until `quiet` passes without a frame.
async fn drain_notes(c: &mut Conn, quiet: Duration) -> Vec<String> {
    use futures::StreamExt;
    let mut got = Vec::new();
    // Bounded: no test publishes more than a few hundred.
    for _ in 0..10_000 {
        match tokio::time::timeout(quiet, c.next()).await {
            Ok(Some(Ok(Ok(m)))) => {
                assert_eq!(m.message_type, MessageType::NOTIFY_URI, "{m:?}");
                got.push(String::from_utf8(m.content().to_vec()).unwrap());
            }
            Ok(other) => panic!("connection ended: {other:?}"),
            Err(_) => return got,
        }
    }
    panic!("more than 10 000 notifications");
}

/// The members' deliveries together are exactly `expected`, none twice,
/// and each member got some; returns each member's count.
fn split_exactly(members: &[Vec<String>], expected: &[String]) -> Vec<usize> {
    let mut union = BTreeSet::new();
    for got in members {
        assert!(!got.is_empty(), "a member got nothing: {members:?}");
        for note in got {
            assert!(union.insert(note.clone()), "{note} delivered twice");
        }
    }
    let expected: BTreeSet<String> = expected.iter().cloned().collect();
    assert_eq!(union, expected, "the members' union is what was published");
    members.iter().map(Vec::len).collect()
}

async fn next(s: &mut framewire::client::Subscription) -> String {
    let m = tokio::time::timeout(LIMIT, s.next())
        .await
        .unwrap()
        .unwrap();
    String::from_utf8(m.content().to_vec()).unwrap()
}

fn batch(origin: &str, n: u32) -> Vec<String> {
    (0..n).map(|i| format!("{origin}:{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_one_server_members_take_turns_and_plain_subscribers_get_all() {
    let srv = start(readme_routes(Server::builder()).build()).await;
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(member(&srv, "jobs", "w").await);
    }
    let mut other = member(&srv, "jobs", "audit").await;
    let mut plain = subscriber(&srv, "jobs").await;
    assert_eq!(srv.handle.group_members("jobs", "w"), 3);
    let sent = batch("p", 300);
    publish_all(&srv, "jobs", sent.clone()).await;

    assert_eq!(notes(&mut plain, 300).await, sent, "all, in order");
    let quiet = Duration::from_millis(300);
    let mut got = Vec::new();
    for m in &mut members {
        got.push(drain_notes(m, quiet).await);
    }
    // Round-robin on one server: exactly a third each, each in order.
    assert_eq!(split_exactly(&got, &sent), [100, 100, 100]);
    for g in &got {
        let order: Vec<u32> = by_origin(g)["p"].clone();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    }
    // A second group gets its own copy of each.
    assert_eq!(drain_notes(&mut other, quiet).await, sent);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_instances_each_message_goes_to_one_member_of_the_cluster() {
    let hub = MemoryBackplane::new();
    let a = instance("a", hub.clone()).await;
    let b = instance("b", hub.clone()).await;
    all_connected(&[&a, &b]).await;
    let mut on_a = vec![member(&a, "jobs", "w").await, member(&a, "jobs", "w").await];
    let mut on_b = member(&b, "jobs", "w").await;
    let mut plain = subscriber(&a, "jobs").await;
    // Each instance learns the other's members from its announcements.
    eventually("members announced", || {
        a.handle.group_members("jobs", "w") == 3 && b.handle.group_members("jobs", "w") == 3
    })
    .await;
    let (from_b, from_a) = (batch("b", 300), batch("a", 30));
    publish_all(&b, "jobs", from_b.clone()).await;
    publish_all(&a, "jobs", from_a.clone()).await;

    let all: Vec<String> = from_b.iter().chain(&from_a).cloned().collect();
    assert_eq!(notes(&mut plain, all.len()).await, all);
    let quiet = Duration::from_millis(300);
    let mut got = Vec::new();
    for m in &mut on_a {
        got.push(drain_notes(m, quiet).await);
    }
    got.push(drain_notes(&mut on_b, quiet).await);
    // The publishing instance assigns turns by members: a third each.
    let counts = split_exactly(&got, &all);
    assert_eq!(counts, [110, 110, 110], "{counts:?}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_leaves_hands_its_turns_to_the_others() {
    let hub = MemoryBackplane::new();
    let a = instance("a", hub.clone()).await;
    let b = instance("b", hub.clone()).await;
    all_connected(&[&a, &b]).await;
    let mut stays = member(&a, "jobs", "w").await;
    let mut leaves = member(&a, "jobs", "w").await;
    let mut on_b = member(&b, "jobs", "w").await;
    eventually("members announced", || {
        b.handle.group_members("jobs", "w") == 3
    })
    .await;
    let first = batch("x", 60);
    publish_all(&b, "jobs", first.clone()).await;
    let quiet = Duration::from_millis(300);
    let early = drain_notes(&mut leaves, quiet).await;
    // It leaves (UNSUBSCRIBE), the others go on with every later one.
    let r = call(
        &mut leaves,
        Message::new(MessageType::UNSUBSCRIBE_URI, "jobs", ""),
    )
    .await;
    assert_eq!(r.message_type, MessageType::CONFIRM_UNSUBSCRIBE);
    eventually("the leave announced", || {
        b.handle.group_members("jobs", "w") == 2
    })
    .await;
    let second = batch("y", 60);
    publish_all(&b, "jobs", second.clone()).await;
    let got = vec![
        drain_notes(&mut stays, quiet).await,
        drain_notes(&mut on_b, quiet).await,
        early,
    ];
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    split_exactly(&got, &all);
    assert!(
        got[2].iter().all(|n| n.starts_with("x:")),
        "nothing after it left"
    );
    nothing_more(&mut leaves, Duration::from_millis(100)).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_group_names_and_forged_tables_are_refused() {
    let hub = MemoryBackplane::new();
    let a = instance("a", hub.clone()).await;
    all_connected(&[&a]).await;
    let mut c = connect(a.addr).await;
    for bad in [&b""[..], b"a b", &[b'w'; 65], b"\xff"] {
        let mut subscribe = Message::new(MessageType::SUBSCRIBE_URI, "jobs", "");
        subscribe
            .auth
            .insert(GROUP_FIELD, Bytes::copy_from_slice(bad));
        let r = call(&mut c, subscribe).await;
        assert_eq!(r.message_type, MessageType::ERROR, "{bad:?}: {r:?}");
    }
    assert_eq!(a.handle.stats().subscriptions_refused, 4);
    assert_eq!(a.handle.group_members("jobs", ""), 0);
    // A table that does not parse, from "another instance": counted,
    // nothing kept, the instance goes on.
    let mut env = b"FWB1\x05rogue".to_vec();
    env.extend_from_slice(&7u64.to_be_bytes());
    env.extend_from_slice(&1u64.to_be_bytes());
    env.push(4); // a queue-group table
    let table = [0u8, 0, 0, 9, 1]; // nine entries promised, one byte given
    env.extend_from_slice(&(table.len() as u32).to_be_bytes());
    env.extend_from_slice(&table);
    env.extend_from_slice(&note_frame());
    let invalid = a.handle.stats().backplane_invalid;
    hub.publish(Bytes::from(env));
    eventually("the table refused", || {
        a.handle.stats().backplane_invalid == invalid + 1
    })
    .await;
    let mut m = member(&a, "jobs", "w").await;
    publish_all(&a, "jobs", batch("z", 3)).await;
    assert_eq!(notes(&mut m, 3).await, batch("z", 3));
    a.stop().await;
}

/// An empty NOTIFY as one `wide` frame (what follows an envelope's target).
fn note_frame() -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    let cfg = framewire::FrameConfig::new(framewire::Profile::Wide);
    framewire::wire::encode_frame(
        &Message::new(MessageType::NOTIFY_URI, "", ""),
        &cfg,
        &mut out,
    )
    .unwrap();
    out.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_join_groups_and_rejoin_after_a_reconnect_without_replays() {
    use framewire::client::{Client, ConnectionEvent, Reconnect};
    // A history: a resumed plain subscription would be replayed what it
    // missed; a member must not be (the others had those).
    let srv = start(
        readme_routes(Server::builder())
            .history(Default::default())
            .build(),
    )
    .await;
    let client = || {
        Client::builder(srv.addr.to_string())
            .reconnect(Reconnect::default().initial(Duration::from_millis(20)))
            .connect()
    };
    let (one, two) = (client().await.unwrap(), client().await.unwrap());
    let mut s1 = one.subscribe_group("jobs", "w").await.unwrap();
    let mut s2 = two.subscribe_group("jobs", "w").await.unwrap();
    // One subscription per topic and client: plain or another group is
    // refused, a bad name too, before anything is sent.
    assert!(one.subscribe("jobs").await.unwrap_err().is_subscription());
    assert!(one
        .subscribe_group("jobs", "v")
        .await
        .unwrap_err()
        .is_subscription());
    assert!(one
        .subscribe_group("mail", "a b")
        .await
        .unwrap_err()
        .is_subscription());
    assert_eq!(srv.handle.group_members("jobs", "w"), 2);
    publish_all(&srv, "jobs", batch("p", 10)).await;
    let mut got = (Vec::new(), Vec::new());
    for _ in 0..5 {
        got.0.push(next(&mut s1).await);
        got.1.push(next(&mut s2).await);
    }
    // The first client's connection is cut; it comes back and rejoins.
    let mut events = one.events();
    let id = srv.handle.connections().iter().map(|c| c.id).min().unwrap();
    assert!(srv.handle.disconnect(id));
    reconnected(&mut events).await;
    eventually("rejoined", || srv.handle.group_members("jobs", "w") == 2).await;
    publish_all(&srv, "jobs", batch("q", 10)).await;
    for _ in 0..5 {
        got.0.push(next(&mut s1).await);
        got.1.push(next(&mut s2).await);
    }
    split_exactly(
        &[got.0.clone(), got.1.clone()],
        &[batch("p", 10), batch("q", 10)].concat(),
    );
    assert!(
        got.0[5..].iter().all(|n| n.starts_with("q:")),
        "no replay: {got:?}"
    );
    while let Ok(e) = events.try_recv() {
        assert!(!matches!(e, ConnectionEvent::Gap { .. }), "{e:?}");
    }
    one.close().await;
    two.close().await;
    srv.stop().await;
}
