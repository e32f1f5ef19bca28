//! FrameCodec vs tokio_util's LengthDelimitedCodec on the same payloads.
//!
//! Message: netaio profile, REQUEST_URI, uri "echo", no auth fields (the
//! 3-byte empty dict), content = payload. The baseline frames the payload
//! alone with a 4-byte length prefix. Both reuse one `BytesMut` across
//! iterations, as `Framed` does. The project goal: framewire's
//! encode+decode costs at most 1.3x the baseline's. netaio's CRC-32 over
//! the body (computed on encode, checked on decode) is not optional, so a
//! second baseline, `LengthDelimitedCodec+crc32`, adds just that to the
//! first.
//!
//! Run: `cargo bench --bench codec` (add `-- encode+decode` for the main
//! pair only).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use framewire::{FrameCodec, Message, MessageType, Profile};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// (payload bytes, group label). Netaio sections are u16, so "64 KiB" is
/// 65 000 bytes.
const SIZES: [(usize, &str); 3] = [
    (64, "64 B"),
    (1024, "1 KiB"),
    (65_000, "64 KiB (65 000 B: netaio sections are u16)"),
];

fn payload(n: usize) -> Bytes {
    (0..n)
        .map(|i| (i * 31 % 251) as u8)
        .collect::<Vec<_>>()
        .into()
}

fn bench(c: &mut Criterion) {
    for (n, label) in SIZES {
        let content = payload(n);
        let msg = Message::new(MessageType::REQUEST_URI, "echo", content.clone());

        let mut group = c.benchmark_group(format!("codec {label}"));
        group
            .throughput(Throughput::Bytes(n as u64))
            .sample_size(30)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));

        group.bench_function("framewire/encode+decode", |b| {
            let mut codec = FrameCodec::new(Profile::Netaio);
            let mut buf = BytesMut::with_capacity(n + 64);
            b.iter(|| {
                codec.encode(black_box(&msg).clone(), &mut buf).unwrap();
                let out = codec.decode(&mut buf).unwrap().unwrap().unwrap();
                black_box(out);
            });
        });
        group.bench_function("LengthDelimitedCodec/encode+decode", |b| {
            let mut codec = LengthDelimitedCodec::new();
            let mut buf = BytesMut::with_capacity(n + 64);
            b.iter(|| {
                codec.encode(black_box(&content).clone(), &mut buf).unwrap();
                let out = codec.decode(&mut buf).unwrap().unwrap();
                black_box(out);
            });
        });

        // The same baseline plus the CRC-32 netaio mandates (computed on
        // encode, verified on decode): what framing with a checksum costs
        // at the least, so framewire's own overhead is the difference.
        // Its hasher is made once and copied (as framewire's is):
        // `crc32fast::hash` detects the CPU's features on every call, a
        // cost framewire no longer pays and the baseline should not either.
        group.bench_function("LengthDelimitedCodec+crc32/encode+decode", |b| {
            let mut codec = LengthDelimitedCodec::new();
            let mut buf = BytesMut::with_capacity(n + 64);
            let made = crc32fast::Hasher::new();
            let crc32 = |bytes: &[u8]| {
                let mut h = made.clone();
                h.update(bytes);
                h.finalize()
            };
            b.iter(|| {
                let payload = black_box(&content).clone();
                let crc = crc32(&payload);
                codec.encode(payload, &mut buf).unwrap();
                buf.extend_from_slice(&crc.to_be_bytes());
                let out = codec.decode(&mut buf).unwrap().unwrap();
                let sum = buf.split_to(4);
                assert_eq!(crc32(&out).to_be_bytes(), sum[..]);
                black_box(out);
            });
        });

        group.bench_function("framewire/encode", |b| {
            let mut codec = FrameCodec::new(Profile::Netaio);
            let mut buf = BytesMut::with_capacity(n + 64);
            b.iter(|| {
                buf.clear();
                codec.encode(black_box(&msg).clone(), &mut buf).unwrap();
                black_box(&buf);
            });
        });
        group.bench_function("LengthDelimitedCodec/encode", |b| {
            let mut codec = LengthDelimitedCodec::new();
            let mut buf = BytesMut::with_capacity(n + 64);
            b.iter(|| {
                buf.clear();
                codec.encode(black_box(&content).clone(), &mut buf).unwrap();
                black_box(&buf);
            });
        });

        // Decode-only: each iteration copies one received frame into the
        // read buffer (as a socket read would) and decodes it.
        let frame = msg.to_bytes(Profile::Netaio).unwrap();
        let mut ld_frame = BytesMut::new();
        LengthDelimitedCodec::new()
            .encode(content.clone(), &mut ld_frame)
            .unwrap();
        group.bench_function("framewire/decode", |b| {
            let mut codec = FrameCodec::new(Profile::Netaio);
            let mut buf = BytesMut::with_capacity(n + 64);
            b.iter(|| {
                buf.extend_from_slice(black_box(&frame));
                black_box(codec.decode(&mut buf).unwrap().unwrap().unwrap());
            });
        });
        group.bench_function("LengthDelimitedCodec/decode", |b| {
            let mut codec = LengthDelimitedCodec::new();
            let mut buf = BytesMut::with_capacity(n + 64);
            b.iter(|| {
                buf.extend_from_slice(black_box(&ld_frame));
                black_box(codec.decode(&mut buf).unwrap().unwrap());
            });
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
