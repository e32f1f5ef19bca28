//! Three UDP nodes (netaio's `UDPNode`) on loopback: they find each other
//! through one seed, exchange requests, and one of them publishes to the
//! others' subscriptions; the last one leaves with DISCONNECT.
//!
//! Run: `cargo run --example udp_nodes`

use std::time::Duration;

use framewire::node::{Node, NodeHandle, Origin};
use framewire::peer::LocalPeer;
use framewire::{Message, MessageType};

async fn node(
    name: &str,
    seed: Option<std::net::SocketAddr>,
) -> Result<NodeHandle, framewire::node::NodeError> {
    let who = name.to_owned();
    let mut builder = Node::builder()
        .peers(LocalPeer::random().with_fields([("name", name)]))
        .on(
            (MessageType::REQUEST_URI, "whoami"),
            move |_m: Message, from: Origin| {
                let reply = format!("{who} sees you at {}", from.addr());
                async move { Message::respond("whoami", reply) }
            },
        )
        .on(
            (MessageType::NOTIFY_URI, "news"),
            |m: Message, from: Origin| async move {
                println!(
                    "news from {}: {}",
                    from.addr(),
                    String::from_utf8_lossy(m.content())
                );
            },
        );
    if let Some(seed) = seed {
        builder = builder.seed(seed);
    }
    builder.bind("127.0.0.1:0").await
}

fn names(node: &NodeHandle) -> Vec<String> {
    node.peers()
        .iter()
        .filter_map(|p| {
            p.data_value()
                .ok()?
                .get("name")
                .and_then(|n| n.as_str().map(str::to_owned))
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hub = node("hub", None).await?;
    let a = node("a", Some(hub.local_addr())).await?;
    let b = node("b", Some(hub.local_addr())).await?;
    // Each advertised itself to the hub, which answered PEER_DISCOVERED.
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!("the hub knows {:?}", names(&hub));

    let reply = a.request(hub.local_addr(), "whoami", "").await?;
    println!("{}", String::from_utf8_lossy(reply.content()));

    hub.subscribe("news", a.local_addr())?;
    hub.subscribe("news", b.local_addr())?;
    let sent = hub
        .notify(
            b"news",
            Message::new(MessageType::NOTIFY_URI, "news", "hello, subscribers"),
        )
        .await?;
    println!("notified {sent} subscribers");
    tokio::time::sleep(Duration::from_millis(100)).await;

    b.stop().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    println!("after b left, the hub knows {:?}", names(&hub));
    println!("hub counters: {:?}", hub.stats());
    Ok(())
}
