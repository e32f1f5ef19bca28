//! Raw UDP peers for the node tests: a socket on any loopback address,
//! frames in and out, bounded waits.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use framewire::{Message, Profile};
use tokio::net::UdpSocket;

/// A socket on `127.0.0.<n>` (all of 127/8 is loopback on Linux), port 0.
pub async fn socket_on(n: u8) -> UdpSocket {
    let ip = IpAddr::from([127, 0, 0, n]);
    UdpSocket::bind((ip, 0))
        .await
        .expect("bind a loopback UDP socket")
}

/// Sends `msg` as one netaio frame.
pub async fn send_msg(s: &UdpSocket, msg: &Message, to: SocketAddr) {
    let frame = msg.to_bytes(Profile::Netaio).expect("encode");
    s.send_to(&frame, to).await.expect("send");
}

/// The next datagram within `limit`, if any.
pub async fn recv_raw(s: &UdpSocket, limit: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 70_000];
    match tokio::time::timeout(limit, s.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

/// The next datagram within `limit`, decoded (panics on a bad frame).
pub async fn recv_msg(s: &UdpSocket, limit: Duration) -> Option<Message> {
    let raw = recv_raw(s, limit).await?;
    Some(Message::decode(Profile::Netaio, bytes::Bytes::from(raw)).expect("a well-formed frame"))
}

/// Sends `msg` and waits up to 2 s for the answer.
pub async fn ask(s: &UdpSocket, msg: &Message, to: SocketAddr) -> Message {
    send_msg(s, msg, to).await;
    recv_msg(s, Duration::from_secs(2))
        .await
        .expect("an answer within 2 s")
}
