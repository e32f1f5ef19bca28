//! The network fuzz check: arbitrary bytes as a client's whole side of a
//! connection to an in-process framewire server (over an in-memory duplex,
//! with virtual time). The server must not panic, must only ever send
//! well-formed frames, must answer each request at most once, and must
//! clean the connection up. Shared by `fuzz_targets/server_stream.rs` and
//! `tests/fuzz_corpus.rs`.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use framewire::server::{Context, History, Limits, Server};
use framewire::{wire, FrameConfig, Message, MessageType, NetaioHmac, PluginLayer, Profile};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "panic_watch.rs"]
mod panic_watch;
use panic_watch::{panicked, watch_panics};

/// Notifications the server keeps per topic (a resume sends at most these).
const HISTORY: u64 = 4;

fn server(profile: Profile, hmac: bool) -> Server {
    let mut b = Server::builder()
        .profile(profile)
        .limits(
            Limits::default()
                .max_frame_len(Some(64 * 1024))
                .frame_timeout(Duration::from_secs(2))
                .idle_timeout(Duration::from_secs(5))
                .max_subscriptions_per_connection(4)
                .max_checksum_errors(4)
                .max_auth_failures(4),
        )
        .on(
            (MessageType::REQUEST_URI, "echo"),
            |m: Message, _c: Context| async move { Message::respond("echo", m.content().clone()) },
        )
        .subscriptions()
        // Resumable: a SUBSCRIBE_URI may carry a position to resume from.
        .history(
            History::default()
                .per_topic(HISTORY as usize)
                .per_topic_bytes(4096)
                .topics(8)
                .total_bytes(16 * 1024),
        )
        .on(
            MessageType::PUBLISH_URI,
            |m: Message, ctx: Context| async move {
                let note = Message::new(
                    MessageType::NOTIFY_URI,
                    m.uri().clone(),
                    m.content().clone(),
                );
                ctx.server()
                    .notify(m.uri(), note)
                    .map(|n| Message::ok(m.uri().clone(), n.to_string()))
            },
        );
    if hmac {
        b = b.plugins(PluginLayer::new().with_auth(NetaioHmac::new("fuzz")));
    }
    b.build()
}

/// First byte: bit 0 = wide profile, bit 1 = HMAC plugin, bits 2..8 =
/// write chunk size (1..=64). The rest is what the "client" sends.
pub fn check_server_stream(data: &[u8]) {
    watch_panics();
    let Some((&ctl, bytes)) = data.split_first() else {
        return;
    };
    let profile = if ctl & 1 == 1 {
        Profile::Wide
    } else {
        Profile::Netaio
    };
    let chunk = usize::from(ctl >> 2) + 1;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let received = rt.block_on(async {
        let server = server(profile, ctl & 2 == 2);
        let handle = server.handle();
        let (ours, mut theirs) = tokio::io::duplex(16 * 1024);
        let peer: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        assert!(handle.serve_stream(ours, peer));
        let (mut rd, mut wr) = tokio::io::split(&mut theirs);
        let write = async {
            for part in bytes.chunks(chunk) {
                if wr.write_all(part).await.is_err() {
                    break;
                }
            }
            let _ = wr.shutdown().await;
        };
        let mut out = Vec::new();
        let read = async {
            let _ = rd.read_to_end(&mut out).await;
        };
        // Virtual time: the deadlines (at most a few seconds) pass at once.
        let done = tokio::time::timeout(Duration::from_secs(600), async {
            tokio::join!(write, read)
        })
        .await;
        assert!(done.is_ok(), "the server kept the connection open");
        for _ in 0..100 {
            if handle.connection_count() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(handle.connection_count(), 0, "connection not cleaned up");
        let stats = handle.stats();
        // Each decoded frame gets at most a reply plus one notification (a
        // publish to a topic this only connection subscribed to), or, a
        // resuming subscription, its confirmation after a gap notice and
        // the history (HISTORY at most); each damaged frame an error;
        // then at most one closing error.
        assert!(
            stats.frames_out <= (2 + 1 + HISTORY) * stats.frames_in + stats.checksum_errors + 1,
            "{stats:?}"
        );
        out
    });
    assert!(!panicked(), "a panic occurred in the server");

    // Everything the server sent decodes.
    let cfg = FrameConfig::new(profile);
    let mut buf = BytesMut::from(&received[..]);
    loop {
        match wire::decode_frame(&mut buf, &cfg) {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => panic!("server sent an invalid frame: {e}"),
        }
    }
    assert!(buf.is_empty(), "server sent a truncated frame");
}
