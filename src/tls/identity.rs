//! The [`Identity`] a verified client certificate gives its connection,
//! read with x509-parser (no ASN.1 of our own), from the one part of the
//! certificate the server is configured to trust as a name
//! ([`CertificateName`]): no fallback from one kind of name to another, so
//! a certificate can never be taken for a name it only carries as another
//! kind (a DNS name equal to someone's common name).

use rustls::pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::auth::{Identity, IdentitySource};

/// Which part of a verified client certificate names its connection's
/// [`Identity`] (set with
/// [`ServerBuilder::client_certificate_name`](crate::server::ServerBuilder::client_certificate_name)).
/// The certificate must hold exactly one value of that kind: none, or
/// several (which one would be meant?), and the connection is refused
/// after the handshake.
///
/// ```
/// use framewire::tls::CertificateName;
///
/// assert_eq!(CertificateName::default(), CertificateName::CommonName);
/// assert_eq!("dns".parse::<CertificateName>(), Ok(CertificateName::DnsName));
/// assert!("subject".parse::<CertificateName>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CertificateName {
    /// The subject's common name (`CN=alice`) (default: what client
    /// certificates are usually issued with).
    #[default]
    CommonName,
    /// A subject alternative name of type DNS.
    DnsName,
    /// A subject alternative name of type e-mail (RFC 822).
    Email,
    /// A subject alternative name of type URI (a SPIFFE id, say).
    Uri,
}

impl std::fmt::Display for CertificateName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CertificateName::CommonName => "common name",
            CertificateName::DnsName => "DNS name",
            CertificateName::Email => "e-mail name",
            CertificateName::Uri => "URI name",
        })
    }
}

impl std::str::FromStr for CertificateName {
    type Err = String;

    /// `cn`, `dns`, `email` or `uri`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cn" => Ok(CertificateName::CommonName),
            "dns" => Ok(CertificateName::DnsName),
            "email" => Ok(CertificateName::Email),
            "uri" => Ok(CertificateName::Uri),
            other => Err(format!(
                "unknown certificate name {other:?}: cn, dns, email or uri"
            )),
        }
    }
}

/// Why a verified certificate gives no identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum NoIdentity {
    /// The certificate does not parse (rustls verified it, so a form this
    /// parser cannot read).
    #[error("the certificate does not parse")]
    Unreadable,
    /// No value of the configured kind.
    #[error("the certificate has no {0}")]
    Missing(CertificateName),
    /// More than one value of the configured kind.
    #[error("the certificate has more than one {0}")]
    Ambiguous(CertificateName),
}

/// The identity in `cert` (the leaf a TLS handshake verified), named by
/// its one value of kind `from`.
pub(crate) fn identity_of(
    cert: &CertificateDer<'_>,
    from: CertificateName,
) -> Result<Identity, NoIdentity> {
    let (_, parsed) =
        X509Certificate::from_der(cert.as_ref()).map_err(|_| NoIdentity::Unreadable)?;
    let subject = parsed.subject();
    let general_names: Vec<&GeneralName<'_>> = match parsed.subject_alternative_name() {
        Ok(Some(san)) => san.value.general_names.iter().collect(),
        Ok(None) => Vec::new(),
        // Two SAN extensions, or one that does not parse: nothing to trust.
        Err(_) => return Err(NoIdentity::Unreadable),
    };
    let candidates: Vec<&str> = match from {
        CertificateName::CommonName => subject
            .iter_common_name()
            .map(|cn| cn.as_str().map_err(|_| NoIdentity::Unreadable))
            .collect::<Result<_, _>>()?,
        _ => general_names
            .iter()
            .filter_map(|name| match (from, name) {
                (CertificateName::DnsName, GeneralName::DNSName(s))
                | (CertificateName::Email, GeneralName::RFC822Name(s))
                | (CertificateName::Uri, GeneralName::URI(s)) => Some(*s),
                _ => None,
            })
            .collect(),
    };
    let name = match candidates[..] {
        [one] if !one.is_empty() => one.to_owned(),
        [] | [_] => return Err(NoIdentity::Missing(from)),
        _ => return Err(NoIdentity::Ambiguous(from)),
    };
    let alt_names = general_names.into_iter().filter_map(name_text).collect();
    Ok(Identity::new(name, IdentitySource::Certificate)
        .with_certificate(subject.to_string(), alt_names))
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

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    fn cert(edit: impl FnOnce(&mut CertificateParams)) -> CertificateDer<'static> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        edit(&mut params);
        params.self_signed(&key).unwrap().der().clone()
    }

    fn dns(name: &str) -> SanType {
        SanType::DnsName(name.try_into().unwrap())
    }

    #[test]
    fn the_common_name_names_the_connection_and_nothing_else_does() {
        let alice = cert(|p| {
            p.distinguished_name.push(DnType::CommonName, "alice");
            p.distinguished_name
                .push(DnType::OrganizationName, "Example");
            p.subject_alt_names = vec![
                dns("alice.example"),
                SanType::IpAddress([127, 0, 0, 1].into()),
                SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()),
            ];
        });
        let id = identity_of(&alice, CertificateName::CommonName).unwrap();
        assert_eq!(id.name(), "alice");
        assert_eq!(id.source(), IdentitySource::Certificate);
        assert!(
            id.subject().unwrap().contains("CN=alice"),
            "{:?}",
            id.subject()
        );
        assert_eq!(id.alt_names(), ["alice.example", "127.0.0.1", "::1"]);

        // A DNS name "alice" without a common name is not CN=alice.
        let evil = cert(|p| {
            p.distinguished_name
                .push(DnType::OrganizationName, "Evil Corp");
            p.distinguished_name
                .push(DnType::OrganizationalUnitName, "machines");
            p.subject_alt_names = vec![dns("alice")];
        });
        assert_eq!(
            identity_of(&evil, CertificateName::CommonName),
            Err(NoIdentity::Missing(CertificateName::CommonName))
        );
        // A subject without a CN is never its own text.
        let bare = cert(|p| p.distinguished_name.push(DnType::OrganizationName, "x"));
        assert!(identity_of(&bare, CertificateName::CommonName).is_err());
        // Two common names: which one?
        let two = cert(|p| {
            p.distinguished_name.push(DnType::CommonName, "alice");
            p.distinguished_name.push(DnType::CommonName, "bob");
        });
        let outcome = identity_of(&two, CertificateName::CommonName);
        // rcgen keeps one value per attribute type: the last one pushed.
        match outcome {
            Ok(id) => assert_eq!(id.name(), "bob"),
            Err(e) => assert_eq!(e, NoIdentity::Ambiguous(CertificateName::CommonName)),
        }
    }

    #[test]
    fn a_configured_san_kind_is_the_only_one_read() {
        let c = cert(|p| {
            p.distinguished_name.push(DnType::CommonName, "cn-name");
            p.subject_alt_names = vec![
                dns("svc.example"),
                SanType::Rfc822Name("svc@example.org".try_into().unwrap()),
                SanType::URI("spiffe://example.org/svc".try_into().unwrap()),
            ];
        });
        let name = |from| identity_of(&c, from).map(|i| i.name().to_owned());
        assert_eq!(name(CertificateName::DnsName).unwrap(), "svc.example");
        assert_eq!(name(CertificateName::Email).unwrap(), "svc@example.org");
        assert_eq!(
            name(CertificateName::Uri).unwrap(),
            "spiffe://example.org/svc"
        );
        assert_eq!(name(CertificateName::CommonName).unwrap(), "cn-name");

        let no_dns = cert(|p| p.distinguished_name.push(DnType::CommonName, "svc.example"));
        assert_eq!(
            identity_of(&no_dns, CertificateName::DnsName),
            Err(NoIdentity::Missing(CertificateName::DnsName)),
            "a common name is not a DNS name"
        );
        let two = cert(|p| p.subject_alt_names = vec![dns("a.example"), dns("b.example")]);
        assert_eq!(
            identity_of(&two, CertificateName::DnsName),
            Err(NoIdentity::Ambiguous(CertificateName::DnsName))
        );
        assert_eq!(
            identity_of(
                &CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]),
                CertificateName::CommonName
            ),
            Err(NoIdentity::Unreadable)
        );
    }

    #[test]
    fn an_empty_name_names_nobody() {
        let empty_cn = cert(|p| p.distinguished_name.push(DnType::CommonName, ""));
        assert_eq!(
            identity_of(&empty_cn, CertificateName::CommonName),
            Err(NoIdentity::Missing(CertificateName::CommonName))
        );
    }

    #[test]
    fn names_parse_from_their_short_forms() {
        for (text, name) in [
            ("cn", CertificateName::CommonName),
            ("dns", CertificateName::DnsName),
            ("email", CertificateName::Email),
            ("uri", CertificateName::Uri),
        ] {
            assert_eq!(text.parse::<CertificateName>(), Ok(name));
        }
        assert_eq!(
            NoIdentity::Missing(CertificateName::DnsName).to_string(),
            "the certificate has no DNS name"
        );
        assert_eq!(
            NoIdentity::Ambiguous(CertificateName::CommonName).to_string(),
            "the certificate has more than one common name"
        );
        assert_eq!(CertificateName::Email.to_string(), "e-mail name");
        assert_eq!(CertificateName::Uri.to_string(), "URI name");
        let e = "CN".parse::<CertificateName>().unwrap_err();
        assert!(e.contains("cn, dns, email or uri"), "{e}");
    }
}
