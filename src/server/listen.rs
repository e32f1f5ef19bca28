//! [`Server`]: the accept loop over any [`Acceptor`] (TLS is a wrapping
//! acceptor, not a branch here), and graceful shutdown (stop accepting,
//! let handlers finish and queues flush, abort what outlives the grace
//! period). What happens to each accepted connection is `accept.rs`'s.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::transport::{AcceptError, Acceptor, TcpAcceptor};

use super::{accept, Limits, ServerBuilder, ServerHandle};

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

    /// Serves the connections `acceptor` yields until `shutdown`
    /// completes (or [`ServerHandle::shutdown`] is called). Then it stops
    /// accepting, asks framewire clients to move to another instance and
    /// keeps serving until they have (at most
    /// [`Limits::drain_timeout`](super::Limits::drain_timeout)), lets
    /// in-flight handlers finish and queued frames flush, closes every
    /// connection, and returns; whatever is still running after
    /// [`Limits::shutdown_grace`](super::Limits::shutdown_grace) is aborted.
    ///
    /// `acceptor` is a `TcpListener` (served as a [`TcpAcceptor`] with
    /// [`Limits::tcp_keepalive`](super::Limits::tcp_keepalive)) or any
    /// [`Acceptor`](crate::transport::Acceptor). With
    /// [`ServerBuilder::tls`](super::ServerBuilder::tls), it is wrapped in
    /// a [`TlsAcceptor`](crate::tls::TlsAcceptor) first.
    ///
    /// [Transient](AcceptError::Transient) accept errors (such as running
    /// out of file descriptors) are logged and retried with a growing
    /// pause instead of spinning. An acceptor that [closes](AcceptError::Closed)
    /// stops the server as `shutdown` would, and `serve` returns `Ok`;
    /// one that [fails](AcceptError::Fatal) stops it too, and `serve`
    /// returns the error.
    pub async fn serve(
        self,
        acceptor: impl IntoAcceptor,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let shared = self.handle.shared.clone();
        let mut acceptor = self.wrap(acceptor.into_acceptor(&shared.limits));
        info!(local = ?acceptor.local_addr(), "serving");
        shared.start_backplane();
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(5);
        let mut ended = Ok(());
        loop {
            let accepted = tokio::select! {
                _ = &mut shutdown => break,
                _ = shared.stopping.cancelled() => break,
                r = acceptor.accept() => r,
            };
            match accepted {
                Ok(incoming) => {
                    backoff = Duration::from_millis(5);
                    accept::serve(&self.handle, incoming);
                }
                Err(AcceptError::Transient(e)) => {
                    warn!(error = %e, pause_ms = backoff.as_millis() as u64, "accept failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shared.stopping.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                Err(AcceptError::Closed) => {
                    info!("acceptor closed, stopping");
                    break;
                }
                Err(e) => {
                    warn!(error = %e, "acceptor failed, stopping");
                    ended = Err(std::io::Error::other(e));
                    break;
                }
            }
        }
        drop(acceptor);
        self.handle.stop().await;
        ended
    }

    /// The acceptor `serve` takes connections from: `acceptor`, in TLS
    /// if the builder asked for it.
    fn wrap<A: Acceptor>(&self, acceptor: A) -> Box<dyn Acceptor> {
        #[cfg(feature = "tls")]
        if let Some((config, name)) = &self.handle.shared.tls {
            let limits = &self.handle.shared.limits;
            return Box::new(
                crate::tls::TlsAcceptor::with_reloader(acceptor, config.clone())
                    .certificate_name(*name)
                    .handshake_timeout(limits.tls_handshake_timeout),
            );
        }
        Box::new(acceptor)
    }
}

/// What [`Server::serve`] takes connections from: any
/// [`Acceptor`], or a bound `TcpListener` (kept working as it always has:
/// it becomes a [`TcpAcceptor`] with the server's
/// [`Limits::tcp_keepalive`]).
///
/// ```no_run
/// use framewire::server::Server;
/// use framewire::transport::TcpAcceptor;
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8888").await?;
/// // The same as `serve(listener, ..)` with the default limits.
/// Server::builder().build().serve(TcpAcceptor::new(listener), std::future::pending()).await
/// # }
/// ```
pub trait IntoAcceptor {
    /// The acceptor it becomes.
    type Acceptor: Acceptor;

    /// Converts, with the server's limits for what they set.
    fn into_acceptor(self, limits: &Limits) -> Self::Acceptor;
}

impl<A: Acceptor> IntoAcceptor for A {
    type Acceptor = A;

    fn into_acceptor(self, _limits: &Limits) -> A {
        self
    }
}

impl IntoAcceptor for TcpListener {
    type Acceptor = TcpAcceptor;

    fn into_acceptor(self, limits: &Limits) -> TcpAcceptor {
        TcpAcceptor::new(self).keepalive(limits.tcp_keepalive)
    }
}
