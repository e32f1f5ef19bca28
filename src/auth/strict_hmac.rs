//! HMAC-SHA256 over everything that gives a frame its meaning, for
//! framewire-to-framewire links.

use std::fmt;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::crypto::sha256;
use super::mac_fields::{mac_builders, MacFields};
use super::replay::{nonce_key, ReplayConfig, ReplayGuard};
use super::{bytes_field, AuthError, AuthFieldRole, AuthPlugin, PluginEnv, Redacted};
use crate::wire::{AuthValue, FieldName, Message};

type HmacSha256 = Hmac<Sha256>;

/// Domain separation: a StrictHmac MAC can never equal a MAC of another
/// protocol or of a later version of this one.
const DOMAIN: &[u8] = b"framewire/strict-hmac/v1\0";

/// Standard HMAC-SHA256 (RFC 2104, `hmac` + `sha2` crates) over the message
/// type, nonce, ts, uri and content, for framewire peers.
///
/// netaio's MAC covers only `ts ‖ body`, so a captured frame can be
/// re-sent with another message type; this one cannot be retargeted.
/// The MAC input is unambiguous (fixed widths and 64-bit length prefixes):
///
/// ```text
/// "framewire/strict-hmac/v1\0" ‖ type u8 ‖ u64(len nonce) ‖ nonce ‖ u64 ts
///   ‖ u64(len uri) ‖ uri ‖ u64(len content) ‖ content
///   ‖ u64(count) ‖ per bound field: u64(len name) ‖ name ‖ 0 | 1 ‖ u64(len) ‖ bytes | 2 ‖ i128
/// ```
///
/// The HMAC key is `SHA256(secret)`. Fields: `hmac`, `nonce` (16 bytes),
/// `ts` (Unix seconds, written as 4 big-endian bytes; any int or bytes form
/// of the same value verifies). A nonce and ts already on the message (from
/// another stacked plugin) are reused, not overwritten. Other auth fields
/// are covered only if named with [`bind_field`](Self::bind_field): bind
/// the IV when a cipher runs in the same layer, so it cannot be swapped.
///
/// Replay protection as for [`NetaioHmac`](crate::NetaioHmac), on by
/// default. The secret never appears in `Debug` output.
///
/// ```
/// use framewire::{AuthPlugin, Message, MessageType, StrictHmac};
///
/// let signer = StrictHmac::new("k");
/// let mut msg = Message::new(MessageType::DELETE_URI, "item/1", "");
/// signer.make(&mut msg).unwrap();
///
/// // Retargeting the captured frame to another type fails.
/// let mut forged = msg.clone();
/// forged.message_type = MessageType::CREATE_URI;
/// let verifier = StrictHmac::new("k");
/// assert!(verifier.check(&forged).unwrap_err().is_bad_mac());
/// verifier.check(&msg).unwrap();
/// ```
pub struct StrictHmac {
    mac: Redacted<HmacSha256>,
    fields: MacFields,
    bound: Vec<FieldName>,
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
        StrictHmac {
            mac: Redacted(mac),
            fields: MacFields::new(),
            bound: Vec::new(),
        }
    }

    /// Also cover the auth field `name` (present or absent) with the MAC.
    /// Only bind fields that exist when this plugin signs, i.e. set by a
    /// plugin of the same or an inner layer.
    pub fn bind_field(mut self, name: impl Into<FieldName>) -> Self {
        self.bound.push(name.into());
        self
    }

    fn keyed_input(&self, message: &Message, nonce: &[u8], ts: u64) -> HmacSha256 {
        let mut h = self.mac.0.clone();
        let lp = |h: &mut HmacSha256, bytes: &[u8]| {
            h.update(&(bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        h.update(DOMAIN);
        h.update(&[message.message_type.value()]);
        lp(&mut h, nonce);
        h.update(&ts.to_be_bytes());
        lp(&mut h, &message.body.uri);
        lp(&mut h, &message.body.content);
        h.update(&(self.bound.len() as u64).to_be_bytes());
        for name in &self.bound {
            lp(&mut h, name.as_str().as_bytes());
            match message.auth.get(name.as_str()) {
                None => h.update(&[0]),
                Some(AuthValue::Bytes(b)) => {
                    h.update(&[1]);
                    lp(&mut h, b);
                }
                Some(AuthValue::Int(i)) => {
                    h.update(&[2]);
                    h.update(&i.to_be_bytes());
                }
            }
        }
        h
    }
}

/// The ts value, refusing anything that does not fit 64 bits (so no two
/// distinct received values collapse to one MAC input).
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
    fn make(&self, message: &mut Message) -> Result<(), AuthError> {
        let f = &self.fields;
        let (nonce, have_nonce) = f.nonce_for(message);
        let ts = match message.auth.get(f.ts.as_str()) {
            Some(v) => Some(ts_exact(v).ok_or(AuthError::TimestampOutOfRange {
                ts: v.as_int().unwrap_or(i128::MAX),
            })?),
            None => None,
        };
        let ts_value = ts.unwrap_or_else(|| f.env.now());
        let tag = self
            .keyed_input(message, &nonce, ts_value)
            .finalize()
            .into_bytes();
        if !have_nonce {
            message.auth.insert(f.nonce.clone(), nonce);
        }
        if ts.is_none() {
            // 4 bytes like netaio while the value fits, so a NetaioHmac
            // stacked outside reuses these bytes unchanged.
            match u32::try_from(ts_value) {
                Ok(t) => message.auth.insert(f.ts.clone(), t.to_be_bytes()),
                Err(_) => message.auth.insert(f.ts.clone(), ts_value.to_be_bytes()),
            }
        }
        message.auth.insert(f.hmac.clone(), tag.to_vec());
        Ok(())
    }

    fn check(&self, message: &Message) -> Result<(), AuthError> {
        let f = &self.fields;
        let ts = message
            .auth
            .get(f.ts.as_str())
            .ok_or(AuthError::MissingField(AuthFieldRole::Timestamp))?;
        let nonce = bytes_field(message, f.nonce.as_str(), AuthFieldRole::Nonce)?;
        let mac = bytes_field(message, f.hmac.as_str(), AuthFieldRole::Mac)?;
        let ts = ts_exact(ts).ok_or(AuthError::MalformedField(AuthFieldRole::Timestamp))?;
        let key = nonce_key(nonce)?;
        let now = f.env.now();
        f.replay.check_window(ts, now)?;
        self.keyed_input(message, nonce, ts)
            .verify_slice(mac)
            .map_err(|_| AuthError::BadMac)?;
        f.replay.record(key, ts, now)
    }
}

impl fmt::Debug for StrictHmac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StrictHmac")
            .field("secret", &self.mac)
            .field("fields", &self.fields)
            .field("bound_fields", &self.bound)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{FixedRandom, ManualClock};
    use crate::wire::MessageType;

    const T: u64 = 1_700_000_000;

    fn ctx() -> PluginEnv {
        PluginEnv::new(ManualClock::new(T), FixedRandom::new(vec![1, 2, 3], 0))
    }

    #[test]
    fn is_standard_hmac_sha256_of_the_documented_input() {
        let mut m = Message::new(MessageType::CREATE_URI, "u", "c");
        StrictHmac::new("k").env(ctx()).make(&mut m).unwrap();
        let nonce: Vec<u8> = [1u8, 2, 3].iter().copied().cycle().take(16).collect();
        let mut input = DOMAIN.to_vec();
        input.push(2);
        input.extend_from_slice(&16u64.to_be_bytes());
        input.extend_from_slice(&nonce);
        input.extend_from_slice(&T.to_be_bytes());
        input.extend_from_slice(&1u64.to_be_bytes());
        input.extend_from_slice(b"u");
        input.extend_from_slice(&1u64.to_be_bytes());
        input.extend_from_slice(b"c");
        input.extend_from_slice(&0u64.to_be_bytes());
        let mut reference = <HmacSha256 as Mac>::new_from_slice(&sha256(b"k")).unwrap();
        reference.update(&input);
        let want = reference.finalize().into_bytes();
        assert_eq!(&m.auth.get_bytes("hmac").unwrap()[..], &want[..]);
        assert_eq!(
            &m.auth.get_bytes("ts").unwrap()[..],
            &(T as u32).to_be_bytes()
        );
    }

    #[test]
    fn shared_nonce_and_ts_are_reused_not_rewritten() {
        let mut m = Message::new(MessageType::OK, "", "");
        m.auth.insert("nonce", [7u8; 16]);
        m.auth.insert("ts", T as i128);
        StrictHmac::new("k").env(ctx()).make(&mut m).unwrap();
        assert_eq!(m.auth.get("ts"), Some(&AuthValue::Int(T as i128)));
        assert_eq!(&m.auth.get_bytes("nonce").unwrap()[..], &[7u8; 16]);
        StrictHmac::new("k").env(ctx()).check(&m).unwrap();
    }

    #[test]
    fn bound_field_is_covered() {
        let p = StrictHmac::new("k").bind_field("iv").env(ctx());
        let mut m = Message::new(MessageType::OK, "", "x");
        m.auth.insert("iv", [1u8; 16]);
        p.make(&mut m).unwrap();
        let mut swapped = m.clone();
        swapped.auth.insert("iv", [2u8; 16]);
        let v = StrictHmac::new("k").bind_field("iv").env(ctx());
        assert!(v.check(&swapped).unwrap_err().is_bad_mac());
        let mut removed = m.clone();
        removed.auth.remove("iv");
        assert!(v.check(&removed).unwrap_err().is_bad_mac());
        v.check(&m).unwrap();
    }

    #[test]
    fn oversized_ts_is_malformed() {
        let mut m = Message::new(MessageType::OK, "", "");
        StrictHmac::new("k").env(ctx()).make(&mut m).unwrap();
        m.auth.insert("ts", vec![1u8; 9]);
        assert_eq!(
            StrictHmac::new("k").env(ctx()).check(&m),
            Err(AuthError::MalformedField(AuthFieldRole::Timestamp))
        );
    }
}
