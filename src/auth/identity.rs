//! [`Identity`]: who is on the other end of a connection, once something
//! proved it (a client certificate verified by mutual TLS, or a user's key
//! verified by [`UserHmac`](super::UserHmac)), and what it may do.
//! Handlers read it from [`Context::identity`](crate::server::Context::identity);
//! what may set it lives with the proof, not here.

use std::sync::Arc;

use super::Permissions;

/// A proven identity of a connection's peer.
///
/// ```
/// use framewire::{Identity, IdentitySource};
///
/// let id = Identity::new("alice", IdentitySource::Certificate);
/// assert!(id.permissions().is_none());
/// assert_eq!(id.name(), "alice");
/// assert!(id.alt_names().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    name: String,
    subject: Option<String>,
    alt_names: Vec<String>,
    source: IdentitySource,
    permissions: Option<Arc<Permissions>>,
}

/// What proved an [`Identity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentitySource {
    /// A client certificate verified against the server's client CA.
    Certificate,
    /// A user's key, verified by [`UserHmac`](super::UserHmac) against a
    /// [`UserStore`](super::UserStore).
    User,
    /// A server's login gate
    /// ([`ServerBuilder::login`](crate::server::ServerBuilder::login)).
    Login,
}

impl Identity {
    /// An identity called `name`, proven by `source`.
    pub fn new(name: impl Into<String>, source: IdentitySource) -> Self {
        Identity {
            name: name.into(),
            subject: None,
            alt_names: Vec::new(),
            source,
            permissions: None,
        }
    }

    /// What it may do (checked before any handler runs); without, it may
    /// do anything.
    pub fn with_permissions(mut self, permissions: Arc<Permissions>) -> Self {
        self.permissions = Some(permissions);
        self
    }

    /// What it may do, if restricted.
    pub fn permissions(&self) -> Option<&Permissions> {
        self.permissions.as_deref()
    }

    /// The certificate details behind it: its full subject and its
    /// subject alternative names.
    ///
    /// ```
    /// use framewire::{Identity, IdentitySource};
    ///
    /// let id = Identity::new("alice", IdentitySource::Certificate)
    ///     .with_certificate("CN=alice".into(), vec!["alice@example.org".into()]);
    /// assert_eq!(id.subject(), Some("CN=alice"));
    /// ```
    pub fn with_certificate(mut self, subject: String, alt_names: Vec<String>) -> Self {
        self.subject = Some(subject);
        self.alt_names = alt_names;
        self
    }

    /// The name to act on: for a certificate, its subject's common name,
    /// or else its first subject alternative name, or else the whole
    /// subject.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A certificate's full subject (`CN=alice, O=Example`), if any.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// A certificate's subject alternative names (DNS names, e-mail
    /// addresses, URIs, IP addresses), as text.
    pub fn alt_names(&self) -> &[String] {
        &self.alt_names
    }

    /// What proved it.
    pub fn source(&self) -> IdentitySource {
        self.source
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_keeps_its_name_and_permissions() {
        let open = Identity::new("alice", IdentitySource::User);
        assert_eq!(open.name(), "alice");
        assert_eq!(open.to_string(), "alice");
        assert!(open.permissions().is_none());
        let rules = Arc::new(
            Permissions::default().request(super::super::Rule::allow(["echo".parse().unwrap()])),
        );
        let bound = open.with_permissions(rules.clone());
        assert_eq!(bound.permissions(), Some(&*rules));
        assert_ne!(bound.permissions(), Some(&Permissions::default()));
    }

    #[test]
    fn a_certificate_identity_keeps_its_subject_and_alt_names() {
        let plain = Identity::new("bob", IdentitySource::Login);
        assert_eq!(plain.subject(), None);
        assert!(plain.alt_names().is_empty());
        assert_eq!(plain.source(), IdentitySource::Login);
        let cert = Identity::new("alice", IdentitySource::Certificate).with_certificate(
            "CN=alice, O=Example".into(),
            vec!["alice@example.org".into(), "alice.example.org".into()],
        );
        assert_eq!(cert.subject(), Some("CN=alice, O=Example"));
        assert_eq!(cert.alt_names(), ["alice@example.org", "alice.example.org"]);
        assert_eq!(cert.source(), IdentitySource::Certificate);
        assert_eq!(format!("{cert}"), "alice");
    }
}
