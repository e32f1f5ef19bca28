//! The auth options every command shares (`--auth`, `--secret`,
//! `--secret-file`, `FRAMEWIRE_SECRET`) and the plugins they make.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use framewire::auth::UserHmac;
use framewire::{AuthPlugin, NetaioHmac, PluginLayer, StrictHmac};
use zeroize::Zeroizing;

/// What netaio's HMAC leaves open, said where it is chosen.
pub const NETAIO_MODE_WARNING: &str = "--auth netaio (netaio's HMAC) does not bind the \
message type, request id or direction of a frame: anyone on the path can retarget or reflect \
signed frames; use --auth strict between framewire peers";

/// How messages are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// netaio 0.0.9's HMAC, what netaio peers speak. Covers ts, uri and
    /// content only: see the warning.
    Netaio,
    /// framewire's HMAC-SHA256 over type, direction, uri, content and every
    /// auth field (request id, session), replay-protected per session.
    /// framewire peers only.
    Strict,
}

#[derive(Args, Debug)]
pub struct AuthArgs {
    /// Shared secret to sign and verify every message with. Other local
    /// users can read command lines: prefer --secret-file or the
    /// FRAMEWIRE_SECRET environment variable.
    #[arg(long, env = "FRAMEWIRE_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Read the shared secret from this file (one trailing newline is
    /// ignored).
    #[arg(long, conflicts_with = "secret")]
    pub secret_file: Option<PathBuf>,
    /// How messages are signed when a secret is given: netaio (default,
    /// talks to netaio peers) or strict (framewire peers). Warning: --auth
    /// netaio does not bind the message type, request id or direction, so
    /// anyone on the path can retarget or reflect signed frames.
    #[arg(long, value_enum, default_value = "netaio")]
    pub auth: AuthMode,
    /// Sign as this user with --secret (per-user keys, for a server started
    /// with --users; framewire peers only).
    #[arg(long)]
    pub user: Option<String>,
}

impl AuthArgs {
    /// The secret and mode, if a secret was given (the secret in memory
    /// wiped on drop). Warns once on stderr when the mode is netaio's.
    pub fn resolve(&self) -> Result<Option<Auth>, String> {
        let secret = match (&self.secret_file, &self.secret) {
            (Some(path), _) => {
                let bytes = framewire::auth::read_secret_file(path)
                    .map_err(|e| format!("cannot read --secret-file {}: {e}", path.display()))?;
                if bytes.is_empty() {
                    return Err(format!("--secret-file {} is empty", path.display()));
                }
                bytes
            }
            (None, Some(s)) => Zeroizing::new(s.as_bytes().to_vec()),
            (None, None) if self.user.is_some() => {
                return Err("--user needs --secret, --secret-file or FRAMEWIRE_SECRET".into())
            }
            (None, None) => return Ok(None),
        };
        if self.auth == AuthMode::Netaio && self.user.is_none() {
            eprintln!("framewire: warning: {NETAIO_MODE_WARNING}");
        }
        Ok(Some(Auth {
            mode: self.auth,
            secret,
            user: self.user.clone(),
        }))
    }
}

/// A secret and how to sign with it: makes fresh plugins (each end and
/// each server needs its own, with its own replay cache).
pub struct Auth {
    mode: AuthMode,
    secret: Zeroizing<Vec<u8>>,
    /// Signs as this user ([`UserHmac`]) instead of with a shared secret.
    user: Option<String>,
}

impl Auth {
    /// Whether it signs as a user (a client's view of a `--users` server).
    pub fn is_user(&self) -> bool {
        self.user.is_some()
    }

    /// A new plugin instance.
    pub fn plugin(&self) -> Arc<dyn AuthPlugin> {
        if let Some(user) = &self.user {
            return Arc::new(UserHmac::client(user.clone(), &self.secret[..]));
        }
        match self.mode {
            AuthMode::Netaio => Arc::new(NetaioHmac::new(&self.secret[..])),
            AuthMode::Strict => Arc::new(StrictHmac::new(&self.secret[..])),
        }
    }

    /// The options that give a child process the same auth: the mode as
    /// an argument, the secret in its environment (not its command line).
    pub fn pass_to(&self, cmd: &mut tokio::process::Command) {
        use std::os::unix::ffi::OsStringExt;
        let mode = match self.mode {
            AuthMode::Netaio => "netaio",
            AuthMode::Strict => "strict",
        };
        if let Some(user) = &self.user {
            cmd.args(["--user", user]);
        }
        cmd.args(["--auth", mode]).env(
            "FRAMEWIRE_SECRET",
            std::ffi::OsString::from_vec(self.secret.to_vec()),
        );
    }

    /// A new instance layer with [`plugin`](Self::plugin).
    pub fn layer(&self) -> PluginLayer {
        PluginLayer::new().with_shared_auth(self.plugin())
    }
}

impl Drop for AuthArgs {
    fn drop(&mut self) {
        if let Some(s) = &mut self.secret {
            zeroize::Zeroize::zeroize(s);
        }
    }
}
