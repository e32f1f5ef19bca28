//! A chat server with names and groups (connection tags) and broadcast,
//! plus three scripted clients.
//!
//! Protocol: REQUEST_URI `login` content `name/group` tags the connection
//! `name:NAME` and `group:GROUP`; PUBLISH_URI `group` sends the content to
//! the sender's group; PUBLISH_URI `all` broadcasts; PUBLISH_URI `to/NAME`
//! sends to one user (a route pattern, `to/{name}`). Messages arrive as
//! NOTIFY_URI with uri = the sender's name; publishing before logging in is
//! answered NOT_PERMITTED (the `Name` extractor).
//!
//! Run: `cargo run --example chat`

use std::time::Duration;

use framewire::client::Client;
use framewire::handler::HandlerError;
use framewire::server::{Context, FromRequest, Path, Request, SendError, Server};
use framewire::{Message, MessageType, RouteKey};

/// The sender's name, from its `name:` tag; a connection that has not
/// logged in is answered NOT_PERMITTED before any publish handler runs.
struct Name(String);

impl FromRequest for Name {
    fn from_request(req: &Request<'_>) -> Result<Self, HandlerError> {
        req.context()
            .tags()
            .iter()
            .find_map(|t| t.strip_prefix("name:").map(|n| Name(n.to_owned())))
            .ok_or_else(|| HandlerError::not_permitted("log in first"))
    }
}

/// What a publish route answers: how many received it.
fn delivered(uri: &str, sent: Result<usize, SendError>) -> Result<Message, SendError> {
    Ok(Message::ok(
        uri.to_owned(),
        format!("delivered to {}", sent?),
    ))
}

fn note(from: &str, msg: &Message) -> Message {
    Message::new(
        MessageType::NOTIFY_URI,
        from.to_owned(),
        msg.content().clone(),
    )
}

fn chat_server() -> Server {
    let publish = |p| RouteKey::pattern(MessageType::PUBLISH_URI, p).expect("a valid pattern");
    Server::builder()
        .on(
            (MessageType::REQUEST_URI, "login"),
            |msg: Message, ctx: Context| async move {
                let text = String::from_utf8_lossy(msg.content()).into_owned();
                let Some((name, group)) = text.split_once('/') else {
                    return Err(HandlerError::rejected("login content must be name/group"));
                };
                let tag = format!("name:{name}");
                if ctx
                    .server()
                    .connections()
                    .iter()
                    .any(|c| c.tags.contains(&tag))
                {
                    return Err(HandlerError::from(format!("name {name} is taken")));
                }
                ctx.add_tag(tag);
                ctx.add_tag(format!("group:{group}"));
                Ok(Message::respond("login", format!("welcome {name}")))
            },
        )
        .on(
            publish("all"),
            |Name(from): Name, msg: Message, ctx: Context| async move {
                delivered("all", ctx.server().broadcast(note(&from, &msg)))
            },
        )
        .on(
            publish("group"),
            |Name(from): Name, msg: Message, ctx: Context| async move {
                let group = ctx
                    .tags()
                    .into_iter()
                    .find(|t| t.starts_with("group:"))
                    .unwrap_or_default();
                delivered("group", ctx.server().send_to_tag(&group, note(&from, &msg)))
            },
        )
        .on(
            publish("to/{name}"),
            |Name(from): Name, Path(to): Path<String>, msg: Message, ctx: Context| async move {
                let sent = ctx
                    .server()
                    .send_to_tag(&format!("name:{to}"), note(&from, &msg));
                delivered(&format!("to/{to}"), sent)
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
