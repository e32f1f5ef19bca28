//! Cost of the auth and cipher plugins per message, next to the CRC-32 every
//! frame pays anyway.
//!
//! Each iteration is one full round: sign + verify, or encrypt + decrypt.
//! Replay protection is off except in `netaio_hmac+replay`, where a clock
//! advancing one second per message and a zero-second window keep the nonce
//! cache small, so the figure is the steady-state cost of the cache.
//!
//! `cargo bench --bench auth -- --warm-up-time 1 --measurement-time 2`

const CLIENT: framewire::auth::Link<'static> =
    framewire::auth::Link::new(framewire::auth::Role::Client);
const SERVER: framewire::auth::Link<'static> =
    framewire::auth::Link::new(framewire::auth::Role::Server);

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use framewire::auth::{
    ManualClock, MemoryUsers, Permissions, PluginEnv, Rule, SystemRandom, User, UserHmac,
};
use framewire::{
    AuthPlugin, CipherPlugin, Message, MessageType, NetaioHmac, NetaioStreamCipher, PluginLayer,
    PluginStack, ReplayConfig, StrictHmac,
};

const SIZES: [(usize, &str); 3] = [(64, "64B"), (1024, "1KiB"), (64 * 1024, "64KiB")];

fn message(size: usize) -> Message {
    let content: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    Message::new(
        MessageType::PUBLISH_URI,
        "bench/topic",
        Bytes::from(content),
    )
}

fn encoded_body(m: &Message) -> Vec<u8> {
    let mut v = (m.uri().len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(m.uri());
    v.extend_from_slice(m.content());
    v
}

fn sign_verify(plugin: &dyn AuthPlugin, m: &Message) {
    let mut m = m.clone();
    plugin.make(&mut m, &CLIENT).expect("sign");
    plugin.check(black_box(&m), &SERVER).expect("verify");
}

fn auth(c: &mut Criterion) {
    for (size, label) in SIZES {
        let msg = message(size);
        let body = encoded_body(&msg);
        let mut g = c.benchmark_group(format!("auth_{label}"));
        g.sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .throughput(Throughput::Bytes(size as u64));

        g.bench_function(BenchmarkId::new("crc32_baseline", label), |b| {
            b.iter(|| crc32fast::hash(black_box(&body)))
        });

        let netaio = NetaioHmac::new("bench-secret").replay(ReplayConfig::disabled());
        g.bench_function(BenchmarkId::new("netaio_hmac", label), |b| {
            b.iter(|| sign_verify(&netaio, &msg))
        });

        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let replaying = NetaioHmac::new("bench-secret")
            .env(PluginEnv::new(clock.clone(), SystemRandom))
            .replay(ReplayConfig::default().window_secs(0));
        g.bench_function(BenchmarkId::new("netaio_hmac+replay", label), |b| {
            b.iter(|| {
                clock.advance(1);
                sign_verify(&replaying, &msg)
            })
        });

        let strict = StrictHmac::new("bench-secret").replay(ReplayConfig::disabled());
        g.bench_function(BenchmarkId::new("strict_hmac", label), |b| {
            b.iter(|| sign_verify(&strict, &msg))
        });

        // One of 1 000 users, with 3 publish patterns checked per message:
        // the user lookup and permission check on top of strict_hmac.
        let mut users = MemoryUsers::new();
        for i in 0..1000 {
            users.insert(User::new(format!("user{i}"), "x").replay(ReplayConfig::disabled()));
        }
        let rules = Rule::allow(["a/>", "bench/*", "c"].map(|p| p.parse().unwrap()));
        let perms = Permissions::default().publish(rules);
        users.insert(
            User::new("alice", "bench-secret")
                .replay(ReplayConfig::disabled())
                .permissions(perms.clone()),
        );
        let (alice, server) = (
            UserHmac::client("alice", "bench-secret"),
            UserHmac::server(users),
        );
        g.bench_function(BenchmarkId::new("user_hmac+permissions", label), |b| {
            b.iter(|| {
                let mut m = msg.clone();
                alice.make(&mut m, &CLIENT).expect("sign");
                server.check(black_box(&m), &SERVER).expect("verify");
                assert!(perms.permits(black_box(&m)));
            })
        });

        let cipher = NetaioStreamCipher::new("bench-key");
        g.bench_function(BenchmarkId::new("stream_cipher", label), |b| {
            b.iter(|| {
                let sealed = cipher.encrypt(msg.clone(), &CLIENT).expect("encrypt");
                cipher.decrypt(black_box(sealed), &SERVER).expect("decrypt")
            })
        });

        let both = PluginStack::new(
            PluginLayer::new()
                .with_cipher(NetaioStreamCipher::new("bench-key"))
                .with_auth(NetaioHmac::new("bench-secret").replay(ReplayConfig::disabled())),
        );
        g.bench_function(BenchmarkId::new("cipher+netaio_hmac", label), |b| {
            b.iter(|| {
                let sealed = both.seal(msg.clone()).expect("seal");
                both.open(black_box(sealed)).expect("open")
            })
        });
        g.finish();
    }
}

criterion_group!(benches, auth);
criterion_main!(benches);
