//! Subscription streams: notifications arrive in order, dropping the stream
//! unsubscribes, several streams share one topic.

mod common;

use common::*;
use framewire::client::Client;
use framewire::server::Server;
use framewire::{Message, MessageType};
use futures::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_receives_then_drop_unsubscribes() {
    let srv = start(framewire::server::readme_routes(Server::builder()).build()).await;
    let c = Client::builder(srv.addr.to_string())
        .connect()
        .await
        .unwrap();
    let publisher = Client::builder(srv.addr.to_string())
        .connect()
        .await
        .unwrap();

    let mut a = c.subscribe("news").await.unwrap();
    let mut b = c.subscribe("news").await.unwrap(); // same topic, second stream
    assert_eq!(srv.handle.stats().topics, 1);
    for i in 0..20 {
        let r = publisher
            .call(Message::new(
                MessageType::PUBLISH_URI,
                "pub/news",
                i.to_string(),
            ))
            .await
            .unwrap();
        assert_eq!(&r.content()[..], b"published");
    }
    for i in 0..20 {
        let want = Message::new(MessageType::NOTIFY_URI, "news", i.to_string());
        assert_eq!(
            plain(
                tokio::time::timeout(LIMIT, a.next())
                    .await
                    .unwrap()
                    .unwrap()
            ),
            want
        );
        assert_eq!(
            plain(
                tokio::time::timeout(LIMIT, StreamExt::next(&mut b))
                    .await
                    .unwrap()
                    .unwrap()
            ),
            want
        );
    }
    // Dropping one stream keeps the server subscription; dropping the last
    // sends UNSUBSCRIBE_URI.
    drop(a);
    publisher
        .call(Message::new(MessageType::PUBLISH_URI, "pub/news", "still"))
        .await
        .unwrap();
    assert_eq!(
        &within("the note", b.next()).await.unwrap().content()[..],
        b"still"
    );
    assert_eq!(srv.handle.stats().topics, 1);
    drop(b);
    eventually("server unsubscribed", || srv.handle.stats().topics == 0).await;
    c.close().await;
    publisher.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_subscription_is_an_error_and_leaves_nothing_behind() {
    // A server without SUBSCRIBE_URI routes answers NOT_FOUND.
    let srv = start(Server::builder().build()).await;
    let c = Client::builder(srv.addr.to_string())
        .connect()
        .await
        .unwrap();
    let err = c.subscribe("nothing").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(srv.handle.stats().topics, 0);
    c.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_when_the_client_closes() {
    let srv = start(framewire::server::readme_routes(Server::builder()).build()).await;
    let c = Client::builder(srv.addr.to_string())
        .connect()
        .await
        .unwrap();
    let mut s = c.subscribe("t").await.unwrap();
    c.close().await;
    assert!(tokio::time::timeout(LIMIT, s.next())
        .await
        .unwrap()
        .is_none());
    srv.stop().await;
}
