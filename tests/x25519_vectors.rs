//! netaio 0.0.9's X25519CipherPlugin golden vectors
//! (tests/data/x25519_vectors.json, made by tests/python/x25519_vectors.py
//! with netaio and PyNaCl): framewire derives the same keys, decrypts
//! netaio's frames, and with the box nonce and split point pinned
//! reproduces netaio's frames byte for byte, with and without encrypt_uri.

use bytes::Bytes;
use framewire::auth::{FixedRandom, Link, ManualClock, PluginEnv, Role};
use framewire::wire::PackValue;
use framewire::{AuthFields, CipherPlugin, Message, MessageType, Profile, X25519CipherPlugin};
use serde_json::Value;

mod common;
use common::{hex, unhex};

fn doc() -> Value {
    let doc: Value = serde_json::from_str(include_str!("data/x25519_vectors.json"))
        .expect("x25519_vectors.json is JSON");
    assert_eq!(doc["netaio_version"], "0.0.9");
    doc
}

fn h(v: &Value) -> Vec<u8> {
    unhex(v.as_str().expect("a hex string"))
}

struct Key {
    seed: [u8; 32],
    peer_data: Bytes,
}

fn key(doc: &Value, name: &str) -> Key {
    let k = doc["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no key {name}"));
    Key {
        seed: h(&k["seed_hex"]).try_into().expect("32-byte seed"),
        peer_data: h(&k["peer_data_hex"]).into(),
    }
}

fn cases(doc: &Value) -> &Vec<Value> {
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 6);
    assert!(cases.iter().any(|c| c["encrypt_uri"] == true));
    assert!(cases.iter().any(|c| c["encrypt_uri"] == false));
    cases
}

/// The message before encryption, as the case describes it.
fn plain(c: &Value) -> Message {
    let mt = MessageType::try_from(c["message_type"].as_u64().expect("type") as u8).expect("type");
    let mut auth = AuthFields::new();
    for (k, v) in c["auth_fields"].as_object().expect("auth_fields") {
        auth.insert(k.clone(), Bytes::from(h(v)));
    }
    Message::new(mt, h(&c["uri_hex"]), h(&c["content_hex"])).with_auth(auth)
}

fn frame(c: &Value, field: &str) -> Message {
    Message::decode(Profile::Netaio, Bytes::from(h(&c[field]))).expect("netaio frame decodes")
}

#[test]
fn keys_and_peer_data_match_pynacl() {
    let doc = doc();
    for k in doc["keys"].as_array().expect("keys") {
        let seed: [u8; 32] = h(&k["seed_hex"]).try_into().unwrap();
        let c = X25519CipherPlugin::new(seed);
        assert_eq!(hex(&c.public_key()), k["pubkey_hex"], "{}", k["name"]);
        assert_eq!(hex(&c.verify_key()), k["vkey_hex"], "{}", k["name"]);
        // packify.pack({"pubkey": key}) byte for byte.
        assert_eq!(hex(&c.peer_data().to_bytes()), k["peer_data_hex"]);
        let data = PackValue::decode(Bytes::from(h(&k["peer_data_hex"]))).unwrap();
        assert_eq!(data, c.peer_data());
    }
}

#[test]
fn decrypts_netaio_frames() {
    let doc = doc();
    for c in cases(&doc) {
        let id = c["id"].as_str().unwrap();
        let (snd, rcv) = (
            key(&doc, c["sender"].as_str().unwrap()),
            key(&doc, c["receiver"].as_str().unwrap()),
        );
        let receiver =
            X25519CipherPlugin::new(rcv.seed).encrypt_uri(c["encrypt_uri"].as_bool().unwrap());
        let link = Link::new(Role::Server).peer_data(Some(&snd.peer_data));
        for field in ["netaio_frame_hex", "fixed_frame_hex"] {
            let opened = receiver
                .decrypt(frame(c, field), &link)
                .unwrap_or_else(|e| panic!("{id} {field}: {e:?}"));
            assert_eq!(opened, plain(c), "{id} {field}");
        }
    }
}

#[test]
fn pinned_nonce_and_split_reproduce_netaio_frames() {
    let doc = doc();
    for c in cases(&doc) {
        let id = c["id"].as_str().unwrap();
        let (snd, rcv) = (
            key(&doc, c["sender"].as_str().unwrap()),
            key(&doc, c["receiver"].as_str().unwrap()),
        );
        let nonce = h(&c["nonce_hex"]);
        assert_eq!(nonce.len(), 24);
        let encrypt_uri = c["encrypt_uri"].as_bool().unwrap();
        // FixedRandom's randint is the pinned split (unused without encrypt_uri).
        let split = c["split"].as_u64().map_or(0, |s| s as usize);
        let env = PluginEnv::new(ManualClock::new(0), FixedRandom::new(nonce.clone(), split));
        let sender = X25519CipherPlugin::new(snd.seed)
            .encrypt_uri(encrypt_uri)
            .env(env);
        let link = Link::new(Role::Client).peer_data(Some(&rcv.peer_data));
        let sealed = sender.encrypt(plain(c), &link).unwrap();

        // The box itself: PyNaCl's Box(sender, receiver).encrypt(plaintext, nonce).
        let boxed = if encrypt_uri {
            [&sealed.uri()[..], &sealed.content()[..]].concat()
        } else {
            assert_eq!(sealed.uri(), plain(c).uri(), "{id}: uri kept");
            sealed.content().to_vec()
        };
        assert_eq!(hex(&boxed), c["box_hex"], "{id}: box");
        if encrypt_uri {
            assert_eq!(sealed.uri().len(), split, "{id}: split");
        }
        // And the whole frame netaio sent with that nonce and split.
        let wire = sealed.to_bytes(Profile::Netaio).unwrap();
        assert_eq!(hex(&wire), c["fixed_frame_hex"], "{id}: frame");
    }
}
