//! [`TlsError`]: what can go wrong setting TLS up (not a handshake: those
//! fail as I/O errors carrying a `rustls::Error`).

use std::path::PathBuf;

/// Why a TLS configuration could not be built or applied.
///
/// ```
/// use std::path::Path;
/// use framewire::tls::{self, TlsError};
///
/// let e = tls::load_certs(Path::new("/nonexistent/cert.pem")).unwrap_err();
/// assert!(e.is_read());
/// assert!(e.to_string().contains("/nonexistent/cert.pem"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the PEM reader said.
        source: rustls::pki_types::pem::Error,
    },
    /// A PEM file holds no certificate.
    #[error("{}: no certificate found", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A PEM file holds no private key.
    #[error("{}: no private key found", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the configuration (a key that does not match the
    /// certificate, an unsupported key type, an invalid CA certificate...).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The client-certificate verifier could not be built (no usable CA).
    #[error("client CA: {0}")]
    ClientCa(#[from] rustls::server::VerifierBuilderError),
    /// TLS was asked of a server built without it
    /// ([`ServerBuilder::tls`](crate::server::ServerBuilder::tls)).
    #[error("the server was built without TLS")]
    NotEnabled,
}

crate::predicates::predicates!(TlsError {
    /// Whether a PEM file could not be read or parsed.
    is_read => TlsError::Read { .. },
    /// Whether a PEM file held no certificate.
    is_no_certificate => TlsError::NoCertificate { .. },
    /// Whether a PEM file held no private key.
    is_no_key => TlsError::NoKey { .. },
    /// Whether rustls refused the configuration.
    is_config => TlsError::Config(_),
    /// Whether the client-certificate verifier could not be built.
    is_client_ca => TlsError::ClientCa(_),
    /// Whether the server was built without TLS.
    is_not_enabled => TlsError::NotEnabled,
});

#[cfg(test)]
mod predicate_tests {
    use super::*;

    #[test]
    fn each_predicate_holds_for_its_variants_only() {
        crate::predicates::check(
            TlsError::PREDICATES,
            &[
                (
                    TlsError::Read {
                        path: "c.pem".into(),
                        source: rustls::pki_types::pem::Error::MissingSectionEnd {
                            end_marker: Vec::new(),
                        },
                    },
                    &["is_read"],
                ),
                (
                    TlsError::NoCertificate {
                        path: "c.pem".into(),
                    },
                    &["is_no_certificate"],
                ),
                (
                    TlsError::NoKey {
                        path: "k.pem".into(),
                    },
                    &["is_no_key"],
                ),
                (
                    TlsError::Config(rustls::Error::General("x".into())),
                    &["is_config"],
                ),
                (
                    TlsError::ClientCa(rustls::server::VerifierBuilderError::NoRootAnchors),
                    &["is_client_ca"],
                ),
                (TlsError::NotEnabled, &["is_not_enabled"]),
            ],
        );
    }
}
