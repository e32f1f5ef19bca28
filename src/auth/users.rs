//! Users: a name, the key its frames are signed with, and what it may do
//! ([`Permissions`]); the [`UserStore`] trait [`UserHmac`](super::UserHmac)
//! looks them up in, and [`MemoryUsers`], the in-memory store (filled by
//! hand or from a TOML users file with feature `users-file`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::{Permissions, ReplayConfig, StrictHmac};

/// One user: its name, its key (a [`StrictHmac`] with its own replay
/// cache, so one user's traffic cannot crowd out another's), and its
/// permissions.
///
/// ```
/// use framewire::auth::{Permissions, Rule, User};
///
/// let alice = User::new("alice", "alice's secret")
///     .permissions(Permissions::default().publish(Rule::allow(["pub/news".parse().unwrap()])));
/// assert_eq!(alice.name(), "alice");
/// ```
pub struct User {
    name: String,
    pub(crate) hmac: StrictHmac,
    pub(crate) permissions: Arc<Permissions>,
}

impl User {
    /// A user allowed everything, signing with `secret`.
    pub fn new(name: impl Into<String>, secret: impl AsRef<[u8]>) -> Self {
        User {
            name: name.into(),
            hmac: StrictHmac::new(secret),
            permissions: Arc::new(Permissions::default()),
        }
    }

    /// What the user may do.
    pub fn permissions(mut self, permissions: Permissions) -> Self {
        self.permissions = Arc::new(permissions);
        self
    }

    /// Replay protection for this user's frames (default
    /// [`ReplayConfig::default`]; each user has a cache of its own).
    pub fn replay(mut self, config: ReplayConfig) -> Self {
        self.hmac = self.hmac.replay(config);
        self
    }

    /// The user's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

/// Where [`UserHmac`](super::UserHmac) finds users by name, once per
/// frame: make it O(1) and free of I/O (load or cache before serving).
pub trait UserStore: Send + Sync + fmt::Debug + 'static {
    /// The user called `name` (bytes as they arrived), if any.
    fn user(&self, name: &[u8]) -> Option<&User>;
}

/// Users held in memory, looked up by hashing the name.
///
/// ```
/// use framewire::auth::{MemoryUsers, User, UserStore};
///
/// let users = MemoryUsers::new().with(User::new("alice", "a")).with(User::new("bob", "b"));
/// assert!(users.user(b"alice").is_some());
/// assert!(users.user(b"mallory").is_none());
/// assert_eq!(users.len(), 2);
/// ```
#[derive(Debug, Default)]
pub struct MemoryUsers {
    users: HashMap<Box<[u8]>, User>,
}

impl MemoryUsers {
    /// No users.
    pub fn new() -> Self {
        MemoryUsers::default()
    }

    /// Adds (or replaces) a user.
    pub fn with(mut self, user: User) -> Self {
        self.insert(user);
        self
    }

    /// Adds (or replaces) a user; returns the one it replaced.
    pub fn insert(&mut self, user: User) -> Option<User> {
        self.users.insert(user.name.as_bytes().into(), user)
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl UserStore for MemoryUsers {
    fn user(&self, name: &[u8]) -> Option<&User> {
        self.users.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_found_by_name_and_replaced_by_name() {
        let mut users = MemoryUsers::new();
        assert!(users.is_empty());
        assert_eq!(users.len(), 0);
        assert!(users.insert(User::new("alice", "a")).is_none());
        users = users.with(User::new("bob", "b"));
        assert!(!users.is_empty());
        assert_eq!(users.len(), 2);
        let old = users.insert(User::new("alice", "new")).expect("replaced");
        assert_eq!(old.name(), "alice");
        assert_eq!(users.len(), 2);
        assert_eq!(users.user(b"bob").map(User::name), Some("bob"));
        assert!(users.user(b"mallory").is_none());
    }

    #[test]
    fn a_user_debugs_its_name_and_rules_never_its_key() {
        let text = format!("{:?}", User::new("alice", "s3cret-key"));
        assert!(
            text.starts_with("User { name: \"alice\", permissions: "),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
    }
}
