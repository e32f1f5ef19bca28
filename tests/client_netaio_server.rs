//! The library client against a real netaio 0.0.9 TCPServer (Python),
//! with and without HMAC: the request helpers, typed errors, subscription
//! streams and broadcast, with netaio's reply matching (netaio does not echo
//! request ids).

mod common;

use std::time::Duration;

use common::*;
use framewire::client::{Client, ClientError};
use framewire::{Message, MessageType, NetaioHmac, PluginLayer, ReplyError};

async fn scenarios(addr: &str, secret: Option<&str>) {
    let builder = || {
        let b = Client::builder(addr).request_timeout(Duration::from_secs(5));
        match secret {
            Some(s) => b.plugins(PluginLayer::new().with_auth(NetaioHmac::new(s))),
            None => b,
        }
    };
    let c = builder().connect().await.unwrap();
    let other = builder().connect().await.unwrap();

    // Echo: empty, binary, and the largest content netaio can re-prepare.
    let big: Vec<u8> = (0..65418).map(|i| (i % 251) as u8).collect();
    for content in [Vec::new(), (0..=255u8).collect(), big] {
        let r = c.request("echo", content.clone()).await.unwrap();
        assert_eq!(r.content()[..], content[..]);
    }
    // CRUD with typed errors.
    assert!(c.request("k", "").await.unwrap_err().is_not_found());
    assert_eq!(&c.create("k", "v1").await.unwrap().content()[..], b"stored");
    assert!(matches!(
        c.create("k", "v").await,
        Err(ClientError::Reply(ReplyError::Remote(_)))
    ));
    assert_eq!(&c.request("k", "").await.unwrap().content()[..], b"v1");
    assert_eq!(&c.update("k", "v2").await.unwrap().content()[..], b"stored");
    assert_eq!(&c.delete("k").await.unwrap().content()[..], b"deleted");
    assert!(c.delete("k").await.unwrap_err().is_not_found());

    // Concurrent requests to distinct uris (netaio matches by uri).
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move { c.create(format!("key{i}"), i.to_string()).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(&t.await.unwrap().unwrap().content()[..], b"stored");
    }
    // Same uri, concurrently: netaio answers in order, so oldest-first
    // matching pairs them correctly.
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move { (i, c.request("echo", i.to_string()).await) })
        })
        .collect();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        assert_eq!(r.unwrap().content()[..], *i.to_string().as_bytes());
    }

    // Subscription stream and broadcast.
    let mut sub = c.subscribe("topic1").await.unwrap();
    let r = other
        .call(Message::new(MessageType::PUBLISH_URI, "pub/topic1", "hi"))
        .await
        .unwrap();
    assert_eq!(&r.content()[..], b"published");
    let note = tokio::time::timeout(LIMIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (note.message_type, &note.content()[..]),
        (MessageType::NOTIFY_URI, &b"hi"[..])
    );
    let mut all = other.subscribe("broadcast").await.unwrap(); // a stream for uri "broadcast"
    let r = c
        .call(Message::new(MessageType::PUBLISH_URI, "broadcast", "all"))
        .await
        .unwrap();
    assert_eq!(&r.content()[..], b"broadcast");
    let note = tokio::time::timeout(LIMIT, all.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&note.content()[..], b"all");
    drop((sub, all));
    c.close().await;
    other.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the netaio 0.0.9 venv; see README"]
async fn client_against_netaio_server() {
    let (_server, addr) = netaio_server(None);
    scenarios(&addr, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the netaio 0.0.9 venv; see README"]
async fn client_with_hmac_against_netaio_server() {
    let (_server, addr) = netaio_server(Some("interop"));
    scenarios(&addr, Some("interop")).await;

    // A wrong secret: netaio's unsigned AUTH_ERROR to the credential ping
    // fails the connect at once.
    let started = std::time::Instant::now();
    let refused = Client::builder(addr.as_str())
        .plugins(PluginLayer::new().with_auth(NetaioHmac::new("nope")))
        .request_timeout(Duration::from_secs(60))
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            ClientError::Reply(ReplyError::AuthRejected {
                verified: false,
                ..
            })
        ),
        "{refused}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Unchecked at connect, the first request reports it at once.
    let wrong = Client::builder(addr.as_str())
        .plugins(PluginLayer::new().with_auth(NetaioHmac::new("nope")))
        .request_timeout(Duration::from_secs(60))
        .check_credentials(false)
        .connect()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let err = wrong.request("echo", "x").await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Reply(ReplyError::AuthRejected {
                verified: false,
                ..
            })
        ),
        "{err}"
    );
    // A 60 s timeout, bounded at 5 s: slowness is caught, not only a
    // timeout.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    wrong.close().await;
}

/// What netaio 0.0.9's own client accepts after a SUBSCRIBE_URI and an
/// UNSUBSCRIBE_URI, asked of the same server: the reply types, one a line.
fn netaio_client_reply_types(addr: &str, topic: &str) -> String {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let script = format!(
        r#"
import asyncio
from netaio import TCPClient, MessageType as MT
async def main():
    c = TCPClient("{host}", {port})
    c.logger.disabled = True
    await c.connect()
    for t in (MT.SUBSCRIBE_URI, MT.UNSUBSCRIBE_URI):
        r = await c.request(b"{topic}", message_type=t, timeout=5)
        print(r.header.message_type.name)
    await c.close()
asyncio.run(main())
"#
    );
    let mut cmd = std::process::Command::new(netaio_python());
    cmd.args(["-c", &script]);
    let out = run_with_input(cmd, b"", Duration::from_secs(20));
    assert!(out.success, "{}{}", out.stdout, out.stderr);
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the netaio 0.0.9 venv; see README"]
async fn ok_answers_a_subscribe_and_an_unsubscribe_as_in_netaio() {
    let (_server, addr) = netaio_server(None);
    // netaio's own client takes OK as the answer to both.
    assert_eq!(netaio_client_reply_types(&addr, "ok/a"), "OK\nOK\n");
    let c = Client::builder(addr.as_str())
        .request_timeout(Duration::from_secs(30))
        .connect()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let confirmed = c
        .call(Message::new(MessageType::SUBSCRIBE_URI, "ok/b", ""))
        .await
        .unwrap();
    assert_eq!(
        (confirmed.message_type, &confirmed.content()[..]),
        (MessageType::OK, &b"subscribed"[..])
    );
    let left = c
        .call(Message::new(MessageType::UNSUBSCRIBE_URI, "ok/b", ""))
        .await
        .unwrap();
    assert_eq!(&left.content()[..], b"unsubscribed");
    // A subscription stream confirmed by OK delivers.
    let mut sub = c.subscribe("ok/news").await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    c.call(Message::new(MessageType::PUBLISH_URI, "pub/ok/news", "hi"))
        .await
        .unwrap();
    let note = tokio::time::timeout(LIMIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&note.content()[..], b"hi");
    drop(sub);
    c.close().await;
}
