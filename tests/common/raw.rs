//! Hand-built frame bytes and raw sockets, for hostile-input tests that
//! must send what no encoder would.

use bytes::{BufMut, BytesMut};
use framewire::{FrameConfig, Message, Profile};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use tokio::time::Instant;

use super::LIMIT;

/// A netaio header with any values, however wrong.
pub fn netaio_header(ty: u8, auth: u16, body: u16, crc: u32) -> Vec<u8> {
    let mut v = vec![ty];
    v.put_u16(auth);
    v.put_u16(body);
    v.put_u32(crc);
    v
}

/// A wide-profile header (marker 0x1d) with any values.
pub fn wide_header(ty: u8, auth: u32, body: u32, crc: u32) -> Vec<u8> {
    let mut v = vec![29, ty];
    v.put_u32(auth);
    v.put_u32(body);
    v.put_u32(crc);
    v
}

/// A plain TCP connection to `addr`.
pub async fn raw(addr: std::net::SocketAddr) -> TcpStream {
    tokio::time::timeout(LIMIT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Reads raw bytes until the peer closes (or the read fails, as after a
/// reset); returns them and when the close came. Bounded by [`LIMIT`].
pub async fn read_to_close(s: &mut TcpStream) -> (Vec<u8>, Instant) {
    read_to_close_within(s, LIMIT).await
}

/// [`read_to_close`] waiting up to `limit` (virtual-time tests wait for
/// deadlines of minutes, which pass at once).
pub async fn read_to_close_within(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, Instant) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let r = tokio::time::timeout_at(deadline, s.read(&mut buf))
            .await
            .expect("peer closed in time");
        match r {
            Ok(0) | Err(_) => return (out, Instant::now()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Every whole frame in `bytes`, in order (a trailing partial frame or
/// undecodable bytes end the list).
pub fn frames(bytes: &[u8], profile: Profile) -> Vec<Message> {
    let mut buf = BytesMut::from(bytes);
    let cfg = FrameConfig::new(profile);
    let mut out = Vec::new();
    while let Ok(Some(m)) = framewire::wire::decode_frame(&mut buf, &cfg) {
        out.push(m);
    }
    out
}

/// Reads until the server closes and decodes what it sent.
pub async fn read_all(s: &mut TcpStream, profile: Profile) -> Vec<Message> {
    frames(&read_to_close(s).await.0, profile)
}
