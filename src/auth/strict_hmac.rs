//! HMAC-SHA256 over everything that gives a frame its meaning, for
//! framewire-to-framewire links: framewire's strict mode.

use std::fmt;

use bytes::Bytes;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::crypto::sha256;
use super::mac_fields::{mac_builders, MacFields};
use super::replay::{nonce_key, ReplayConfig, ReplayGuard, ReplayScope};
use super::{bytes_field, AuthError, AuthFieldRole, AuthPlugin, Link, PluginEnv, Redacted};
use crate::protocol::{SessionId, SESSION_FIELD};
use crate::wire::{AuthValue, FieldName, Message};

type HmacSha256 = Hmac<Sha256>;

/// Domain separation: a StrictHmac MAC can never equal a MAC of another
/// protocol or of another version of this one.
const DOMAIN: &[u8] = b"framewire/strict-hmac/v2\0";

/// Standard HMAC-SHA256 (RFC 2104, `hmac` + `sha2` crates) over everything
/// a receiver acts on: framewire's strict mode, for framewire peers.
///
/// netaio's MAC covers only `ts ‖ body`, so a captured frame can be re-sent
/// with another type, request id or direction; this one covers
///
/// * the message type and the **direction** (who signed: client, server or
///   peer — a frame cannot be reflected back to the role that sent it);
/// * uri and content;
/// * **every other auth field present** when it signs — nonce, ts, the
///   request id (`rid`), the session id (`sid`), a cipher's IV, a user
///   name — in name order, except its own MAC field;
/// * optionally the name of the server the frame is meant for
///   ([`audience`](Self::audience)), so it cannot be replayed to another
///   server sharing the secret.
///
/// The MAC input is unambiguous (fixed widths and 64-bit length prefixes):
///
/// ```text
/// "framewire/strict-hmac/v2\0" ‖ role u8 ‖ type u8 ‖ u64(len audience) ‖ audience
///   ‖ u64(len uri) ‖ uri ‖ u64(len content) ‖ content ‖ u64(count)
///   ‖ per field, by name: u64(len name) ‖ name ‖ 1 ‖ u64(len) ‖ bytes | 2 ‖ i128
/// ```
///
/// Layers: a plugin checking an outer layer strips its own MAC field, and a
/// cipher its IV, after they pass, so an inner layer sees the fields it
/// signed. The HMAC key is `SHA256(secret)`. Fields: `hmac`, `nonce` (16
/// bytes), `ts` (Unix seconds, written as 4 big-endian bytes), and `sid`
/// when the link has a session (every framewire client connection does). A
/// nonce and ts already on the message (from another stacked plugin) are
/// reused, not overwritten.
///
/// Replay protection as for [`NetaioHmac`](crate::NetaioHmac), on by
/// default, but per session: one session's flood only shrinks its own
/// window, and a session is pinned to the connection that first used it
/// (see [`ReplayGuard`]). Signatures depend on the receiver's session, so a
/// broadcast is signed once per receiver. The secret never appears in
/// `Debug` output.
///
/// ```
/// use framewire::auth::{Link, Role};
/// use framewire::{AuthPlugin, Message, MessageType, StrictHmac};
///
/// let (client, server) = (Link::new(Role::Client), Link::new(Role::Server));
/// let signer = StrictHmac::new("k");
/// let mut msg = Message::new(MessageType::DELETE_URI, "item/1", "");
/// signer.make(&mut msg, &client).unwrap();
///
/// // Retargeting the captured frame to another type fails.
/// let mut forged = msg.clone();
/// forged.message_type = MessageType::CREATE_URI;
/// let verifier = StrictHmac::new("k");
/// assert!(verifier.check(&forged, &server).unwrap_err().is_bad_mac());
/// // So does reflecting it to another client: it was signed by a client.
/// assert!(StrictHmac::new("k").check(&msg, &client).unwrap_err().is_bad_mac());
/// verifier.check(&msg, &server).unwrap();
/// ```
pub struct StrictHmac {
    mac: Redacted<HmacSha256>,
    fields: MacFields,
    session: FieldName,
    audience: Bytes,
}

mac_builders!(StrictHmac);

impl StrictHmac {
    /// A plugin for `secret`, default field names, replay protection on.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        // A 32-byte key zero-extended to the 64-byte block is exactly how
        // HMAC pads it, and the fixed-size constructor cannot fail.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&sha256(secret.as_ref()));
        let mac = <HmacSha256 as KeyInit>::new(&block.into());
        zeroize::Zeroize::zeroize(&mut block);
        StrictHmac {
            mac: Redacted(mac),
            fields: MacFields::new(),
            session: FieldName::from(SESSION_FIELD),
            audience: Bytes::new(),
        }
    }

    /// Binds the name of the server frames are meant for (default: none).
    /// Set the same name on the server and on its clients; a frame for one
    /// server then fails on another that shares the secret.
    pub fn audience(mut self, name: impl Into<Bytes>) -> Self {
        self.audience = name.into();
        self
    }

    fn keyed_input(&self, message: &Message, signer: u8) -> HmacSha256 {
        let mut h = self.mac.0.clone();
        let lp = |h: &mut HmacSha256, bytes: &[u8]| {
            h.update(&(bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        h.update(DOMAIN);
        h.update(&[signer, message.message_type.value()]);
        lp(&mut h, &self.audience);
        lp(&mut h, &message.body.uri);
        lp(&mut h, &message.body.content);
        let own = self.fields.hmac.as_str();
        let mut covered: Vec<(&str, &AuthValue)> =
            message.auth.iter().filter(|(n, _)| *n != own).collect();
        covered.sort_unstable_by(|a, b| a.0.cmp(b.0));
        h.update(&(covered.len() as u64).to_be_bytes());
        for (name, value) in covered {
            lp(&mut h, name.as_bytes());
            match value {
                AuthValue::Bytes(b) => {
                    h.update(&[1]);
                    lp(&mut h, b);
                }
                AuthValue::Int(i) => {
                    h.update(&[2]);
                    h.update(&i.to_be_bytes());
                }
            }
        }
        h
    }
}

/// The ts value, refusing anything that does not fit 64 bits (so no two
/// distinct received values collapse to one number).
fn ts_exact(value: &AuthValue) -> Option<u64> {
    match value {
        AuthValue::Int(i) => u64::try_from(*i).ok(),
        AuthValue::Bytes(b) => {
            if b.iter().skip_while(|x| **x == 0).count() > 8 {
                return None;
            }
            Some(b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
        }
    }
}

impl AuthPlugin for StrictHmac {
    fn make(&self, message: &mut Message, link: &Link<'_>) -> Result<(), AuthError> {
        let f = &self.fields;
        let (nonce, have_nonce) = f.nonce_for(message, link);
        match message.auth.get(f.ts.as_str()) {
            // A ts already there (a stacked plugin's) is signed as it is,
            // if it is a number this plugin can check.
            Some(v) => {
                ts_exact(v).ok_or(AuthError::TimestampOutOfRange {
                    ts: v.as_int().unwrap_or(i128::MAX),
                })?;
            }
            None => {
                let now = f.env.now();
                // 4 bytes like netaio while the value fits, so a NetaioHmac
                // stacked outside reuses these bytes unchanged.
                match u32::try_from(now) {
                    Ok(t) => message.auth.insert(f.ts.clone(), t.to_be_bytes()),
                    Err(_) => message.auth.insert(f.ts.clone(), now.to_be_bytes()),
                }
            }
        }
        if !have_nonce {
            message.auth.insert(f.nonce.clone(), nonce);
        }
        if let Some(sid) = link.session {
            message.auth.insert(self.session.clone(), *sid.as_bytes());
        }
        let tag = self
            .keyed_input(message, link.role.tag())
            .finalize()
            .into_bytes();
        message.auth.insert(f.hmac.clone(), tag.to_vec());
        Ok(())
    }

    fn check(&self, message: &Message, link: &Link<'_>) -> Result<(), AuthError> {
        let f = &self.fields;
        let ts = message
            .auth
            .get(f.ts.as_str())
            .ok_or(AuthError::MissingField(AuthFieldRole::Timestamp))?;
        let nonce = bytes_field(message, f.nonce.as_str(), AuthFieldRole::Nonce)?;
        let mac = bytes_field(message, f.hmac.as_str(), AuthFieldRole::Mac)?;
        let ts = ts_exact(ts).ok_or(AuthError::MalformedField(AuthFieldRole::Timestamp))?;
        let key = nonce_key(nonce)?;
        f.check_not_own(nonce, link)?;
        let session = match message.auth.get(self.session.as_str()) {
            None => None,
            Some(_) => Some(SessionId::of(message).ok_or(AuthError::BadMac)?),
        };
        // Once a connection's session is known, every frame on it carries
        // that session and no other.
        if let Some(expected) = link.session {
            let same = session.as_ref() == Some(expected); // public: session ids travel in clear
            if !same {
                return Err(AuthError::BadMac);
            }
        }
        let now = f.env.now();
        f.replay.check_window(ts, now)?;
        self.keyed_input(message, link.role.opposite().tag())
            .verify_slice(mac)
            .map_err(|_| AuthError::BadMac)?;
        f.replay
            .record_in(ReplayScope::new(session, link.connection), key, ts, now)
    }

    fn strip(&self, message: &mut Message) {
        message.auth.remove(self.fields.hmac.as_str());
    }

    fn is_peer_specific(&self) -> bool {
        // The session of each receiver is in its MAC.
        true
    }
}

impl fmt::Debug for StrictHmac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StrictHmac")
            .field("secret", &self.mac)
            .field("fields", &self.fields)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
