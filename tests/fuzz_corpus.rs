//! Replays every seed (`fuzz/seeds/<target>/`) and every minimised crash
//! input (`fuzz/regressions/<target>/`) through the fuzz targets' checks
//! (`fuzz/checks/`) on stable `cargo test`, with the same counting global
//! allocator, so the fuzz properties and memory bounds hold in CI without
//! libFuzzer.

// Each network check includes fuzz/panic_watch.rs itself (it is also a
// fuzz target's only module), so that file is loaded twice here.
#![allow(clippy::duplicate_mod)]

#[path = "../fuzz/backplane_check.rs"]
mod backplane_check;
#[path = "../fuzz/checks/mod.rs"]
mod checks;
#[path = "../fuzz/client_check.rs"]
mod client_check;
#[path = "../fuzz/node_check.rs"]
mod node_check;
#[path = "../fuzz/server_auth_check.rs"]
mod server_auth_check;
#[path = "../fuzz/server_check.rs"]
mod server_check;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use framewire::{wire, DecodeError, FrameConfig, Header, Message, MessageType, Profile};

#[global_allocator]
static ALLOC: checks::CountingAlloc = checks::CountingAlloc;

/// Input files of `fuzz/<kind>/<target>/` (README.md and dotfiles skipped).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name != "README.md" && !name.starts_with('.')
        })
        .collect();
    files.sort();
    files
}

/// Runs `check` on every seed and regression of `target`; fails listing
/// every input that panicked, or if there was no seed at all.
fn replay(target: &str, check: fn(&[u8])) {
    let seeds = inputs("seeds", target);
    assert!(
        !seeds.is_empty(),
        "no seeds in fuzz/seeds/{target}/ (run python3 fuzz/make_seeds.py)"
    );
    let mut failures = Vec::new();
    let all = seeds
        .iter()
        .chain(inputs("regressions", target).iter())
        .cloned()
        .collect::<Vec<_>>();
    for path in &all {
        let data = std::fs::read(path).expect("readable input");
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failures.push(path.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} inputs failed: {failures:#?}",
        failures.len(),
        all.len()
    );
    eprintln!("{target}: replayed {} inputs", all.len());
}

#[test]
fn counting_allocator_is_installed_and_measures() {
    checks::assert_counting_allocator();
    let (v, extra) = checks::measure(|| vec![0u8; 1 << 20]);
    assert!(extra >= 1 << 20, "{extra}");
    drop(v);
    let (_, nested) = checks::measure(|| {
        let (inner, _) = checks::measure(|| vec![1u8; 1000]);
        drop(inner);
        Vec::<u8>::with_capacity(10)
    });
    assert!((1000..2000).contains(&nested), "{nested}");
}

#[test]
fn seeds_decode_frame() {
    replay("decode_frame", checks::check_decode_frame);
}

#[test]
fn seeds_codec_stream() {
    replay("codec_stream", checks::check_codec_stream);
}

#[test]
fn seeds_auth_fields() {
    replay("auth_fields", checks::check_auth_fields);
}

#[test]
fn seeds_roundtrip() {
    replay("roundtrip", checks::check_roundtrip_bytes);
}

#[test]
fn seeds_pack_value() {
    replay("pack_value", checks::check_pack_value);
}

#[cfg(feature = "users-file")]
#[test]
fn seeds_users_file() {
    replay("users_file", checks::check_users_file);
}

#[test]
fn seeds_client_stream() {
    replay("client_stream", client_check::check_client_stream);
}

#[test]
fn seeds_server_auth() {
    replay("server_auth", server_auth_check::check_server_auth);
}

#[test]
fn seeds_metrics_head() {
    replay("metrics_head", checks::check_metrics_head);
}

#[test]
fn seeds_node_datagrams() {
    replay("node_datagrams", node_check::check_node_datagrams);
}

#[test]
fn seeds_backplane_envelope() {
    replay(
        "backplane_envelope",
        backplane_check::check_backplane_envelopes,
    );
}

#[test]
fn seeds_server_stream() {
    replay("server_stream", server_check::check_server_stream);
}

#[test]
fn seeds_typed_content() {
    replay("typed_content", checks::check_typed_content);
}

#[test]
fn seeds_store_ops() {
    replay("store_ops", checks::check_store_ops);
}

/// The `service_routes` target (the template of
/// docs/testing-your-service.md, which must stay verbatim there): its seeds
/// as libFuzzer hands them to the target, through the same routes and
/// invariants.
fn check_service_routes(data: &[u8]) {
    use arbitrary::{Arbitrary, Unstructured};
    use framewire::server::Server;
    use framewire::testing::TestServer;
    let Ok(messages) = Vec::<Message>::arbitrary_take_rest(Unstructured::new(data)) else {
        return; // libFuzzer skips what does not convert, as here
    };
    let routes = Server::builder().on(
        (MessageType::REQUEST_URI, "greet"),
        |m: Message| async move {
            let name = String::from_utf8_lossy(m.content()).into_owned();
            Message::respond("greet", format!("hello, {name}"))
        },
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let server = TestServer::new(routes.build()).timeout(std::time::Duration::from_secs(60));
        let mut peer = server.peer().unwrap();
        let mut greeted = 0;
        for msg in messages.into_iter().take(16) {
            greeted += usize::from(
                msg.message_type == MessageType::REQUEST_URI && &msg.uri()[..] == b"greet",
            );
            peer.send(msg).await.unwrap();
        }
        peer.hang_up().await.unwrap();
        peer.closed().await.unwrap();
        assert_eq!(server.stats().handler_panics, 0);
        eprintln!("service_routes: {greeted} greet requests");
    });
}

#[test]
fn seeds_service_routes() {
    replay("service_routes", check_service_routes);
    // The `greet` seed is what its name says: a greet request reaches the
    // route (a seed that no longer converts would test nothing).
    let greet = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/service_routes/greet"),
    )
    .unwrap();
    use arbitrary::{Arbitrary, Unstructured};
    let messages = Vec::<Message>::arbitrary_take_rest(Unstructured::new(&greet)).unwrap();
    assert!(
        messages
            .iter()
            .any(|m| m.message_type == MessageType::REQUEST_URI && &m.uri()[..] == b"greet"),
        "{messages:?}"
    );
}

/// The roundtrip seeds' byte form is what `RoundtripInput::to_bytes` writes.
#[test]
fn roundtrip_input_byte_form_round_trips() {
    for path in inputs("seeds", "roundtrip") {
        let data = std::fs::read(&path).unwrap();
        let input = checks::RoundtripInput::from_bytes(&data);
        assert_eq!(input.to_bytes(), data, "{}", path.display());
    }
}

/// A decoder that reserves the whole frame a header announces: the bug
/// the memory bound exists to catch.
fn greedy(buf: &mut BytesMut, cfg: &FrameConfig) -> Result<Option<Message>, DecodeError> {
    if let Ok(Some(h)) = Header::decode(cfg.profile, buf) {
        let claimed = usize::try_from(h.frame_len(cfg.profile)).unwrap_or(usize::MAX);
        buf.reserve(claimed.min(1 << 30));
    }
    wire::decode_frame(buf, cfg)
}

/// A decoder that hands out a body other than the one on the wire.
fn corrupting(buf: &mut BytesMut, cfg: &FrameConfig) -> Result<Option<Message>, DecodeError> {
    let mut r = wire::decode_frame(buf, cfg);
    if let Ok(Some(m)) = &mut r {
        m.body.content = Bytes::from_static(b"not what was sent");
    }
    r
}

/// A decoder that eats a byte and then says it needs more.
fn nibbling(buf: &mut BytesMut, _cfg: &FrameConfig) -> Result<Option<Message>, DecodeError> {
    if !buf.is_empty() {
        let _ = buf.split_to(1);
    }
    Ok(None)
}

fn fails(what: &str, f: impl FnOnce()) {
    assert!(
        catch_unwind(AssertUnwindSafe(f)).is_err(),
        "the checks did not catch {what}"
    );
}

/// The checks themselves can fail: a broken decoder run through the same
/// properties as the real one trips them, and the real one passes on the
/// same input.
#[test]
fn checks_catch_violations() {
    // A wide header claiming ~8 GiB (no frame limit in this config).
    let claim = [
        29u8, 10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
    ];
    let unlimited = checks::configs()[2];
    checks::decode_loop_with(&claim, &unlimited, wire::decode_frame);
    fails("a decoder allocating a claimed frame", || {
        checks::decode_loop_with(&claim, &unlimited, greedy)
    });

    let frame = Message::new(MessageType::REQUEST_URI, "echo", "hello")
        .to_bytes(Profile::Netaio)
        .unwrap();
    let netaio = FrameConfig::new(Profile::Netaio);
    checks::decode_loop_with(&frame, &netaio, wire::decode_frame);
    fails("a decoder altering the body", || {
        checks::decode_loop_with(&frame, &netaio, corrupting)
    });
    fails("a decoder consuming bytes without a frame", || {
        checks::decode_loop_with(&frame, &netaio, nibbling)
    });

    // Messages whose fields differ are not the same message.
    let mut a = framewire::AuthFields::new();
    a.insert("a", b"1".as_slice());
    let mut b = framewire::AuthFields::new();
    b.insert("a", b"2".as_slice());
    assert!(!checks::same_fields(&a, &b));
    b.insert("a", b"1".as_slice());
    b.insert("b", b"1".as_slice());
    assert!(!checks::same_fields(&a, &b));
    assert!(!checks::same_fields(&b, &a));
}
