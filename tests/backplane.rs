//! Instances on an in-process backplane: relay semantics without Redis
//! (exactly once, in order, own messages never back, outages counted,
//! broadcast and tags relayed, local delivery independent of the relay).

mod common;

use std::time::Duration;

use common::cluster::*;
use common::*;
use framewire::server::{Context, MemoryBackplane, Server};
use framewire::{Message, MessageType};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_deliver_every_message_once_in_order() {
    let hub = MemoryBackplane::new();
    let mut instances = Vec::new();
    for name in ["a", "b", "c"] {
        instances.push(instance(name, hub.clone()).await);
    }
    three_instances_exactly_once(instances, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_loses_what_the_counters_say_and_local_delivery_goes_on() {
    let hub = MemoryBackplane::new();
    let a = instance("a", hub.clone()).await;
    let b = instance("b", hub.clone()).await;
    all_connected(&[&a, &b]).await;
    let mut local = subscriber(&a, "t").await;
    let mut remote = subscriber(&b, "t").await;
    let batch = |range: std::ops::Range<u32>| range.map(|i| format!("a:{i}")).collect();
    publish_all(&a, "t", batch(0..50)).await;
    hub.set_available(false);
    assert!(!a.handle.stats().backplane_connected);
    publish_all(&a, "t", batch(50..70)).await;
    hub.set_available(true);
    publish_all(&a, "t", batch(70..100)).await;

    let got_local = by_origin(&notes(&mut local, 100).await);
    assert_eq!(got_local["a"], (0..100).collect::<Vec<_>>());
    let got_remote = by_origin(&notes(&mut remote, 80).await);
    let expected: Vec<u32> = (0..50).chain(70..100).collect();
    assert_eq!(got_remote["a"], expected);
    nothing_more(&mut remote, Duration::from_millis(200)).await;

    let (sa, sb) = (a.handle.stats(), b.handle.stats());
    assert_eq!(
        (sa.backplane_published, sa.backplane_publish_failures),
        (80, 20)
    );
    assert_eq!((sb.backplane_received, sb.backplane_lost), (80, 20));
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_and_tags_are_relayed_and_own_relays_ignored() {
    let hub = MemoryBackplane::new();
    let tagging = || {
        Server::builder().on(
            (MessageType::REQUEST_URI, "join"),
            |_m: Message, c: Context| async move {
                c.add_tag("ops");
                Message::respond("join", "")
            },
        )
    };
    let a = start(tagging().backplane(hub.clone()).instance_id("a").build()).await;
    let b = start(tagging().backplane(hub.clone()).instance_id("b").build()).await;
    let mut on_b = connect(b.addr).await;
    call(
        &mut on_b,
        Message::new(MessageType::REQUEST_URI, "join", ""),
    )
    .await;

    let note = |text: &str| Message::new(MessageType::NOTIFY_URI, "n", text.to_owned());
    assert_eq!(a.handle.broadcast(note("to all")).unwrap(), 0);
    assert_eq!(a.handle.send_to_tag("ops", note("to ops")).unwrap(), 0);
    assert_eq!(a.handle.send_to_tag("nobody", note("to none")).unwrap(), 0);
    assert_eq!(&recv(&mut on_b).await.content()[..], b"to all");
    assert_eq!(&recv(&mut on_b).await.content()[..], b"to ops");
    nothing_more(&mut on_b, Duration::from_millis(200)).await;
    // Nothing came back to a: its own relays are ignored.
    let sa = a.handle.stats();
    assert_eq!((sa.backplane_published, sa.backplane_received), (3, 0));
    assert_eq!(b.handle.stats().backplane_received, 3);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_backplane_nothing_is_relayed_or_counted() {
    let srv = start(framewire::server::readme_routes(Server::builder()).build()).await;
    let mut sub = subscriber(&srv, "t").await;
    publish_all(&srv, "t", vec!["x:1".into()]).await;
    assert_eq!(notes(&mut sub, 1).await, ["x:1"]);
    let s = srv.handle.stats();
    assert!(!s.backplane_connected);
    assert_eq!(
        (s.backplane_published, s.backplane_publish_failures),
        (0, 0)
    );
    assert_eq!(srv.handle.instance_id(), None);
    srv.stop().await;
}
