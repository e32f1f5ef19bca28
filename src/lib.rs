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
//! # Feature flags
//!
//! | feature | what it adds |
//! |---|---|
//! | `json` | typed content in JSON: `content::Json`, `Valid`, `Client::call_json`, `Subscription::next_json` (serde_json) |
//! | `msgpack` | the same in MessagePack: `content::MsgPack`, `Client::call_msgpack` (rmp-serde) |
//! | `tower` | tower middleware: `ServerBuilder::layer`, `server::tower` (services as handlers), `Client` as a `tower::Service` |
//! | `otel` | the OpenTelemetry bridge of [`trace`]: trace context from and into the current span (tracing-opentelemetry) |
//! | `tls` | TLS on both sides: [`tls`], `ServerBuilder::tls`, `ClientBuilder::tls` (rustls, ring) |
//! | `users-file` | `MemoryUsers::from_toml_file` (serde, toml) |
//! | `redis` | `server::RedisBackplane`: several instances as one service over Redis; `store::RedisStore`: the key-value store shared through it |
//! | `metrics` | the server's counters through the `metrics` facade (list in [`server`]) |
//! | `testing` | `framewire::testing`: your server over in-memory streams, raw peers, virtual time (docs/testing-your-service.md) |
//! | `proptest` | `testing::strategy`: proptest strategies for messages (implies `testing`) |
//! | `arbitrary` | `arbitrary::Arbitrary` for `Message`, `AuthFields`, `MessageType`, for fuzz targets |
//! | `cli` (default) | the `framewire` binary; turns `tls`, `users-file`, `redis` and `metrics` on |
//! | `mutate-predicates` | for `scripts/mutate_predicates.py` only (mutation testing of the `is_*` predicates); never for a real build |
//!
//! A library user depends on `framewire` with `default-features = false`
//! and the features it uses (tokio, bytes, HMAC and CRC remain): the CLI's
//! dependencies (clap, the Prometheus exporter, rcgen, ...) are not the
//! library's. On docs.rs every item says which feature it needs.
//!
//! # Layout
//!
//! Each layer imports only the ones below it; `server/`, `client/` and
//! `node/` never import each other.
//!
//! ```text
//! src/
//!   lib.rs               this page; re-exports
//!   predicates.rs        the is_* predicate macro every error type uses (a leaf)
//!   error.rs             Error (top level): one of the lower layers' errors
//!   codec.rs             FrameCodec: tokio_util Decoder/Encoder over wire/
//!   wire/                sans-I/O: bytes <-> Message, no runtime, no sockets
//!     message_type.rs    MessageType (netaio values + custom 31..=255)
//!     header.rs          Header, Profile (netaio 9-byte / wide 14-byte)
//!     packify.rs         packify primitives: type codes, length categories, Reader
//!     auth_value.rs      FieldName, AuthValue and their packify encodings
//!     auth_fields.rs     AuthFields: the packify dict (bounded, no recursion)
//!     body.rs            Body: uri + content as Bytes slices
//!     message.rs         Message + netaio reply helpers (ok, respond, error, ...)
//!     headers.rs         application headers: auth fields under `h:`, bounded
//!     pack_value.rs      PackValue: any packify value (peer ids and data), bounded
//!     frame.rs           FrameConfig, decode_frame / encode_frame with limits
//!     error.rs           DecodeError, AuthFieldsError, EncodeError
//!     arbitrary.rs       Arbitrary impls, bounded by the default limits (feature)
//!   auth/                pure plugins: sign/verify, encrypt/decrypt, netaio order
//!     mod.rs             AuthPlugin, CipherPlugin
//!     error.rs           AuthError, AuthFieldRole
//!     env.rs             PluginEnv: injected Clock + RandomSource (tests pin them)
//!     link.rs            Link, Role: what a plugin knows of the connection
//!     identity.rs        Identity: who proved to be on the other end
//!     pattern.rs         Pattern (NATS-style `*` / `>`, `{name}`), Params, Rule,
//!                        Permissions: one pattern type for routes and permissions
//!     users.rs           User, UserStore, MemoryUsers
//!     users_file.rs      the TOML users file (feature `users-file`)
//!     secret_file.rs     read_secret_file: one way to read a key from a file
//!     user_hmac.rs       UserHmac: strict HMAC keyed per user, identity fixed
//!     stack.rs           PluginLayer, PluginStack, Rejection: the one plugin order
//!     crypto.rs          netaio derive_key / 136-byte-block HMAC / keystream, ct_eq
//!     mac_fields.rs      what the two HMAC plugins share
//!     netaio_hmac.rs     NetaioHmac: netaio HMACAuthPlugin, byte-exact
//!     strict_hmac.rs     StrictHmac: HMAC-SHA256 over type, direction, uri, content,
//!                        every auth field (strict mode)
//!     cluster_key.rs     ClusterKey: HMAC-SHA256 over what instances share through
//!                        Redis, backplane envelopes and store values (feature `redis`)
//!     replay_config.rs   ReplayConfig, ReplayScope
//!     replay.rs          ReplayGuard: ts window + nonce cache in per-session shares
//!     nonce_tag.rs       NonceTag: each end marks its nonces (reflections refused)
//!     policy.rs          AuthFailurePolicy: what a refused frame gets
//!     stream_cipher.rs   NetaioStreamCipher: netaio Sha256StreamCipherPlugin
//!     x25519.rs          X25519CipherPlugin: netaio X25519CipherPlugin (NaCl box per peer)
//!   peer.rs              netaio peers: LocalPeer, Peer, the announcement, Peers
//!     table.rs           the bounded table: one id per address, ids held by their
//!                        announcer, refusing (server) or evicting (node)
//!   protocol.rs          framewire's additions: PING_URI, REQUEST_ID_FIELD, RequestId,
//!                        SESSION_FIELD, SessionId, LOGIN_URI, PROTOCOL_VERSION
//!   handler.rs           what both sides' handlers share: IntoReply, RequestHead,
//!                        HandlerError, BoxFuture, panic isolation
//!   content.rs           typed content: Json, MsgPack, Valid, Validate, reasons
//!                        (features `json`, `msgpack`)
//!   trace.rs             W3C traceparent: TraceParent, scope, the handler's span,
//!                        the OpenTelemetry bridge (feature `otel`)
//!   store/               key-value stores for netaio's readme routes
//!     mod.rs             KvStore, StoreError, limits, message → operation → reply
//!     memory.rs          MemoryStore: in this process (the default)
//!     redis.rs           RedisStore: in Redis, shared by instances, sealed values
//!                        (feature `redis`)
//!   redis_url.rs         what the Redis backplane and store share: url, TLS roots,
//!                        RedisUrlError (feature `redis`)
//!   router.rs            RouteKey + registry (type,uri,peer)→(type,uri)→
//!                        (type,pattern)→type, one-shot handlers; route values
//!                        opaque to it
//!   proto/               sans-I/O: no tokio, no sockets, the caller's clock
//!     mod.rs             what belongs here
//!     inbound.rs         Inbound: a connection's read buffer and the frames in it
//!     connection.rs      ServerConn: one server connection's state machine
//!                        (deadlines, admission gate, login version, peer data,
//!                        reply batching, close reasons); Replies, Run
//!     keepalive.rs       Keepalive: the client's ping and dead-link rule
//!     handover.rs        Handover: the client's move off a draining server
//!     requests.rs        request ids, the waiting table, which reply completes
//!                        which request (id, else netaio's table), ReplyError
//!     pipeline/          decoded frame → Outcome / handler Call
//!       mod.rs           Pipeline, PeerState, Outcome, Sink, Route, seal
//!       receive.rs       plugins open, control, route, refusals, damaged frames
//!       respond.rs       handler result → error mapping, request id, sealed frame
//!     pair.rs            (tests) a client and a server machine driven against
//!                        each other with a plain clock
//!   io/                  the drivers' sockets: reading, the queue, writing
//!     reader.rs          read_into: socket → Inbound; FrameReader (the client's)
//!     outbound.rs        bounded per-connection queue; Backpressure: the one rule
//!     writer.rs          Writer: a connection's one writer (server and client), shared
//!                        by a server's reader (inline replies) and its writer task
//!   sync.rs              poison-recovering lock helpers
//!   random.rs            every random choice (ids, jitter, nonces, table keys);
//!                        seedable per thread for simulations (feature `sim`)
//!   transport/           the seam between an address and a byte stream, both sides
//!     mod.rs             Stream (TCP kept lock-free, anything else boxed), Connector
//!     accept.rs          Acceptor, Incoming (stream after its handshake), AcceptError,
//!                        HandshakeError: the server's seam
//!     tcp.rs             TcpConnector, TcpAcceptor, TcpKeepalive: plain TCP both ways
//!     memory.rs          MemoryAcceptor + MemoryDialer: connections as duplex pairs
//!     halves.rs          Stream's read/write halves and byte-stream impls
//!   tls/                 feature `tls`: rustls configuration, nothing framed
//!     mod.rs             module docs, re-exports (and rustls itself)
//!     config.rs          PEM loading, server_config / client_config, ALPN
//!     connector.rs       TlsConnector: TCP then a handshake, as a Connector
//!     acceptor.rs        TlsAcceptor over any Acceptor (deadline, identity), TlsReloader
//!     identity.rs        a verified client certificate → Identity (x509-parser)
//!     failure.rs         handshake_error: the rustls::Error behind a failure
//!     error.rs           TlsError
//!   server/              the server's shells and API
//!     mod.rs             module docs, Route, re-exports
//!     builder.rs         ServerBuilder
//!     listen.rs          Server: accept loop over an Acceptor, IntoAcceptor,
//!                        graceful shutdown
//!     accept.rs          one connection: admit, register, handshake, start;
//!                        serve_stream
//!     login.rs           LoginGate, Hello, LoginRefused: the login gate
//!     shared.rs          Shared (what every connection shares) and its fan-out;
//!                        the ServerHandle over it
//!     handle.rs          ServerHandle's methods: sends, registry, routes, stats
//!     connection.rs      the driver of proto/connection.rs: reads, timer, handler
//!                        calls, login gate; the writer task
//!     handler.rs         Handler, SyncHandler (the server's handler traits)
//!     extract.rs         typed handlers: FromRequest, extractors (Path, State, ...),
//!                        IntoHandler for async functions of extractors
//!     tower.rs           HandlerService, service(): tower on the server (feature)
//!     layers.rs          what ServerBuilder::layer wraps every route in
//!     context.rs         Context: what a handler knows about its connection
//!     registry.rs        connections, tags, subscriptions, queue groups
//!       topics.rs        the subscription tables (and each topic's groups),
//!                        bounded by count and bytes
//!     limits.rs          Limits, TcpKeepalive, SlowConsumerPolicy
//!     stats.rs           Stats counters, rate-limited slow-consumer log
//!     error.rs           SendError, SubscribeError
//!     pubsub.rs          netaio's subscribe / unsubscribe handlers (and resumes)
//!     history.rs         History, Histories: topic positions and kept notifications
//!     peers.rs           netaio's peer management handlers (ServerBuilder::peers)
//!     backplane/         several instances as one service
//!       mod.rs           Backplane, Inbound; the relay semantics
//!       envelope.rs      sans-I/O: one relayed message's bytes
//!       relay.rs         origin + sequence out; own echoes, repeats, gaps, kinds in
//!       sequence.rs      per-origin sequence state a forged envelope cannot poison
//!       groups.rs        sans-I/O: queue-group tables and the Directory a
//!                        publisher assigns each group's turn with
//!       memory.rs        MemoryBackplane (instances in one process)
//!       redis.rs         RedisBackplane over Redis pub/sub or a stream (feature `redis`)
//!         task.rs        its publish and receive loops (both transports)
//!     readme_routes.rs   netaio's readme route contract (`framewire serve`)
//!     metrics.rs         Stats counters through the `metrics` facade (feature)
//!   client/              the client's shell and API
//!     mod.rs             Client, ConnectionEvent, request helpers
//!     builder.rs         ClientBuilder
//!     config.rs          Keepalive and the builder's settings
//!     connection.rs      background task: dial (through the Connector), reader,
//!                        keepalive, reconnect and failover, the move off a
//!                        draining server
//!     outlet.rs          where messages go out: the connection of the moment
//!                        (its queue) or the offline buffer
//!     login.rs           the login sent first on each connection
//!     deliver.rs         what is read: replies to requests, notifications to
//!                        streams, the rest to the handler dispatcher
//!     error.rs           ClientError, DisconnectReason
//!     pending.rs         waiting requests: recorded by the writer in wire
//!                        order, bounded by callers (Budget)
//!     subscription.rs    Subscription streams (drop unsubscribes)
//!     reconnect.rs       Reconnect: backoff with jitter and a cap
//!     servers.rs         IntoServers, the server list and its rotation
//!     offline.rs         OfflineBuffer: what is sent while reconnecting
//!     recent.rs          notification ids seen lately (once while moving)
//!     handler.rs         ClientHandler for unsolicited messages
//!     peers.rs           peer management: advertise, DISCONNECT, the table
//!   node/                netaio's UDP node: one frame per datagram, the same pipeline
//!     mod.rs             module docs (spoofing, amplification), Route, re-exports
//!     builder.rs         NodeBuilder, Node::bind: sockets (own + group), tasks
//!     handle.rs          NodeHandle + Shared: sends, fan-out, announcements,
//!                        subscriptions, peers, stats; the node's clock
//!     requests.rs        NodeHandle's requests (call, request, create, ...)
//!     receive.rs         the receive loop: size and shape checks, pipeline, calls
//!     handler.rs         NodeHandler, Origin (what a handler knows of the source)
//!     guard.rs           no amplification: per-source-IP byte credit, buckets (sans-I/O)
//!     pending.rs         waiting requests: proto/requests.rs's table + reply address
//!     subscriptions.rs   subscriptions by address: bounded per source and in all, expiry
//!     peers.rs           peer handlers, advertisement loop, expiry
//!     routes.rs          the readme route contract over datagrams
//!     limits.rs          NodeLimits
//!     stats.rs           NodeStats counters
//!     error.rs           NodeError
//!   testing/             feature `testing`: the kit for services' own tests
//!     mod.rs             module docs, re-exports
//!     server.rs          TestServer, MemoryConnector: a server over duplex streams
//!     peer.rs            TestPeer (raw frames and bytes), Closed
//!     error.rs           TestError
//!     strategy.rs        proptest strategies (feature `proptest`)
//!   bin/framewire/       the CLI (feature `cli`): args, serve, client commands, tls,
//!                        metrics (the /metrics endpoint)
//!                        options, bench/ (load, scenarios, report, idle, tls),
//!                        baseline, output
//! ```
//!
//! # The path of one frame
//!
//! A server's connection arrives through its `transport::Acceptor` (TCP,
//! TLS around any acceptor, in memory) and `server/accept.rs` (limits,
//! then the handshake on the connection's own task); then its frames go:
//!
//! ```text
//! socket ─► io/reader.rs ─► proto/inbound.rs ─► proto/connection.rs ─► proto/pipeline/receive.rs
//!   read     read_into      one buffer (none     ServerConn::poll_event:   instance plugins open
//!                           while idle);         deadlines, gate, login    (auth/stack.rs) ─► control
//!                           wire::decode_frame,  version, peer data        (ping) ─► route (router.rs)
//!                           lengths checked                                ─► handler plugins open
//!                           before allocating                              ─► Event::Call
//!                                                                               │
//!                                                                               ▼
//! socket ◄── io/writer.rs ◄────── proto/connection.rs ◄── proto/pipeline/ ◄── your Handler (panics
//!   write     replies written by     Replies: one run per    respond.rs:         caught, handler.rs),
//!             the reader when idle,  read's worth of         errors mapped,      called by the driver
//!             else io/outbound.rs    replies, sent when the  request id, sealed  server/connection.rs
//!             (bounded queue; its    driver is about to wait
//!             writer task starts
//!             with its first frame)
//! ```
//!
//! A UDP node (`node/`) takes the same path from a datagram: one frame
//! per datagram (`wire::decode_exact`), the pipeline on its peer side, a
//! handler call per task; its replies pass `node/guard.rs` instead of a
//! queue.
//!
//! The client mirrors it. A request takes no lock to go out: it gets a
//! random id, is sealed, and is queued with its entry for the pending
//! table, which the connection's one writer (`io/writer.rs`) records as
//! it takes the frame, before writing it, so the table's order is the
//! wire's. `client/connection.rs` reads with the same `Inbound` and
//! pipeline (its keepalive is `proto/keepalive.rs`), which hand replies to
//! waiting requests (`client/pending.rs`, matched by `proto/requests.rs`,
//! as the node's are; a per-call layer is opened there, beside the
//! instance layer) and notifications to subscription streams before
//! routing the rest to the client's handlers. Fan-out (notify, broadcast)
//! is sealed and encoded once by the pipeline and queued to each receiver
//! by `server/shared.rs`, which also hands it to the backplane (if any)
//! for the other instances; what they relay comes in through
//! `server/backplane/relay.rs` and takes the same fan-out.
#![warn(missing_docs)]
// docs.rs (nightly, `--cfg docsrs`): each item shows the features it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
mod codec;
#[cfg(any(feature = "json", feature = "msgpack"))]
pub mod content;
mod error;
pub mod handler;
mod io;
pub mod node;
pub mod peer;
mod predicates;
mod proto;
pub mod protocol;
mod random;
#[cfg(feature = "redis")]
mod redis_url;
mod router;
pub mod server;
pub mod store;
mod sync;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "tls")]
pub mod tls;
pub mod trace;
pub mod transport;
pub mod wire;

pub use auth::{
    AuthError, AuthPlugin, CipherPlugin, NetaioHmac, NetaioStreamCipher, PluginLayer, PluginStack,
    Rejection, ReplayConfig, StrictHmac, X25519CipherPlugin,
};
pub use auth::{Identity, IdentitySource};
pub use codec::FrameCodec;
pub use error::Error;
pub use proto::requests::ReplyError;
pub use router::RouteKey;
pub use wire::{
    AuthFields, AuthFieldsError, AuthValue, Body, DecodeError, EncodeError, FrameConfig, Header,
    Message, MessageType, Profile,
};

/// The README's code, compiled and run as doctests so it cannot go stale.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
