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

    /// What it may do (checked before any handler runs). Without, an
    /// identity from a certificate or a login gate may do anything; one
    /// proven by a user's key ([`IdentitySource::User`]) may do nothing
    /// that permissions restrict (a user always has permissions: a missing
    /// set is a mistake, and it fails closed).
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

/// Why the identity a plugin proved cannot be the connection's: the
/// transport (mutual TLS) already proved another name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the certificate names {certificate:?}, the frames {proven:?}")]
pub(crate) struct IdentityConflict {
    pub(crate) certificate: String,
    pub(crate) proven: String,
}

impl Identity {
    /// The one identity of a connection whose transport proved `transport`
    /// (a client certificate, before any frame) and whose first verified
    /// frame proved `proven` (a user's key): the user's, with its
    /// permissions, carrying the certificate's details. Both must name the
    /// same party, or the connection has no identity to act on.
    pub(crate) fn settle(
        transport: Option<Identity>,
        proven: Identity,
    ) -> Result<Identity, IdentityConflict> {
        let Some(transport) = transport else {
            return Ok(proven);
        };
        if transport.name != proven.name {
            return Err(IdentityConflict {
                certificate: transport.name,
                proven: proven.name,
            });
        }
        let mut settled = proven;
        if settled.subject.is_none() {
            settled.subject = transport.subject;
            settled.alt_names = transport.alt_names;
        }
        if settled.permissions.is_none() {
            settled.permissions = transport.permissions;
        }
        Ok(settled)
    }

    /// The identity a login gate returned, restricted at least as much as
    /// the one the connection had proven before (`previous`): a gate that
    /// renames a user without saying what it may do does not lift the
    /// user's permissions.
    pub(crate) fn within(mut self, previous: Option<&Identity>) -> Identity {
        if self.permissions.is_none() {
            self.permissions = match previous {
                Some(Identity {
                    permissions: Some(p),
                    ..
                }) => Some(p.clone()),
                Some(p) if p.source == IdentitySource::User => {
                    Some(Arc::new(Permissions::nothing()))
                }
                _ => None,
            };
        }
        self
    }

    /// Whether `msg` is allowed: by the permissions if there are any; with
    /// none, everything for a certificate or login identity and nothing
    /// restricted for a user's (see [`Identity::with_permissions`]).
    pub(crate) fn permits(&self, msg: &crate::Message) -> bool {
        match (&self.permissions, self.source) {
            (Some(p), _) => p.permits(msg),
            (None, IdentitySource::User) => Permissions::nothing().permits(msg),
            (None, _) => true,
        }
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

    fn publish(uri: &str) -> crate::Message {
        crate::Message::new(crate::MessageType::PUBLISH_URI, uri.to_owned(), "x")
    }

    #[test]
    fn a_user_under_a_certificate_keeps_its_permissions_and_the_certificate() {
        let rules = Arc::new(
            Permissions::default().publish(super::super::Rule::allow(["pub/ok".parse().unwrap()])),
        );
        let cert = Identity::new("alice", IdentitySource::Certificate)
            .with_certificate("CN=alice".into(), vec!["alice.example".into()]);
        let user = Identity::new("alice", IdentitySource::User).with_permissions(rules.clone());
        let one = Identity::settle(Some(cert.clone()), user.clone()).unwrap();
        assert_eq!(one.permissions(), Some(&*rules));
        assert_eq!(one.source(), IdentitySource::User);
        assert_eq!(one.subject(), Some("CN=alice"));
        assert_eq!(one.alt_names(), ["alice.example"]);
        assert!(one.permits(&publish("pub/ok")));
        assert!(!one.permits(&publish("pub/other")));
        // Without a certificate the user's identity stands as it is.
        assert_eq!(Identity::settle(None, user.clone()).unwrap(), user);
        // Another name is a conflict, never either identity.
        let bob = Identity::new("bob", IdentitySource::User).with_permissions(rules);
        let conflict = Identity::settle(Some(cert), bob).unwrap_err();
        assert_eq!(conflict.certificate, "alice");
        assert_eq!(conflict.proven, "bob");
        assert!(conflict.to_string().contains("\"bob\""), "{conflict}");
    }

    #[test]
    fn a_user_identity_without_permissions_is_refused_what_permissions_restrict() {
        let user = Identity::new("alice", IdentitySource::User);
        assert!(!user.permits(&publish("pub/news")));
        let other = crate::Message::new(crate::MessageType::UNSUBSCRIBE_URI, "news", "");
        assert!(user.permits(&other), "only restricted kinds are refused");
        for source in [IdentitySource::Certificate, IdentitySource::Login] {
            assert!(Identity::new("x", source).permits(&publish("pub/news")));
        }
        // A certificate's permissions are kept when the user's are missing.
        let rules = Arc::new(
            Permissions::default().publish(super::super::Rule::allow(["pub/ok".parse().unwrap()])),
        );
        let cert =
            Identity::new("alice", IdentitySource::Certificate).with_permissions(rules.clone());
        let one = Identity::settle(Some(cert), user).unwrap();
        assert_eq!(one.permissions(), Some(&*rules));
    }

    #[test]
    fn a_login_identity_stays_within_what_was_proven_before() {
        let rules = Arc::new(
            Permissions::default().publish(super::super::Rule::allow(["pub/ok".parse().unwrap()])),
        );
        let user = Identity::new("alice", IdentitySource::User).with_permissions(rules.clone());
        let gate = Identity::new("alice@gate", IdentitySource::Login);
        let kept = gate.clone().within(Some(&user));
        assert_eq!(kept.name(), "alice@gate");
        assert_eq!(kept.permissions(), Some(&*rules));
        // The gate's own permissions are the gate's decision.
        let own = Arc::new(Permissions::nothing());
        let given = gate
            .clone()
            .with_permissions(own.clone())
            .within(Some(&user));
        assert_eq!(given.permissions(), Some(&*own));
        // A user without permissions stays refused; nothing proven before
        // leaves the gate's identity as it is.
        let bare = gate
            .clone()
            .within(Some(&Identity::new("a", IdentitySource::User)));
        assert!(!bare.permits(&publish("pub/ok")));
        assert!(gate.clone().within(None).permissions().is_none());
        let cert = Identity::new("a", IdentitySource::Certificate);
        assert!(gate.within(Some(&cert)).permissions().is_none());
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
