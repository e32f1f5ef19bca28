//! [`TlsAcceptor`]: TLS over any server [`Acceptor`], the handshake
//! under its deadline, the verified client certificate as the
//! connection's identity; and [`TlsReloader`], which swaps the
//! configuration new handshakes use.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::ServerConfig;

use crate::sync::{read, write};
use crate::transport::{AcceptFuture, Acceptor, HandshakeError, Incoming, Stream};

use super::CertificateName;

/// The default handshake deadline, as
/// [`Limits::tls_handshake_timeout`](crate::server::Limits::tls_handshake_timeout).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Wraps an acceptor (TCP, in-memory, your own) in TLS. Each connection
/// the inner acceptor yields comes out at once as an [`Incoming`] whose
/// handshake (the inner one, if any, then TLS) must finish within the
/// deadline; the server runs it on the connection's own task, holding the
/// connection's slot, so handshakes in progress count against the
/// connection limits and one slow peer holds up nobody else.
///
/// A verified client certificate (with a client CA in the configuration)
/// gives the stream its [`Identity`](crate::Identity), read from the part
/// [`certificate_name`](Self::certificate_name) says; a certificate that
/// names nobody (or several) fails the handshake with
/// [`HandshakeError::Refused`].
///
/// [`ServerBuilder::tls`](crate::server::ServerBuilder::tls) wraps the
/// server's acceptor in one of these; build one yourself for TLS over
/// another transport, or to serve TLS and plain TCP from one server
/// (without the builder's `tls`, which would wrap it twice).
///
/// ```
/// use framewire::tls::{self, TlsAcceptor};
/// use framewire::transport::MemoryAcceptor;
///
/// let key = rcgen::KeyPair::generate().unwrap();
/// let cert = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap().self_signed(&key).unwrap();
/// let config = tls::server_config(
///     vec![cert.der().clone()],
///     tls::rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
///     None,
/// ).unwrap();
/// let (memory, _dialer) = MemoryAcceptor::new();
/// let acceptor = TlsAcceptor::new(memory, config).handshake_timeout(std::time::Duration::from_secs(5));
/// let reloader = acceptor.reloader(); // for a renewed certificate, later
/// # drop((acceptor, reloader));
/// ```
pub struct TlsAcceptor<A> {
    inner: A,
    config: TlsReloader,
    name: CertificateName,
    timeout: Duration,
}

/// Replaces the configuration a [`TlsAcceptor`]'s new handshakes use (a
/// renewed certificate, a new client CA); connections already up keep
/// theirs. Cheap to clone.
#[derive(Clone)]
pub struct TlsReloader {
    config: Arc<RwLock<Arc<ServerConfig>>>,
}

impl TlsReloader {
    /// The configuration the next handshake uses.
    pub(crate) fn new(config: Arc<ServerConfig>) -> Self {
        TlsReloader {
            config: Arc::new(RwLock::new(config)),
        }
    }

    /// Handshakes from now on use `config`.
    pub fn reload(&self, config: Arc<ServerConfig>) {
        *write(&self.config) = config;
    }

    fn current(&self) -> Arc<ServerConfig> {
        read(&self.config).clone()
    }
}

impl std::fmt::Debug for TlsReloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsReloader").finish_non_exhaustive()
    }
}

impl<A: Acceptor> TlsAcceptor<A> {
    /// TLS with `config` over `inner`; client certificates named by their
    /// common name, handshakes bounded by 10 s.
    pub fn new(inner: A, config: Arc<ServerConfig>) -> Self {
        TlsAcceptor::with_reloader(inner, TlsReloader::new(config))
    }

    /// TLS over `inner` with the configuration `config` holds (the
    /// server's, so its `reload_tls` reaches this acceptor).
    pub(crate) fn with_reloader(inner: A, config: TlsReloader) -> Self {
        TlsAcceptor {
            inner,
            config,
            name: CertificateName::default(),
            timeout: HANDSHAKE_TIMEOUT,
        }
    }

    /// Which part of a verified client certificate names its connection
    /// (default [`CertificateName::CommonName`]).
    pub fn certificate_name(mut self, name: CertificateName) -> Self {
        self.name = name;
        self
    }

    /// How long a connection's handshake may take, from the moment it is
    /// accepted (default 10 s: a slow client on a bad link, and no
    /// longer, so a connect-and-say-nothing peer frees its slot).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A handle to replace this acceptor's configuration later.
    pub fn reloader(&self) -> TlsReloader {
        self.config.clone()
    }
}

impl<A: Acceptor> Acceptor for TlsAcceptor<A> {
    fn accept(&mut self) -> AcceptFuture<'_> {
        Box::pin(async move {
            // Only the inner accept is awaited here (cancel safe if it
            // is); the handshake is the connection's, run by the server.
            let incoming = self.inner.accept().await?;
            // The configuration at accept time: a reload applies to
            // connections accepted after it.
            let tls = tokio_rustls::TlsAcceptor::from(self.config.current());
            let (name, deadline, peer) = (self.name, self.timeout, incoming.peer());
            Ok(Incoming::handshake(peer, async move {
                let handshake = handshake(incoming, tls, name, peer);
                tokio::time::timeout(deadline, handshake)
                    .await
                    .map_err(|_| HandshakeError::Timeout(deadline))?
            }))
        })
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr()
    }
}

/// The inner handshake, then TLS, then the identity the client
/// certificate proves.
async fn handshake(
    incoming: Incoming,
    tls: tokio_rustls::TlsAcceptor,
    name: CertificateName,
    peer: SocketAddr,
) -> Result<Stream, HandshakeError> {
    let inner = incoming.establish().await?;
    let tls = tls.accept(inner).await?;
    let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
    // A verified certificate that names nobody (or several) is refused:
    // the connection must not run as someone it was not issued for, nor
    // as nobody where a name was required.
    let identity = match leaf.map(|cert| super::identity_of(cert, name)) {
        Some(Err(why)) => return Err(HandshakeError::Refused(Box::new(why))),
        Some(Ok(identity)) => Some(identity),
        None => None,
    };
    let stream = Stream::new(tls, peer);
    Ok(match identity {
        Some(identity) => stream.with_identity(identity),
        None => stream,
    })
}

impl<A> std::fmt::Debug for TlsAcceptor<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("certificate_name", &self.name)
            .field("handshake_timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::test_ca::Ca;
    use crate::transport::MemoryAcceptor;
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A TLS server over in-memory streams whose clients must present a
    /// certificate from `ca`, and a dialer with alice's certificate.
    fn mutual(
        ca: &Ca,
    ) -> (
        TlsAcceptor<MemoryAcceptor>,
        crate::transport::MemoryDialer,
        tokio_rustls::TlsConnector,
    ) {
        let (chain, key) = ca.leaf("localhost");
        let server = super::super::server_config(chain, key, Some(ca.roots())).unwrap();
        let client = super::super::client_config(ca.roots(), Some(ca.leaf("alice"))).unwrap();
        let (memory, dialer) = MemoryAcceptor::new();
        let acceptor = TlsAcceptor::new(memory, server);
        (acceptor, dialer, tokio_rustls::TlsConnector::from(client))
    }

    /// TLS over an in-memory acceptor: the connection comes out before
    /// its handshake, which then gives a stream carrying bytes and the
    /// identity the client certificate proves.
    #[tokio::test]
    async fn tls_over_memory_streams_proves_the_client_certificate() {
        let ca = Ca::new();
        let (mut acceptor, dialer, connector) = mutual(&ca);
        let raw = dialer.dial().unwrap();
        let client = tokio::spawn(async move {
            let name = ServerName::try_from("localhost").unwrap();
            let mut tls = connector.connect(name, raw).await.unwrap();
            tls.write_all(b"hi").await.unwrap();
            tls.flush().await.unwrap();
            tls
        });
        let incoming = acceptor.accept().await.unwrap();
        assert!(incoming.has_handshake());
        let peer = incoming.peer();
        let mut stream = incoming.establish().await.unwrap();
        assert_eq!(stream.peer(), peer);
        assert_eq!(stream.identity().map(|i| i.name()), Some("alice"));
        let mut got = [0; 2];
        stream.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hi");
        drop(client.await.unwrap());
    }

    /// A certificate without the kind of name the acceptor reads is
    /// refused after a successful handshake; the stream never comes out.
    #[tokio::test]
    async fn a_certificate_naming_nobody_is_refused() {
        let ca = Ca::new();
        let (acceptor, dialer, connector) = mutual(&ca);
        let mut acceptor = acceptor.certificate_name(CertificateName::Uri);
        let raw = dialer.dial().unwrap();
        let client = tokio::spawn(async move {
            let name = ServerName::try_from("localhost").unwrap();
            connector.connect(name, raw).await
        });
        let incoming = acceptor.accept().await.unwrap();
        let e = incoming.establish().await.unwrap_err();
        assert!(e.is_refused(), "{e}");
        assert!(
            e.to_string().starts_with("client certificate refused"),
            "{e}"
        );
        let _ = client.await;
    }

    /// A peer that never speaks TLS is cut off at the acceptor's deadline
    /// (virtual time), counted from the accept.
    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_fails_at_the_handshake_deadline() {
        let ca = Ca::new();
        let (acceptor, dialer, _) = mutual(&ca);
        let mut acceptor = acceptor.handshake_timeout(Duration::from_secs(5));
        let _silent = dialer.dial().unwrap();
        let incoming = acceptor.accept().await.unwrap();
        let started = tokio::time::Instant::now();
        let e = incoming.establish().await.unwrap_err();
        assert!(e.is_timeout(), "{e}");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    /// After a reload, handshakes use the new configuration: a client of
    /// the old CA is refused. The acceptor reports its inner acceptor's
    /// address, and says what it is in `Debug` (never its keys).
    #[tokio::test]
    async fn a_reload_applies_to_the_next_handshake() {
        let (old, new) = (Ca::new(), Ca::new());
        let (mut acceptor, dialer, connector) = mutual(&old);
        assert_eq!(acceptor.local_addr(), Some("127.0.0.1:1".parse().unwrap()));
        let shown = format!("{acceptor:?} {:?}", acceptor.reloader());
        assert!(
            shown.starts_with("TlsAcceptor { certificate_name: ") && shown.contains("TlsReloader"),
            "{shown}"
        );
        let (chain, key) = new.leaf("localhost");
        let renewed = super::super::server_config(chain, key, Some(new.roots())).unwrap();
        acceptor.reloader().reload(renewed);
        let raw = dialer.dial().unwrap();
        let client = tokio::spawn(async move {
            let name = ServerName::try_from("localhost").unwrap();
            connector.connect(name, raw).await
        });
        let incoming = acceptor.accept().await.unwrap();
        assert!(incoming.establish().await.is_err(), "the old CA's client");
        assert!(client.await.unwrap().is_err());
    }
}
