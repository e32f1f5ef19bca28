//! `framewire bench --tls`: a throwaway CA and server certificate (rcgen)
//! written to a private temporary directory for the server children, and
//! the client configurations the load generator dials with (session
//! resumption on, and off for full handshakes).

use std::path::PathBuf;
use std::sync::Arc;

use framewire::tls::rustls::client::Resumption;
use framewire::tls::rustls::pki_types::ServerName;
use framewire::tls::rustls::{self, RootCertStore};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

/// The bench's certificates; the directory is removed on drop.
pub(crate) struct BenchTls {
    _dir: tempfile::TempDir,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    /// Resumes sessions (what a reconnecting client does).
    pub(crate) client: Arc<rustls::ClientConfig>,
    /// Never resumes: every handshake is a full one.
    pub(crate) full: Arc<rustls::ClientConfig>,
}

fn err(e: impl std::fmt::Display) -> String {
    format!("bench TLS setup: {e}")
}

impl BenchTls {
    pub(crate) fn generate() -> Result<BenchTls, String> {
        let ca_key = KeyPair::generate().map_err(err)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "framewire bench CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca = ca.self_signed(&ca_key).map_err(err)?;
        let key = KeyPair::generate().map_err(err)?;
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .map_err(err)?
            .signed_by(&key, &ca, &ca_key)
            .map_err(err)?;

        // Unique, readable by this user only (it holds a private key),
        // removed on drop, failure or not.
        let dir = tempfile::Builder::new()
            .prefix("framewire-bench-tls-")
            .tempdir()
            .map_err(err)?;
        let (cert, key_path) = (dir.path().join("server.pem"), dir.path().join("server.key"));
        std::fs::write(&cert, leaf.pem()).map_err(err)?;
        std::fs::write(&key_path, key.serialize_pem()).map_err(err)?;
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).map_err(err)?;
        let client = framewire::tls::client_config(roots, None).map_err(err)?;
        let mut full = (*client).clone();
        full.resumption = Resumption::disabled();
        Ok(BenchTls {
            _dir: dir,
            cert,
            key: key_path,
            client,
            full: Arc::new(full),
        })
    }

    /// `--tls-cert PATH --tls-key PATH` for a server child.
    pub(crate) fn server_args(&self) -> [String; 4] {
        [
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }

    pub(crate) fn server_name() -> ServerName<'static> {
        ServerName::try_from("localhost").expect("a valid name")
    }
}
