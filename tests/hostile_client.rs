//! Row 21: a server that sends garbage, oversized or wrongly signed frames.
//! The client reports typed errors, never panics, stays bounded, and
//! recovers by reconnecting (or keeps working when the damage was one
//! frame).

mod common;

use std::time::Duration;

use common::*;
use framewire::client::{
    Client, ClientError, ConnectionEvent, DisconnectReason, Keepalive, Reconnect,
};
use framewire::protocol::REQUEST_ID_FIELD;
use framewire::{DecodeError, FrameCodec, Message, NetaioHmac, PluginLayer, PluginStack, Profile};
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

/// Answers one request correctly (echoing its id), as a framewire server.
async fn answer(f: &mut Framed<TcpStream, FrameCodec>, seal: Option<&PluginStack>) {
    let req = within("the request", f.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let mut reply = Message::respond(req.uri().clone(), req.content().clone());
    if let Some(id) = req.auth.get(REQUEST_ID_FIELD) {
        reply.auth.insert(REQUEST_ID_FIELD, id.clone());
    }
    let reply = match seal {
        Some(s) => s.seal(reply).unwrap(),
        None => reply,
    };
    f.send(reply).await.unwrap();
}

fn builder(addr: std::net::SocketAddr) -> framewire::client::ClientBuilder {
    Client::builder(addr.to_string())
        .keepalive(None)
        // The raw servers here answer requests only: no credential ping
        // (client::tests covers it).
        .check_credentials(false)
        .reconnect(
            Reconnect::default()
                .initial(Duration::from_millis(10))
                .jitter(0.0),
        )
        .request_timeout(Duration::from_secs(5))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_oversized_frames_end_the_connection_and_the_client_recovers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let builder = builder(addr).max_frame_len(4096);
    let mut events = builder.events();
    let (client, accepted) = within("connected", async {
        tokio::join!(builder.connect(), listener.accept())
    })
    .await;
    let client = client.unwrap();
    assert!(matches!(
        events.recv().await.unwrap(),
        ConnectionEvent::Connected(_)
    ));
    let mut s = accepted.unwrap().0;

    // 1. Garbage: an unknown type byte.
    let pending = tokio::spawn({
        let c = client.clone();
        async move { c.request("echo", "x").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.write_all(&[14, 0, 3, 0, 2, 0, 0, 0, 0, 0x4d, 0x40, 0, 0, 0])
        .await
        .unwrap();
    let err = pending.await.unwrap().unwrap_err();
    assert!(matches!(err, ClientError::ConnectionLost), "{err}");
    match tokio::time::timeout(LIMIT, events.recv())
        .await
        .unwrap()
        .unwrap()
    {
        ConnectionEvent::Disconnected { reason } => {
            assert!(
                matches!(
                    reason,
                    DisconnectReason::InvalidFrame(DecodeError::UnknownMessageType { value: 14 })
                ),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }

    // 2. It reconnects; this time the server sends an oversized frame.
    let (s2, _) = within("the second connection", listener.accept())
        .await
        .unwrap();
    let mut f = Framed::new(s2, FrameCodec::new(Profile::Netaio));
    let big = Message::respond("echo", vec![0u8; 10_000]);
    f.send(big).await.unwrap();
    let reason = loop {
        if let ConnectionEvent::Disconnected { reason } = tokio::time::timeout(LIMIT, events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            break reason;
        }
    };
    assert!(
        matches!(
            reason,
            DisconnectReason::InvalidFrame(DecodeError::TooLarge { max: 4096, .. })
        ),
        "{reason}"
    );

    // 3. Third connection behaves: the client is usable again.
    let (s3, _) = within("the third connection", listener.accept())
        .await
        .unwrap();
    let mut f = Framed::new(s3, FrameCodec::new(Profile::Netaio));
    // Requests made while disconnected fail at once: wait for the client.
    loop {
        let event = tokio::time::timeout(LIMIT, events.recv())
            .await
            .unwrap()
            .unwrap();
        if matches!(event, ConnectionEvent::Connected(_)) {
            break;
        }
    }
    let (reply, ()) = within("the answer", async {
        tokio::join!(client.request("echo", "back"), answer(&mut f, None))
    })
    .await;
    assert_eq!(&reply.unwrap().content()[..], b"back");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_and_wrongly_signed_frames_are_dropped_and_the_connection_stays() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer = || PluginLayer::new().with_auth(NetaioHmac::new("right"));
    let client = builder(addr).plugins(layer()).connect();
    let (client, accepted) = within("connected", async {
        tokio::join!(client, listener.accept())
    })
    .await;
    let client = client.unwrap();
    let mut f = Framed::new(accepted.unwrap().0, FrameCodec::new(Profile::Netaio));
    let mut events = client.events();

    let request = tokio::spawn({
        let c = client.clone();
        async move { c.request("echo", "x").await }
    });
    let req = within("the request", f.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let id = req.auth.get(REQUEST_ID_FIELD).unwrap().clone();
    // A reply signed with the wrong key, then one with a broken checksum:
    // both dropped (not delivered as the answer).
    let mut forged = Message::respond("echo", "forged");
    forged.auth.insert(REQUEST_ID_FIELD, id.clone());
    f.send(
        PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new("wrong")))
            .seal(forged)
            .unwrap(),
    )
    .await
    .unwrap();
    let mut bad_crc = Message::respond("echo", "damaged")
        .to_bytes(Profile::Netaio)
        .unwrap()
        .to_vec();
    *bad_crc.last_mut().unwrap() ^= 1;
    f.get_mut().write_all(&bad_crc).await.unwrap();
    // Then the genuine reply.
    let mut genuine = Message::respond("echo", "x");
    genuine.auth.insert(REQUEST_ID_FIELD, id);
    f.send(PluginStack::new(layer()).seal(genuine).unwrap())
        .await
        .unwrap();
    let reply = within("the reply", request).await.unwrap().unwrap();
    assert_eq!(&reply.content()[..], b"x");
    assert!(
        matches!(
            events.try_recv(),
            Err(tokio::sync::broadcast::error::TryRecvError::Empty)
        ),
        "no reconnect"
    );

    // A flood of unsolicited junk does not grow anything: no handlers, so
    // it is dropped as it arrives.
    for i in 0..2000 {
        f.feed(Message::respond(format!("junk{i}"), vec![0u8; 256]))
            .await
            .unwrap();
    }
    f.flush().await.unwrap();
    let sealer = PluginStack::new(layer());
    let (reply, ()) = within("the answer", async {
        tokio::join!(
            client.request("echo", "after"),
            answer(&mut f, Some(&sealer))
        )
    })
    .await;
    assert_eq!(&reply.unwrap().content()[..], b"after");
    assert_eq!(client.pending_requests(), 0);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_server_does_not_reset_the_backoff() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let closer = tokio::spawn(async move {
        // First connection lives; the next ones are closed at once.
        let first = listener.accept().await.unwrap().0;
        drop(first);
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            drop(s);
        }
    });
    let builder = Client::builder(addr.to_string())
        .keepalive(Some(Keepalive::new(
            Duration::from_millis(100),
            Duration::from_millis(100),
        )))
        .reconnect(
            Reconnect::default()
                .initial(Duration::from_millis(5))
                .max_attempts(3)
                .jitter(0.0),
        );
    // Subscribed before connecting: the first connection dies at once.
    let mut events = builder.events();
    let client = builder.connect().await.unwrap();
    // Every reconnect succeeds at the TCP level and dies at once. Such
    // connections do not count as recovery, so the attempts keep counting
    // up and the policy gives up instead of reconnecting every 5 ms forever.
    let mut attempts = Vec::new();
    loop {
        match tokio::time::timeout(LIMIT, events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            ConnectionEvent::GaveUp => break,
            ConnectionEvent::Reconnecting { attempt, delay } => {
                attempts.push((attempt, delay.as_millis()))
            }
            _ => {}
        }
    }
    assert_eq!(attempts, [(1, 5), (2, 10), (3, 20)]);
    closer.abort();
    client.close().await;
}
