//! [`TlsConnector`]: TCP, then a TLS handshake, as one client transport.

use std::io;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use crate::handler::BoxFuture;
use crate::transport::{Connector, Stream, TcpConnector};

/// Dials TCP (through a [`TcpConnector`]) and runs the TLS handshake,
/// checking the server's certificate against `server_name`. A failed
/// handshake is an I/O error whose source is the `rustls::Error` (unknown
/// issuer, name mismatch, expired...).
///
/// ```
/// use framewire::tls::{self, TlsConnector};
///
/// let config = tls::client_config(framewire::tls::rustls::RootCertStore::empty(), None).unwrap();
/// let connector = TlsConnector::new(config, "localhost".try_into().unwrap());
/// # drop(connector);
/// ```
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    tcp: TcpConnector,
}

impl TlsConnector {
    /// TLS with `config`, expecting a certificate for `server_name`.
    pub fn new(config: Arc<ClientConfig>, server_name: ServerName<'static>) -> Self {
        TlsConnector {
            config,
            server_name,
            tcp: TcpConnector::new(),
        }
    }

    /// The TCP dialer underneath (keepalive settings).
    pub fn tcp(mut self, tcp: TcpConnector) -> Self {
        self.tcp = tcp;
        self
    }
}

impl Connector for TlsConnector {
    fn connect(&self, addr: &str) -> BoxFuture<io::Result<Stream>> {
        let (this, addr) = (self.clone(), addr.to_owned());
        Box::pin(async move {
            let tcp = this.tcp.dial(&addr).await?;
            let peer = tcp.peer_addr()?;
            let tls = tokio_rustls::TlsConnector::from(this.config)
                .connect(this.server_name, tcp)
                .await?;
            Ok(Stream::new(tls, peer))
        })
    }
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_the_server_and_hides_the_configuration() {
        let config = super::super::client_config(rustls::RootCertStore::empty(), None).unwrap();
        let connector = TlsConnector::new(config, "svc.example".try_into().unwrap());
        let text = format!("{connector:?}");
        assert!(text.starts_with("TlsConnector {"), "{text}");
        assert!(text.contains("svc.example"), "{text}");
        assert!(text.ends_with(".. }"), "{text}");
    }
}
