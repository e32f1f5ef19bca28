//! [`Server`]: the accept loop, the connection limit at accept time, and
//! graceful shutdown (stop accepting, let handlers finish and queues
//! flush, abort what outlives the grace period).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use super::{connection, ServerBuilder, ServerHandle};

/// A framewire server. Build it with [`Server::builder`], take a
/// [`handle`](Server::handle) if other tasks need one, then run
/// [`serve`](Server::serve).
///
/// ```no_run
/// use framewire::server::Server;
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let server = Server::builder().subscriptions().build();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8888").await?;
/// server.serve(listener, async { tokio::signal::ctrl_c().await.ok(); }).await
/// # }
/// ```
pub struct Server {
    pub(super) handle: ServerHandle,
}

impl Server {
    /// A builder with netaio's defaults: `netaio` profile, no plugins,
    /// NOT_FOUND for unrouted messages.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }

    /// A handle for notify, broadcast, the registry and shutdown.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Serves connections from `listener` until `shutdown` completes (or
    /// [`ServerHandle::shutdown`] is called). Then it stops accepting, asks
    /// framewire clients to move to another instance and keeps serving
    /// until they have (at most
    /// [`Limits::drain_timeout`](super::Limits::drain_timeout)), lets
    /// in-flight handlers finish and queued frames flush, closes every
    /// connection, and returns; whatever is still running after
    /// [`Limits::shutdown_grace`](super::Limits::shutdown_grace) is aborted.
    ///
    /// Accept errors (such as running out of file descriptors) are logged
    /// and retried with a growing pause instead of spinning.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let shared = self.handle.shared.clone();
        let local = listener.local_addr()?;
        info!(%local, "serving");
        shared.start_backplane();
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(5);
        loop {
            let accepted = tokio::select! {
                _ = &mut shutdown => break,
                _ = shared.stopping.cancelled() => break,
                r = listener.accept() => r,
            };
            match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(5);
                    self.accept(stream, peer);
                }
                Err(e) => {
                    warn!(error = %e, pause_ms = backoff.as_millis() as u64, "accept failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shared.stopping.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
        drop(listener);
        self.handle.stop().await;
        Ok(())
    }

    fn accept(&self, stream: tokio::net::TcpStream, peer: SocketAddr) {
        if !self.handle.admit(peer) {
            debug!(%peer, "connection limit reached, closing");
            // Dropping the stream closes it; nothing was allocated for it.
            return;
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.handle.shared.tls {
            super::tls::spawn_tls(self.handle.clone(), tls, stream, peer);
            return;
        }
        connection::spawn_tcp(self.handle.clone(), stream, peer);
    }
}
