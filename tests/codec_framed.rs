//! `FrameCodec` driving real loopback sockets through `tokio_util`'s
//! `Framed`: both profiles, recoverable checksum errors, profile mismatch.

use std::time::Duration;

use framewire::{DecodeError, FrameCodec, Message, MessageType, Profile};
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_util::codec::Framed;

const LIMIT: Duration = Duration::from_secs(10);

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (a.unwrap(), b.unwrap().0)
}

#[tokio::test]
async fn many_frames_both_profiles() {
    for profile in [Profile::Netaio, Profile::Wide] {
        let (a, b) = pair().await;
        let mut tx = Framed::new(a, FrameCodec::new(profile));
        let mut rx = Framed::new(b, FrameCodec::new(profile));
        let big = if profile == Profile::Wide {
            200_000
        } else {
            60_000
        };
        let sizes = [0usize, 1, 63, 1024, big];
        let sender = tokio::spawn(async move {
            for i in 0..200usize {
                let content = vec![(i % 251) as u8; sizes[i % sizes.len()]];
                tx.feed(Message::new(
                    MessageType::NOTIFY_URI,
                    format!("t/{i}"),
                    content,
                ))
                .await
                .unwrap();
            }
            tx.flush().await.unwrap();
            tx
        });
        for i in 0..200usize {
            let msg = timeout(LIMIT, rx.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(&msg.uri()[..], format!("t/{i}").as_bytes());
            assert_eq!(msg.content().len(), sizes[i % sizes.len()]);
            assert!(msg.content().iter().all(|b| *b == (i % 251) as u8));
        }
        drop(sender.await.unwrap());
        assert!(
            timeout(LIMIT, rx.next()).await.unwrap().is_none(),
            "clean EOF"
        );
    }
}

#[tokio::test]
async fn corrupted_frame_is_reported_and_the_next_one_arrives() {
    let (mut a, b) = pair().await;
    let mut rx = Framed::new(b, FrameCodec::new(Profile::Netaio));
    let good = Message::respond("echo", "ping")
        .to_bytes(Profile::Netaio)
        .unwrap();
    let mut bad = good.to_vec();
    bad[8] ^= 0xff; // last checksum byte
    a.write_all(&bad).await.unwrap();
    a.write_all(&good).await.unwrap();
    let first = timeout(LIMIT, rx.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(first, Err(DecodeError::ChecksumMismatch { .. })));
    let second = timeout(LIMIT, rx.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&second.content()[..], b"ping");
}

#[tokio::test]
async fn profile_mismatch_ends_the_stream_with_a_typed_error() {
    let (a, b) = pair().await;
    let mut tx = Framed::new(a, FrameCodec::new(Profile::Wide));
    let mut rx = Framed::new(b, FrameCodec::new(Profile::Netaio));
    tx.send(Message::ok("", "")).await.unwrap();
    let err = timeout(LIMIT, rx.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err.as_decode(),
        Some(&DecodeError::ProfileMismatch {
            expected: Profile::Netaio,
            found: Profile::Wide
        })
    );
}

#[tokio::test]
async fn eof_inside_a_frame_is_an_io_error() {
    let (mut a, b) = pair().await;
    let mut rx = Framed::new(b, FrameCodec::new(Profile::Netaio));
    let frame = Message::respond("echo", "ping")
        .to_bytes(Profile::Netaio)
        .unwrap();
    a.write_all(&frame[..frame.len() - 3]).await.unwrap();
    a.shutdown().await.unwrap();
    let err = timeout(LIMIT, rx.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(err.is_io(), "{err}");
}
