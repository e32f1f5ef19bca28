//! Sans-I/O protocol state: what a connection or a request means, as plain
//! data and functions of it, with no runtime, no sockets and no clock
//! (time and randomness come from the caller or `crate::random`). The
//! client, server and node shells feed it what they read and perform what
//! it decides. Nothing in this folder imports tokio.
//!
//! Today it holds the request/reply matcher (`requests.rs`) the client and
//! the node share; the connection state machines and the pipeline are to
//! follow (issue 37).

pub(crate) mod connection;
pub(crate) mod inbound;
pub(crate) mod keepalive;
#[cfg(test)]
mod pair;
pub(crate) mod pipeline;
pub(crate) mod requests;
