//! The TLS options (`serve --tls-cert/--tls-key/--tls-client-ca`; on every
//! client command `--tls`, `--tls-ca`, `--tls-cert/--tls-key`,
//! `--tls-server-name`), the configurations they make, and one-line
//! descriptions of handshake failures.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use framewire::client::ClientBuilder;
use framewire::tls::rustls::pki_types::ServerName;
use framewire::tls::rustls::{self, CertificateError, RootCertStore};

/// TLS for `framewire serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeTlsArgs {
    /// Serve TLS with this certificate chain (PEM, leaf first). SIGHUP
    /// re-reads the files for new connections.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM): mutual TLS.
    #[arg(long, requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Which part of a client certificate names its connection: cn (the
    /// subject's common name), dns, email or uri (a subject alternative
    /// name of that type). Exactly one value of it, or the connection is
    /// refused.
    #[arg(long, default_value = "cn", requires = "tls_client_ca", value_parser = parse_certificate_name)]
    pub tls_client_name: framewire::tls::CertificateName,
}

fn parse_certificate_name(s: &str) -> Result<framewire::tls::CertificateName, String> {
    s.parse()
}

impl ServeTlsArgs {
    /// The server configuration, if TLS was asked for.
    pub fn config(&self) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        framewire::tls::server_config_from_pem(cert, key, self.tls_client_ca.as_deref())
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

/// TLS for the client commands.
#[derive(Args, Debug)]
pub struct ClientTlsArgs {
    /// Connect with TLS, trusting the system's root certificates.
    #[arg(long)]
    pub tls: bool,
    /// Connect with TLS, trusting this CA (PEM) instead of the system's.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// Present this client certificate (PEM) when the server asks.
    #[arg(long = "tls-cert", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long = "tls-key", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// The name the server's certificate must be valid for (default: the
    /// host in ADDR).
    #[arg(long)]
    pub tls_server_name: Option<String>,
}

impl ClientTlsArgs {
    pub fn enabled(&self) -> bool {
        self.tls || self.tls_ca.is_some() || self.client_cert.is_some()
    }

    /// `builder` set up for TLS to `addr`, if TLS was asked for.
    pub fn apply(&self, builder: ClientBuilder, addr: &str) -> Result<ClientBuilder, String> {
        if !self.enabled() {
            return Ok(builder);
        }
        let roots = match &self.tls_ca {
            Some(ca) => framewire::tls::root_store_from_pem(ca).map_err(|e| e.to_string())?,
            None => system_roots()?,
        };
        let client_cert = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => Some(load_pair(cert, key)?),
            _ => None,
        };
        let config =
            framewire::tls::client_config(roots, client_cert).map_err(|e| e.to_string())?;
        let name = match &self.tls_server_name {
            Some(n) => n.clone(),
            None => host_of(addr).to_owned(),
        };
        let name = ServerName::try_from(name.clone())
            .map_err(|_| format!("invalid TLS server name {name:?}"))?;
        Ok(builder.tls(config, name))
    }
}

type Pair = (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

fn load_pair(cert: &Path, key: &Path) -> Result<Pair, String> {
    let chain = framewire::tls::load_certs(cert).map_err(|e| e.to_string())?;
    let key = framewire::tls::load_key(key).map_err(|e| e.to_string())?;
    Ok((chain, key))
}

fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err("no system root certificates found: give the server's CA with --tls-ca".into());
    }
    Ok(roots)
}

/// The host part of `HOST:PORT` (brackets of an IPv6 literal removed).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// What failed, in words, when `err` is a TLS failure.
pub fn describe(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let tls = framewire::tls::handshake_error(err)?;
    let what = match tls {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => {
                "the server's certificate is not signed by a trusted CA (see --tls-ca)".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "the server's certificate is not valid for this name (see --tls-server-name)".into()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the server's certificate has expired".into()
            }
            _ if format!("{c:?}").contains("CaUsedAsEndEntity") => {
                "the server presents a CA certificate as its own; it needs a certificate \
                 signed by a CA (see README, TLS)"
                    .into()
            }
            other => format!("the server's certificate was refused: {other:?}"),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the server does not speak TLS (a plain framewire port?)".into()
        }
        rustls::Error::AlertReceived(alert) => format!("the server refused the handshake ({alert:?}; a client certificate it does not trust, or none?)"),
        other => other.to_string(),
    };
    Some(format!("TLS: {what}"))
}
