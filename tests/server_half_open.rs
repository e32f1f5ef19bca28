//! Half-open peers (row 18): a peer that vanishes without closing — host
//! crashed, cable cut — is found by TCP keepalive and closed, both when it
//! was silent and when the server kept sending it notifications, while a
//! bystander keeps receiving everything.
//!
//! A vanished peer needs packets that are silently lost, which loopback
//! never does. So each test re-runs itself (this test binary, filtered to
//! the one test) inside a private network namespace made by `unshare
//! --net` (as root, or through a user namespace otherwise), where it may
//! add a blackhole route for 127.0.0.2 without touching the machine. All
//! addresses stay on loopback: the server and the bystander use 127.0.0.1,
//! the doomed peer binds 127.0.0.2. The namespace disappears with the
//! child process. They are `#[ignore]`d (a bare `cargo test` lists them);
//! `-- --include-ignored` runs them and fails where no namespace can be
//! made.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::netns::{ip, isolated};
use common::*;
use framewire::server::{ConnectionId, Limits, Server, TcpKeepalive};
use framewire::{FrameCodec, Message, MessageType, Profile};
use tokio::net::TcpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::Framed;

/// Keepalive for the tests: probes after 1 s of quiet, every 1 s, 2 tries.
fn keepalive() -> TcpKeepalive {
    TcpKeepalive::new(Duration::from_secs(1))
        .interval(Duration::from_secs(1))
        .retries(2)
}

/// Upper bound for detection: the keepalive's 3 s plus the slack of
/// retransmission timers and a loaded 2-core machine. Without keepalive
/// (or, for the sent-to peer, without `TCP_USER_TIMEOUT`) Linux takes
/// minutes, so this bound tells the two apart.
const DETECT_WITHIN: Duration = Duration::from_secs(15);

#[test]
#[ignore = "needs network namespaces (unshare, ip); see README"]
fn silent_half_open_peer_is_closed_by_keepalive() {
    isolated("silent_half_open_peer_is_closed_by_keepalive", || {
        half_open(false)
    });
}

#[test]
#[ignore = "needs network namespaces (unshare, ip); see README"]
fn half_open_subscriber_being_sent_to_is_closed() {
    isolated("half_open_subscriber_being_sent_to_is_closed", || {
        half_open(true)
    });
}

/// The scenario. `sent_to`: the vanished peer is subscribed to the topic
/// that keeps being published, so the server has unacknowledged data for
/// it (keepalive probes do not run then; the user timeout must act).
fn half_open(sent_to: bool) {
    ip(&["link", "set", "lo", "up"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let limits = Limits::default()
            .tcp_keepalive(Some(keepalive()))
            // Neither of these may be what closes the peer.
            .idle_timeout(Duration::from_secs(600))
            .write_timeout(Duration::from_secs(600));
        let srv = start(Server::builder().limits(limits).build()).await;

        let (by_id, bystander) = connect_from(&srv, "127.0.0.1").await;
        srv.handle.subscribe("news", by_id).unwrap();
        let (by_tx, mut by_rx) = mpsc::unbounded_channel();
        let by_task = count_notes(bystander, by_tx);

        let (peer_id, peer) = connect_from(&srv, "127.0.0.2").await;
        let topic = if sent_to { "news" } else { "quiet" };
        srv.handle.subscribe(topic, peer_id).unwrap();
        let (peer_tx, mut peer_rx) = mpsc::unbounded_channel();
        let _peer_task = count_notes(peer, peer_tx);

        // Numbered notifications on "news"; returns how many got them.
        let published = std::cell::Cell::new(0u32);
        let publish = |srv: &Running| {
            let n = published.get();
            published.set(n + 1);
            let note = Message::new(MessageType::NOTIFY_URI, "news", n.to_be_bytes().to_vec());
            srv.handle.notify("news", note).unwrap()
        };

        // A live peer answers the probes: several detection periods pass
        // and it stays connected.
        let control = Instant::now() + 2 * keepalive().detection_time();
        while Instant::now() < control {
            assert_eq!(publish(&srv), if sent_to { 2 } else { 1 });
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            connected(&srv, peer_id),
            "a live idle peer must survive keepalive probes"
        );
        if sent_to {
            let mut n = 0;
            while n < published.get() {
                let got = tokio::time::timeout(LIMIT, peer_rx.recv()).await;
                assert_eq!(got.unwrap(), Some(n), "the peer got everything so far");
                n += 1;
            }
        }

        // The peer vanishes: nothing reaches 127.0.0.2 any more, and it
        // sends nothing (no FIN, no RST).
        ip(&[
            "route",
            "add",
            "blackhole",
            "127.0.0.2/32",
            "table",
            "local",
        ]);
        let cut = Instant::now();
        while connected(&srv, peer_id) {
            assert!(
                cut.elapsed() < DETECT_WITHIN,
                "half-open peer still connected after {:?}",
                cut.elapsed()
            );
            publish(&srv);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let took = cut.elapsed();
        eprintln!(
            "half-open peer ({}) closed {took:?} after it vanished (keepalive {:?})",
            if sent_to { "being sent to" } else { "silent" },
            keepalive().detection_time()
        );
        assert_eq!(srv.handle.connection_count(), 1, "only the peer was closed");

        // The bystander got every notification, in order, and still works.
        assert_eq!(publish(&srv), 1);
        for want in 0..published.get() {
            let got = tokio::time::timeout(LIMIT, by_rx.recv()).await;
            assert_eq!(got.unwrap(), Some(want), "bystander lost nothing");
        }
        by_task.abort();
        srv.stop().await;
    });
}

/// Connects from `ip` (a loopback address) and returns the server's id for
/// the connection.
async fn connect_from(srv: &Running, ip: &str) -> (ConnectionId, Conn) {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(ip.parse().unwrap(), 0)).unwrap();
    let stream = tokio::time::timeout(LIMIT, sock.connect(srv.addr))
        .await
        .expect("connect in time")
        .expect("connect");
    let id = conn_id(srv, stream.local_addr().unwrap()).await;
    (id, Framed::new(stream, FrameCodec::new(Profile::Netaio)))
}

fn connected(srv: &Running, id: ConnectionId) -> bool {
    srv.handle.connections().iter().any(|c| c.id == id)
}
