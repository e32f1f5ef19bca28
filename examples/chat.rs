//! A chat server with names and groups (connection tags) and broadcast,
//! plus three scripted clients.
//!
//! Protocol: REQUEST_URI `login` content `name/group` tags the connection
//! `name:NAME` and `group:GROUP`; PUBLISH_URI `group` sends the content to
//! the sender's group; PUBLISH_URI `all` broadcasts; PUBLISH_URI `to/NAME`
//! sends to one user. Messages arrive as NOTIFY_URI with uri = the sender's
//! name.
//!
//! Run: `cargo run --example chat`

use std::time::Duration;

use framewire::client::Client;
use framewire::server::{Context, Server};
use framewire::{Message, MessageType};

fn name_of(ctx: &Context) -> Option<String> {
    ctx.tags()
        .iter()
        .find_map(|t| t.strip_prefix("name:").map(str::to_owned))
}

fn chat_server() -> Server {
    Server::builder()
        .on(
            (MessageType::REQUEST_URI, "login"),
            |msg: Message, ctx: Context| async move {
                let text = String::from_utf8_lossy(msg.content()).into_owned();
                let Some((name, group)) = text.split_once('/') else {
                    return Err::<Message, _>("login content must be name/group".to_owned());
                };
                if !ctx
                    .server()
                    .connections()
                    .iter()
                    .all(|c| !c.tags.contains(&format!("name:{name}")))
                {
                    return Err(format!("name {name} is taken"));
                }
                ctx.add_tag(format!("name:{name}"));
                ctx.add_tag(format!("group:{group}"));
                Ok(Message::respond("login", format!("welcome {name}")))
            },
        )
        .on(
            MessageType::PUBLISH_URI,
            |msg: Message, ctx: Context| async move {
                let Some(from) = name_of(&ctx) else {
                    return Ok::<_, String>(Message::not_permitted(msg.uri().clone()));
                };
                let note =
                    Message::new(MessageType::NOTIFY_URI, from.clone(), msg.content().clone());
                let uri = String::from_utf8_lossy(msg.uri()).into_owned();
                let sent = if uri == "all" {
                    ctx.server().broadcast(note)
                } else if uri == "group" {
                    let group = ctx
                        .tags()
                        .into_iter()
                        .find(|t| t.starts_with("group:"))
                        .unwrap_or_default();
                    ctx.server().send_to_tag(&group, note)
                } else if let Some(to) = uri.strip_prefix("to/") {
                    ctx.server().send_to_tag(&format!("name:{to}"), note)
                } else {
                    return Ok(Message::not_found(msg.uri().clone()));
                };
                let n = sent.map_err(|e| e.to_string())?;
                Ok(Message::ok(msg.uri().clone(), format!("delivered to {n}")))
            },
        )
        .on_join(|info, _| println!("[server] {} joined from {}", info.id, info.peer))
        .on_leave(|info, _| println!("[server] {} left ({})", info.id, info.tags.join(", ")))
        .build()
}

async fn user(
    addr: std::net::SocketAddr,
    login: &'static str,
) -> Result<Client, Box<dyn std::error::Error>> {
    let me = login.split('/').next().unwrap_or(login);
    let client = Client::builder(addr.to_string())
        .on(
            MessageType::NOTIFY_URI,
            move |msg: Message, _c: Client| async move {
                println!(
                    "[{me}] {}: {}",
                    String::from_utf8_lossy(msg.uri()),
                    String::from_utf8_lossy(msg.content())
                );
            },
        )
        .connect()
        .await?;
    let hello = client.request("login", login).await?;
    println!("[{me}] {}", String::from_utf8_lossy(hello.content()));
    Ok(client)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = chat_server();
    let handle = server.handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let serving = tokio::spawn(server.serve(listener, std::future::pending()));

    let alice = user(addr, "alice/red").await?;
    let bob = user(addr, "bob/red").await?;
    let carol = user(addr, "carol/blue").await?;
    if let Err(e) = carol.request("login", "alice/blue").await {
        println!("[carol] second login refused: {e}");
    }
    for (client, uri, text) in [
        (&alice, "group", "hi red team"),
        (&carol, "all", "hello everyone"),
        (&bob, "to/carol", "psst, carol"),
    ] {
        let ok = client
            .call(Message::new(MessageType::PUBLISH_URI, uri, text))
            .await?;
        println!("[server] {uri}: {}", String::from_utf8_lossy(ok.content()));
    }
    tokio::time::sleep(Duration::from_millis(100)).await; // let the notes print
    for c in [alice, bob, carol] {
        c.close().await;
    }
    handle.shutdown();
    serving.await??;
    Ok(())
}
