//! Several server instances on one backplane, and the checks the memory
//! and Redis backplane tests share: every subscriber gets every message
//! exactly once, in each publisher's order.

use std::collections::BTreeMap;
use std::time::Duration;

use framewire::server::{readme_routes, Backplane, Limits, Server, ServerBuilder};
use framewire::{Message, MessageType};
use futures::StreamExt;

use super::{call, connect, eventually, send, start, Conn, Running, LIMIT};

/// One readme-routes instance called `name` on `backplane`.
pub async fn instance(name: &str, backplane: impl Backplane) -> Running {
    start(build(name, backplane)).await
}

/// The builder of [`instance`], for tests that add routes.
pub fn builder(name: &str, backplane: impl Backplane) -> ServerBuilder {
    readme_routes(Server::builder())
        .backplane(backplane)
        .instance_id(name)
        // Longer than any test waits: a drain ends in time only because
        // the clients left.
        .limits(Limits::default().drain_timeout(Duration::from_secs(60)))
}

fn build(name: &str, backplane: impl Backplane) -> Server {
    builder(name, backplane).build()
}

/// Waits until every instance reports its backplane connected.
pub async fn all_connected(instances: &[&Running]) {
    eventually("backplanes connected", || {
        instances
            .iter()
            .all(|i| i.handle.stats().backplane_connected)
    })
    .await;
}

/// A connection subscribed to `topic`.
pub async fn subscriber(srv: &Running, topic: &str) -> Conn {
    let mut c = connect(srv.addr).await;
    let topic = topic.to_owned();
    let r = call(
        &mut c,
        Message::new(MessageType::SUBSCRIBE_URI, topic.clone(), ""),
    )
    .await;
    assert_eq!(r.message_type, MessageType::CONFIRM_SUBSCRIBE);
    c
}

/// PUBLISH_URI `pub/<topic>` with `content`, pipelined, then every OK.
pub async fn publish_all(srv: &Running, topic: &str, contents: Vec<String>) {
    let mut c = connect(srv.addr).await;
    let n = contents.len();
    let uri = format!("pub/{topic}");
    for content in contents {
        send(
            &mut c,
            Message::new(MessageType::PUBLISH_URI, uri.clone(), content),
        )
        .await;
    }
    for _ in 0..n {
        let r = super::recv(&mut c).await;
        assert_eq!(r.message_type, MessageType::OK, "{r:?}");
    }
}

/// The next `n` notification contents on `c`.
pub async fn notes(c: &mut Conn, n: usize) -> Vec<String> {
    let mut got = Vec::with_capacity(n);
    for _ in 0..n {
        let m = super::recv(c).await;
        assert_eq!(m.message_type, MessageType::NOTIFY_URI);
        got.push(String::from_utf8(m.content().to_vec()).unwrap());
    }
    got
}

/// Nothing more arrives on `c` within `quiet`.
pub async fn nothing_more(c: &mut Conn, quiet: Duration) {
    if let Ok(Some(extra)) = tokio::time::timeout(quiet, c.next()).await {
        panic!("unexpected extra frame: {extra:?}");
    }
}

/// Contents `origin:i` grouped by origin, in arrival order.
pub fn by_origin(contents: &[String]) -> BTreeMap<String, Vec<u32>> {
    let mut out: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for c in contents {
        let (origin, i) = c.split_once(':').expect("origin:i");
        out.entry(origin.to_owned())
            .or_default()
            .push(i.parse().unwrap());
    }
    out
}

/// Three instances, two subscribers on each, one publisher on each
/// sending `n` messages at once: every subscriber gets all `3 n`, each
/// publisher's in order, none twice; the counters agree.
pub async fn three_instances_exactly_once(instances: Vec<Running>, n: u32) {
    all_connected(&instances.iter().collect::<Vec<_>>()).await;
    let mut subs = Vec::new();
    for srv in &instances {
        for _ in 0..2 {
            subs.push(subscriber(srv, "t").await);
        }
    }
    let publishers = instances.iter().enumerate().map(|(k, srv)| {
        let contents = (0..n).map(|i| format!("p{k}:{i}")).collect();
        publish_all(srv, "t", contents)
    });
    tokio::time::timeout(LIMIT * 3, futures::future::join_all(publishers))
        .await
        .expect("publishers done in time");
    let expected: Vec<u32> = (0..n).collect();
    for sub in &mut subs {
        let got = notes(sub, 3 * n as usize).await;
        let grouped = by_origin(&got);
        assert_eq!(grouped.len(), 3);
        for (origin, seq) in grouped {
            assert_eq!(seq, expected, "messages of {origin}");
        }
        nothing_more(sub, Duration::from_millis(200)).await;
    }
    for srv in &instances {
        let s = srv.handle.stats();
        assert_eq!(s.backplane_published, u64::from(n));
        assert_eq!(s.backplane_received, 2 * u64::from(n));
        assert_eq!((s.backplane_lost, s.backplane_duplicates), (0, 0));
        assert_eq!((s.backplane_publish_failures, s.backplane_invalid), (0, 0));
    }
    for srv in instances {
        srv.stop().await;
    }
}
