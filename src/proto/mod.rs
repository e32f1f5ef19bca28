//! Sans-I/O protocol state: what a connection or a request means, as plain
//! data and functions of it, with no runtime, no sockets and no clock
//! (time and randomness come from the caller or `crate::random`). The
//! client, server and node shells feed it what they read and perform what
//! it decides. Nothing in this folder imports tokio.
//!
//! - `pipeline/`: the one path every received message takes (server,
//!   client and node);
//! - `inbound.rs`: a connection's read buffer and the frames decoded from
//!   it;
//! - `connection.rs`: one server connection's rules (deadlines, admission,
//!   login version, peer data, reply batching, why it closes) as a state
//!   machine with `handle_*` / `poll_*`, which `server/connection.rs`
//!   drives;
//! - `keepalive.rs`: the client's keepalive rule; `handover.rs`: its move
//!   off a draining server;
//! - `requests.rs`: the request/reply matcher the client and the node
//!   share.
//!
//! `tests/import_graph.rs` checks that nothing here names tokio or
//! imports the drivers above it (`server/`, `client/`, `node/`, `io/`,
//! `transport/`, `tls/`); `pair.rs` drives a client and a server machine
//! against each other with a plain clock.

pub(crate) mod connection;
pub(crate) mod handover;
pub(crate) mod inbound;
pub(crate) mod keepalive;
#[cfg(test)]
mod pair;
pub(crate) mod pipeline;
pub(crate) mod requests;
