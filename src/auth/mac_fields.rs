//! What the two HMAC plugins share: field names, the replay guard, the
//! clock and randomness, the nonce rule for stacked plugins, and the
//! builder methods over them.

use std::fmt;

use super::crypto::NONCE_LEN;
use super::replay::{ReplayConfig, ReplayGuard, ReplayScope};
use super::PluginEnv;
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
    /// by a stacked plugin: layers share one nonce), else a fresh one. The
    /// flag says whether it was already there.
    pub(crate) fn nonce_for(&self, message: &Message) -> ([u8; NONCE_LEN], bool) {
        let mut nonce = [0u8; NONCE_LEN];
        match message.auth.get_bytes(self.nonce.as_str()) {
            Some(existing) if existing.len() == NONCE_LEN => {
                nonce.copy_from_slice(existing);
                (nonce, true)
            }
            _ => {
                self.env.fill(&mut nonce);
                (nonce, false)
            }
        }
    }
}

impl MacFields {
    /// Records the nonce of a frame this plugin just signed, so the frame
    /// reflected back to this node is refused as a replay. Best effort: if
    /// the cache refuses it (its share's floor is at or above `ts`), the
    /// reflected frame is refused by the same floor.
    pub(crate) fn remember_own(&self, scope: ReplayScope, nonce: &[u8; NONCE_LEN], ts: u64) {
        if self.replay.config().enabled {
            let _ = self.replay.record_in(scope, nonce, ts, self.env.now());
        }
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
