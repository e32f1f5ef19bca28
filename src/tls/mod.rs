//! TLS for both sides (feature `tls`): rustls with the ring provider, no
//! OpenSSL. What it owns: reading certificates and keys from PEM files,
//! building rustls configurations with framewire's defaults (ALPN
//! [`ALPN`], optional client-certificate verification), the client's
//! [`TlsConnector`], the server's [`TlsAcceptor`] (over any acceptor), and
//! the [`Identity`](crate::Identity) a verified client certificate gives
//! its connection. It does no framing: TLS carries
//! the same frames as TCP.
//!
//! ```no_run
//! use std::path::Path;
//! use framewire::client::Client;
//! use framewire::server::Server;
//! use framewire::tls;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // Server: one call turns TLS on; handshakes get Limits::tls_handshake_timeout.
//! let config = tls::server_config_from_pem(Path::new("cert.pem"), Path::new("key.pem"), None)?;
//! let server = Server::builder().tls(config).subscriptions().build();
//! # drop(server);
//!
//! // Client: trust one CA, check the server's name.
//! let roots = tls::root_store_from_pem(Path::new("ca.pem"))?;
//! let config = tls::client_config(roots, None)?;
//! let client = Client::builder("127.0.0.1:8888")
//!     .tls(config, "localhost".try_into()?)
//!     .connect()
//!     .await?;
//! # drop(client); Ok(()) }
//! ```

mod acceptor;
mod config;
mod connector;
mod error;
mod failure;
mod identity;
#[cfg(test)]
pub(crate) mod test_ca;

pub use acceptor::{TlsAcceptor, TlsReloader};
pub use config::{
    client_config, load_certs, load_key, root_store_from_pem, server_config,
    server_config_from_pem, ALPN,
};
pub use connector::TlsConnector;
pub use error::TlsError;
pub use failure::handshake_error;
pub(crate) use identity::identity_of;
pub use identity::CertificateName;
/// The rustls crate framewire is built with, so configurations you build
/// yourself are of the same version.
pub use rustls;
