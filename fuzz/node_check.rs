//! The node's fuzz check: arbitrary datagrams from four loopback sources
//! (each a 127.0.0.n address the node has not verified) to a UDP node with
//! the readme routes, peer management and the guard on, over real sockets.
//! Nothing may panic, and no source may be sent more bytes than it sent
//! (replies, notifications, broadcasts, announcements alike), whatever the
//! datagrams say. Shared by `fuzz_targets/node_datagrams.rs` and
//! `tests/fuzz_corpus.rs`.

use std::net::IpAddr;
use std::time::Duration;

use framewire::node::{readme_routes, Node, NodeLimits};
use framewire::peer::LocalPeer;
use tokio::net::UdpSocket;

const SOURCES: usize = 4;

/// The datagrams in `data`: records of a source byte, a 2-byte length
/// (cut to what is left) and that many bytes; at most 32.
fn datagrams(mut data: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    while let [src, hi, lo, rest @ ..] = data {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
        out.push((usize::from(*src) % SOURCES, &rest[..len]));
        data = &rest[len..];
        if out.len() == 32 {
            break;
        }
    }
    out
}

/// What one source receives until it has been quiet for 5 ms (at most
/// 256 datagrams); every datagram must come from the node.
async fn drain_one(s: &UdpSocket, node: std::net::SocketAddr) -> usize {
    let mut buf = vec![0u8; 70_000];
    let mut got = 0;
    for _ in 0..256 {
        let quiet = Duration::from_millis(5);
        match tokio::time::timeout(quiet, s.recv_from(&mut buf)).await {
            Ok(Ok((n, from))) => {
                assert_eq!(from, node, "only the node sends here");
                got += n;
            }
            _ => break,
        }
    }
    got
}

/// Every source drained at once (a reply comes within microseconds on
/// loopback; a handler's within a task switch).
async fn drain(s: &[UdpSocket], node: std::net::SocketAddr) -> [usize; SOURCES] {
    let (a, b, c, d) = tokio::join!(
        drain_one(&s[0], node),
        drain_one(&s[1], node),
        drain_one(&s[2], node),
        drain_one(&s[3], node),
    );
    [a, b, c, d]
}

pub fn check_node_datagrams(data: &[u8]) {
    let datagrams = datagrams(data);
    if datagrams.is_empty() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let node = readme_routes(Node::builder().peers(LocalPeer::random()))
            .limits(NodeLimits::default().trust_loopback(false))
            .bind("127.0.0.1:0")
            .await
            .expect("bind the node");
        let to = node.local_addr();
        let mut sources = Vec::new();
        for n in 0..SOURCES {
            let ip = IpAddr::from([127, 0, 0, 10 + n as u8]);
            let socket = UdpSocket::bind((ip, 0)).await.expect("bind a source");
            sources.push(socket);
        }
        let mut sent = [0usize; SOURCES];
        for (src, datagram) in &datagrams {
            if sources[*src].send_to(datagram, to).await.is_ok() {
                sent[*src] += datagram.len();
            }
        }
        let got = drain(&sources, to).await;
        let stats = node.stats();
        assert_eq!(stats.handler_panics, 0, "{stats:?}");
        for i in 0..SOURCES {
            assert!(
                got[i] <= sent[i],
                "source {i} sent {} bytes and was sent {}",
                sent[i],
                got[i]
            );
        }
        let stopped = tokio::time::timeout(Duration::from_secs(5), node.stop()).await;
        assert!(stopped.is_ok(), "the node did not stop");
        // The farewell, too, only within what each source earned.
        let after = drain(&sources, to).await;
        for i in 0..SOURCES {
            let total = got[i] + after[i];
            assert!(total <= sent[i], "source {i}: {total} for {}", sent[i]);
        }
    });
}

#[cfg(test)]
#[test]
fn records_are_cut_to_what_is_left() {
    let d = datagrams(&[5, 0, 2, b'a', b'b', 1, 0, 9, b'c']);
    assert_eq!(d, vec![(1, &b"ab"[..]), (1, &b"c"[..])]);
    assert!(datagrams(&[1, 0]).is_empty());
}
