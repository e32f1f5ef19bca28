//! What the two HMAC plugins share: field names, the replay guard, the
//! clock and randomness, the nonce rule for stacked plugins, and the
//! builder methods over them.

use std::fmt;

use super::crypto::NONCE_LEN;
use super::replay::{ReplayConfig, ReplayGuard};
use super::PluginEnv;
use super::{AuthError, Link};
use crate::wire::{FieldName, Message};

pub(crate) struct MacFields {
    pub(crate) hmac: FieldName,
    pub(crate) nonce: FieldName,
    pub(crate) ts: FieldName,
    pub(crate) replay: ReplayGuard,
    pub(crate) env: PluginEnv,
}

impl MacFields {
    /// Fields `hmac`, `nonce`, `ts`; replay protection on; system clock.
    pub(crate) fn new() -> Self {
        MacFields {
            hmac: FieldName::from("hmac"),
            nonce: FieldName::from("nonce"),
            ts: FieldName::from("ts"),
            replay: ReplayGuard::new(ReplayConfig::default()),
            env: PluginEnv::system(),
        }
    }

    /// The nonce to sign with: a 16-byte one already on the message (set
    /// by a stacked plugin: layers share one nonce), else a fresh one —
    /// marked with the node's [`NonceTag`](super::NonceTag) when the link
    /// has one. The flag says whether it was already there.
    pub(crate) fn nonce_for(&self, message: &Message, link: &Link<'_>) -> ([u8; NONCE_LEN], bool) {
        let mut nonce = [0u8; NONCE_LEN];
        match message.auth.get_bytes(self.nonce.as_str()) {
            Some(existing) if existing.len() == NONCE_LEN => {
                nonce.copy_from_slice(existing);
                (nonce, true)
            }
            _ => {
                self.env.fill(&mut nonce);
                if let Some(tag) = link.tag {
                    let mut random = [0u8; NONCE_LEN / 2];
                    random.copy_from_slice(&nonce[..NONCE_LEN / 2]);
                    nonce = tag.make(random);
                }
                (nonce, false)
            }
        }
    }

    /// Whether `nonce` is this node's own (a frame it made, reflected back
    /// to it): refused as a replay while replay protection is on.
    pub(crate) fn check_not_own(&self, nonce: &[u8], link: &Link<'_>) -> Result<(), AuthError> {
        if self.replay.config().enabled && link.tag.is_some_and(|t| t.is_own(nonce)) {
            return Err(AuthError::Replayed);
        }
        Ok(())
    }
}

impl fmt::Debug for MacFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MacFields")
            .field("hmac", &self.hmac)
            .field("nonce", &self.nonce)
            .field("ts", &self.ts)
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

/// The builder methods and accessors of a plugin with a `fields: MacFields`.
macro_rules! mac_builders {
    ($plugin:ty) => {
        impl $plugin {
            /// Name of the MAC field (netaio `hmac_field`, default `hmac`).
            pub fn hmac_field(mut self, name: impl Into<FieldName>) -> Self {
                self.fields.hmac = name.into();
                self
            }

            /// Name of the nonce field (netaio `nonce_field`, default `nonce`).
            pub fn nonce_field(mut self, name: impl Into<FieldName>) -> Self {
                self.fields.nonce = name.into();
                self
            }

            /// Name of the timestamp field (netaio `ts_field`, default `ts`).
            pub fn ts_field(mut self, name: impl Into<FieldName>) -> Self {
                self.fields.ts = name.into();
                self
            }

            /// Replay protection settings; starts a fresh nonce cache.
            pub fn replay(mut self, config: ReplayConfig) -> Self {
                self.fields.replay = ReplayGuard::new(config);
                self
            }

            /// Clock and randomness.
            pub fn env(mut self, env: PluginEnv) -> Self {
                self.fields.env = env;
                self
            }

            /// The replay settings in force.
            pub fn replay_config(&self) -> &ReplayConfig {
                self.fields.replay.config()
            }

            /// Nonces currently in this instance's replay cache.
            pub fn replay_cache_len(&self) -> usize {
                self.fields.replay.len()
            }
        }
    };
}

pub(crate) use mac_builders;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_debug_by_name_with_their_replay_guard() {
        let d = format!("{:?}", MacFields::new());
        for part in ["MacFields", "hmac", "nonce", "ts", "ReplayGuard"] {
            assert!(d.contains(part), "{part} missing from {d}");
        }
    }
}
