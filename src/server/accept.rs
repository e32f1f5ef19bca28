//! One accepted connection, from whatever transport: counted in against
//! the limits, registered (it holds its slot from here on), its handshake
//! finished under shutdown (counted and logged), then served. The accept
//! loop (`listen.rs`) and [`ServerHandle::serve_stream`] both come here,
//! so every connection takes the same path.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;

use tracing::{debug, warn};

use crate::transport::{HandshakeError, Incoming, Ready, Stream};

use super::connection;
use super::stats::once_a_second;
use super::ServerHandle;

/// Serves `incoming` unless the server is at a connection limit or
/// stopping (then it is dropped, which closes it: nothing was allocated
/// for it). Returns whether it was taken.
pub(super) fn serve(server: &ServerHandle, incoming: Incoming) -> bool {
    let peer = incoming.peer();
    if !server.admit(peer) {
        debug!(%peer, "connection limit reached, closing");
        return false;
    }
    let conn = connection::register(server, peer);
    let incoming = match incoming.ready() {
        // TCP and in-memory streams: no handshake, no extra task.
        Ready::Now(stream) => {
            connection::start(server.clone(), conn, stream);
            return true;
        }
        Ready::Later(incoming) => incoming,
    };
    // Registered first, so a handshake in progress holds a connection
    // slot (and its address's) and cannot multiply past the limits; the
    // transport's deadline frees it.
    let server = server.clone();
    let shared = server.shared.clone();
    shared.tracker.clone().spawn(async move {
        let handshake = tokio::select! {
            r = incoming.establish() => r,
            // Shutdown (or a disconnect) before the handshake finished.
            _ = conn.cancel.cancelled() => {
                shared.registry.remove(conn.id);
                return;
            }
        };
        match handshake {
            Ok(stream) => {
                shared.counters.tls_handshake(true);
                if let Some(identity) = stream.identity() {
                    conn.set_certificate(identity.clone());
                }
                connection::start(server, conn, stream);
            }
            Err(e) => {
                if e.is_timeout() {
                    shared.counters.timeout("tls_handshake");
                }
                shared.counters.tls_handshake(false);
                shared.registry.remove(conn.id);
                log_failure(&server, peer, &e);
            }
        }
    });
    true
}

/// Logs a failed handshake: at `warn` once a second with the running
/// total (a scan or a flood must not flood the log), else at `debug`.
fn log_failure(server: &ServerHandle, peer: SocketAddr, error: &HandshakeError) {
    let counters = &server.shared.counters;
    if once_a_second(&counters.tls_logged_at) {
        let total = counters.tls_failures.load(Relaxed);
        warn!(%peer, %error, total, "TLS handshake failed");
    } else {
        debug!(%peer, %error, "TLS handshake failed");
    }
}

impl ServerHandle {
    /// Serves one connection over any byte stream (a TLS stream, a Unix
    /// socket, an in-memory duplex in tests...) exactly as an accepted
    /// connection: same limits, plugins, registry and shutdown (no TLS
    /// is added: the stream is served as it is). `peer` is the address
    /// handlers and routes see. Returns false (and drops the stream) if
    /// the server is at its connection limit or shutting down.
    ///
    /// ```
    /// use framewire::server::Server;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = Server::builder().build();
    /// let (ours, _theirs) = tokio::io::duplex(64 * 1024);
    /// assert!(server.handle().serve_stream(ours, "127.0.0.1:9".parse().unwrap()));
    /// # }
    /// ```
    pub fn serve_stream<S>(&self, stream: S, peer: SocketAddr) -> bool
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        self.shared.start_backplane();
        // Pinned in its box: `S` need not be `Unpin`, as before.
        serve(self, Incoming::new(Stream::new(Box::pin(stream), peer)))
    }
}
