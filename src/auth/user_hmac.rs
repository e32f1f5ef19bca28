//! [`UserHmac`]: strict-mode HMAC keyed per user. The signed auth field
//! `user` names the key; the MAC (a [`StrictHmac`]'s, which covers every
//! auth field, `user` included) proves the sender holds it. A server looks
//! the user up in a [`UserStore`]; the first verified frame fixes the
//! connection's [`Identity`], and a later frame signed as anyone else is
//! refused.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use super::{
    bytes_field, AuthError, AuthFieldRole, AuthPlugin, Identity, IdentitySource, Link, StrictHmac,
    UserStore,
};
use crate::wire::{FieldName, Message};

/// The auth field naming the user a frame is signed as.
pub const USER_FIELD: &str = "user";

/// Per-user HMAC: [`UserHmac::client`] signs as one user,
/// [`UserHmac::server`] verifies any user of a store. A wrong secret, an
/// unknown user and a missing `user` field all fail alike (one generic
/// AUTH_ERROR), so a peer cannot probe which names exist. framewire peers
/// only (netaio has no per-user keys).
///
/// ```
/// use framewire::auth::{MemoryUsers, Role, User, UserHmac};
/// use framewire::{Message, MessageType, PluginLayer, PluginStack};
///
/// let client = PluginStack::new(PluginLayer::new().with_auth(UserHmac::client("alice", "s3cret")));
/// let server = PluginStack::new(PluginLayer::new().with_auth(UserHmac::server(
///     MemoryUsers::new().with(User::new("alice", "s3cret")),
/// )))
/// .role(Role::Server);
/// let sealed = client.seal(Message::new(MessageType::REQUEST_URI, "echo", "hi")).unwrap();
/// assert!(server.open(sealed).is_ok());
///
/// let mallory = PluginStack::new(PluginLayer::new().with_auth(UserHmac::client("alice", "guess")));
/// let forged = mallory.seal(Message::new(MessageType::REQUEST_URI, "echo", "hi")).unwrap();
/// assert!(server.open(forged).is_err());
/// ```
pub struct UserHmac {
    side: Side,
    field: FieldName,
}

enum Side {
    // Boxed: a StrictHmac (keys and replay cache handle) is ~0.5 KB, a
    // server side only a pointer.
    Client { name: Bytes, hmac: Box<StrictHmac> },
    Server { users: Arc<dyn UserStore> },
}

impl UserHmac {
    /// Signs as `name` with `secret`; verifies the server's replies with
    /// the same key.
    pub fn client(name: impl Into<String>, secret: impl AsRef<[u8]>) -> Self {
        UserHmac {
            side: Side::Client {
                name: Bytes::from(name.into()),
                hmac: Box::new(StrictHmac::new(secret)),
            },
            field: FieldName::from(USER_FIELD),
        }
    }

    /// Verifies frames of every user in `users`, and signs what goes to a
    /// connection with the key of the user it authenticated as.
    pub fn server(users: impl UserStore) -> Self {
        UserHmac {
            side: Side::Server {
                users: Arc::new(users),
            },
            field: FieldName::from(USER_FIELD),
        }
    }

    fn name_in<'m>(&self, message: &'m Message) -> Result<&'m Bytes, AuthError> {
        bytes_field(message, self.field.as_str(), AuthFieldRole::User)
    }
}

impl AuthPlugin for UserHmac {
    fn make(&self, message: &mut Message, link: &Link<'_>) -> Result<(), AuthError> {
        match &self.side {
            Side::Client { name, hmac } => {
                message.auth.insert(self.field.clone(), name.clone());
                hmac.make(message, link)
            }
            Side::Server { users } => {
                // Whoever the connection authenticated as is who it is
                // answered as; before that there is no key to sign with.
                let name = link.identity.ok_or(AuthError::NoIdentity)?.name();
                let user = users.user(name.as_bytes()).ok_or(AuthError::NoIdentity)?;
                message
                    .auth
                    .insert(self.field.clone(), Bytes::copy_from_slice(name.as_bytes()));
                user.hmac.make(message, link)
            }
        }
    }

    fn check(&self, message: &Message, link: &Link<'_>) -> Result<(), AuthError> {
        let claimed = self.name_in(message)?;
        match &self.side {
            Side::Client { name, hmac } => {
                if claimed != name {
                    return Err(AuthError::BadMac);
                }
                hmac.check(message, link)
            }
            Side::Server { users } => {
                // Unknown names fail as a bad MAC does: same error, same
                // reply, so names cannot be probed.
                let user = users.user(claimed).ok_or(AuthError::BadMac)?;
                user.hmac.check(message, link)?;
                match link.identity {
                    Some(known) if known.name().as_bytes() != &claimed[..] => {
                        Err(AuthError::IdentityChanged)
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    fn identity(&self, message: &Message) -> Option<Identity> {
        let Side::Server { users } = &self.side else {
            return None;
        };
        let user = users.user(self.name_in(message).ok()?)?;
        Some(
            Identity::new(user.name(), IdentitySource::User)
                .with_permissions(user.permissions.clone()),
        )
    }

    fn strip(&self, message: &mut Message) {
        let hmac = match &self.side {
            Side::Client { hmac, .. } => hmac,
            // Every user's StrictHmac names its MAC field alike.
            Side::Server { users } => match message
                .auth
                .get(self.field.as_str())
                .and_then(|v| v.as_bytes())
                .and_then(|n| users.user(n))
            {
                Some(user) => &user.hmac,
                None => return,
            },
        };
        hmac.strip(message);
    }

    fn is_peer_specific(&self) -> bool {
        true
    }
}

impl fmt::Debug for UserHmac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.side {
            Side::Client { name, .. } => f
                .debug_struct("UserHmac")
                .field("client", name)
                .finish_non_exhaustive(),
            Side::Server { users } => f
                .debug_struct("UserHmac")
                .field("server", users)
                .finish_non_exhaustive(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{MemoryUsers, Permissions, Role, Rule, User};
    use crate::wire::MessageType;

    const CLIENT: Link<'static> = Link::new(Role::Client);
    const SERVER: Link<'static> = Link::new(Role::Server);

    fn users() -> MemoryUsers {
        let only_echo = Permissions::default().request(Rule::allow(["echo".parse().unwrap()]));
        MemoryUsers::new()
            .with(User::new("alice", "alice-key").permissions(only_echo))
            .with(User::new("bob", "bob-key"))
    }

    fn signed_by(client: &UserHmac) -> Message {
        let mut m = Message::new(MessageType::REQUEST_URI, "echo", "hi");
        client.make(&mut m, &CLIENT).unwrap();
        m
    }

    #[test]
    fn a_server_verifies_each_user_by_their_own_key() {
        let server = UserHmac::server(users());
        let m = signed_by(&UserHmac::client("alice", "alice-key"));
        assert_eq!(
            m.auth.get_bytes(USER_FIELD).map(|b| &b[..]),
            Some(&b"alice"[..])
        );
        assert_eq!(server.check(&m, &SERVER), Ok(()));
        // The right name with another user's key, and an unknown name, fail
        // alike.
        let forged = signed_by(&UserHmac::client("alice", "bob-key"));
        assert_eq!(server.check(&forged, &SERVER), Err(AuthError::BadMac));
        let stranger = signed_by(&UserHmac::client("mallory", "alice-key"));
        assert_eq!(server.check(&stranger, &SERVER), Err(AuthError::BadMac));
        let mut unnamed = Message::new(MessageType::REQUEST_URI, "echo", "hi");
        StrictHmac::new("alice-key")
            .make(&mut unnamed, &CLIENT)
            .unwrap();
        assert_eq!(
            server.check(&unnamed, &SERVER),
            Err(AuthError::MissingField(AuthFieldRole::User))
        );
    }

    #[test]
    fn the_first_verified_user_is_the_connection_for_good() {
        let server = UserHmac::server(users());
        let alice_frame = signed_by(&UserHmac::client("alice", "alice-key"));
        let id = server.identity(&alice_frame).expect("alice is known");
        assert_eq!(id.name(), "alice");
        assert_eq!(id.source(), IdentitySource::User);
        let rules = id.permissions().expect("alice's rules");
        assert!(rules.permits(&Message::new(MessageType::REQUEST_URI, "echo", "")));
        assert!(!rules.permits(&Message::new(MessageType::REQUEST_URI, "other", "")));
        let as_alice = Link::new(Role::Server).identity(Some(&id));
        let again = signed_by(&UserHmac::client("alice", "alice-key"));
        assert_eq!(server.check(&again, &as_alice), Ok(()));
        let bob_frame = signed_by(&UserHmac::client("bob", "bob-key"));
        assert_eq!(
            server.check(&bob_frame, &as_alice),
            Err(AuthError::IdentityChanged)
        );
        assert!(UserHmac::client("alice", "k")
            .identity(&alice_frame)
            .is_none());
    }

    #[test]
    fn a_server_answers_as_the_connection_s_user_only() {
        let server = UserHmac::server(users());
        let mut reply = Message::new(MessageType::RESPOND_URI, "echo", "hi");
        assert_eq!(server.make(&mut reply, &SERVER), Err(AuthError::NoIdentity));
        let alice = Identity::new("alice", IdentitySource::User);
        let as_alice = Link::new(Role::Server).identity(Some(&alice));
        server.make(&mut reply, &as_alice).unwrap();
        // alice's client accepts it; a client with another name or key does
        // not.
        let client = UserHmac::client("alice", "alice-key");
        assert_eq!(client.check(&reply, &CLIENT), Ok(()));
        assert_eq!(
            UserHmac::client("bob", "alice-key").check(&reply, &CLIENT),
            Err(AuthError::BadMac)
        );
        assert_eq!(
            UserHmac::client("alice", "bob-key").check(&reply, &CLIENT),
            Err(AuthError::BadMac)
        );
        let ghost = Identity::new("ghost", IdentitySource::User);
        let as_ghost = Link::new(Role::Server).identity(Some(&ghost));
        let mut reply = Message::new(MessageType::RESPOND_URI, "echo", "hi");
        assert_eq!(
            server.make(&mut reply, &as_ghost),
            Err(AuthError::NoIdentity)
        );
    }

    #[test]
    fn strip_removes_the_mac_on_both_sides() {
        let client = UserHmac::client("alice", "alice-key");
        let server = UserHmac::server(users());
        let mut m = signed_by(&client);
        let fields = m.auth.len();
        server.strip(&mut m);
        assert_eq!(m.auth.len(), fields - 1);
        assert!(m.auth.get(USER_FIELD).is_some(), "the name stays");
        let mut m = signed_by(&client);
        client.strip(&mut m);
        assert_eq!(m.auth.len(), fields - 1);
        // A frame naming nobody known is left alone.
        let mut m = signed_by(&UserHmac::client("mallory", "x"));
        server.strip(&mut m);
        assert_eq!(m.auth.len(), fields);
    }

    #[test]
    fn signatures_are_per_peer_and_debug_shows_no_key() {
        let client = UserHmac::client("alice", "alice-key");
        assert!(client.is_peer_specific());
        assert!(UserHmac::server(users()).is_peer_specific());
        let text = format!("{client:?}");
        assert!(text.starts_with("UserHmac { client: "), "{text}");
        assert!(!text.contains("alice-key"), "{text}");
        let text = format!("{:?}", UserHmac::server(users()));
        assert!(text.starts_with("UserHmac { server: "), "{text}");
    }
}
