//! `framewire bench --scenario client --peers`: what users would pick
//! instead of `framewire::client::Client` for request/reply from many
//! tasks, measured the same way: redis-rs' multiplexed connection (C
//! tasks of `GET` sharing one connection) against `redis-server`, beside
//! a raw pipelined RESP client (one task, C `GET`s in flight) against the
//! same server in the same run. Its ratio is what a mature multiplexing
//! client keeps of its wire's speed on this machine; framewire's `Client`
//! row against its own raw client is read beside it.
//!
//! (async-nats is not compared: it is not among the CLI's dependencies,
//! and adding a NATS client to every build of the CLI for one bench row
//! costs every user of it.)

use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::load;
use super::servers::Server;

/// The key every `GET` reads.
const KEY: &str = "bench:key";

/// One `GET` of [`KEY`] in RESP.
const GET: &[u8] = b"*2\r\n$3\r\nGET\r\n$9\r\nbench:key\r\n";

/// Stores a value of `size` bytes under [`KEY`].
async fn set_value(addr: &str, size: usize) -> Result<(), String> {
    let client = redis::Client::open(format!("redis://{addr}")).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    redis::cmd("SET")
        .arg(KEY)
        .arg(vec![b'v'; size])
        .exec_async(&mut conn)
        .await
        .map_err(|e| e.to_string())
}

/// `GET`s per second from `tasks` tasks sharing one redis-rs multiplexed
/// connection, for `duration`; each reply's length is checked.
pub(super) async fn redis_rs(
    addr: &str,
    size: usize,
    duration: Duration,
    tasks: usize,
) -> Result<f64, String> {
    set_value(addr, size).await?;
    let client = redis::Client::open(format!("redis://{addr}")).map_err(|e| e.to_string())?;
    let conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    load::tasks_looping(
        tasks,
        duration,
        || conn.clone(),
        move |mut conn: redis::aio::MultiplexedConnection| async move {
            let v: Vec<u8> = redis::cmd("GET")
                .arg(KEY)
                .query_async(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            if v.len() != size {
                return Err(format!("GET returned {} bytes, not {size}", v.len()));
            }
            Ok(conn)
        },
    )
    .await
}

/// The length of the bulk-string reply at the front of `buf` and the
/// bytes it takes, once it is all there.
fn bulk_reply(buf: &[u8]) -> Result<Option<(usize, usize)>, String> {
    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    if buf.first() != Some(&b'$') {
        return Err(format!(
            "not a bulk reply: {:?}",
            String::from_utf8_lossy(&buf[..eol])
        ));
    }
    let len: usize = std::str::from_utf8(&buf[1..eol])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or("a bulk reply without a length")?;
    let whole = eol + 2 + len + 2;
    Ok((buf.len() >= whole).then_some((len, whole)))
}

/// The raw baseline: one task on one connection keeps `depth` `GET`s in
/// flight (a new one written for every reply read, written together per
/// read), for `duration`; each reply's length is checked.
pub(super) async fn raw_pipelined(
    addr: &str,
    size: usize,
    duration: Duration,
    depth: usize,
) -> Result<f64, String> {
    set_value(addr, size).await?;
    let mut tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let mut out = GET.repeat(depth.max(1));
    tcp.write_all(&out).await.map_err(|e| e.to_string())?;
    let mut buf = BytesMut::with_capacity(128 * 1024);
    let (mut sent, mut done) = (depth.max(1) as u64, 0u64);
    let start = Instant::now();
    // Bounded by time (the sends stop at `duration`) and by count.
    while done < sent && done < 1_000_000_000 {
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_buf(&mut buf))
            .await
            .map_err(|_| "redis-server stopped answering")?
            .map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("redis-server closed the connection".into());
        }
        out.clear();
        while let Some((len, whole)) = bulk_reply(&buf)? {
            if len != size {
                return Err(format!("GET returned {len} bytes, not {size}"));
            }
            buf.advance(whole);
            done += 1;
            if start.elapsed() < duration {
                out.extend_from_slice(GET);
                sent += 1;
            }
        }
        if !out.is_empty() {
            tcp.write_all(&out).await.map_err(|e| e.to_string())?;
        }
    }
    Ok(done as f64 / start.elapsed().as_secs_f64())
}

/// Starts the `redis-server` child the comparison runs against.
pub(super) async fn start() -> Result<Server, String> {
    Server::redis().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_replies_are_found_whole_or_not_at_all() {
        assert_eq!(bulk_reply(b"$3\r\nabc\r\n$1").unwrap(), Some((3, 9)));
        assert_eq!(bulk_reply(b"$3\r\nab").unwrap(), None);
        assert_eq!(bulk_reply(b"$3").unwrap(), None);
        assert!(bulk_reply(b"-ERR no\r\n").is_err());
        assert!(bulk_reply(b"$x\r\n").is_err());
    }
}
