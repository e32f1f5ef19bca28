//! Instructions per codec round trip, for `valgrind --tool=callgrind`
//! (counts repeat exactly where wall-clock time on a shared machine does
//! not). Runs one codec's encode + decode of a 64 B or 1 KiB netaio frame
//! `N` times, as `benches/codec.rs` does, and nothing else:
//!
//! ```text
//! cargo bench --bench codec_count --no-run
//! B=$(ls -t target/release/deps/codec_count-* | grep -v '\.d$' | head -1)
//! for n in 100000 200000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null $B framewire 64 $n 2>&1 | grep refs
//! done
//! ```
//!
//! The difference of the two counts over 100 000 is the cost of one round
//! trip (start-up cancels out). Codecs: `framewire`, `framewire+id` (the
//! same message with a request id, one auth field, as a client's requests
//! and their replies carry), `ld`
//! (`LengthDelimitedCodec`), `ld+crc` (the same plus netaio's CRC-32 of
//! the body, computed on encode and checked on decode, its hasher made
//! once and copied).

use bytes::{Bytes, BytesMut};
use framewire::{FrameCodec, Message, MessageType, Profile};
use std::hint::black_box;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 || args.iter().any(|a| a == "--bench") {
        // `cargo bench` runs every bench target with `--bench`: nothing to
        // do here unless asked.
        eprintln!("usage: codec_count framewire|framewire+id|ld|ld+crc SIZE N");
        return;
    }
    let size: usize = args[1].parse().expect("SIZE");
    let n: usize = args[2].parse().expect("N");
    let content: Bytes = (0..size)
        .map(|i| (i * 31 % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    let mut buf = BytesMut::with_capacity(size + 64);
    match args[0].as_str() {
        "framewire" | "framewire+id" => {
            let mut msg = Message::new(MessageType::REQUEST_URI, "echo", content);
            if args[0].ends_with("+id") {
                // What a client's request and its reply carry: a request id
                // (one 8-byte auth field).
                framewire::protocol::RequestId::from(0x0123_4567_89ab_cdef).attach(&mut msg);
            }
            let mut codec = FrameCodec::new(Profile::Netaio);
            for _ in 0..n {
                codec.encode(black_box(&msg).clone(), &mut buf).unwrap();
                let out = codec.decode(&mut buf).unwrap().unwrap().unwrap();
                black_box(out);
            }
        }
        "ld" => {
            let mut codec = LengthDelimitedCodec::new();
            for _ in 0..n {
                codec.encode(black_box(&content).clone(), &mut buf).unwrap();
                black_box(codec.decode(&mut buf).unwrap().unwrap());
            }
        }
        "ld+crc" => {
            let mut codec = LengthDelimitedCodec::new();
            let made = crc32fast::Hasher::new();
            let crc32 = |bytes: &[u8]| {
                let mut h = made.clone();
                h.update(bytes);
                h.finalize()
            };
            for _ in 0..n {
                let payload = black_box(&content).clone();
                let crc = crc32(&payload);
                codec.encode(payload, &mut buf).unwrap();
                buf.extend_from_slice(&crc.to_be_bytes());
                let out = codec.decode(&mut buf).unwrap().unwrap();
                let sum = buf.split_to(4);
                assert_eq!(crc32(&out).to_be_bytes(), sum[..]);
                black_box(out);
            }
        }
        other => panic!("unknown codec {other}"),
    }
}
