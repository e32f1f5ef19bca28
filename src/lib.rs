//! framewire: raw-TCP framed binary messaging, wire-compatible with
//! [netaio](https://pypi.org/project/netaio/) 0.0.9.
//!
//! # The frame
//!
//! ```text
//! +------+-------------+-------------+----------+------------------+--------------------------+
//! | type | auth_length | body_length | checksum | auth fields      | body                     |
//! | u8   | u16         | u16         | u32      | packify dict     | uri_len u16 | uri | content|
//! +------+-------------+-------------+----------+------------------+--------------------------+
//!  \____________ 9-byte header, big-endian ___/  auth_length bytes   body_length bytes
//!                                 checksum = CRC-32 of the body only
//! ```
//!
//! That is the `netaio` [`Profile`] (the default), byte-exact with netaio
//! 0.0.9. The `wide` profile carries 32-bit lengths for framewire-to-framewire
//! traffic with large payloads; see [`Profile`].
//!
//! # Quick start
//!
//! ```
//! use futures::{SinkExt, StreamExt};
//! use framewire::{FrameCodec, Message, MessageType, Profile};
//! use tokio_util::codec::Framed;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), framewire::Error> {
//! let (a, b) = tokio::io::duplex(1024);
//! let mut client = Framed::new(a, FrameCodec::new(Profile::Netaio));
//! let mut server = Framed::new(b, FrameCodec::new(Profile::Netaio));
//!
//! client.send(Message::new(MessageType::REQUEST_URI, "echo", "hi")).await?;
//! let request = server.next().await.unwrap()?.expect("checksum ok");
//! server.send(Message::respond(request.uri().clone(), request.content().clone())).await?;
//!
//! let reply = client.next().await.unwrap()?.expect("checksum ok");
//! assert_eq!(reply.message_type, MessageType::RESPOND_URI);
//! assert_eq!(&reply.content()[..], b"hi");
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! ```text
//! src/
//!   lib.rs               this page; re-exports
//!   error.rs             Error: the top-level error, with is_* helpers
//!   codec.rs             FrameCodec: tokio_util Decoder/Encoder over wire/
//!   wire/                sans-I/O: bytes <-> Message, no runtime, no sockets
//!     message_type.rs    MessageType (netaio values + custom 31..=255)
//!     header.rs          Header, Profile (netaio 9-byte / wide 14-byte)
//!     auth_fields.rs     AuthFields: packify dict codec (bounded, no recursion)
//!     body.rs            Body: uri + content as Bytes slices
//!     message.rs         Message + netaio reply helpers (ok, respond, error, ...)
//!     frame.rs           FrameConfig, decode_frame / encode_frame with limits
//!     error.rs           DecodeError, AuthFieldsError, EncodeError
//!   auth/                plugins: sign/verify, encrypt/decrypt, netaio order
//!     mod.rs             AuthPlugin, CipherPlugin, AuthError
//!     context.rs         Context: injected Clock + RandomSource (tests pin them)
//!     stack.rs           PluginLayer, PluginStack (instance + handler), Rejection
//!     crypto.rs          netaio derive_key / 136-byte-block HMAC / keystream, ct_eq
//!     netaio_hmac.rs     NetaioHmac: netaio HMACAuthPlugin, byte-exact
//!     strict_hmac.rs     StrictHmac: HMAC-SHA256 over type, uri, content, nonce, ts
//!     replay.rs          ReplayConfig, ReplayGuard: ts window + bounded nonce cache
//!     stream_cipher.rs   NetaioStreamCipher: netaio Sha256StreamCipherPlugin
//!   router.rs            RouteKey + handler registry (type,uri,peer)→(type,uri)→type,
//!                        one-shot handlers; shared by server and client
//!   outbound.rs          bounded per-connection queue (frames + bytes) and the
//!                        batching writer loop; shared by server and client
//!   server/              the TCP server
//!     mod.rs             Server, Builder, serve(listener, shutdown), ServerHandle
//!     connection.rs      per-connection reader (deadlines, plugins, routing,
//!                        handlers, replies in order) and writer tasks
//!     handler.rs         Handler, IntoReply, HandlerError, panic isolation
//!     context.rs         Context: what a handler knows about its connection
//!     registry.rs        connections, tags, subscriptions, fan-out targets
//!     limits.rs          Limits and their defaults, each with its reason
//!     pubsub.rs          netaio's subscribe / unsubscribe handlers
//!                        (Builder::subscriptions)
//!     stats.rs           Stats counters, rate-limited slow-consumer log
//!   client/              the client
//!     mod.rs             Client, ClientBuilder, request helpers, ClientError
//!     connection.rs      background task: reader, keepalive, reconnect, dispatch
//!     pending.rs         waiting requests: request-id and netaio matching
//!     subscription.rs    Subscription streams (drop unsubscribes)
//!     reconnect.rs       Reconnect: backoff with jitter and a cap
//!     handler.rs         ClientHandler for unsolicited messages
//!   bin/framewire/       the CLI (feature `cli`): serve, request, publish,
//!                        subscribe, bench (+ routes.rs, baseline.rs, output.rs)
//! ```
//!
//! # The path of one frame
//!
//! ```text
//! socket ─► server/connection.rs ─► wire::decode_frame ─► auth (PluginStack: check, decrypt)
//!   read      deadlines, limits       lengths checked          │  instance layer first
//!                                     before allocating        ▼
//!                                                     router.rs: most specific key
//!                                                              │
//!                                                              ▼   handler layer, then
//! socket ◄── outbound.rs writer ◄── auth (encrypt, sign) ◄── your Handler (panics caught)
//!   write     batched flushes        sealed once per fan-out
//! ```
//!
//! The client mirrors it: `client/connection.rs` reads, replies complete
//! waiting requests (`client/pending.rs`), notifications feed subscription
//! streams, and the rest goes to the client's handlers through `router.rs`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
mod codec;
mod error;
mod outbound;
mod router;
pub mod server;
pub mod wire;

pub use auth::{
    AuthError, AuthPlugin, CipherPlugin, NetaioHmac, NetaioStreamCipher, PluginLayer, PluginStack,
    Rejection, ReplayConfig, StrictHmac,
};
pub use codec::FrameCodec;
pub use error::Error;
pub use router::RouteKey;
pub use wire::{
    AuthFields, AuthFieldsError, AuthValue, Body, DecodeError, EncodeError, FrameConfig, Header,
    Message, MessageType, Profile,
};

/// The README's code, compiled and run as doctests so it cannot go stale.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
