//! An echo server and a client in one program: the server answers
//! (REQUEST_URI, "echo") with RESPOND_URI and the same content; the client
//! sends a few requests, some concurrently, and prints the replies.
//!
//! Run: `cargo run --example echo`

use framewire::client::Client;
use framewire::server::{Context, Server};
use framewire::{Message, MessageType};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server =
        Server::builder()
            .on(
                (MessageType::REQUEST_URI, "echo"),
                |msg: Message, _ctx: Context| async move {
                    Message::respond("echo", msg.content().clone())
                },
            )
            .build();
    let handle = server.handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let serving = tokio::spawn(server.serve(listener, std::future::pending()));
    println!("server listening on {addr}");

    let client = Client::builder(addr.to_string()).connect().await?;
    let reply = client.request("echo", "hello").await?;
    println!(
        "echo replied {:?}",
        String::from_utf8_lossy(reply.content())
    );

    // Concurrent requests to one uri: request ids keep the replies apart.
    let replies = futures_join(&client).await?;
    println!("10 concurrent echoes came back in order: {replies:?}");

    match client.request("nothing-here", "").await {
        Err(e) => println!("unrouted uri: {e}"),
        Ok(m) => println!("unexpected reply {m:?}"),
    }
    client.close().await;
    handle.shutdown();
    serving.await??;
    Ok(())
}

async fn futures_join(client: &Client) -> Result<Vec<String>, framewire::client::ClientError> {
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move { c.request("echo", format!("#{i}")).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        let reply = t.await.expect("task")?;
        out.push(String::from_utf8_lossy(reply.content()).into_owned());
    }
    Ok(out)
}
