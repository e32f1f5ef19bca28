//! TLS on the server (feature `tls`): the handshake of an accepted
//! connection under its deadline, the verified client certificate as the
//! connection's identity, and the configuration that
//! [`ServerHandle::reload_tls`](super::ServerHandle::reload_tls) swaps
//! for new connections.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use tokio::net::TcpStream;
use tracing::{debug, warn};

use super::connection;
use super::stats::once_a_second;
use super::ServerHandle;
use crate::sync::{read, write};
use crate::tls::CertificateName;

/// The configuration new handshakes use; replaced whole by a reload, so
/// connections already up keep the one they were made with.
pub(crate) struct TlsState {
    config: RwLock<Arc<ServerConfig>>,
    /// What names a client certificate's connection.
    name: CertificateName,
}

impl TlsState {
    pub(crate) fn new(config: Arc<ServerConfig>, name: CertificateName) -> Self {
        TlsState {
            config: RwLock::new(config),
            name,
        }
    }

    pub(crate) fn reload(&self, config: Arc<ServerConfig>) {
        *write(&self.config) = config;
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(read(&self.config).clone())
    }
}

/// Serves an accepted TCP connection over TLS. The connection is
/// registered first, so a handshake in progress holds a connection slot
/// (and its address's) and cannot multiply past the limits; the deadline
/// frees it.
pub(super) fn spawn_tls(server: ServerHandle, tls: &TlsState, stream: TcpStream, peer: SocketAddr) {
    connection::tune(&server, &stream);
    let acceptor = tls.acceptor();
    let name_from = tls.name;
    let conn = connection::register(&server, peer);
    let shared = server.shared.clone();
    shared.tracker.clone().spawn(async move {
        let deadline = shared.limits.tls_handshake_timeout;
        let handshake = tokio::select! {
            r = tokio::time::timeout(deadline, acceptor.accept(stream)) => r,
            // Shutdown (or a disconnect) before the handshake finished.
            _ = conn.cancel.cancelled() => {
                shared.registry.remove(conn.id);
                return;
            }
        };
        let failure = match handshake {
            Ok(Ok(tls)) => {
                let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
                // A verified certificate that names nobody (or several) is
                // refused: the connection must not run as someone it was
                // not issued for, nor as nobody where a name was required.
                match leaf.map(|cert| crate::tls::identity_of(cert, name_from)) {
                    Some(Err(why)) => format!("client certificate refused: {why}"),
                    proven => {
                        shared.counters.tls_handshake(true);
                        if let Some(Ok(identity)) = proven {
                            conn.set_certificate(identity);
                        }
                        let (rd, wr) = tokio::io::split(tls);
                        connection::start(server, conn, rd, wr);
                        return;
                    }
                }
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => {
                shared.counters.timeout("tls_handshake");
                format!("no handshake within {deadline:?}")
            }
        };
        shared.counters.tls_handshake(false);
        shared.registry.remove(conn.id);
        if once_a_second(&shared.counters.tls_logged_at) {
            let total = shared.counters.tls_failures.load(Relaxed);
            warn!(%peer, error = %failure, total, "TLS handshake failed");
        } else {
            debug!(%peer, error = %failure, "TLS handshake failed");
        }
    });
}
