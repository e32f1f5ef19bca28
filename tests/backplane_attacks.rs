//! Issue 35, finding 2: the Redis channel is not trusted blindly. Each
//! test performs an attack from the Redis side (a raw PUBLISH on the
//! backplane channel, as anyone who can reach Redis could) against real
//! instances on a real `redis-server`, and checks what their clients get.

#![cfg(feature = "redis")]

mod common;

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use common::cluster::*;
use common::redis::Redis;
use common::*;
use framewire::protocol::NotifyId;
use framewire::server::RedisBackplane;
use framewire::wire::encode_frame;
use framewire::{FrameConfig, Message, MessageType, Profile};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const BIN: &str = env!("CARGO_BIN_EXE_framewire");
const KEY: &[u8] = b"the cluster key: 32 random bytes";
const CHANNEL: &str = "framewire";

fn backplane(redis: &Redis, key: Option<&[u8]>) -> RedisBackplane {
    let bp = RedisBackplane::new(&redis.url())
        .unwrap()
        .max_backoff(Duration::from_millis(200));
    match key {
        Some(key) => bp.secret(key).unwrap(),
        None => bp,
    }
}

/// Target kinds of the envelope format.
enum Target<'a> {
    All,
    Topic(&'a str),
}

/// An envelope as an instance encodes it (src/server/backplane/envelope.rs).
fn envelope(origin: &str, incarnation: u64, seq: u64, target: Target, msg: &Message) -> Vec<u8> {
    let (kind, key) = match target {
        Target::All => (0u8, ""),
        Target::Topic(t) => (1, t),
    };
    let mut out = BytesMut::new();
    out.put_slice(b"FWB1");
    out.put_u8(origin.len() as u8);
    out.put_slice(origin.as_bytes());
    out.put_u64(incarnation);
    out.put_u64(seq);
    out.put_u8(kind);
    out.put_u32(key.len() as u32);
    out.put_slice(key.as_bytes());
    encode_frame(msg, &FrameConfig::new(Profile::Wide), &mut out).unwrap();
    out.to_vec()
}

/// `envelope` with the cluster key's tag, as an instance with `key` sends it.
fn sealed(key: &[u8], envelope: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(b"framewire-backplane-v1");
    mac.update(&(CHANNEL.len() as u32).to_be_bytes());
    mac.update(CHANNEL.as_bytes());
    mac.update(envelope);
    let mut out = envelope.to_vec();
    out.extend_from_slice(&mac.finalize().into_bytes());
    out
}

/// PUBLISH `payload` on the backplane channel straight to Redis; returns
/// how many subscribers Redis handed it to.
fn redis_publish(redis: &Redis, payload: &[u8]) -> u64 {
    let mut s = redis.stream();
    let mut cmd = Vec::new();
    write!(
        cmd,
        "*3\r\n$7\r\nPUBLISH\r\n${}\r\n{CHANNEL}\r\n",
        CHANNEL.len()
    )
    .unwrap();
    write!(cmd, "${}\r\n", payload.len()).unwrap();
    cmd.extend_from_slice(payload);
    cmd.extend_from_slice(b"\r\n");
    s.write_all(&cmd).unwrap();
    let mut reply = Vec::new();
    let mut byte = [0u8];
    while !reply.ends_with(b"\r\n") {
        assert!(reply.len() < 64, "odd reply {reply:?}");
        s.read_exact(&mut byte).unwrap();
        reply.push(byte[0]);
    }
    let text = String::from_utf8(reply).unwrap();
    text.trim()
        .strip_prefix(':')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("PUBLISH answered {text:?}"))
}

fn note(topic: &str, content: &str) -> Message {
    Message::new(
        MessageType::NOTIFY_URI,
        topic.to_owned(),
        content.to_owned(),
    )
}

/// (a) A forged envelope, without a MAC or with one under another key,
/// published straight on the channel reaches no client of an instance
/// with a cluster key, and is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn forged_envelopes_on_the_channel_are_refused_with_a_cluster_key() {
    let redis = Redis::start();
    let a = instance("a", backplane(&redis, Some(KEY))).await;
    let b = instance("b", backplane(&redis, Some(KEY))).await;
    all_connected(&[&a, &b]).await;
    let mut sub = subscriber(&b, "t").await;

    let forged = envelope("a", 1, 1, Target::Topic("t"), &note("t", "forged"));
    let wrong_key = sealed(b"not the cluster key, 32 bytes...", &forged);
    let cut_tag = &sealed(KEY, &forged)[..forged.len() + 31];
    for payload in [&forged[..], &wrong_key[..], cut_tag] {
        assert_eq!(
            redis_publish(&redis, payload),
            2,
            "both instances subscribed"
        );
    }
    eventually("the three forgeries are counted", || {
        b.handle.stats().backplane_unauthenticated == 3
    })
    .await;

    // Genuine traffic is what the subscriber gets next, nothing before it.
    publish_all(&a, "t", vec!["a:0".into()]).await;
    assert_eq!(notes(&mut sub, 1).await, ["a:0"]);
    nothing_more(&mut sub, Duration::from_millis(200)).await;
    let s = b.handle.stats();
    assert_eq!((s.backplane_received, s.backplane_invalid), (1, 0));
    a.stop().await;
    b.stop().await;
}

/// (b) The envelope: the origin's name and incarnation (from a
/// notification's `nid`) with `seq = 2^64-1`. Sealed with the key here, as
/// if replayed or sent by a key holder gone wrong, and also unsealed to an
/// instance without a key: either way the origin's genuine traffic keeps
/// arriving afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn a_max_sequence_envelope_does_not_silence_its_origin() {
    for key in [Some(KEY), None] {
        let redis = Redis::start();
        let a = instance("a", backplane(&redis, key)).await;
        let b = instance("b", backplane(&redis, key)).await;
        all_connected(&[&a, &b]).await;
        let mut sub = subscriber(&b, "t").await;

        publish_all(&a, "t", vec!["a:0".into()]).await;
        let first = recv(&mut sub).await;
        assert_eq!(&first.content()[..], b"a:0");
        let nid = first
            .auth
            .get_bytes("nid")
            .expect("relayed notes carry nid");
        let incarnation = u64::from_be_bytes(nid[..8].try_into().unwrap());
        assert_eq!(NotifyId::of(&first), Some(NotifyId::new(incarnation, 1)));

        let poison = envelope(
            "a",
            incarnation,
            u64::MAX,
            Target::Topic("t"),
            &note("t", "poison"),
        );
        let payload = match key {
            Some(k) => sealed(k, &poison),
            None => poison,
        };
        assert_eq!(redis_publish(&redis, &payload), 2);
        eventually("the odd envelope is refused", || {
            b.handle.stats().backplane_invalid == 1
        })
        .await;

        publish_all(&a, "t", vec!["a:1".into(), "a:2".into()]).await;
        assert_eq!(notes(&mut sub, 2).await, ["a:1", "a:2"], "key {key:?}");
        let s = b.handle.stats();
        assert_eq!((s.backplane_received, s.backplane_duplicates), (3, 0));
        a.stop().await;
        b.stop().await;
    }
}

/// (c) Envelopes carrying what no instance relays (a reply, an error, a
/// DISCONNECT), even with a valid MAC, reach no client and are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn envelopes_of_kinds_that_are_not_relayed_are_refused() {
    let redis = Redis::start();
    let a = instance("a", backplane(&redis, Some(KEY))).await;
    let b = instance("b", backplane(&redis, Some(KEY))).await;
    all_connected(&[&a, &b]).await;
    let mut sub = subscriber(&b, "t").await;

    let kinds = [
        MessageType::RESPOND_URI,
        MessageType::OK,
        MessageType::AUTH_ERROR,
        MessageType::DISCONNECT,
        MessageType::PUBLISH_URI,
    ];
    for (seq, kind) in (1..).zip(kinds) {
        let msg = Message::new(kind, "t", "forged");
        let env = envelope("x", 9, seq, Target::All, &msg);
        assert_eq!(redis_publish(&redis, &sealed(KEY, &env)), 2);
    }
    eventually("every kind refused", || {
        b.handle.stats().backplane_invalid == kinds.len() as u64
    })
    .await;

    // `notes` checks the type: a forged reply here would fail it.
    publish_all(&a, "t", vec!["a:0".into()]).await;
    assert_eq!(notes(&mut sub, 1).await, ["a:0"]);
    assert_eq!(b.handle.stats().backplane_received, 1);
    a.stop().await;
    b.stop().await;
}

/// An instance without a key delivers a forged envelope: what
/// `--backplane-insecure` accepts, and why `serve` refuses to run a
/// backplane without a key unless told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn without_a_key_forgeries_are_delivered() {
    let redis = Redis::start();
    let b = instance("b", backplane(&redis, None)).await;
    all_connected(&[&b]).await;
    let mut sub = subscriber(&b, "t").await;
    let forged = envelope("a", 1, 1, Target::Topic("t"), &note("t", "forged"));
    assert_eq!(redis_publish(&redis, &forged), 1);
    assert_eq!(notes(&mut sub, 1).await, ["forged"]);
    b.stop().await;
}

/// Runs `cmd` to its end, which must come within 20 s (it is killed and
/// the test fails otherwise): exit code, stdout, stderr.
fn bounded_exit(mut cmd: Command) -> (Option<i32>, String, String) {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn framewire");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after 20 s: it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |r: Option<&mut dyn Read>| {
        let mut s = String::new();
        if let Some(r) = r {
            let _ = r.read_to_string(&mut s);
        }
        s
    };
    let out = read(child.stdout.as_mut().map(|r| r as &mut dyn Read));
    let err = read(child.stderr.as_mut().map(|r| r as &mut dyn Read));
    (status.code(), out, err)
}

/// `serve --backplane` without a cluster key does not start (before any
/// connection to Redis), unless `--backplane-insecure`; no password from
/// the url ever reaches its output.
#[test]
fn serve_refuses_a_backplane_without_a_cluster_key() {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--backplane"])
        .arg("redis://:hunter2@127.0.0.1:1")
        .env_remove("FRAMEWIRE_SECRET")
        .env_remove("FRAMEWIRE_BACKPLANE_SECRET")
        .env_remove("FRAMEWIRE_BACKPLANE_URL");
    let (code, out, err) = bounded_exit(cmd);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("cluster key"), "{err}");
    assert!(!format!("{out}{err}").contains("hunter2"));

    // A key too short to be one.
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.key");
    std::fs::write(&short, b"0123456789\n").unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--backplane-secret-file"])
        .arg(&short)
        .env("FRAMEWIRE_BACKPLANE_URL", "redis://:hunter2@127.0.0.1:1")
        .env_remove("FRAMEWIRE_SECRET");
    let (code, out, err) = bounded_exit(cmd);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("at least 16 bytes"), "{err}");
    assert!(!format!("{out}{err}").contains("hunter2"));

    // The url's password is not shown when it is refused.
    let url = dir.path().join("url");
    std::fs::write(&url, "redis://:hunter2@127.0.0.1:notaport\n").unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--backplane-insecure"])
        .arg("--backplane-url-file")
        .arg(&url)
        .env_remove("FRAMEWIRE_SECRET")
        .env_remove("FRAMEWIRE_BACKPLANE_URL");
    let (code, out, err) = bounded_exit(cmd);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("<redacted>"), "{err}");
    assert!(!format!("{out}{err}").contains("hunter2"), "{err}");
}
