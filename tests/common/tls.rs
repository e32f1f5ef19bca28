//! Certificates made at test time (rcgen): a CA per test, leaves signed by
//! it, and the rustls configurations and PEM files the tests need. Nothing
//! is checked in; every key lives as long as its test.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use framewire::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use framewire::tls::rustls::{self, RootCertStore};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};

/// A certificate authority of one test.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A certificate signed by a [`Ca`], with its key.
pub struct Leaf {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// A server certificate for `localhost` and 127.0.0.1.
    pub fn server(&self) -> Leaf {
        self.leaf("localhost", |_| {})
    }

    /// A certificate with common name `cn` (also its DNS name), tuned by
    /// `edit` before it is signed.
    pub fn leaf(&self, cn: &str, edit: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![cn.to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        params.distinguished_name.push(DnType::CommonName, cn);
        edit(&mut params);
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf { cert, key }
    }

    pub fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.der().clone()).unwrap();
        roots
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// Writes the CA certificate to `dir/name`.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.pem()).unwrap();
        path
    }
}

impl Leaf {
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert.der().clone()]
    }

    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.serialize_der().into())
    }

    /// Writes `dir/{stem}.pem` and `dir/{stem}.key`; returns both paths.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{stem}.pem"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&cert, self.cert.pem()).unwrap();
        std::fs::write(&key, self.key.serialize_pem()).unwrap();
        (cert, key)
    }

    /// A server configuration presenting this certificate; with
    /// `client_ca`, client certificates must chain to it.
    pub fn server_config(&self, client_ca: Option<&Ca>) -> Arc<rustls::ServerConfig> {
        framewire::tls::server_config(self.chain(), self.key_der(), client_ca.map(Ca::roots))
            .unwrap()
    }

    /// A client configuration presenting this certificate, trusting `ca`.
    pub fn client_config(&self, ca: &Ca) -> Arc<rustls::ClientConfig> {
        framewire::tls::client_config(ca.roots(), Some((self.chain(), self.key_der()))).unwrap()
    }
}

/// A client configuration trusting `ca`, without a certificate of its own.
pub fn trusting(ca: &Ca) -> Arc<rustls::ClientConfig> {
    framewire::tls::client_config(ca.roots(), None).unwrap()
}

pub fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}
