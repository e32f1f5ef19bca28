//! Live interop with netaio 0.0.9's own HMACAuthPlugin and
//! Sha256StreamCipherPlugin (tests/python/netaio_auth_peer.py), with random
//! nonces/IVs and the real clock in both directions.
//!
//! Needs the netaio venv (see README.md, Tests): `#[ignore]`d so a bare
//! `cargo test` lists it as ignored; `-- --include-ignored` runs it and
//! fails if the venv is missing.

mod common;

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use common::{hex, netaio_python, run_with_input, unhex};
use framewire::{
    Message, MessageType, NetaioHmac, NetaioStreamCipher, PluginLayer, PluginStack, Profile,
    ReplayConfig,
};
use serde_json::{json, Value};

/// Runs the peer script in `mode`, feeding it `stdin` (60 s at most).
fn run(mode: &str, stdin: &str) -> common::process::Output {
    let mut cmd = Command::new(netaio_python());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/netaio_auth_peer.py"
    ))
    .arg(mode);
    run_with_input(cmd, stdin.as_bytes(), Duration::from_secs(60))
}

/// A secret/key from the JSON spec: text, or `{"hex": ...}` raw bytes.
fn secret(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        other => unhex(other["hex"].as_str().expect("secret as text or {hex}")),
    }
}

fn layer(spec: &Value, replay: ReplayConfig) -> PluginLayer {
    let mut layer = PluginLayer::new();
    if let Some(c) = spec.get("cipher").filter(|c| !c.is_null()) {
        layer = layer.with_cipher(
            NetaioStreamCipher::new(secret(&c["key"]))
                .iv_field(c["iv_field"].as_str().unwrap_or("iv").to_owned())
                .encrypt_uri(c["encrypt_uri"].as_bool().unwrap_or(true)),
        );
    }
    if let Some(h) = spec.get("hmac").filter(|h| !h.is_null()) {
        let s = |k: &str, d: &str| h[k].as_str().unwrap_or(d).to_owned();
        layer = layer.with_auth(
            NetaioHmac::new(secret(&h["secret"]))
                .hmac_field(s("hmac_field", "hmac"))
                .nonce_field(s("nonce_field", "nonce"))
                .ts_field(s("ts_field", "ts"))
                .replay(replay),
        );
    }
    layer
}

/// netaio layers are listed outer first; framewire's stack holds the
/// instance (outer) layer and at most one handler (inner) layer.
fn stack(layers: &Value, replay: ReplayConfig) -> PluginStack {
    let layers = layers.as_array().expect("layers");
    assert!(!layers.is_empty() && layers.len() <= 2, "{layers:?}");
    let mut s = PluginStack::new(layer(&layers[0], replay));
    if let Some(inner) = layers.get(1) {
        s = s.with_handler(layer(inner, replay));
    }
    s
}

fn lines(s: &str) -> Vec<Value> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// A message framewire seals for netaio to open.
struct Spec {
    name: String,
    layers: Value,
    message_type: MessageType,
    uri: Vec<u8>,
    content: Vec<u8>,
}

const EXPECTED_FROM_NETAIO: [&str; 10] = [
    "hmac_default",
    "hmac_empty_body",
    "hmac_binary",
    "hmac_custom_fields",
    "two_layers",
    "cipher_encrypt_uri",
    "cipher_content_only",
    "cipher_then_hmac",
    "cipher_then_hmac_empty",
    "two_layers_inner_cipher",
];

#[test]
#[ignore = "needs the netaio 0.0.9 venv; see README"]
fn netaio_and_framewire_sign_encrypt_verify_decrypt_each_other() {
    // 1. netaio signs/encrypts; framewire checks (replay protection on, so
    //    netaio's fresh ts must fall inside the window) and decrypts.
    let signed = run("sign", "");
    assert!(signed.success, "netaio sign failed: {}", signed.stderr);
    let cases = lines(&signed.stdout);
    let names: Vec<&str> = cases.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        names, EXPECTED_FROM_NETAIO,
        "cases printed by the netaio peer"
    );
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        let frame = unhex(case["frame_hex"].as_str().expect("frame_hex"));
        let msg = Message::decode(Profile::Netaio, frame)
            .unwrap_or_else(|e| panic!("{name}: netaio frame does not decode: {e}"));
        let receiver = stack(&case["layers"], ReplayConfig::default());
        let opened = receiver
            .open(msg.clone())
            .unwrap_or_else(|r| panic!("{name}: rejected netaio's message: {:?}", r.error));
        assert_eq!(hex(opened.uri()), case["plain_uri_hex"], "{name}: uri");
        assert_eq!(
            hex(opened.content()),
            case["plain_content_hex"],
            "{name}: content"
        );
        assert_eq!(
            u64::from(opened.message_type.value()),
            case["message_type"].as_u64().expect("type"),
            "{name}: type"
        );
        if case["layers"].to_string().contains("\"hmac\"") {
            let again = receiver.open(msg).expect_err("second delivery is a replay");
            assert!(again.error.is_replayed(), "{name}: {:?}", again.error);
        }
    }

    // 2. framewire signs/encrypts the same plaintexts with the same
    //    configurations (its own random nonces/IVs, real clock), plus a
    //    large message and a tampered control; netaio verifies and decrypts.
    let mut outgoing: Vec<(String, Value, bool)> = Vec::new();
    let mut specs: Vec<Spec> = cases
        .iter()
        .map(|c| Spec {
            name: format!("rust_{}", c["name"].as_str().unwrap_or("?")),
            layers: c["layers"].clone(),
            message_type: MessageType::try_from(c["message_type"].as_u64().expect("type") as u8)
                .expect("known type"),
            uri: unhex(c["plain_uri_hex"].as_str().expect("uri")),
            content: unhex(c["plain_content_hex"].as_str().expect("content")),
        })
        .collect();
    specs.push(Spec {
        name: "rust_large_cipher_then_hmac".into(),
        layers: json!([{"cipher": {"key": "test-key"}, "hmac": {"secret": "test-secret"}}]),
        message_type: MessageType::NOTIFY_URI,
        uri: b"feed/large".to_vec(),
        content: (0..60_000u32).map(|i| (i * 7 % 251) as u8).collect(),
    });
    for Spec {
        name,
        layers,
        message_type,
        uri,
        content,
    } in &specs
    {
        let sealed = stack(layers, ReplayConfig::default())
            .seal(Message::new(
                *message_type,
                Bytes::from(uri.clone()),
                Bytes::from(content.clone()),
            ))
            .unwrap_or_else(|e| panic!("{name}: seal: {e:?}"));
        let frame = sealed.to_bytes(Profile::Netaio).expect("encodes");
        outgoing.push((
            name.clone(),
            json!({
                "name": name,
                "layers": layers,
                "message_type": message_type.value(),
                "plain_uri_hex": hex(uri),
                "plain_content_hex": hex(content),
                "frame_hex": hex(&frame),
            }),
            true,
        ));
        if name == "rust_hmac_default" {
            // Control: netaio must refuse a body changed after signing (the
            // frame's CRC is recomputed, so only the MAC can catch it).
            let mut tampered = sealed.clone();
            tampered.body.content = Bytes::from_static(b"hellO");
            outgoing.push((
                "rust_tampered_control".into(),
                json!({
                    "name": "rust_tampered_control",
                    "layers": layers,
                    "message_type": message_type.value(),
                    "plain_uri_hex": hex(uri),
                    "plain_content_hex": hex(content),
                    "frame_hex": hex(&tampered.to_bytes(Profile::Netaio).expect("encodes")),
                }),
                false,
            ));
        }
    }
    let input: String = outgoing.iter().map(|(_, v, _)| format!("{v}\n")).collect();
    let verified = run("verify", &input);
    assert!(
        verified.success,
        "netaio verify failed: {}",
        verified.stderr
    );
    let results = lines(&verified.stdout);
    assert_eq!(results.len(), outgoing.len(), "one result per message");
    for ((name, _, expect_ok), result) in outgoing.iter().zip(&results) {
        assert_eq!(result["name"], json!(name));
        assert_eq!(
            result["ok"].as_bool(),
            Some(*expect_ok),
            "{name}: netaio said {result}"
        );
        if *expect_ok {
            assert!(result["error"].is_null(), "{name}: {result}");
            let checks = result["checks"].as_array().expect("checks");
            assert!(checks.iter().all(|c| c == true), "{name}: {result}");
        } else {
            assert_eq!(result["checks"], json!([false]), "{name}: {result}");
        }
    }
    assert_eq!(
        outgoing.iter().filter(|(_, _, ok)| *ok).count(),
        EXPECTED_FROM_NETAIO.len() + 1
    );
}
