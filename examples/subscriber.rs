//! A client with a handler for broadcasts and a subscription stream,
//! against `framewire serve` (or netaio's readme server).
//!
//! Run: `cargo run --release -- serve` in one terminal, then
//! `cargo run --example subscriber [ADDR]` (default 127.0.0.1:8888), and
//! publish from a third: `cargo run --release -- publish 127.0.0.1:8888 news hello`
//! or broadcast: `cargo run --release -- request 127.0.0.1:8888 broadcast --type PUBLISH_URI --content hi`.
//! It prints five news items, then exits.

use framewire::client::{Client, ConnectionEvent};
use framewire::{Message, MessageType};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8888".into());
    let client = Client::builder(addr)
        .on(
            (MessageType::NOTIFY_URI, "broadcast"),
            |msg: Message, _c: Client| async move {
                println!("broadcast: {}", String::from_utf8_lossy(msg.content()));
            },
        )
        .connect()
        .await?;
    let mut events = client.events();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if !matches!(event, ConnectionEvent::Connected(_)) {
                eprintln!("connection: {event:?}");
            }
        }
    });
    let mut news = client.subscribe("news").await?;
    println!("subscribed to news; publish with: framewire publish ADDR news TEXT");
    for _ in 0..5 {
        match news.next().await {
            Some(item) => println!("news: {}", String::from_utf8_lossy(item.content())),
            None => break,
        }
    }
    drop(news);
    client.close().await;
    Ok(())
}
