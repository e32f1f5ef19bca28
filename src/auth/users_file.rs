//! The TOML users file (feature `users-file`): one `[[user]]` table per
//! user, with its secret (inline or in a file of its own) and its
//! permission patterns. Every mistake is refused whole, naming the line
//! and the field.
//!
//! ```toml
//! [[user]]
//! name = "alice"
//! secret_file = "alice.secret"     # or: secret = "..."
//! publish = ["pub/news", "pub/alerts/>"]
//! subscribe = ["news", "alerts/>"]
//! request = ["echo", "k/>"]        # REQUEST/CREATE/UPDATE/DELETE uris, peer app ids
//! deny_request = ["k/secret/>"]    # deny_* wins over the allow lists
//! ```
//!
//! A list left out allows everything of its kind; an empty list allows
//! nothing.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{MemoryUsers, Pattern, Permissions, Rule, User};

/// Why a users file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsersFileError {
    /// The file (or a `secret_file`) could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A value is wrong: not TOML, an unknown or missing field, a bad
    /// pattern, a duplicate user, an empty secret.
    #[error("{}:{line}: {field}: {reason}", path.display())]
    Invalid {
        /// The users file.
        path: PathBuf,
        /// The 1-based line of the offending value.
        line: usize,
        /// The field (`user.publish`, ...), or `toml` for syntax errors.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

crate::predicates::predicates!(UsersFileError {
    /// Whether a file could not be read.
    is_read => UsersFileError::Read { .. },
    /// Whether a value was wrong.
    is_invalid => UsersFileError::Invalid { .. },
});

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    user: Vec<Spanned<Entry>>,
}

type Patterns = Option<Vec<Spanned<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Spanned<String>,
    secret: Option<Spanned<String>>,
    secret_file: Option<Spanned<String>>,
    publish: Patterns,
    subscribe: Patterns,
    request: Patterns,
    #[serde(default)]
    deny_publish: Vec<Spanned<String>>,
    #[serde(default)]
    deny_subscribe: Vec<Spanned<String>>,
    #[serde(default)]
    deny_request: Vec<Spanned<String>>,
}

impl Entry {
    /// The kinds of action this entry leaves unrestricted (no allow list).
    fn unrestricted(&self) -> Vec<&'static str> {
        [
            ("publish", &self.publish),
            ("subscribe", &self.subscribe),
            ("request", &self.request),
        ]
        .into_iter()
        .filter(|(_, list)| list.is_none())
        .map(|(kind, _)| kind)
        .collect()
    }
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn line(&self, offset: usize) -> usize {
        // Bytes, not a str slice: an offset inside a character must not
        // panic (the parser's spans should never be, but this is input).
        let before = &self.text.as_bytes()[..offset.min(self.text.len())];
        before.iter().filter(|&&b| b == b'\n').count() + 1
    }

    fn invalid(&self, offset: usize, field: &str, reason: impl Into<String>) -> UsersFileError {
        UsersFileError::Invalid {
            path: self.path.to_owned(),
            line: self.line(offset),
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    fn patterns(
        &self,
        list: &[Spanned<String>],
        field: &str,
    ) -> Result<Vec<Pattern>, UsersFileError> {
        list.iter()
            .map(|p| {
                p.get_ref()
                    .parse::<Pattern>()
                    .map_err(|e| self.invalid(p.span().start, field, e.to_string()))
            })
            .collect()
    }

    fn rule(
        &self,
        allow: &Patterns,
        deny: &[Spanned<String>],
        kind: &str,
    ) -> Result<Rule, UsersFileError> {
        let rule = match allow {
            Some(list) => Rule::allow(self.patterns(list, &format!("user.{kind}"))?),
            None => Rule::default(),
        };
        Ok(rule.deny(self.patterns(deny, &format!("user.deny_{kind}"))?))
    }

    fn secret(
        &self,
        entry: &Entry,
        at: usize,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, UsersFileError> {
        let secret = match (&entry.secret, &entry.secret_file) {
            (Some(s), None) => zeroize::Zeroizing::new(s.get_ref().as_bytes().to_vec()),
            (None, Some(file)) => {
                let path = self
                    .path
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join(file.get_ref());
                // The CLI's --secret-file rule, so a CRLF file gives the
                // same key to the server as to the client.
                super::read_secret_file(&path)
                    .map_err(|source| UsersFileError::Read { path, source })?
            }
            (Some(s), Some(_)) => {
                return Err(self.invalid(
                    s.span().start,
                    "user.secret",
                    "give secret or secret_file, not both",
                ))
            }
            (None, None) => {
                return Err(self.invalid(at, "user", "missing secret (or secret_file)"))
            }
        };
        if secret.is_empty() {
            return Err(self.invalid(at, "user.secret", "empty secret"));
        }
        Ok(secret)
    }
}

impl MemoryUsers {
    /// Users from the TOML file at `path` (format in the module docs of
    /// `framewire::auth`'s users file; README shows one). `secret_file`
    /// paths are relative to the users file's directory.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("users.toml");
    /// std::fs::write(&path, "[[user]]\nname = \"alice\"\nsecret = \"s\"\npublish = [\"pub/news\"]\n").unwrap();
    /// let users = framewire::auth::MemoryUsers::from_toml_file(&path).unwrap();
    /// assert_eq!(users.len(), 1);
    ///
    /// std::fs::write(&path, "[[user]]\nname = \"bob\"\nsecret = \"s\"\npublish = [\"pub/>/x\"]\n").unwrap();
    /// let e = framewire::auth::MemoryUsers::from_toml_file(&path).unwrap_err();
    /// assert!(e.to_string().contains(":4: user.publish:"), "{e}");
    /// ```
    pub fn from_toml_file(path: &Path) -> Result<MemoryUsers, UsersFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| UsersFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        MemoryUsers::from_toml_str(&text, path)
    }

    /// Users from `text`, a users file's contents, as if read from `path`:
    /// errors name `path`, and `secret_file` paths are relative to its
    /// directory (a users file is the operator's: absolute paths and `..`
    /// are read as written).
    ///
    /// ```
    /// use std::path::Path;
    /// use framewire::auth::{MemoryUsers, UserStore};
    ///
    /// let text = "[[user]]\nname = \"alice\"\nsecret = \"s\"\npublish = []\n";
    /// let users = MemoryUsers::from_toml_str(text, Path::new("users.toml")).unwrap();
    /// assert!(users.user(b"alice").is_some());
    /// let e = MemoryUsers::from_toml_str("[[user]]\nname = 1\n", Path::new("u.toml")).unwrap_err();
    /// assert!(e.to_string().starts_with("u.toml:2:"), "{e}");
    /// ```
    pub fn from_toml_str(text: &str, path: &Path) -> Result<MemoryUsers, UsersFileError> {
        let cx = Ctx { path, text };
        let file: File = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            cx.invalid(at, "toml", e.message().trim_end().to_owned())
        })?;
        let mut users = MemoryUsers::new();
        for entry in &file.user {
            let at = entry.span().start;
            let entry = entry.get_ref();
            let name = entry.name.get_ref();
            if name.is_empty() {
                return Err(cx.invalid(entry.name.span().start, "user.name", "empty name"));
            }
            let permissions = Permissions::default()
                .publish(cx.rule(&entry.publish, &entry.deny_publish, "publish")?)
                .subscribe(cx.rule(&entry.subscribe, &entry.deny_subscribe, "subscribe")?)
                .request(cx.rule(&entry.request, &entry.deny_request, "request")?);
            let secret = cx.secret(entry, at)?;
            let user = User::new(name.clone(), &secret[..]).permissions(permissions);
            if users.insert(user).is_some() {
                return Err(cx.invalid(
                    entry.name.span().start,
                    "user.name",
                    format!("duplicate user {name:?}"),
                ));
            }
        }
        // Allowed by leaving a list out: easy to do by mistake, so said at
        // start (an empty list allows nothing); only for a file that loads.
        for entry in &file.user {
            let entry = entry.get_ref();
            let open = entry.unrestricted();
            if !open.is_empty() {
                tracing::warn!(
                    user = %entry.name.get_ref(),
                    unrestricted = ?open,
                    "users file: no list for these actions, so this user may do them on any uri"
                );
            }
        }
        Ok(users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::UserStore;
    use crate::wire::{Message, MessageType};

    fn load(text: &str) -> Result<MemoryUsers, UsersFileError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(&path, text).unwrap();
        MemoryUsers::from_toml_file(&path)
    }

    fn line_of(e: &UsersFileError) -> usize {
        match e {
            UsersFileError::Invalid { line, .. } => *line,
            other => panic!("not an Invalid error: {other:?}"),
        }
    }

    #[test]
    fn rules_from_the_file_judge_each_action() {
        let users = load(concat!(
            "[[user]]\nname = \"alice\"\nsecret = \"s\"\n",
            "publish = [\"news/*\"]\ndeny_publish = [\"news/secret\"]\n",
            "request = [\"kv/>\"]\n",
        ))
        .unwrap();
        assert_eq!(users.len(), 1);
        let alice = users.user(b"alice").expect("loaded");
        let p = &alice.permissions;
        let msg = |t, uri: &str| Message::new(t, uri.to_owned(), "");
        assert!(p.permits(&msg(MessageType::PUBLISH_URI, "news/today")));
        assert!(!p.permits(&msg(MessageType::PUBLISH_URI, "news/secret")));
        assert!(!p.permits(&msg(MessageType::PUBLISH_URI, "other")));
        assert!(p.permits(&msg(MessageType::REQUEST_URI, "kv/a/b")));
        assert!(!p.permits(&msg(MessageType::REQUEST_URI, "admin")));
        // No subscribe list: everything.
        assert!(p.permits(&msg(MessageType::SUBSCRIBE_URI, "anything")));
    }

    #[test]
    fn lists_left_out_are_named_for_the_start_warning() {
        let file: File = toml::from_str(concat!(
            "[[user]]\nname = \"a\"\nsecret = \"s\"\npublish = []\n",
            "[[user]]\nname = \"b\"\nsecret = \"s\"\npublish = []\nsubscribe = [\"x\"]\nrequest = [\"y\"]\n",
            "[[user]]\nname = \"c\"\nsecret = \"s\"\nsubscribe = [\"x\"]\n",
        ))
        .unwrap();
        let open: Vec<_> = file
            .user
            .iter()
            .map(|e| e.get_ref().unrestricted())
            .collect();
        assert_eq!(open[0], ["subscribe", "request"]);
        assert!(open[1].is_empty());
        assert_eq!(open[2], ["publish", "request"]);
    }

    #[test]
    fn a_secret_file_with_windows_line_ends_gives_the_same_key_as_the_client() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.secret"), "k3y\r\n").unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(
            &path,
            "[[user]]\nname = \"a\"\nsecret_file = \"a.secret\"\n",
        )
        .unwrap();
        let users = MemoryUsers::from_toml_file(&path).unwrap();
        let user = users.user(b"a").unwrap();
        let mut msg = Message::new(MessageType::PUBLISH_URI, "pub/x", "x");
        use crate::auth::{AuthPlugin, Link, Role, StrictHmac};
        StrictHmac::new("k3y")
            .make(&mut msg, &Link::new(Role::Client))
            .unwrap();
        let server = Link::new(Role::Server);
        assert!(
            user.hmac.check(&msg, &server).is_ok(),
            "the key without the CRLF"
        );
        let mut other = Message::new(MessageType::PUBLISH_URI, "pub/x", "x");
        StrictHmac::new("k3y\r")
            .make(&mut other, &Link::new(Role::Client))
            .unwrap();
        assert!(user.hmac.check(&other, &server).is_err());
    }

    #[test]
    fn errors_name_the_line_counting_from_one() {
        let e =
            load("[[user]]\nname = \"bob\"\nsecret = \"s\"\npublish = [\"a/>/b\"]\n").unwrap_err();
        assert_eq!(line_of(&e), 4, "{e}");
        let e = load("[[user]]\nname = \"\"\nsecret = \"s\"\n").unwrap_err();
        assert_eq!(line_of(&e), 2, "{e}");
        let e = load("[[user]]\nname = \"c\"\nsecret = \"s\"\ndeny_request = [\"x/>/y\"]\n")
            .unwrap_err();
        assert_eq!(line_of(&e), 4, "{e}");
        assert!(e.to_string().contains("user.deny_request"), "{e}");
        // An offset past the end is the last line, not a panic.
        let cx = Ctx {
            path: Path::new("u.toml"),
            text: "a\nb",
        };
        assert_eq!(cx.line(0), 1);
        assert_eq!(cx.line(2), 2);
        assert_eq!(cx.line(100), 2);
    }
}

#[cfg(test)]
mod predicate_tests {
    use super::*;

    #[test]
    fn each_predicate_holds_for_its_variants_only() {
        crate::predicates::check(
            UsersFileError::PREDICATES,
            &[
                (
                    UsersFileError::Read {
                        path: "u.toml".into(),
                        source: std::io::ErrorKind::NotFound.into(),
                    },
                    &["is_read"],
                ),
                (
                    UsersFileError::Invalid {
                        path: "u.toml".into(),
                        line: 1,
                        field: "key".into(),
                        reason: "empty".into(),
                    },
                    &["is_invalid"],
                ),
            ],
        );
    }
}
