//! Every HMAC and cipher case of netaio 0.0.9's golden vectors
//! (tests/data/vectors.json), reproduced byte for byte with the pinned
//! nonce, ts, IV and split point, then checked and decrypted back.

use std::sync::Arc;

use framewire::auth::crypto::{keystream, netaio_enc_key, netaio_mac_key, sha256};
use framewire::auth::{FixedRandom, ManualClock, PluginEnv};
use framewire::{
    Message, MessageType, NetaioHmac, NetaioStreamCipher, PluginLayer, PluginStack, Profile,
    ReplayConfig,
};
use serde_json::Value;

mod common;
use common::{hex, unhex, vectors};

/// A case exercising a plugin: it carries `hmac`/`cipher` intermediates, or
/// is a signed/encrypted frame named for one (hmac_two_layers has no
/// intermediates block).
fn is_plugin_case(c: &Value) -> bool {
    let id = c["id"].as_str().unwrap_or_default();
    c.get("hmac").is_some()
        || c.get("cipher").is_some()
        || (c["kind"] == "frame" && (id.starts_with("hmac_") || id.starts_with("cipher_")))
}

struct HmacCfg {
    secret: String,
    hmac_field: String,
    nonce_field: String,
    ts_field: String,
}

impl HmacCfg {
    fn from_config(cfg: &Value) -> Self {
        let s = |k: &str, d: &str| cfg[k].as_str().unwrap_or(d).to_owned();
        HmacCfg {
            secret: s("secret", ""),
            hmac_field: s("hmac_field", "hmac"),
            nonce_field: s("nonce_field", "nonce"),
            ts_field: s("ts_field", "ts"),
        }
    }

    fn plugin(&self, ctx: PluginEnv, replay: ReplayConfig) -> NetaioHmac {
        NetaioHmac::new(&self.secret)
            .hmac_field(self.hmac_field.clone())
            .nonce_field(self.nonce_field.clone())
            .ts_field(self.ts_field.clone())
            .env(ctx)
            .replay(replay)
    }
}

struct Case {
    id: String,
    message_type: MessageType,
    plain_uri: Vec<u8>,
    plain_content: Vec<u8>,
    nonce: Vec<u8>,
    ts: u64,
    /// Outer first. hmac_two_layers has two.
    hmacs: Vec<HmacCfg>,
    cipher: Option<(Value, Vec<u8>, usize)>,
}

fn parse_case(c: &Value) -> Case {
    let id = c["id"].as_str().expect("id").to_owned();
    let message_type =
        MessageType::try_from(c["message_type"]["value"].as_u64().expect("type") as u8)
            .expect("known type");
    let mut plain_uri = unhex(c["uri_hex"].as_str().expect("uri_hex"));
    let mut plain_content = unhex(c["content_hex"].as_str().expect("content_hex"));
    let mut cipher = None;
    if let Some(ci) = c.get("cipher") {
        plain_uri = unhex(ci["plaintext_uri_hex"].as_str().expect("plaintext uri"));
        plain_content = unhex(
            ci["plaintext_content_hex"]
                .as_str()
                .expect("plaintext content"),
        );
        let iv = unhex(ci["iv_hex"].as_str().expect("iv"));
        let split = ci["split_point"].as_u64().unwrap_or(0) as usize;
        cipher = Some((ci.clone(), iv, split));
    }
    let fields = &c["auth_fields"];
    let (mut nonce, mut ts) = (Vec::new(), 0);
    let mut hmacs = Vec::new();
    if let Some(h) = c.get("hmac") {
        hmacs.push(HmacCfg::from_config(&h["config"]));
        nonce = unhex(h["nonce_hex"].as_str().expect("nonce"));
        ts = h["ts"].as_u64().expect("ts");
    } else if id == "hmac_two_layers" {
        // No intermediates block; the description and WIRE.md §5.1 give the
        // readme pattern: outer secret 'test' on `hmac`, inner 'tset' on `camh`.
        assert!(c["description"].as_str().unwrap_or("").contains("'tset'"));
        hmacs.push(HmacCfg::from_config(&serde_json::json!({"secret": "test"})));
        hmacs.push(HmacCfg::from_config(
            &serde_json::json!({"secret": "tset", "hmac_field": "camh"}),
        ));
        nonce = unhex(fields["nonce"].as_str().expect("nonce field"));
        let t = unhex(fields["ts"].as_str().expect("ts field"));
        ts = t.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b));
    }
    Case {
        id,
        message_type,
        plain_uri,
        plain_content,
        nonce,
        ts,
        hmacs,
        cipher,
    }
}

fn cipher_plugin(cfg: &Value, ctx: PluginEnv) -> NetaioStreamCipher {
    let c = &cfg["config"];
    NetaioStreamCipher::new(c["key"].as_str().expect("key"))
        .iv_field(c["iv_field"].as_str().unwrap_or("iv").to_owned())
        .encrypt_uri(c["encrypt_uri"].as_bool().unwrap_or(true))
        .env(ctx)
}

/// The sending (or, with `replay` on, receiving) stack of a case: netaio's
/// instance cipher + auth, and for two layers the inner auth as handler.
fn stack(case: &Case, replay: ReplayConfig, clock: &Arc<ManualClock>) -> PluginStack {
    let hmac_ctx = PluginEnv::new(clock.clone(), FixedRandom::new(case.nonce.clone(), 0));
    let mut instance = PluginLayer::new();
    if let Some((cfg, iv, split)) = &case.cipher {
        let ctx = PluginEnv::new(clock.clone(), FixedRandom::new(iv.clone(), *split));
        instance = instance.with_cipher(cipher_plugin(cfg, ctx));
    }
    let mut handler = PluginLayer::new();
    if let Some(outer) = case.hmacs.first() {
        instance = instance.with_auth(outer.plugin(hmac_ctx.clone(), replay));
    }
    if let Some(inner) = case.hmacs.get(1) {
        handler = handler.with_auth(inner.plugin(hmac_ctx, replay));
    }
    PluginStack::new(instance).with_handler(handler)
}

fn check_intermediates(c: &Value, case: &Case, sealed: &Message) {
    if let Some(h) = c.get("hmac") {
        let k = sha256(HmacCfg::from_config(&h["config"]).secret.as_bytes());
        if let Some(want) = h["plugin_key_sha256_secret_hex"].as_str() {
            assert_eq!(hex(&k), want, "{}: plugin key", case.id);
        }
        if let Some(want) = h["mac_key_hex"].as_str() {
            assert_eq!(
                hex(&netaio_mac_key(&k, &case.nonce)),
                want,
                "{}: mac key",
                case.id
            );
        }
        if let Some(want) = h["ts_bytes_hex"].as_str() {
            assert_eq!(
                hex(&(case.ts as u32).to_be_bytes()),
                want,
                "{}: ts bytes",
                case.id
            );
        }
        if let Some(want) = h["mac_input_hex"].as_str() {
            let mut input = (case.ts as u32).to_be_bytes().to_vec();
            input.extend_from_slice(&(sealed.uri().len() as u16).to_be_bytes());
            input.extend_from_slice(sealed.uri());
            input.extend_from_slice(sealed.content());
            assert_eq!(hex(&input), want, "{}: mac input", case.id);
        }
        if let Some(want) = h["hmac_hex"].as_str() {
            let field = h["hmac_field"].as_str().unwrap_or("hmac");
            let got = sealed.auth.get_bytes(field).expect("mac field");
            assert_eq!(hex(got), want, "{}: mac", case.id);
        }
    }
    if let Some((ci, iv, _)) = &case.cipher {
        let k = sha256(ci["config"]["key"].as_str().expect("key").as_bytes());
        assert_eq!(
            hex(&k),
            ci["plugin_key_sha256_key_hex"],
            "{}: cipher key",
            case.id
        );
        let ek = netaio_enc_key(&k, iv);
        assert_eq!(hex(&ek), ci["enc_key_hex"], "{}: enc key", case.id);
        let plaintext = unhex(ci["plaintext_hex"].as_str().expect("plaintext"));
        let ks = keystream(&ek, plaintext.len()).expect("keystream");
        assert_eq!(hex(&ks), ci["keystream_hex"], "{}: keystream", case.id);
        let ct: Vec<u8> = plaintext.iter().zip(&ks).map(|(p, k)| p ^ k).collect();
        assert_eq!(hex(&ct), ci["ciphertext_hex"], "{}: ciphertext", case.id);
        let encrypt_uri = ci["config"]["encrypt_uri"].as_bool().unwrap_or(true);
        let on_wire = if encrypt_uri {
            [&sealed.uri()[..], &sealed.content()[..]].concat()
        } else {
            sealed.content().to_vec()
        };
        assert_eq!(on_wire, ct, "{}: ciphertext on the wire", case.id);
        if let Some(split) = ci["split_point"].as_u64() {
            assert_eq!(sealed.uri().len() as u64, split, "{}: split", case.id);
        }
    }
}

#[test]
fn every_plugin_vector_matches_byte_for_byte_and_opens() {
    let cases = vectors::all();
    let plugin_cases: Vec<&Value> = cases.iter().filter(|c| is_plugin_case(c)).collect();
    let mut matched = Vec::new();
    for c in &plugin_cases {
        let case = parse_case(c);
        assert!(
            !case.hmacs.is_empty() || case.cipher.is_some(),
            "{}: no plugin configuration found",
            case.id
        );
        let clock = Arc::new(ManualClock::new(case.ts));

        // Send side.
        let plain = Message::new(
            case.message_type,
            case.plain_uri.clone(),
            case.plain_content.clone(),
        );
        let sealed = stack(&case, ReplayConfig::default(), &clock)
            .seal(plain)
            .unwrap_or_else(|e| panic!("{}: seal: {e:?}", case.id));
        let frame = sealed.to_bytes(Profile::Netaio).expect("encodes");
        assert_eq!(hex(&frame), c["frame_hex"], "{}: frame", case.id);
        check_intermediates(c, &case, &sealed);

        // Receive side: netaio's frame, replay protection on, clock at ts.
        let received = Message::decode(
            Profile::Netaio,
            unhex(c["frame_hex"].as_str().expect("frame_hex")),
        )
        .expect("vector frame decodes");
        let receiver = stack(&case, ReplayConfig::default(), &clock);
        let opened = receiver
            .open(received.clone())
            .unwrap_or_else(|r| panic!("{}: open: {:?}", case.id, r.error));
        assert_eq!(&opened.uri()[..], &case.plain_uri[..], "{}: uri", case.id);
        assert_eq!(
            &opened.content()[..],
            &case.plain_content[..],
            "{}: content",
            case.id
        );
        assert_eq!(opened.message_type, case.message_type);
        if !case.hmacs.is_empty() {
            // The receiver remembered the nonce: the same frame again fails.
            let again = receiver.open(received).expect_err("replay refused");
            assert!(again.error.is_replayed(), "{}: {:?}", case.id, again.error);
        }
        matched.push(case.id);
    }

    assert!(
        !plugin_cases.is_empty(),
        "no HMAC/cipher cases in vectors.json"
    );
    assert_eq!(matched.len(), plugin_cases.len());
    for id in [
        "hmac_default_fields",
        "hmac_custom_hmac_field",
        "hmac_custom_all_fields",
        "hmac_empty_body",
        "hmac_two_layers",
        "cipher_encrypt_uri",
        "cipher_content_only",
        "cipher_then_hmac",
    ] {
        assert!(matched.iter().any(|m| m == id), "case {id} not exercised");
    }
    println!(
        "matched {} plugin vectors: {}",
        matched.len(),
        matched.join(", ")
    );
}

#[test]
fn helper_auth_failed_frame_is_the_plugins_error_message() {
    use framewire::AuthPlugin;
    let cases = vectors::all();
    let c = cases
        .iter()
        .find(|c| c["id"] == "helper_hmac_auth_failed")
        .expect("helper_hmac_auth_failed");
    let reply = NetaioHmac::new("x").error_message();
    assert_eq!(
        hex(&reply.to_bytes(Profile::Netaio).unwrap()),
        c["frame_hex"]
    );
}

#[test]
fn wrong_key_or_secret_does_not_open_vectors() {
    let cases = vectors::all();
    let c = cases
        .iter()
        .find(|c| c["id"] == "cipher_then_hmac")
        .expect("cipher_then_hmac");
    let msg = Message::decode(Profile::Netaio, unhex(c["frame_hex"].as_str().unwrap())).unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let ctx = PluginEnv::new(clock, FixedRandom::new(vec![0], 0));
    let wrong = PluginStack::new(
        PluginLayer::new()
            .with_cipher(NetaioStreamCipher::new("test-key"))
            .with_auth(NetaioHmac::new("not-the-secret").env(ctx)),
    );
    let r = wrong.open(msg).unwrap_err();
    assert!(r.error.is_bad_mac());
}
