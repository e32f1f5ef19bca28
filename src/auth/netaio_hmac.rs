//! netaio 0.0.9's `HMACAuthPlugin`, byte for byte, plus optional replay
//! protection.

use std::fmt;

use super::crypto::{ct_eq, netaio_hmac_with_mac_key, DerivePrefix};
use super::mac_fields::{mac_builders, MacFields};
use super::replay::{nonce_key, ts_number, ReplayConfig, ReplayGuard, ReplayScope};
use super::{
    bytes_field, uri_len_prefix, AuthError, AuthFieldRole, AuthPlugin, Link, PluginEnv, Redacted,
};
use crate::wire::{AuthValue, FieldName, Message};

/// netaio 0.0.9's `HMACAuthPlugin`, wire-compatible in both directions.
///
/// * key `K = SHA256(secret)`; per message a 16-byte random nonce and the
///   Unix time as a 4-byte big-endian `ts`;
/// * MAC = netaio's HMAC-like construction (136-byte block, key derived
///   from `K` and the nonce) over `ts ‖ body`, in the `hmac` field;
/// * field names configurable as in netaio (`hmac_field`, `nonce_field`,
///   `ts_field`).
///
/// The MAC does **not** cover the message type or any other auth field:
/// that is netaio's format. Between framewire peers prefer
/// [`StrictHmac`](crate::StrictHmac).
///
/// Replay protection ([`ReplayConfig`]) is on by default: a `ts` more than
/// 300 s old or 30 s ahead of the local clock, a nonce already accepted by
/// *this instance* inside the window, or one carrying this node's own mark
/// ([`Link::tag`]: a frame it sent, reflected back to it), is refused; with
/// it on, nonces
/// must be exactly 16 bytes (netaio always sends 16).
/// `.replay(ReplayConfig::disabled())` restores netaio's exact acceptance
/// rules. A received `ts` may be a packify int or bytes; bytes are MACed
/// exactly as received, as netaio does. netaio frames carry no session, so
/// every peer shares one replay share: a secret holder flooding validly
/// signed frames can fill it for everyone (see
/// [`ReplayGuard`](crate::auth::ReplayGuard)).
///
/// The secret never appears in `Debug` output.
///
/// ```
/// use framewire::auth::{FixedRandom, Link, ManualClock, NonceTag, PluginEnv, Role};
/// use framewire::{AuthPlugin, Message, MessageType, NetaioHmac};
///
/// // Pinned nonce and clock reproduce netaio's vector `hmac_default_fields`.
/// let ctx = PluginEnv::new(ManualClock::new(1_700_000_000), FixedRandom::new((0u8..16).collect::<Vec<_>>(), 0));
/// let (client, server) = (Link::new(Role::Client), Link::new(Role::Server));
/// let signer = NetaioHmac::new("test-secret").env(ctx.clone());
/// let mut msg = Message::new(MessageType::REQUEST_URI, "echo", "hello");
/// signer.make(&mut msg, &client).unwrap();
/// assert_eq!(&msg.auth.get_bytes("hmac").unwrap()[..4], &[0x43, 0x46, 0xb7, 0x20]);
///
/// let verifier = NetaioHmac::new("test-secret").env(ctx);
/// verifier.check(&msg, &server).unwrap();
/// assert!(verifier.check(&msg, &server).unwrap_err().is_replayed());
/// assert!(NetaioHmac::new("wrong").check(&msg, &server).is_err());
/// // A node marks the nonces it makes: its frame reflected back is a replay.
/// let node = NonceTag::random();
/// let mut own = Message::new(MessageType::REQUEST_URI, "echo", "hello");
/// let tagged = Link::new(Role::Client).tag(Some(&node));
/// NetaioHmac::new("test-secret").make(&mut own, &tagged).unwrap();
/// assert!(NetaioHmac::new("test-secret").check(&own, &tagged).unwrap_err().is_replayed());
/// assert!(!format!("{signer:?}").contains("test-secret"));
/// ```
pub struct NetaioHmac {
    mac_prefix: Redacted<DerivePrefix>,
    fields: MacFields,
}

mac_builders!(NetaioHmac);

impl NetaioHmac {
    /// A plugin for `secret` (netaio's `config["secret"]`; a `str` there is
    /// its UTF-8 bytes here), default field names, replay protection on,
    /// system clock and randomness.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        NetaioHmac {
            mac_prefix: Redacted(DerivePrefix::for_secret(secret.as_ref(), b"mac")),
            fields: MacFields::new(),
        }
    }

    fn mac(&self, nonce: &[u8], ts_bytes: &[u8], message: &Message) -> Result<[u8; 32], AuthError> {
        let uri_len = uri_len_prefix(message)?;
        let mac_key = self.mac_prefix.0.derive(nonce);
        Ok(netaio_hmac_with_mac_key(
            &mac_key,
            &[ts_bytes, &uri_len, &message.body.uri, &message.body.content],
        ))
    }
}

/// netaio `make`: `int.from_bytes(ts, "big").to_bytes(4, "big")`, which
/// raises for anything that does not fit 32 bits.
fn ts_u32_for_signing(value: &AuthValue) -> Result<u32, AuthError> {
    match value {
        AuthValue::Int(i) => {
            u32::try_from(*i).map_err(|_| AuthError::TimestampOutOfRange { ts: *i })
        }
        AuthValue::Bytes(b) => {
            let significant: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
            let n = significant.iter().fold(0u128, |acc, x| {
                acc.saturating_mul(256).saturating_add(u128::from(*x))
            });
            u32::try_from(n).map_err(|_| AuthError::TimestampOutOfRange {
                ts: i128::try_from(n).unwrap_or(i128::MAX),
            })
        }
    }
}

impl AuthPlugin for NetaioHmac {
    /// netaio `make`: reuses a 16-byte nonce already present (else draws
    /// one), reuses a `ts` already present (normalised to 4 bytes, else the
    /// clock), then sets nonce, ts and MAC.
    fn make(&self, message: &mut Message, link: &Link<'_>) -> Result<(), AuthError> {
        let f = &self.fields;
        let (nonce, _) = f.nonce_for(message, link);
        let ts = match message.auth.get(f.ts.as_str()) {
            Some(v) => ts_u32_for_signing(v)?,
            None => {
                let now = f.env.now();
                u32::try_from(now).map_err(|_| AuthError::TimestampOutOfRange { ts: now.into() })?
            }
        };
        let ts_bytes = ts.to_be_bytes();
        let mac = self.mac(&nonce, &ts_bytes, message)?;
        message.auth.insert(f.nonce.clone(), nonce);
        message.auth.insert(f.ts.clone(), ts_bytes);
        message.auth.insert(f.hmac.clone(), mac);
        Ok(())
    }

    /// netaio `check`, then (if enabled) the replay window and nonce cache.
    fn check(&self, message: &Message, link: &Link<'_>) -> Result<(), AuthError> {
        let f = &self.fields;
        // netaio: `ts = fields.get(ts_field, 0)`, and `ts == 0` means absent.
        let ts = match message.auth.get(f.ts.as_str()) {
            None | Some(AuthValue::Int(0)) => {
                return Err(AuthError::MissingField(AuthFieldRole::Timestamp))
            }
            Some(v) => v,
        };
        let nonce = bytes_field(message, f.nonce.as_str(), AuthFieldRole::Nonce)?;
        let mac = bytes_field(message, f.hmac.as_str(), AuthFieldRole::Mac)?;
        f.check_not_own(nonce, link)?;
        let int_ts;
        let ts_bytes: &[u8] = match ts {
            AuthValue::Bytes(b) => b,
            AuthValue::Int(i) => {
                int_ts = u32::try_from(*i)
                    .map_err(|_| AuthError::MalformedField(AuthFieldRole::Timestamp))?
                    .to_be_bytes();
                &int_ts
            }
        };

        let fresh = if f.replay.config().enabled {
            let key = nonce_key(nonce)?;
            let ts_value = ts_number(ts);
            let now = f.env.now();
            f.replay.check_window(ts_value, now)?;
            Some((key, ts_value, now))
        } else {
            None
        };

        let expected = self
            .mac(nonce, ts_bytes, message)
            .map_err(|_| AuthError::BadMac)?;
        if !ct_eq(mac, &expected) {
            return Err(AuthError::BadMac);
        }
        // Only now, with the MAC verified, may the nonce take cache space.
        if let Some((key, ts_value, now)) = fresh {
            // netaio frames carry no session: one share for every peer.
            let scope = ReplayScope::new(None, link.connection);
            f.replay.record_in(scope, key, ts_value, now)?;
        }
        Ok(())
    }

    fn strip(&self, message: &mut Message) {
        message.auth.remove(self.fields.hmac.as_str());
    }
}

impl fmt::Debug for NetaioHmac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetaioHmac")
            .field("secret", &self.mac_prefix)
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::crypto::sha256;
    use crate::auth::{FixedRandom, ManualClock};
    use crate::wire::MessageType;
    use bytes::Bytes;

    const CLIENT: Link<'static> = Link::new(crate::auth::Role::Client);
    const SERVER: Link<'static> = Link::new(crate::auth::Role::Server);

    const T: u64 = 1_700_000_000;

    fn ctx() -> PluginEnv {
        PluginEnv::new(
            ManualClock::new(T),
            FixedRandom::new((0u8..16).collect::<Vec<_>>(), 0),
        )
    }

    fn signed() -> Message {
        let mut m = Message::new(MessageType::REQUEST_URI, "echo", "hello");
        NetaioHmac::new("test-secret")
            .env(ctx())
            .make(&mut m, &CLIENT)
            .unwrap();
        m
    }

    #[test]
    fn strip_removes_only_the_mac() {
        let mut m = signed();
        let plugin = NetaioHmac::new("test-secret").env(ctx());
        plugin.check(&m, &SERVER).unwrap();
        plugin.strip(&mut m);
        assert!(m.auth.get("hmac").is_none());
        assert!(m.auth.get("nonce").is_some() && m.auth.get("ts").is_some());
    }

    #[test]
    fn reuses_existing_nonce_and_normalises_ts() {
        let mut m = Message::new(MessageType::OK, "", "");
        m.auth.insert("nonce", [9u8; 16]);
        m.auth.insert("ts", T as i128);
        NetaioHmac::new("s")
            .env(ctx())
            .make(&mut m, &CLIENT)
            .unwrap();
        assert_eq!(&m.auth.get_bytes("nonce").unwrap()[..], &[9u8; 16]);
        assert_eq!(
            &m.auth.get_bytes("ts").unwrap()[..],
            &(T as u32).to_be_bytes()
        );

        // A nonce of the wrong size is replaced, as in netaio.
        let mut m = Message::new(MessageType::OK, "", "");
        m.auth.insert("nonce", [9u8; 15]);
        NetaioHmac::new("s")
            .env(ctx())
            .make(&mut m, &CLIENT)
            .unwrap();
        assert_eq!(m.auth.get_bytes("nonce").unwrap().len(), 16);
    }

    #[test]
    fn refuses_to_sign_a_ts_beyond_32_bits() {
        let mut m = Message::new(MessageType::OK, "", "");
        m.auth.insert("ts", 1i128 << 32);
        let e = NetaioHmac::new("s").make(&mut m, &CLIENT).unwrap_err();
        assert!(e.is_send_side());
        let mut m = Message::new(MessageType::OK, "", "");
        m.auth.insert(
            "ts",
            Bytes::from_static(&[0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00]),
        );
        NetaioHmac::new("s")
            .env(ctx())
            .make(&mut m, &CLIENT)
            .unwrap();
        assert_eq!(m.auth.get_bytes("ts").unwrap().len(), 4);
    }

    #[test]
    fn accepts_int_ts_like_netaio() {
        let mut m = signed();
        m.auth.insert("ts", T as i128);
        let v = NetaioHmac::new("test-secret").env(ctx());
        v.check(&m, &SERVER).unwrap();
        m.auth.insert("ts", -1i128);
        assert_eq!(
            NetaioHmac::new("test-secret").env(ctx()).check(&m, &SERVER),
            Err(AuthError::MalformedField(AuthFieldRole::Timestamp))
        );
        m.auth.insert("ts", 0i128);
        assert_eq!(
            NetaioHmac::new("test-secret").env(ctx()).check(&m, &SERVER),
            Err(AuthError::MissingField(AuthFieldRole::Timestamp))
        );
    }

    #[test]
    fn typed_errors_for_missing_and_malformed_fields() {
        let v = || NetaioHmac::new("test-secret").env(ctx());
        for (field, role) in [
            ("ts", AuthFieldRole::Timestamp),
            ("nonce", AuthFieldRole::Nonce),
            ("hmac", AuthFieldRole::Mac),
        ] {
            let mut m = signed();
            m.auth.remove(field);
            assert_eq!(v().check(&m, &SERVER), Err(AuthError::MissingField(role)));
        }
        let mut m = signed();
        m.auth.insert("hmac", 5i128);
        assert_eq!(
            v().check(&m, &SERVER),
            Err(AuthError::MalformedField(AuthFieldRole::Mac))
        );
        let mut m = signed();
        m.auth.insert("nonce", 5i128);
        assert_eq!(
            v().check(&m, &SERVER),
            Err(AuthError::MalformedField(AuthFieldRole::Nonce))
        );
    }

    #[test]
    fn replay_off_accepts_any_nonce_length_like_netaio() {
        let mut m = Message::new(MessageType::OK, "", "x");
        m.auth.insert("nonce", Bytes::from_static(b"short"));
        m.auth.insert("ts", Bytes::from_static(&[0, 0, 0, 1]));
        let key = sha256(b"k");
        let mac = crate::auth::crypto::netaio_hmac(&key, b"short", &[&[0, 0, 0, 1], b"\x00\x00x"]);
        m.auth.insert("hmac", mac);
        let netaio = NetaioHmac::new("k").replay(ReplayConfig::disabled());
        netaio.check(&m, &SERVER).unwrap();
        netaio.check(&m, &SERVER).unwrap();
        assert_eq!(netaio.replay_cache_len(), 0);
        // With protection on, the same frame is refused (stale and short).
        assert!(NetaioHmac::new("k").check(&m, &SERVER).is_err());
    }
}
