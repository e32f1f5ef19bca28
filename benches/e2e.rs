//! End-to-end criterion benches: a framewire server (routing, registry,
//! queues, limits) against the strongest simple echo server over the same
//! frames — tokio-util's `FramedRead` → `forward` → `FramedWrite`, which
//! decodes every buffered frame and flushes only when the read side would
//! block — in the same group, over loopback. `framewire bench` is the full
//! comparison (HMAC, fan-out, CPU per message); these track regressions
//! with criterion's statistics.
//!
//! Run: `cargo bench --bench e2e`

use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use framewire::server::{readme_routes, Server};
use framewire::{FrameCodec, Message, MessageType, Profile};
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio_util::codec::{Framed, FramedRead, FramedWrite};

type Conn = Framed<TcpStream, FrameCodec>;

/// The baseline: echo every frame, nothing else.
async fn bare_echo(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let (rd, wr) = stream.into_split();
            let replies = FramedRead::new(rd, FrameCodec::new(Profile::Netaio)).map(|m| {
                let m = m?.map_err(framewire::Error::from)?;
                Ok(Message::respond(m.uri().clone(), m.content().clone()))
            });
            let _ = replies
                .forward(FramedWrite::new(wr, FrameCodec::new(Profile::Netaio)))
                .await;
        });
    }
}

fn servers(rt: &Runtime) -> [(&'static str, String); 2] {
    rt.block_on(async {
        let fw = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fw_addr = fw.local_addr().unwrap().to_string();
        tokio::spawn(
            readme_routes(Server::builder())
                .build()
                .serve(fw, std::future::pending()),
        );
        let bare = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bare_addr = bare.local_addr().unwrap().to_string();
        tokio::spawn(bare_echo(bare));
        [("framewire", fw_addr), ("baseline", bare_addr)]
    })
}

async fn connect(addr: &str) -> Conn {
    let s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    Framed::new(s, FrameCodec::new(Profile::Netaio))
}

/// Two workers: the machine the figures come from has two cores.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn echo(c: &mut Criterion) {
    let rt = runtime();
    let servers = servers(&rt);
    for size in [64usize, 1024] {
        let mut group = c.benchmark_group(format!("e2e/echo_round_trip/{size}B"));
        group
            .sample_size(30)
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements(1));
        let content = Bytes::from(vec![b'x'; size]);
        for (name, addr) in &servers {
            let mut conn = rt.block_on(connect(addr));
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    rt.block_on(async {
                        conn.send(Message::new(
                            MessageType::REQUEST_URI,
                            "echo",
                            content.clone(),
                        ))
                        .await
                        .unwrap();
                        conn.next().await.unwrap().unwrap().unwrap()
                    })
                })
            });
        }
        group.finish();
    }
}

fn pipelined(c: &mut Criterion) {
    let rt = runtime();
    let servers = servers(&rt);
    const BATCH: u64 = 256;
    let mut group = c.benchmark_group("e2e/pipelined_256x64B");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(BATCH));
    let content = Bytes::from(vec![b'x'; 64]);
    for (name, addr) in &servers {
        let mut conn = rt.block_on(connect(addr));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                rt.block_on(async {
                    for _ in 0..BATCH {
                        conn.feed(Message::new(
                            MessageType::REQUEST_URI,
                            "echo",
                            content.clone(),
                        ))
                        .await
                        .unwrap();
                    }
                    conn.flush().await.unwrap();
                    for _ in 0..BATCH {
                        conn.next().await.unwrap().unwrap().unwrap();
                    }
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, echo, pipelined);
criterion_main!(benches);
