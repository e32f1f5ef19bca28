//! The [`Identity`] a verified client certificate gives its connection,
//! read with x509-parser (no ASN.1 of our own).

use rustls::pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::auth::{Identity, IdentitySource};

/// The identity in `cert` (the leaf a TLS handshake verified), or `None`
/// if it does not parse (rustls verified it, so that means a certificate
/// this parser cannot read: the connection then has no identity).
pub(crate) fn identity_of(cert: &CertificateDer<'_>) -> Option<Identity> {
    let (_, parsed) = X509Certificate::from_der(cert.as_ref()).ok()?;
    let subject = parsed.subject();
    let common_name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    let alt_names: Vec<String> = parsed
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(name_text)
                .collect()
        })
        .unwrap_or_default();
    let subject = subject.to_string();
    let name = common_name
        .or_else(|| alt_names.first().cloned())
        .unwrap_or_else(|| subject.clone());
    Some(Identity::new(name, IdentitySource::Certificate).with_certificate(subject, alt_names))
}

fn name_text(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
            Some((*s).to_owned())
        }
        GeneralName::IPAddress(b) => match b.len() {
            4 => <[u8; 4]>::try_from(*b)
                .ok()
                .map(|a| std::net::IpAddr::from(a).to_string()),
            16 => <[u8; 16]>::try_from(*b)
                .ok()
                .map(|a| std::net::IpAddr::from(a).to_string()),
            _ => None,
        },
        _ => None,
    }
}
