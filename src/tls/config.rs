//! PEM files in, rustls configurations out, with framewire's defaults:
//! the ring provider chosen explicitly (so another crate enabling a second
//! provider cannot make rustls refuse to pick), TLS 1.2 and 1.3, ALPN
//! `framewire`.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::TlsError;

/// The ALPN protocol id framewire offers and accepts. A client offering
/// only other protocols is refused; one offering none (as netaio-era
/// clients wrapped in TLS do) is served.
pub const ALPN: &[u8] = b"framewire";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_error(path: &Path) -> impl FnOnce(pem::Error) -> TlsError + '_ {
    move |source| TlsError::Read {
        path: path.to_owned(),
        source,
    }
}

/// Every certificate in a PEM file, in order (a chain: leaf first).
///
/// ```
/// # fn demo() -> Result<(), framewire::tls::TlsError> {
/// let chain = framewire::tls::load_certs(std::path::Path::new("cert.pem"))?;
/// # Ok(()) }
/// ```
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read_error(path))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error(path))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
///
/// ```
/// # fn demo() -> Result<(), framewire::tls::TlsError> {
/// let key = framewire::tls::load_key(std::path::Path::new("key.pem"))?;
/// # Ok(()) }
/// ```
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_owned(),
        },
        source => TlsError::Read {
            path: path.to_owned(),
            source,
        },
    })
}

/// The CA certificates in a PEM file, as trust roots.
///
/// ```
/// # fn demo() -> Result<(), framewire::tls::TlsError> {
/// let roots = framewire::tls::root_store_from_pem(std::path::Path::new("ca.pem"))?;
/// assert!(!roots.is_empty());
/// # Ok(()) }
/// ```
pub fn root_store_from_pem(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert)?;
    }
    Ok(roots)
}

/// A server configuration presenting `chain` (leaf first) with `key`. With
/// `client_ca`, every client must present a certificate signed by one of
/// those roots (mutual TLS); its subject becomes the connection's
/// [`Identity`](crate::Identity).
///
/// ```
/// let key = rcgen::KeyPair::generate().unwrap();
/// let cert = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap()
///     .self_signed(&key).unwrap();
/// let config = framewire::tls::server_config(
///     vec![cert.der().clone()],
///     framewire::tls::rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
///     None,
/// ).unwrap();
/// assert_eq!(config.alpn_protocols, [framewire::tls::ALPN]);
/// ```
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<RootCertStore>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        Some(roots) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).build()?,
        ),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Arc::new(config))
}

/// [`server_config`] from PEM files: the certificate chain, its key, and
/// optionally the CA that client certificates must chain to.
///
/// ```no_run
/// use std::path::Path;
/// let config = framewire::tls::server_config_from_pem(
///     Path::new("cert.pem"), Path::new("key.pem"), Some(Path::new("clients-ca.pem")),
/// )?;
/// # Ok::<(), framewire::tls::TlsError>(())
/// ```
pub fn server_config_from_pem(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let client_ca = client_ca.map(root_store_from_pem).transpose()?;
    server_config(load_certs(cert)?, load_key(key)?, client_ca)
}

/// A client configuration trusting `roots`, offering ALPN `framewire`,
/// and presenting `client_cert` (chain and key) when the server asks.
///
/// ```
/// let config = framewire::tls::client_config(framewire::tls::rustls::RootCertStore::empty(), None).unwrap();
/// assert_eq!(config.alpn_protocols, [framewire::tls::ALPN]);
/// ```
pub fn client_config(
    roots: RootCertStore,
    client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match client_cert {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};

    fn self_signed(name: &str) -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert, key)
    }

    #[test]
    fn pem_files_load_every_certificate_in_order_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let (leaf, leaf_key) = self_signed("leaf.example");
        let (other, _) = self_signed("other.example");
        let chain = dir.path().join("chain.pem");
        std::fs::write(&chain, leaf.pem() + &other.pem()).unwrap();
        let key = dir.path().join("key.pem");
        std::fs::write(&key, leaf_key.serialize_pem()).unwrap();

        let certs = load_certs(&chain).unwrap();
        assert_eq!(certs, [leaf.der().clone(), other.der().clone()]);
        assert_eq!(root_store_from_pem(&chain).unwrap().len(), 2);
        assert_eq!(
            load_key(&key).unwrap().secret_der(),
            leaf_key.serialize_der()
        );

        // The leaf and its key make a server configuration; the key is
        // not a certificate, nor the chain a key.
        let config = server_config_from_pem(&chain, &key, Some(&chain)).unwrap();
        assert_eq!(config.alpn_protocols, [ALPN]);
        assert!(load_certs(&key).unwrap_err().is_no_certificate());
        assert!(load_key(&chain).unwrap_err().is_no_key());
        assert!(load_key(&dir.path().join("absent.pem"))
            .unwrap_err()
            .is_read());
    }
}
