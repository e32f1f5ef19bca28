//! netaio's peer management (ServerBuilder::peers): the announcement
//! byte for byte against netaio 0.0.9's own frame, then the three
//! messages against an in-memory server (framewire::testing): discovery
//! answered, peers listed with their address, DISCONNECT forgetting the
//! peer and its subscriptions, mismatched app ids and malformed or
//! oversized announcements ignored, the table bounded, peers forgotten
//! when their connection closes.

mod common;

use bytes::Bytes;
use framewire::peer::{LocalPeer, MAX_PEER_DATA};
use framewire::server::Server;
use framewire::testing::{TestPeer, TestServer};
use framewire::wire::PackValue;
use framewire::{Message, MessageType, Profile};

fn vector() -> serde_json::Value {
    common::vectors::all()
        .into_iter()
        .find(|c| c["id"] == "peer_advertise")
        .expect("the peer_advertise vector")
}

#[test]
fn the_announcement_is_netaios_byte_for_byte() {
    let v = vector();
    let id = common::vectors::bytes(&v["peer"]["id_hex"]);
    let data = common::vectors::bytes(&v["peer"]["data_hex"]);
    // The data is a packify dict {'name': 'node-1'}, re-encoded exactly.
    let decoded = PackValue::decode(data.clone()).unwrap();
    assert_eq!(decoded.get("name"), Some(&PackValue::from("node-1")));
    assert_eq!(decoded.to_bytes()[..], data[..]);
    let me = LocalPeer::new(id, data);
    let frame = me
        .message(MessageType::ADVERTISE_PEER)
        .to_bytes(Profile::Netaio)
        .unwrap();
    assert_eq!(frame[..], common::vectors::bytes(&v["frame_hex"])[..]);
    let same = LocalPeer::new(me.id().clone(), PackValue::Dict(vec![]).to_bytes())
        .with_fields([("name", "node-1")]);
    assert_eq!(same, me);
}

fn server_peer() -> LocalPeer {
    LocalPeer::new(&b"server-id"[..], &b"server-data"[..]).with_max_peers(3)
}

fn memory() -> TestServer {
    TestServer::new(
        Server::builder()
            .subscriptions()
            .peers(server_peer())
            .build(),
    )
}

fn announce(t: MessageType, id: &str) -> Message {
    LocalPeer::new(id.as_bytes().to_vec(), format!("{id}-data").into_bytes()).message(t)
}

/// Nothing comes back for a message that gets no answer: a ping after it
/// is the next reply.
async fn no_answer(peer: &mut TestPeer, msg: Message) {
    peer.send(msg).await.unwrap();
    let ping = Message::new(MessageType::REQUEST_URI, framewire::protocol::PING_URI, "");
    let pong = peer.call(ping).await.unwrap();
    assert_eq!(pong.message_type, MessageType::RESPOND_URI, "{pong:?}");
}

#[tokio::test]
async fn advertise_is_answered_and_the_peer_listed() {
    let srv = memory();
    let mut a = srv.peer().unwrap();
    let reply = a
        .call(announce(MessageType::ADVERTISE_PEER, "a"))
        .await
        .unwrap();
    assert_eq!(reply, server_peer().message(MessageType::PEER_DISCOVERED));
    let known = srv.handle().peer(b"a").expect("a is known");
    assert_eq!((&known.data[..], known.addr), (&b"a-data"[..], a.addr()));
    // PEER_DISCOVERED adds without an answer; a second advertise updates.
    let mut b = srv.peer().unwrap();
    no_answer(&mut b, announce(MessageType::PEER_DISCOVERED, "b")).await;
    let ids: Vec<Bytes> = srv.handle().peers().into_iter().map(|p| p.id).collect();
    assert_eq!(ids, ["a", "b"]);
    let update = LocalPeer::new(&b"a"[..], &b"new"[..]).message(MessageType::ADVERTISE_PEER);
    a.call(update).await.unwrap();
    assert_eq!(&srv.handle().peer(b"a").unwrap().data[..], b"new");
    assert!(srv.handle().remove_peer(b"b"));
    assert!(!srv.handle().remove_peer(b"b"));
}

#[tokio::test]
async fn disconnect_forgets_the_peer_and_its_subscriptions() {
    let srv = memory();
    let mut a = srv.peer().unwrap();
    a.call(announce(MessageType::ADVERTISE_PEER, "a"))
        .await
        .unwrap();
    let confirm = a
        .call(Message::new(MessageType::SUBSCRIBE_URI, "news", ""))
        .await
        .unwrap();
    assert_eq!(confirm.message_type, MessageType::CONFIRM_SUBSCRIBE);
    no_answer(&mut a, announce(MessageType::DISCONNECT, "a")).await;
    assert!(srv.handle().peers().is_empty());
    let note = Message::new(MessageType::NOTIFY_URI, "news", "x");
    assert_eq!(
        srv.handle().notify("news", note).unwrap(),
        0,
        "no subscription left"
    );
}

#[tokio::test]
async fn a_disconnect_cannot_evict_another_peer() {
    let srv = memory();
    let mut a = srv.peer().unwrap();
    a.call(announce(MessageType::ADVERTISE_PEER, "a"))
        .await
        .unwrap();
    let mut mallory = srv.peer().unwrap();
    no_answer(&mut mallory, announce(MessageType::DISCONNECT, "a")).await;
    assert!(
        srv.handle().peer(b"a").is_some(),
        "a was announced on another connection"
    );
}

#[tokio::test]
async fn what_is_not_ours_or_not_a_peer_is_ignored() {
    let srv = memory();
    let mut p = srv.peer().unwrap();
    // Another app id: not managed, so routed to the default handler.
    let other = LocalPeer::new(&b"x"[..], &b"d"[..])
        .with_app_id("other")
        .message(MessageType::ADVERTISE_PEER);
    assert_eq!(
        p.call(other).await.unwrap().message_type,
        MessageType::NOT_FOUND
    );
    // Our own id, contents that are not (bytes, bytes), an oversized id.
    no_answer(&mut p, server_peer().message(MessageType::ADVERTISE_PEER)).await;
    for content in [
        Bytes::from_static(b"garbage"),
        PackValue::Tuple(vec![PackValue::from(&b"id"[..])]).to_bytes(),
        PackValue::Tuple(vec![PackValue::from("id"), PackValue::from(&b"d"[..])]).to_bytes(),
        PackValue::Tuple(vec![
            PackValue::from(&vec![7u8; MAX_PEER_DATA + 1][..]),
            PackValue::from(&b"d"[..]),
        ])
        .to_bytes(),
    ] {
        no_answer(
            &mut p,
            Message::new(MessageType::ADVERTISE_PEER, "netaio", content),
        )
        .await;
    }
    assert!(srv.handle().peers().is_empty());
}

#[tokio::test]
async fn the_table_is_bounded_and_closed_connections_leave_it() {
    let srv = memory();
    let mut conns = Vec::new();
    for id in ["a", "b", "c"] {
        let mut p = srv.peer().unwrap();
        p.call(announce(MessageType::ADVERTISE_PEER, id))
            .await
            .unwrap();
        conns.push(p);
    }
    let mut d = srv.peer().unwrap();
    no_answer(&mut d, announce(MessageType::ADVERTISE_PEER, "d")).await;
    assert_eq!(srv.handle().peers().len(), 3, "a fourth is refused");
    let mut a = conns.remove(0);
    a.hang_up().await.unwrap();
    a.closed().await.unwrap();
    srv.stats_when(|s| s.connections == 3).await.unwrap();
    let ids: Vec<Bytes> = srv.handle().peers().into_iter().map(|p| p.id).collect();
    assert_eq!(ids, ["b", "c"]);
    let reply = d
        .call(announce(MessageType::ADVERTISE_PEER, "d"))
        .await
        .unwrap();
    assert_eq!(
        reply.message_type,
        MessageType::PEER_DISCOVERED,
        "room again"
    );
}

/// netaio 0.0.9's own TCPClient with peer management against `framewire
/// serve --peers`: discovery both ways, DISCONNECT dropping its
/// subscriptions, another app id not managed.
#[cfg(feature = "cli")]
#[test]
#[ignore = "needs the netaio 0.0.9 venv; see README"]
fn netaio_clients_with_peer_management_against_framewire_serve() {
    use std::process::Command;
    use std::time::Duration;

    let mut serve = Command::new(env!("CARGO_BIN_EXE_framewire"));
    serve.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--peers",
        "--peer-name",
        "fw-1",
    ]);
    let (child, addr) = common::spawn_listening(serve);
    let (host, port) = addr.rsplit_once(':').unwrap();
    let mut cmd = Command::new(common::netaio_python());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/netaio_peers_check.py"
    ))
    .args([host, port, "fw-1"]);
    let (ok, out, err) = common::run_bounded(cmd, Duration::from_secs(120));
    let status = common::terminate(child);
    println!("{out}");
    assert!(ok, "netaio peer scenarios failed:\n{out}\n{err}");
    assert!(out.contains("3 passed, 0 failed"), "{out}");
    assert!(status.success(), "{status:?}");
}

mod client_side {
    use super::*;
    use framewire::client::Client;
    use framewire::server::Context;
    use std::sync::{Arc, Mutex};

    fn me() -> LocalPeer {
        LocalPeer::new(&b"client-id"[..], &b"client-data"[..])
    }

    async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
        for _ in 0..1000 {
            if cond() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test]
    async fn a_client_introduces_itself_on_every_connection() {
        let srv = memory();
        let client = srv.client().peer(me()).connect().await.unwrap();
        eventually("the server's answer", || client.peers().len() == 1).await;
        let server = &client.peers()[0];
        assert_eq!(
            (&server.id[..], &server.data[..]),
            (&b"server-id"[..], &b"server-data"[..])
        );
        assert_eq!(Some(server.addr), client.peer_addr());
        assert!(srv.handle().peer(b"client-id").is_some());
        // Cut: the reconnected client advertises again.
        let id = srv.handle().connections()[0].id;
        srv.handle().disconnect(id);
        eventually("forgotten with its connection", || {
            srv.handle().peers().is_empty()
        })
        .await;
        eventually("advertised again", || {
            srv.handle().peer(b"client-id").is_some()
        })
        .await;
    }

    #[tokio::test]
    async fn close_says_disconnect_first() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let server = Server::builder()
            .on_sync(
                (MessageType::DISCONNECT, "netaio"),
                move |m: Message, _c: &Context| {
                    log.lock().unwrap().push(m);
                },
            )
            .build();
        let srv = TestServer::new(server);
        let client: Client = srv.client().peer(me()).connect().await.unwrap();
        client.close().await;
        srv.stats_when(|s| s.connections == 0).await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [me().message(MessageType::DISCONNECT)]
        );
    }

    /// framewire's Client with peer management against netaio 0.0.9's
    /// TCPServer with `manage_peers_automatically`: each learns the other,
    /// and DISCONNECT makes the netaio server forget the client.
    #[test]
    #[ignore = "needs the netaio 0.0.9 venv; see README"]
    fn against_a_netaio_server_managing_peers() {
        let (child, addr) = common::netaio_server_with(&["--peer-name", "py-server"]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let me = LocalPeer::random().with_fields([("name", "fw-client")]);
            let a = Client::builder(addr.as_str())
                .peer(me)
                .connect()
                .await
                .unwrap();
            eventually("the netaio server's PEER_DISCOVERED", || {
                a.peers().len() == 1
            })
            .await;
            let data = a.peers()[0].data_value().unwrap();
            assert_eq!(data.get("name"), Some(&PackValue::from("py-server")));
            assert_eq!(&a.peers()[0].id[..], b"netaio-server-01");
            let listed = a.request("peers", "").await.unwrap();
            assert_eq!(&listed.content()[..], b"fw-client");
            a.close().await;
            let b = Client::builder(addr.as_str()).connect().await.unwrap();
            let listed = b.request("peers", "").await.unwrap();
            assert_eq!(
                &listed.content()[..],
                b"",
                "DISCONNECT made it forget the client"
            );
        });
        drop(child);
    }
}

/// `framewire request --app-id` introduces itself to a netaio 0.0.9
/// server managing peers (which lists it while the request is handled)
/// and says DISCONNECT when done (a later listing is empty).
#[cfg(feature = "cli")]
#[test]
#[ignore = "needs the netaio 0.0.9 venv; see README"]
fn cli_app_id_against_a_netaio_server_managing_peers() {
    use std::process::Command;
    use std::time::Duration;

    let (child, addr) = common::netaio_server_with(&["--peer-name", "py-server"]);
    let request = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_framewire"));
        cmd.args(["request", addr.as_str(), "peers"]).args(extra);
        common::run_bounded(cmd, Duration::from_secs(30))
    };
    let (ok, out, err) = request(&["--app-id", "netaio"]);
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "framewire-cli", "{err}");
    let (ok, out, err) = request(&[]);
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "", "forgotten after DISCONNECT");
    drop(child);
}

/// Values packed by the real packify 0.4.0 (fuzz/seeds/pack_value: one of
/// each shape, netaio's announcement among them) decode, and re-encode
/// byte for byte: sets and dicts sorted as packify sorts them.
#[test]
fn real_packify_values_decode_and_re_encode_exactly() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/pack_value");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let value = PackValue::decode(bytes.clone()).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert_eq!(value.to_bytes()[..], bytes[..], "{path:?}: {value:?}");
        seen += 1;
    }
    assert_eq!(seen, 6);
}

/// X25519 over TCP: each end keys the box with the `pubkey` the other
/// announced (the server's PEER_DISCOVERED, the client's ADVERTISE_PEER).
#[tokio::test]
async fn x25519_per_route_encryption_with_the_keys_peers_announced() {
    use framewire::auth::X25519CipherPlugin;
    use framewire::client::Client;
    use framewire::server::Context;
    use framewire::PluginLayer;

    let (ks, kc) = (
        X25519CipherPlugin::new([3; 32]),
        X25519CipherPlugin::new([4; 32]),
    );
    let me = |k: &X25519CipherPlugin| LocalPeer::random().with_data_value(k.peer_data());
    let server = Server::builder()
        .peers(me(&ks))
        .on_with(
            (MessageType::REQUEST_URI, "secret"),
            |m: Message, _c: Context| async move {
                Message::respond("secret", [&b"got "[..], m.content()].concat())
            },
            PluginLayer::new().with_cipher(ks),
        )
        .build();
    let srv = common::start(server).await;
    let client = Client::builder(srv.addr.to_string().as_str())
        .peer(me(&kc))
        .connect()
        .await
        .unwrap();
    for _ in 0..200 {
        if client.peers().len() == 1 && srv.handle.peers().len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!((client.peers().len(), srv.handle.peers().len()), (1, 1));
    let layer = PluginLayer::new().with_cipher(kc);
    let reply = client
        .call_with(
            Message::new(MessageType::REQUEST_URI, "secret", "hush"),
            &layer,
        )
        .await
        .unwrap();
    assert_eq!(&reply.content()[..], b"got hush");
}
