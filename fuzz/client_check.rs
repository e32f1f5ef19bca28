//! The client's fuzz check: arbitrary bytes as a server's whole side of a
//! connection to a framewire [`Client`] (over an in-memory duplex, with
//! virtual time), while the client subscribes, makes requests and
//! publishes. The client must not panic, every call must end (in a reply
//! or a typed error) within its timeout, and the client must close cleanly.
//! Shared by `fuzz_targets/client_stream.rs` and `tests/fuzz_corpus.rs`.

use std::sync::Mutex;
use std::time::Duration;

use framewire::client::{Client, Reconnect};
use framewire::handler::BoxFuture;
use framewire::transport::{Connector, Stream};
use framewire::{Message, MessageType, NetaioHmac, PluginLayer, Profile};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

#[path = "panic_watch.rs"]
mod panic_watch;
use panic_watch::{panicked, watch_panics};

/// Hands out one prepared stream; a second connection attempt fails.
struct Once1(Mutex<Option<DuplexStream>>);

impl Connector for Once1 {
    fn connect(&self, _addr: &str) -> BoxFuture<std::io::Result<Stream>> {
        let stream = self.0.lock().expect("lock").take();
        Box::pin(async move {
            let io = stream.ok_or_else(|| std::io::Error::other("one connection only"))?;
            Ok(Stream::new(io, "127.0.0.1:9".parse().expect("addr")))
        })
    }
}

const TIMEOUT: Duration = Duration::from_secs(2);

/// First byte: bit 0 = wide profile, bit 1 = HMAC plugin, bits 2..8 =
/// write chunk size (1..=64). The rest is what the "server" sends.
pub fn check_client_stream(data: &[u8]) {
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
    rt.block_on(async {
        let (ours, mut theirs) = tokio::io::duplex(16 * 1024);
        let mut builder = Client::builder("fuzz:9")
            .connector(Once1(Mutex::new(Some(ours))))
            .profile(profile)
            .request_timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .reconnect(Reconnect::disabled());
        if ctl & 2 == 2 {
            builder = builder.plugins(PluginLayer::new().with_auth(NetaioHmac::new("fuzz")));
        }
        let client = builder.connect().await.expect("the duplex connects");
        let (mut rd, mut wr) = tokio::io::split(&mut theirs);
        let server = async {
            // Answers come after questions: take what the client sends
            // until it has been quiet a moment (its three calls are out),
            // then send the input.
            let mut seen = vec![0u8; 4096];
            while let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(10), rd.read(&mut seen)).await
            {
                if n == 0 {
                    break;
                }
            }
            for part in bytes.chunks(chunk) {
                if wr.write_all(part).await.is_err() {
                    break;
                }
            }
            // Then read what the client sends until it closes.
            let mut sink = Vec::new();
            let _ = rd.read_to_end(&mut sink).await;
        };
        let calls = async {
            let started = tokio::time::Instant::now();
            let (subscribed, a, b) = tokio::join!(
                client.subscribe("t"),
                client.request("echo", "x"),
                client.call(Message::new(MessageType::PUBLISH_URI, "pub/t", "y")),
            );
            let _ = client
                .send(Message::new(MessageType::NOTIFY_URI, "t", "z"))
                .await;
            // Three calls at once: each ends within its timeout.
            assert!(
                started.elapsed() <= TIMEOUT + Duration::from_millis(100),
                "calls outlived their timeouts: {:?}",
                started.elapsed()
            );
            if let Ok(mut sub) = subscribed {
                // Whatever arrived for the subscription, taken without
                // waiting past the timeout.
                for _ in 0..16 {
                    match tokio::time::timeout(Duration::from_millis(10), sub.next()).await {
                        Ok(Some(note)) => assert!(note.content().len() <= 1 << 20),
                        _ => break,
                    }
                }
            }
            drop((a, b));
            let closed = tokio::time::timeout(TIMEOUT, client.close()).await;
            assert!(closed.is_ok(), "the client did not close in time");
        };
        let done = tokio::time::timeout(Duration::from_secs(600), async {
            tokio::join!(server, calls)
        })
        .await;
        assert!(done.is_ok(), "the exchange did not end");
    });
    assert!(!panicked(), "a panic occurred in the client");
}
