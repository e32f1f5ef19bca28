//! Strict mode's MAC: what it covers, direction, sessions, audience.

use super::*;
use crate::auth::{FixedRandom, ManualClock, NetaioStreamCipher, PluginLayer, PluginStack, Role};
use crate::protocol::{RequestId, SessionId};
use crate::wire::MessageType;

const T: u64 = 1_700_000_000;
const CLIENT: Link<'static> = Link::new(Role::Client);
const SERVER: Link<'static> = Link::new(Role::Server);

fn env() -> PluginEnv {
    PluginEnv::new(ManualClock::new(T), FixedRandom::new(vec![1, 2, 3], 0))
}

fn plugin() -> StrictHmac {
    StrictHmac::new("k").env(env())
}

fn signed() -> Message {
    let mut m = Message::new(MessageType::CREATE_URI, "u", "c");
    RequestId::from(7).attach(&mut m);
    plugin().make(&mut m, &CLIENT).unwrap();
    m
}

#[test]
fn is_standard_hmac_sha256_of_the_documented_input() {
    let m = signed();
    let nonce: Vec<u8> = [1u8, 2, 3].iter().copied().cycle().take(16).collect();
    let lp = |v: &mut Vec<u8>, b: &[u8]| {
        v.extend_from_slice(&(b.len() as u64).to_be_bytes());
        v.extend_from_slice(b);
    };
    let mut input = DOMAIN.to_vec();
    input.extend_from_slice(&[1, 2]); // signed by a client, CREATE_URI
    lp(&mut input, b""); // no audience
    lp(&mut input, b"u");
    lp(&mut input, b"c");
    input.extend_from_slice(&3u64.to_be_bytes()); // nonce, rid, ts
    for (name, value) in [
        ("nonce", nonce),
        ("rid", 7u64.to_be_bytes().to_vec()),
        ("ts", (T as u32).to_be_bytes().to_vec()),
    ] {
        lp(&mut input, name.as_bytes());
        input.push(1);
        lp(&mut input, &value);
    }
    let mut reference = <HmacSha256 as Mac>::new_from_slice(&sha256(b"k")).unwrap();
    reference.update(&input);
    let want = reference.finalize().into_bytes();
    assert_eq!(&m.auth.get_bytes("hmac").unwrap()[..], &want[..]);
}

#[test]
fn every_field_and_the_type_are_covered() {
    let good = signed();
    plugin().check(&good, &SERVER).unwrap();
    let mut forgeries = Vec::new();
    let mut m = good.clone();
    m.message_type = MessageType::DELETE_URI;
    forgeries.push(("type", m));
    let mut m = good.clone();
    RequestId::from(8).attach(&mut m);
    forgeries.push(("rid changed", m));
    let mut m = good.clone();
    m.auth.remove("rid");
    forgeries.push(("rid removed", m));
    let mut m = good.clone();
    m.auth.insert("user", b"mallory".as_slice());
    forgeries.push(("field added", m));
    let mut m = good.clone();
    m.body.uri = "v".into();
    forgeries.push(("uri", m));
    for (what, m) in forgeries {
        let e = plugin().check(&m, &SERVER).unwrap_err();
        assert!(e.is_bad_mac(), "{what}: {e:?}");
    }
}

#[test]
fn a_frame_cannot_be_reflected_to_the_role_that_signed_it() {
    let m = signed();
    assert!(plugin().check(&m, &CLIENT).unwrap_err().is_bad_mac());
    let mut reply = Message::ok("u", "stored");
    plugin().make(&mut reply, &SERVER).unwrap();
    plugin().check(&reply, &CLIENT).unwrap();
    assert!(plugin().check(&reply, &SERVER).unwrap_err().is_bad_mac());
}

#[test]
fn a_node_refuses_frames_carrying_its_own_nonce_mark() {
    let node = crate::auth::NonceTag::random();
    let mut m = Message::new(MessageType::REQUEST_URI, "k", "");
    plugin()
        .make(&mut m, &Link::new(Role::Client).tag(Some(&node)))
        .unwrap();
    // Reflected back to the same node (any of its plugins): its own mark
    // refuses it before anything else is looked at.
    let back = Link::new(Role::Server).tag(Some(&node));
    assert!(plugin().check(&m, &back).unwrap_err().is_replayed());
    // Another node takes it (the MAC and the role fit).
    let other = crate::auth::NonceTag::random();
    plugin()
        .check(&m, &Link::new(Role::Server).tag(Some(&other)))
        .unwrap();
}

#[test]
fn frames_are_bound_to_their_session_and_the_session_to_its_connection() {
    let sid = SessionId::from_bytes([9; 16]);
    let other = SessionId::from_bytes([8; 16]);
    let client = Link::new(Role::Client).session(Some(&sid));
    let mut m = Message::new(MessageType::REQUEST_URI, "k", "");
    plugin().make(&mut m, &client).unwrap();
    assert_eq!(SessionId::of(&m), Some(sid));
    // The server learns the session from the first frame ...
    let server = plugin();
    let first = Link::new(Role::Server).connection(Some(1));
    server.check(&m, &first).unwrap();
    // ... and a known session must match.
    let mut n = Message::new(MessageType::REQUEST_URI, "k", "");
    plugin()
        .make(&mut n, &Link::new(Role::Client).session(Some(&other)))
        .unwrap();
    let pinned = Link::new(Role::Server)
        .connection(Some(1))
        .session(Some(&sid));
    assert!(server.check(&n, &pinned).unwrap_err().is_bad_mac());
    // The same session on another connection is a replay, fresh nonce or not.
    let mut again = Message::new(MessageType::REQUEST_URI, "k", "");
    again.auth.insert("nonce", [5u8; 16]);
    plugin().make(&mut again, &client).unwrap();
    let elsewhere = Link::new(Role::Server).connection(Some(2));
    assert!(server.check(&again, &elsewhere).unwrap_err().is_replayed());
}

#[test]
fn an_audience_keeps_frames_for_one_server() {
    let mut m = Message::new(MessageType::REQUEST_URI, "k", "");
    plugin().audience("db-1").make(&mut m, &CLIENT).unwrap();
    assert!(plugin()
        .audience("db-2")
        .check(&m, &SERVER)
        .unwrap_err()
        .is_bad_mac());
    assert!(plugin().check(&m, &SERVER).unwrap_err().is_bad_mac());
    plugin().audience("db-1").check(&m, &SERVER).unwrap();
}

#[test]
fn stacked_layers_with_ciphers_each_see_what_they_signed() {
    let make = || {
        let layer = |k: &str, iv: &'static str, mac: &'static str| {
            PluginLayer::new()
                .with_cipher(NetaioStreamCipher::new(k).iv_field(iv))
                .with_auth(StrictHmac::new(k).hmac_field(mac).env(env()))
        };
        PluginStack::new(layer("outer", "iv", "hmac")).with_handler(layer("inner", "iv2", "camh"))
    };
    let mut request = Message::new(MessageType::REQUEST_URI, "echo", "hi");
    RequestId::from(3).attach(&mut request);
    let sealed = make().seal(request).unwrap();
    for f in ["iv", "iv2", "hmac", "camh", "rid"] {
        assert!(sealed.auth.contains(f), "{f}");
    }
    // The outer MAC covers the inner IV: swapping it breaks the outer check.
    let mut swapped = sealed.clone();
    swapped.auth.insert("iv2", [0u8; 16]);
    let server = || make().role(Role::Server);
    assert!(server().open(swapped).unwrap_err().error.is_bad_mac());
    let opened = server().open(sealed).unwrap();
    assert_eq!(&opened.content()[..], b"hi");
    assert_eq!(RequestId::of(&opened), Some(RequestId::from(3)));
    for f in ["iv", "iv2", "hmac", "camh"] {
        assert!(!opened.auth.contains(f), "{f} consumed");
    }
}

#[test]
fn shared_nonce_and_ts_are_reused_not_rewritten() {
    let mut m = Message::new(MessageType::OK, "", "");
    m.auth.insert("nonce", [7u8; 16]);
    m.auth.insert("ts", T as i128);
    plugin().make(&mut m, &SERVER).unwrap();
    assert_eq!(m.auth.get("ts"), Some(&AuthValue::Int(T as i128)));
    assert_eq!(&m.auth.get_bytes("nonce").unwrap()[..], &[7u8; 16]);
    plugin().check(&m, &CLIENT).unwrap();
}

#[test]
fn oversized_ts_is_malformed() {
    let mut m = Message::new(MessageType::OK, "", "");
    plugin().make(&mut m, &CLIENT).unwrap();
    m.auth.insert("ts", vec![1u8; 9]);
    assert_eq!(
        plugin().check(&m, &SERVER),
        Err(AuthError::MalformedField(AuthFieldRole::Timestamp))
    );
}

#[test]
fn ts_takes_up_to_eight_significant_bytes() {
    let b = |v: &[u8]| AuthValue::Bytes(Bytes::copy_from_slice(v));
    assert_eq!(ts_exact(&b(&[0xff; 8])), Some(u64::MAX));
    assert_eq!(ts_exact(&b(&[0, 0, 1, 2])), Some(0x0102));
    // Leading zeros are not significant; a ninth significant byte is.
    assert_eq!(ts_exact(&b(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 5])), Some(5));
    assert_eq!(ts_exact(&b(&[1, 0, 0, 0, 0, 0, 0, 0, 0])), None);
    assert_eq!(ts_exact(&AuthValue::Int(-1)), None);
    assert_eq!(ts_exact(&AuthValue::Int(1 << 64)), None);
    assert_eq!(ts_exact(&AuthValue::Int(42)), Some(42));
}

#[test]
fn a_strict_plugin_is_peer_specific_and_debugs_without_its_secret() {
    let p = StrictHmac::new("hunter2-secret");
    assert!(p.is_peer_specific());
    let d = format!("{p:?}");
    assert!(d.starts_with("StrictHmac") && d.contains("fields"), "{d}");
    assert!(!d.contains("hunter2"), "{d}");
}
