//! framewire's UDP node and netaio 0.0.9's `UDPNode`, both ways: netaio
//! nodes against `framewire node`; framewire's node against a netaio node
//! (requests, peer discovery both ways, DISCONNECT, X25519 per-handler
//! encryption); and peer discovery over multicast inside a private network
//! namespace (multicast enabled on `lo`), with netaio and between two
//! framewire nodes.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use framewire::auth::X25519CipherPlugin;
use framewire::node::{Node, NodeHandle, NodeLimits};
use framewire::peer::LocalPeer;
use framewire::wire::PackValue;
use framewire::{Message, MessageType, PluginLayer};

/// Polls `cond` every 20 ms, 500 times at most.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The netaio node of tests/python/netaio_node_peer.py.
fn netaio_node(seed: [u8; 32], multicast_port: Option<u16>) -> (common::KillOnDrop, SocketAddr) {
    let mut cmd = Command::new(common::netaio_asymmetric_python());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/netaio_node_peer.py"
    ))
    .arg(common::hex(&seed));
    if let Some(port) = multicast_port {
        cmd.args(["--multicast", &port.to_string()]);
    }
    let (child, addr) = common::spawn_listening(cmd);
    (child, addr.parse().expect("HOST:PORT"))
}

/// A framewire node as a netaio peer: data {"name": name, "pubkey": key}.
fn fw_peer(name: &str, cipher: &X25519CipherPlugin) -> LocalPeer {
    let data = PackValue::Dict(vec![
        ("name".into(), name.into()),
        ("pubkey".into(), PackValue::from(&cipher.public_key()[..])),
    ]);
    LocalPeer::random().with_data_value(data)
}

fn every_second() -> NodeLimits {
    NodeLimits::default().advertise_every(Duration::from_secs(1))
}

async fn netaio_peers(asker: &NodeHandle, py: SocketAddr) -> String {
    let reply = asker.request(py, "peers", "").await.expect("peers");
    String::from_utf8_lossy(reply.content()).into_owned()
}

#[cfg(feature = "cli")]
#[test]
#[ignore = "needs the netaio 0.0.9 venv; see README"]
fn netaio_nodes_against_framewire_node() {
    let mut node = Command::new(env!("CARGO_BIN_EXE_framewire"));
    node.args([
        "node",
        "--bind",
        "127.0.0.1:0",
        "--app-id",
        "netaio",
        "--peer-name",
        "fw-node",
    ]);
    let (child, line) = common::spawn_listening(node);
    let addr = line
        .strip_suffix(" (udp)")
        .expect("`listening on HOST:PORT (udp)`");
    let (host, port) = addr.rsplit_once(':').unwrap();
    let mut cmd = Command::new(common::netaio_python());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/netaio_node_check.py"
    ))
    .args([host, port]);
    let (ok, out, err) = common::run_bounded(cmd, Duration::from_secs(120));
    let status = common::terminate(child);
    println!("{out}");
    assert!(ok, "netaio node scenarios failed:\n{out}\n{err}");
    assert!(out.contains("3 passed, 0 failed"), "{out}");
    assert!(status.success(), "{status:?}");
}

#[test]
#[ignore = "needs the netaio 0.0.9 venv with PyNaCl and tapescript; see README"]
fn framewire_node_against_a_netaio_node() {
    let (_child, py) = netaio_node([7; 32], None);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cipher = X25519CipherPlugin::new([9; 32]);
        let fw = Node::builder()
            .peers(fw_peer("fw", &cipher))
            .seed(py)
            .limits(every_second())
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let reply = fw.request(py, "echo", "hi").await.unwrap();
        assert_eq!(&reply.content()[..], b"hi");
        fw.create(py, "k", "v").await.unwrap();
        assert_eq!(&fw.request(py, "k", "").await.unwrap().content()[..], b"v");
        assert!(fw
            .request(py, "missing", "")
            .await
            .unwrap_err()
            .is_not_found());
        // framewire advertised to its seed; netaio answered PEER_DISCOVERED.
        eventually("framewire knows the netaio node", || fw.peers().len() == 1).await;
        let peer = fw.peer_at(py).unwrap();
        assert_eq!(&peer.id[..], b"netaio-node-0001");
        assert_eq!(peer.data_value().unwrap().get("name"), Some(&"py".into()));
        assert_eq!(netaio_peers(&fw, py).await, "fw");
        // netaio's handler decrypts with framewire's advertised key and
        // encrypts its reply with its own; framewire opens it with netaio's.
        let layer = PluginLayer::new().with_cipher(cipher);
        let secret = Message::new(MessageType::REQUEST_URI, "secret", "hush");
        let reply = fw.call_with(py, secret, &layer).await.unwrap();
        assert_eq!(&reply.content()[..], b"got hush");
        // DISCONNECT on stop: netaio forgets framewire.
        fw.stop().await;
        let asker = Node::builder().bind("127.0.0.1:0").await.unwrap();
        for _ in 0..100 {
            if netaio_peers(&asker, py).await.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("netaio still lists framewire after its DISCONNECT");
    });
}

/// A free UDP port on 0.0.0.0 (for the group: every member binds it).
fn free_port() -> u16 {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn multicast_on_lo() {
    common::netns::ip(&["link", "set", "lo", "up"]);
    common::netns::ip(&["link", "set", "lo", "multicast", "on"]);
    common::netns::ip(&["route", "add", "224.0.0.0/4", "dev", "lo"]);
}

async fn group_member(name: &str, port: u16) -> NodeHandle {
    Node::builder()
        .peers(fw_peer(name, &X25519CipherPlugin::new([1; 32])))
        .multicast(framewire::node::DEFAULT_MULTICAST_GROUP, Some(port))
        .limits(every_second())
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

#[test]
#[ignore = "needs network namespaces (unshare, ip) and the netaio 0.0.9 venv; see README"]
fn peers_discover_each_other_over_multicast() {
    common::netns::isolated("peers_discover_each_other_over_multicast", || {
        multicast_on_lo();
        let port = free_port();
        let (_child, py) = netaio_node([7; 32], Some(port));
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            // No seeds: everything goes through the group.
            let fw = group_member("fw", port).await;
            let fw2 = group_member("fw2", port).await;
            // netaio answers no advertisement: framewire can only have
            // heard netaio's own, sent to the group.
            eventually("framewire hears netaio's multicast", || {
                fw.peers().iter().any(|p| p.addr.port() == py.port())
            })
            .await;
            // fw bound first: it learns fw2 only from fw2's multicast.
            eventually("the framewire nodes find each other", || {
                fw.peer_at(fw2.local_addr()).is_some() && fw2.peer_at(fw.local_addr()).is_some()
            })
            .await;
            // netaio heard framewire's multicast (and was answered).
            let asker = Node::builder().bind("127.0.0.1:0").await.unwrap();
            let to = SocketAddr::from(([127, 0, 0, 1], py.port()));
            for _ in 0..100 {
                if netaio_peers(&asker, to).await == "fw,fw2" {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("netaio lists {:?}", netaio_peers(&asker, to).await);
        });
    });
}
