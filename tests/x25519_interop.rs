//! Live interop with netaio 0.0.9's own X25519CipherPlugin
//! (tests/python/netaio_x25519_check.py), random nonces and split points
//! on both sides: netaio decrypts what framewire sealed for it, framewire
//! decrypts what netaio sealed for it, each side using the other's
//! advertised peer data.
//!
//! Needs the netaio venv with PyNaCl and tapescript (see README.md,
//! Tests): `#[ignore]`d so a bare `cargo test` lists it as ignored;
//! `-- --include-ignored` runs it and fails if they are missing.

mod common;

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use common::{hex, netaio_asymmetric_python, run_with_input, unhex};
use framewire::auth::{Link, Role};
use framewire::{AuthFields, CipherPlugin, Message, MessageType, Profile, X25519CipherPlugin};
use serde_json::{json, Value};

const FRAMEWIRE_SEED: [u8; 32] = [0x42; 32];
const NETAIO_SEED: [u8; 32] = [0x17; 32];

/// The messages exchanged in each direction: (id, encrypt_uri, message).
fn messages() -> Vec<(&'static str, bool, Message)> {
    let mut with_auth = Message::new(MessageType::PUBLISH_URI, "topic/x", "with auth fields");
    with_auth.auth.insert("rid", [9u8, 8, 7, 6]);
    let long: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
    vec![
        (
            "content",
            false,
            Message::new(MessageType::REQUEST_URI, "echo", "hello netaio"),
        ),
        ("empty", false, Message::new(MessageType::OK, "", "")),
        ("auth_fields", false, with_auth.clone()),
        (
            "uri",
            true,
            Message::new(MessageType::REQUEST_URI, "echo", "hello netaio"),
        ),
        ("uri_empty", true, Message::new(MessageType::OK, "", "")),
        ("uri_auth_fields", true, with_auth),
        (
            "uri_long",
            true,
            Message::new(MessageType::RESPOND_URI, "some/longer/uri", long),
        ),
    ]
}

fn fields_json(auth: &AuthFields) -> Value {
    let mut obj = serde_json::Map::new();
    for (name, value) in auth.iter() {
        let bytes = value.as_bytes().expect("bytes auth fields only");
        obj.insert(name.to_owned(), json!(hex(bytes)));
    }
    Value::Object(obj)
}

#[test]
#[ignore = "needs the netaio venv with PyNaCl and tapescript; see README"]
fn netaio_and_framewire_decrypt_each_other() {
    let python = netaio_asymmetric_python();
    let me = X25519CipherPlugin::new(FRAMEWIRE_SEED);
    let my_data = me.peer_data().to_bytes();
    // What netaio should advertise, as framewire computes it; the script
    // reports netaio's own value.
    let their_data = X25519CipherPlugin::new(NETAIO_SEED).peer_data().to_bytes();
    let to_netaio = Link::new(Role::Client).peer_data(Some(&their_data));

    let mut decrypt = Vec::new();
    for (id, encrypt_uri, m) in messages() {
        let sealed = X25519CipherPlugin::new(FRAMEWIRE_SEED)
            .encrypt_uri(encrypt_uri)
            .encrypt(m, &to_netaio)
            .expect("seal");
        let frame = sealed.to_bytes(Profile::Netaio).expect("netaio-sized");
        decrypt.push(json!({"id": id, "encrypt_uri": encrypt_uri, "frame_hex": hex(&frame)}));
    }
    // One tampered frame netaio must refuse.
    let (_, _, m) = &messages()[0];
    let mut bad = me.encrypt(m.clone(), &to_netaio).expect("seal");
    let mut content = bad.content().to_vec();
    *content.last_mut().unwrap() ^= 1;
    bad.body.content = content.into();
    decrypt.push(json!({"id": "tampered", "encrypt_uri": false,
        "frame_hex": hex(&bad.to_bytes(Profile::Netaio).unwrap())}));

    let encrypt: Vec<Value> = messages()
        .into_iter()
        .map(|(id, encrypt_uri, m)| {
            json!({
                "id": id,
                "encrypt_uri": encrypt_uri,
                "message_type": m.message_type.value(),
                "uri_hex": hex(m.uri()),
                "content_hex": hex(m.content()),
                "auth_fields": fields_json(&m.auth),
            })
        })
        .collect();
    let job = json!({
        "netaio_seed_hex": hex(&NETAIO_SEED),
        "framewire_peer_data_hex": hex(&my_data),
        "decrypt": decrypt,
        "encrypt": encrypt,
    });

    let mut cmd = Command::new(python);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/netaio_x25519_check.py"
    ));
    let out = run_with_input(cmd, job.to_string().as_bytes(), Duration::from_secs(60));
    assert!(
        out.success,
        "netaio_x25519_check.py failed:\n{}{}",
        out.stdout, out.stderr
    );
    let got: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON object");

    // Keys agree.
    assert_eq!(got["netaio_peer_data_hex"], hex(&their_data));
    let netaio = X25519CipherPlugin::new(NETAIO_SEED);
    assert_eq!(got["netaio_pubkey_hex"], hex(&netaio.public_key()));
    assert_eq!(got["netaio_vkey_hex"], hex(&netaio.verify_key()));

    // netaio opened framewire's frames (and refused the tampered one).
    let decrypted = got["decrypted"].as_array().expect("decrypted");
    assert_eq!(decrypted.len(), messages().len() + 1);
    for ((id, _, m), r) in messages().into_iter().zip(decrypted) {
        assert_eq!(r["id"], id);
        assert_eq!(r["ok"], true, "{id}: {}", r["error"]);
        assert_eq!(r["uri_hex"], hex(m.uri()), "{id}");
        assert_eq!(r["content_hex"], hex(m.content()), "{id}");
        assert_eq!(r["auth_fields"], fields_json(&m.auth), "{id}");
    }
    let tampered = decrypted.last().unwrap();
    assert_eq!(tampered["id"], "tampered");
    assert_eq!(tampered["ok"], false, "netaio accepted a tampered box");

    // framewire opens netaio's frames, with netaio's advertised data.
    let netaio_data = Bytes::from(unhex(got["netaio_peer_data_hex"].as_str().unwrap()));
    let from_netaio = Link::new(Role::Server).peer_data(Some(&netaio_data));
    let encrypted = got["encrypted"].as_array().expect("encrypted");
    assert_eq!(encrypted.len(), messages().len());
    for ((id, encrypt_uri, m), e) in messages().into_iter().zip(encrypted) {
        assert_eq!(e["id"], id);
        let frame = Bytes::from(unhex(e["frame_hex"].as_str().unwrap()));
        let received = Message::decode(Profile::Netaio, frame).expect("netaio frame decodes");
        if !encrypt_uri {
            assert_eq!(received.uri(), m.uri(), "{id}: uri sent in the clear");
        }
        let opened = X25519CipherPlugin::new(FRAMEWIRE_SEED)
            .encrypt_uri(encrypt_uri)
            .decrypt(received, &from_netaio)
            .unwrap_or_else(|err| panic!("{id}: {err:?}"));
        assert_eq!(opened, m, "{id}");
    }
}
