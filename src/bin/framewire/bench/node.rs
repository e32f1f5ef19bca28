//! `--scenario node`: UDP request/response, `framewire node` against the
//! bench's UDP baseline (`bench-baseline --udp`: one socket, decode each
//! datagram, echo it back), both child processes, in the same run. One
//! client socket keeps `depth` requests in flight (at most 32: a loopback
//! socket's receive buffer holds about that many 1 KiB datagrams); a
//! window that hears nothing for 50 ms is counted lost and refilled.

use std::time::{Duration, Instant};

use framewire::{Message, MessageType, Profile};
use tokio::net::UdpSocket;

use super::load::Budget;
use super::report::Row;
use super::scenarios::{median, Target};
use super::servers::Server;
use super::Settings;

const MAX_WINDOW: usize = 32;

pub(super) async fn run(s: &Settings) -> Result<Vec<Row>, String> {
    if s.auth.is_some() || s.tls.is_some() {
        return Err("--scenario node runs without --secret and --tls".into());
    }
    let node = Server::start(&["node", "--bind", "127.0.0.1:0"], &None, None).await?;
    let baseline = Server::start(
        &["bench-baseline", "--udp", "--addr", "127.0.0.1:0"],
        &None,
        None,
    )
    .await?;
    let window = s.depth.clamp(1, MAX_WINDOW);
    let mut rows = Vec::new();
    for &size in &s.sizes {
        for (name, server) in [("framewire", &node), ("baseline", &baseline)] {
            super::load::progress(&format!("node {size} B against {name}..."));
            let t = Target::of(name, server, size);
            let (mut rate, mut lost, mut cpu) = (vec![], 0, vec![]);
            for _ in 0..s.runs.max(1) {
                let before = server.cpu_secs();
                let (r, l) = window_load(&server.addr, size, s.budget(), window).await?;
                if let Some((a, b)) = server.cpu_secs().zip(before) {
                    cpu.push((a - b) / s.budget().count_at(r).max(1.0));
                }
                rate.push(r);
                lost += l;
            }
            let mut row = t.row("node", "msgs/s", median(rate));
            row.extra = format!("UDP, {window} in flight, {lost} lost");
            rows.push(row);
            rows.extend(t.cpu_row("node", cpu));
        }
    }
    Ok(rows)
}

/// Echo requests of `size` bytes with `window` in flight: replies per
/// second, and how many were lost.
async fn window_load(
    addr: &str,
    size: usize,
    budget: Budget,
    window: usize,
) -> Result<(f64, u64), String> {
    let sock = UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    sock.connect(addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    let request = Message::new(MessageType::REQUEST_URI, "echo", vec![b'x'; size]);
    let frame = request
        .to_bytes(Profile::Netaio)
        .map_err(|e| e.to_string())?;
    let send = |n: usize| {
        let (sock, frame) = (&sock, &frame);
        async move {
            for _ in 0..n {
                sock.send(frame).await.map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        }
    };
    let mut buf = vec![0u8; 70_000];
    send(window).await?;
    let (start, mut got, mut lost) = (Instant::now(), 0u64, 0u64);
    while budget.more(start, got) {
        match tokio::time::timeout(Duration::from_millis(50), sock.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                // Only echo replies count (type RESPOND_URI, same length).
                if n == frame.len() && buf[0] == MessageType::RESPOND_URI.value() {
                    got += 1;
                }
                send(1).await?;
            }
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => {
                lost += window as u64;
                send(window).await?;
            }
        }
    }
    Ok((got as f64 / start.elapsed().as_secs_f64(), lost))
}
