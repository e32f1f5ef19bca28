//! Hostile announcers against peer management (issue 35, findings 6 and
//! 8), over real sockets on loopback: one connection announcing thousands
//! of ids holds one entry and real peers still get in; the table's bytes
//! are bounded in all and per entry; another connection (or UDP source)
//! announcing a victim's id neither takes it over nor, with a DISCONNECT,
//! removes it; peer announcements obey the connection's permissions. The
//! last tests attack `framewire serve --peers` from outside.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::udp::{ask, recv_msg, send_msg, socket_on};
use common::*;
use framewire::auth::{MemoryUsers, Permissions, Rule, User, UserHmac};
use framewire::node::Node;
use framewire::peer::LocalPeer;
use framewire::server::{Limits, Server};
use framewire::{Message, MessageType, PluginLayer, PluginStack};
use futures::{SinkExt, StreamExt};

fn announce(t: MessageType, id: &[u8], data: &[u8]) -> Message {
    LocalPeer::new(id.to_vec(), data.to_vec()).message(t)
}

fn advertise(id: &[u8], data: &[u8]) -> Message {
    announce(MessageType::ADVERTISE_PEER, id, data)
}

fn ping() -> Message {
    Message::new(MessageType::REQUEST_URI, framewire::protocol::PING_URI, "")
}

/// Sends `msg`, then a ping: the server handles a connection's frames in
/// order, so the pong coming first means `msg` got no answer.
async fn no_answer(conn: &mut Conn, msg: Message) {
    send(conn, msg).await;
    let next = call(conn, ping()).await;
    assert_eq!(next.message_type, MessageType::RESPOND_URI, "{next:?}");
}

/// Announces `count` distinct ids (`data_len` bytes of data each) on one
/// connection as fast as it takes them, reading the answers meanwhile
/// (the server would drop a connection that never reads); returns how
/// many were answered with PEER_DISCOVERED, and the connection, still
/// open (a closed one's peers are forgotten).
async fn flood(conn: Conn, count: u32, data_len: usize) -> (usize, Conn) {
    let (mut tx, mut rx) = conn.split();
    let reader = tokio::spawn(async move {
        let mut discovered = 0;
        loop {
            match rx.next().await {
                Some(Ok(Ok(m))) if m.message_type == MessageType::PEER_DISCOVERED => {
                    discovered += 1
                }
                Some(Ok(Ok(m))) if m.message_type == MessageType::RESPOND_URI => {
                    return (discovered, rx)
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    });
    let writer = async {
        for n in 0..count {
            tx.feed(advertise(&n.to_be_bytes(), &vec![b'd'; data_len]))
                .await
                .unwrap();
        }
        tx.send(ping()).await.unwrap();
    };
    tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("the flood sent in time");
    let (discovered, rx) = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the flood answered in time")
        .unwrap();
    (discovered, tx.reunite(rx).unwrap())
}

fn table_bytes(peers: &[framewire::peer::Peer]) -> usize {
    peers.iter().map(|p| p.id.len() + p.data.len()).sum()
}

/// Finding 6: before, every distinct id was a new entry, so one
/// connection filled the table (10 000 in 1.2 s on the CLI) and every
/// real peer was refused while it stayed.
#[tokio::test]
async fn one_connection_holds_one_peer_however_many_ids_it_announces() {
    let server = Server::builder()
        .peers(LocalPeer::random().with_max_peers(1000))
        .build();
    let srv = start(server).await;
    let mallory = connect(srv.addr).await;
    let mallory_addr = mallory.get_ref().local_addr().unwrap();
    // Each announcement replaces the one before: all are taken.
    let (taken, _mallory) = flood(mallory, 3000, 1000).await;
    assert_eq!(taken, 3000);
    let peers = srv.handle.peers();
    assert_eq!(peers.len(), 1, "one connection, one peer");
    assert_eq!(&peers[0].id[..], &2999u32.to_be_bytes());
    assert_eq!(peers[0].addr, mallory_addr);
    assert_eq!(table_bytes(&peers), 1004);
    // A real peer on another connection is still welcome.
    let mut real = connect(srv.addr).await;
    let reply = call(&mut real, advertise(b"real", b"real-data")).await;
    assert_eq!(reply.message_type, MessageType::PEER_DISCOVERED);
    assert_eq!(srv.handle.peers().len(), 2);
}

/// The table's bytes: one entry at most `max_peer_entry_bytes`, all at
/// most `max_peer_bytes` (limits set after `peers`: applied at build).
#[tokio::test]
async fn the_table_is_bounded_in_bytes_in_all_and_per_entry() {
    let server = Server::builder()
        .peers(LocalPeer::random())
        .limits(
            Limits::default()
                .max_peer_bytes(3000)
                .max_peer_entry_bytes(1200),
        )
        .build();
    let srv = start(server).await;
    let mut big = connect(srv.addr).await;
    no_answer(&mut big, advertise(b"big", &[b'x'; 1198])).await;
    assert!(srv.handle.peers().is_empty(), "past the entry cap");
    let mut conns = Vec::new();
    for id in [b"p1", b"p2", b"p3"] {
        let mut c = connect(srv.addr).await;
        let reply = call(&mut c, advertise(id, &[b'x'; 998])).await;
        assert_eq!(reply.message_type, MessageType::PEER_DISCOVERED);
        conns.push(c);
    }
    assert_eq!(table_bytes(&srv.handle.peers()), 3000);
    no_answer(&mut big, advertise(b"p4", b"x")).await;
    assert_eq!(srv.handle.peers().len(), 3, "past the byte budget");
    // A connection may swap its entry for one that fits in its place.
    let reply = call(&mut conns[0], advertise(b"q1", &[b'y'; 998])).await;
    assert_eq!(reply.message_type, MessageType::PEER_DISCOVERED);
    // Room again once a connection has gone.
    drop(conns.pop());
    eventually("p3 forgotten with its connection", || {
        srv.handle.peer(b"p3").is_none()
    })
    .await;
    let reply = call(&mut big, advertise(b"p4", b"x")).await;
    assert_eq!(reply.message_type, MessageType::PEER_DISCOVERED);
    assert!(table_bytes(&srv.handle.peers()) <= 3000);
}

/// Finding 8 over TCP: before, mallory's announcement of the victim's id
/// moved the entry to mallory's connection, and its DISCONNECT then
/// removed it.
#[tokio::test]
async fn another_connection_can_neither_take_over_nor_evict_a_peer() {
    let server = Server::builder()
        .subscriptions()
        .peers(LocalPeer::random())
        .build();
    let srv = start(server).await;
    let mut victim = connect(srv.addr).await;
    let victim_addr = victim.get_ref().local_addr().unwrap();
    let reply = call(&mut victim, advertise(b"victim", b"victim-data")).await;
    assert_eq!(reply.message_type, MessageType::PEER_DISCOVERED);
    let mut mallory = connect(srv.addr).await;
    no_answer(&mut mallory, advertise(b"victim", b"mallory-data")).await;
    no_answer(
        &mut mallory,
        announce(MessageType::DISCONNECT, b"victim", b""),
    )
    .await;
    let held = srv
        .handle
        .peer(b"victim")
        .expect("the victim is still known");
    assert_eq!(
        (held.addr, &held.data[..]),
        (victim_addr, &b"victim-data"[..])
    );
    assert_eq!(srv.handle.peers().len(), 1, "mallory holds nothing");
    // The victim's own announcements still work, and the id is its own
    // until its connection closes.
    let reply = call(&mut victim, advertise(b"victim", b"v2")).await;
    assert_eq!(reply.message_type, MessageType::PEER_DISCOVERED);
    assert_eq!(&srv.handle.peer(b"victim").unwrap().data[..], b"v2");
    drop(victim);
    eventually("the victim forgotten with its connection", || {
        srv.handle.peers().is_empty()
    })
    .await;
    let reply = call(&mut mallory, advertise(b"victim", b"mallory-data")).await;
    assert_eq!(reply.message_type, MessageType::PEER_DISCOVERED);
}

/// Finding 8 over UDP: an id belongs to the source address that
/// announced it; the same id from another address neither moves it nor,
/// with a DISCONNECT, removes it.
#[tokio::test]
async fn another_udp_source_can_neither_take_over_nor_evict_a_peer() {
    let node = Node::builder()
        .peers(LocalPeer::random())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let to = node.local_addr();
    let (victim, mallory, probe) = (socket_on(1).await, socket_on(2).await, socket_on(3).await);
    let victim_addr = victim.local_addr().unwrap();
    let reply = ask(&victim, &advertise(b"victim", b"victim-data"), to).await;
    assert_eq!(reply.message_type, MessageType::PEER_DISCOVERED);
    send_msg(&mallory, &advertise(b"victim", b"mallory-data"), to).await;
    send_msg(
        &mallory,
        &announce(MessageType::DISCONNECT, b"victim", b""),
        to,
    )
    .await;
    // The node starts handling datagrams in the order they arrive (one
    // task each, on this test's single thread): once the probe's answer
    // is here, mallory's two have been handled.
    let reply = ask(&probe, &advertise(b"probe", b"p"), to).await;
    assert_eq!(reply.message_type, MessageType::PEER_DISCOVERED);
    assert_eq!(node.stats().datagrams_in, 4);
    let held = node.peer(b"victim").expect("the victim is still known");
    assert_eq!(
        (held.addr, &held.data[..]),
        (victim_addr, &b"victim-data"[..])
    );
    assert!(node.peer_at(mallory.local_addr().unwrap()).is_none());
    assert!(
        recv_msg(&mallory, Duration::from_millis(100))
            .await
            .is_none(),
        "mallory's announcement was not answered"
    );
    // The owner's DISCONNECT does remove it.
    send_msg(
        &victim,
        &announce(MessageType::DISCONNECT, b"victim", b""),
        to,
    )
    .await;
    eventually("the victim gone on its own DISCONNECT", || {
        node.peer(b"victim").is_none()
    })
    .await;
}

/// Finding 6 over UDP: one source announcing many ids holds one entry
/// (forged sources can still each hold one: see `framewire::node`).
#[tokio::test]
async fn one_udp_source_holds_one_peer_however_many_ids_it_announces() {
    let node = Node::builder()
        .peers(LocalPeer::random().with_max_peers(100))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let to = node.local_addr();
    let mallory = socket_on(1).await;
    for n in 0..300u32 {
        // One at a time, answered: nothing lost in a receive buffer.
        let reply = ask(&mallory, &advertise(&n.to_be_bytes(), b"d"), to).await;
        assert_eq!(reply.message_type, MessageType::PEER_DISCOVERED);
    }
    assert_eq!(node.peers().len(), 1);
    assert_eq!(&node.peers()[0].id[..], &299u32.to_be_bytes());
    let real = socket_on(2).await;
    let reply = ask(&real, &advertise(b"real", b"r"), to).await;
    assert_eq!(reply.message_type, MessageType::PEER_DISCOVERED);
    assert_eq!(node.peers().len(), 2);
}

fn rule(patterns: &[&str]) -> Rule {
    Rule::allow(patterns.iter().map(|p| p.parse().unwrap()))
}

/// Peer announcements are checked like requests for the app id: before,
/// a user whose `request` list allows only `echo` could still enter (and
/// leave) the peer table.
#[tokio::test]
async fn announcements_follow_the_users_permissions() {
    let users = MemoryUsers::new()
        .with(
            User::new("alice", "alice-secret")
                .permissions(Permissions::default().request(rule(&["echo"]))),
        )
        .with(
            User::new("bob", "bob-secret")
                .permissions(Permissions::default().request(rule(&["echo", "netaio"]))),
        );
    let server = Server::builder()
        .plugins(PluginLayer::new().with_auth(UserHmac::server(users)))
        .peers(LocalPeer::random())
        .on_sync(
            (MessageType::REQUEST_URI, "echo"),
            |m: Message, _c: &framewire::server::Context| {
                Message::respond("echo", m.content().clone())
            },
        )
        .build();
    let srv = start(server).await;
    let stack = |name: &str, secret: &str| {
        PluginStack::new(PluginLayer::new().with_auth(UserHmac::client(name, secret)))
    };
    let (alice_stack, bob_stack) = (stack("alice", "alice-secret"), stack("bob", "bob-secret"));
    let mut alice = connect(srv.addr).await;
    for t in [
        MessageType::ADVERTISE_PEER,
        MessageType::PEER_DISCOVERED,
        MessageType::DISCONNECT,
    ] {
        let reply = call_sealed(&mut alice, &alice_stack, announce(t, b"alice", b"a")).await;
        assert_eq!(
            (reply.message_type, &reply.uri()[..]),
            (MessageType::NOT_PERMITTED, &b"netaio"[..]),
            "{t:?}"
        );
    }
    assert!(srv.handle.peers().is_empty());
    let mut bob = connect(srv.addr).await;
    let reply = call_sealed(&mut bob, &bob_stack, advertise(b"bob", b"b")).await;
    assert_eq!(reply.message_type, MessageType::PEER_DISCOVERED);
    let ids: Vec<Bytes> = srv.handle.peers().into_iter().map(|p| p.id).collect();
    assert_eq!(ids, [Bytes::from_static(b"bob")]);
    // A client managing peers whose user may not announce is refused
    // that, and nothing else.
    let client = framewire::client::Client::builder(srv.addr.to_string())
        .plugins(PluginLayer::new().with_auth(UserHmac::client("alice", "alice-secret")))
        .peer(LocalPeer::new(&b"alice-client"[..], &b"a"[..]))
        .request_timeout(LIMIT)
        .connect()
        .await
        .unwrap();
    let reply = client.request("echo", "still served").await.unwrap();
    assert_eq!(&reply.content()[..], b"still served");
    assert!(srv.handle.peer(b"alice-client").is_none());
}

/// From outside, on the CLI: `framewire serve --peers` (10 000 peers at
/// most) takes a real peer after one connection announced 10 001 ids,
/// and a victim's id is neither taken over nor evicted by another
/// connection (a third connection finds it still held).
#[cfg(feature = "cli")]
#[test]
fn serve_peers_resists_a_flood_and_a_takeover() {
    use std::process::Command;

    let mut serve = Command::new(env!("CARGO_BIN_EXE_framewire"));
    serve.args(["serve", "--addr", "127.0.0.1:0", "--peers"]);
    let (child, addr) = spawn_listening(serve);
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mallory = connect(addr).await;
        let (taken, _flooder) = flood(mallory, 10_001, 16).await;
        assert_eq!(taken, 10_001);
        let mut real = connect(addr).await;
        let reply = call(&mut real, advertise(b"real", b"r")).await;
        assert_eq!(reply.message_type, MessageType::PEER_DISCOVERED);

        let mut victim = connect(addr).await;
        let reply = call(&mut victim, advertise(b"victim", b"v")).await;
        assert_eq!(reply.message_type, MessageType::PEER_DISCOVERED);
        let mut mallory = connect(addr).await;
        no_answer(&mut mallory, advertise(b"victim", b"m")).await;
        no_answer(
            &mut mallory,
            announce(MessageType::DISCONNECT, b"victim", b""),
        )
        .await;
        let mut third = connect(addr).await;
        no_answer(&mut third, advertise(b"victim", b"t")).await;
    });
    let status = terminate(child);
    assert!(status.success(), "{status:?}");
}
