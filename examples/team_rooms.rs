//! Team rooms: JSON posts to rooms, pushed to the room's subscribers, with
//! each room's recent history. A service written in the typed style: route
//! patterns with a parameter, a custom extractor (`Room`), validated JSON
//! content, shared state, JSON replies.
//!
//! Run: `cargo run --release --example team_rooms --features json`
//! (feature `json`: serde content). It prints `listening on HOST:PORT`;
//! `TEAM_ROOMS_ADDR` picks the address (default `127.0.0.1:0`, a free port).
//!
//! Contract, in plain netaio frames (no auth):
//! - SUBSCRIBE_URI `{room}`: subscribes to the room (CONFIRM_SUBSCRIBE);
//!   UNSUBSCRIBE_URI `{room}` leaves it (CONFIRM_UNSUBSCRIBE).
//! - PUBLISH_URI `post/{room}` with JSON `{"text": "…"}` (1..=500
//!   characters): answered OK (`{"delivered": N}`), and pushed as NOTIFY_URI
//!   with uri `{room}` and the post as JSON to the room's subscribers. A
//!   body that is not that JSON is answered ERROR naming the problem (the
//!   field `text`, or that the JSON does not parse).
//! - REQUEST_URI `history/{room}`: RESPOND_URI with a JSON array of the
//!   room's last 20 posts, oldest first, each an object with `text`.
//! - A room is 1..=64 letters, digits, `-` or `_`. Anything else (another
//!   name, another route) is answered NOT_FOUND.
//!
//! Memory is bounded: 20 posts of at most 500 characters per room, and at
//! most `MAX_ROOMS` rooms with history (the room posted to longest ago is
//! forgotten first); subscriptions are bounded by the server's `Limits`.
//!
//! With per-user keys the same service only changes its builder:
//! [`with_users`] (each frame signed with its user's key, each user's
//! permissions checked before any handler; `tests/typed_services.rs` runs
//! it). framewire peers only: netaio has no per-user keys.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use framewire::auth::{MemoryUsers, Permissions, Rule, User, UserHmac};
use framewire::content::{chars_in, Invalid, Json, Valid, Validate};
use framewire::handler::HandlerError;
use framewire::server::{Context, FromRequest, Request, Server, ServerBuilder, State};
use framewire::{Message, MessageType, PluginLayer, RouteKey};
use serde::{Deserialize, Serialize};

/// Posts kept per room.
pub const HISTORY: usize = 20;
/// Rooms with history kept at once.
pub const MAX_ROOMS: usize = 10_000;

/// A post, as sent and as pushed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Post {
    /// What was said.
    pub text: String,
}

impl Validate for Post {
    fn validate(&self) -> Result<(), Invalid> {
        chars_in("text", &self.text, 1..=500)
    }
}

/// A valid room name from the route's `{room}`; anything else is
/// NOT_FOUND (there is no such room).
pub struct Room(pub String);

impl FromRequest for Room {
    fn from_request(req: &Request<'_>) -> Result<Self, HandlerError> {
        let params = req.params();
        let name = params.get("room").unwrap_or_default();
        let valid = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Room(name.to_owned()))
        } else {
            Err(HandlerError::not_found("no such room"))
        }
    }
}

/// Each room's last posts, and when each was last posted to (to forget
/// the stalest room when full).
#[derive(Default)]
pub struct Rooms {
    rooms: HashMap<String, (u64, VecDeque<Post>)>,
    clock: u64,
}

impl Rooms {
    fn add(&mut self, room: &str, post: Post) {
        self.clock += 1;
        if !self.rooms.contains_key(room) && self.rooms.len() >= MAX_ROOMS {
            let stalest = self
                .rooms
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(name, _)| name.clone());
            if let Some(name) = stalest {
                self.rooms.remove(&name);
            }
        }
        let (at, posts) = self.rooms.entry(room.to_owned()).or_default();
        *at = self.clock;
        if posts.len() == HISTORY {
            posts.pop_front();
        }
        posts.push_back(post);
    }

    fn history(&self, room: &str) -> Vec<Post> {
        self.rooms
            .get(room)
            .map(|(_, posts)| posts.iter().cloned().collect())
            .unwrap_or_default()
    }
}

type Shared = Arc<Mutex<Rooms>>;

#[derive(Serialize)]
struct Delivered {
    delivered: usize,
}

async fn post(
    Room(room): Room,
    Valid(Json(post)): Valid<Json<Post>>,
    State(rooms): State<Shared>,
    ctx: Context,
) -> Result<Json<Delivered>, HandlerError> {
    let note = Message::notify(room.clone(), framewire::content::to_json(&post)?);
    rooms
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .add(&room, post);
    let delivered = ctx.server().notify(&room, note)?;
    Ok(Json(Delivered { delivered }))
}

async fn history(Room(room): Room, State(rooms): State<Shared>) -> Json<Vec<Post>> {
    Json(
        rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .history(&room),
    )
}

async fn subscribe(Room(room): Room, ctx: Context) -> Result<Message, HandlerError> {
    ctx.subscribe(room.clone())?;
    Ok(Message::new(MessageType::CONFIRM_SUBSCRIBE, room, ""))
}

async fn unsubscribe(Room(room): Room, ctx: Context) -> Message {
    ctx.unsubscribe(room.as_bytes());
    Message::new(MessageType::CONFIRM_UNSUBSCRIBE, room, "")
}

fn route(t: MessageType, pattern: &str) -> RouteKey {
    RouteKey::pattern(t, pattern).expect("a valid pattern")
}

/// The service's routes (the tests build the same server).
pub fn team_rooms() -> ServerBuilder {
    Server::builder()
        .state(Shared::default())
        .on(route(MessageType::SUBSCRIBE_URI, "{room}"), subscribe)
        .on(route(MessageType::UNSUBSCRIBE_URI, "{room}"), unsubscribe)
        .on(route(MessageType::PUBLISH_URI, "post/{room}"), post)
        .on(route(MessageType::REQUEST_URI, "history/{room}"), history)
}

/// The same service with per-user keys: `writers` may post, read the
/// history and subscribe; `readers` may only read and subscribe (a post is
/// answered NOT_PERMITTED before the handler runs). Each `(name, secret)`
/// signs as `UserHmac::client(name, secret)` on the client side.
pub fn with_users(writers: &[(&str, &str)], readers: &[(&str, &str)]) -> ServerBuilder {
    let pattern = |p: &str| p.parse().expect("a valid pattern");
    let reader = || {
        Permissions::default()
            .publish(Rule::allow([]))
            .subscribe(Rule::allow([pattern("*")]))
            .request(Rule::allow([pattern("history/*")]))
    };
    let writer = || reader().publish(Rule::allow([pattern("post/*")]));
    let mut users = MemoryUsers::new();
    for (name, secret) in writers {
        users = users.with(User::new(*name, secret).permissions(writer()));
    }
    for (name, secret) in readers {
        users = users.with(User::new(*name, secret).permissions(reader()));
    }
    team_rooms().plugins(PluginLayer::new().with_auth(UserHmac::server(users)))
}

#[allow(dead_code)] // the tests include this file for its services only
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("TEAM_ROOMS_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    team_rooms()
        .build()
        .serve(listener, async {
            tokio::signal::ctrl_c().await.ok();
        })
        .await
}
