//! `codec_stream`: incremental decoding, fed in arbitrary chunks, agrees
//! with decoding the whole stream at once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::mem::size_of;

use bytes::{Bytes, BytesMut};
use framewire::wire::{self, FieldName, DEFAULT_MAX_AUTH_FIELDS, RESERVE_CHUNK};
use framewire::{
    AuthFields, AuthFieldsError, AuthValue, Body, DecodeError, Error, FrameCodec, FrameConfig,
    Header, Message, MessageType, Profile,
};
use tokio_util::codec::{Decoder, Encoder};

use super::*;

/// What a decoder reports, in order.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Message(Message),
    Recoverable(DecodeError),
    Fatal(DecodeError),
    /// The end: more bytes needed, this many pending.
    Pending(usize),
}

fn reference_events(stream: &[u8], cfg: &FrameConfig) -> Vec<Event> {
    let mut buf = BytesMut::from(stream);
    let mut events = Vec::new();
    loop {
        match wire::decode_frame(&mut buf, cfg) {
            Ok(Some(msg)) => events.push(Event::Message(msg)),
            Ok(None) => {
                events.push(Event::Pending(buf.len()));
                return events;
            }
            Err(e) if e.is_recoverable() => events.push(Event::Recoverable(e)),
            Err(e) => {
                events.push(Event::Fatal(e));
                return events;
            }
        }
    }
}

/// One decode step through `FrameCodec` (as `Framed` would) or through
/// `wire::decode_frame` directly, as an [`Event`]; `None` = need more bytes.
fn step(buf: &mut BytesMut, cfg: &FrameConfig, codec: Option<&mut FrameCodec>) -> Option<Event> {
    match codec {
        Some(codec) => match codec.decode(buf) {
            Ok(None) => None,
            Ok(Some(Ok(msg))) => Some(Event::Message(msg)),
            Ok(Some(Err(e))) => {
                assert!(e.is_recoverable(), "FrameCodec yielded a fatal item: {e}");
                Some(Event::Recoverable(e))
            }
            Err(Error::Decode(e)) => {
                assert!(
                    !e.is_recoverable(),
                    "FrameCodec failed on a recoverable error"
                );
                Some(Event::Fatal(e))
            }
            Err(e) => panic!("FrameCodec::decode returned a non-decode error: {e}"),
        },
        None => match wire::decode_frame(buf, cfg) {
            Ok(None) => None,
            Ok(Some(msg)) => Some(Event::Message(msg)),
            Err(e) if e.is_recoverable() => Some(Event::Recoverable(e)),
            Err(e) => Some(Event::Fatal(e)),
        },
    }
}

/// `data` = `selector ‖ k ‖ k chunk sizes ‖ stream`. `selector % 4` picks the
/// [`configs`] entry, bit 7 set drives `wire::decode_frame` instead of
/// `FrameCodec`; `k = data[1] % 8 + 1` chunk sizes (0..=255 bytes, used in
/// turn; 0 = call the decoder with nothing new) split the stream. Feeding the
/// chunks one by one and decoding until `Ok(None)` after each must report
/// exactly what decoding the whole stream at once reports (same messages,
/// same errors at the same point, same bytes pending at the end), and
/// `decode_eof` must refuse a stream that ends inside a frame.
pub fn check_codec_stream(data: &[u8]) {
    assert_counting_allocator();
    let [selector, k, rest @ ..] = data else {
        return;
    };
    let k = usize::from(k % 8) + 1;
    if rest.len() < k {
        return;
    }
    let (sizes, stream) = rest.split_at(k);
    let cfg = configs()[usize::from(*selector) % 4];
    let use_codec = selector & 0x80 == 0;
    let all_zero = sizes.iter().all(|&s| s == 0);

    let expected = reference_events(stream, &cfg);
    let n = stream.len();
    let per_call = n + RESERVE_CHUNK + overhead(&cfg);
    let whole_run = 2 * (n + RESERVE_CHUNK) + overhead(&cfg);

    let mut codec = FrameCodec::with_config(cfg);
    let ((), extra) = measure(|| {
        let mut buf = BytesMut::new();
        let mut next = 0; // index into `expected`
        let mut pos = 0;
        let mut chunk = 0;
        loop {
            let size = if all_zero {
                1
            } else {
                usize::from(sizes[chunk % k])
            };
            chunk += 1;
            let end = (pos + size).min(n);
            buf.extend_from_slice(&stream[pos..end]);
            pos = end;
            loop {
                let (event, extra) =
                    measure(|| step(&mut buf, &cfg, use_codec.then_some(&mut codec)));
                assert!(
                    extra <= per_call,
                    "one decode call allocated {extra} bytes for a {n}-byte stream (bound {per_call})"
                );
                let Some(event) = event else { break };
                // Compare and drop at once, so decoded messages do not keep
                // old buffers alive (the whole-run bound relies on it).
                assert_eq!(
                    Some(&event),
                    expected.get(next),
                    "event {next} differs from the one-buffer decode ({pos}/{n} bytes fed)"
                );
                next += 1;
                if matches!(event, Event::Fatal(_)) {
                    assert_eq!(next, expected.len());
                    return;
                }
            }
            if pos == n {
                break;
            }
        }
        assert_eq!(
            Some(&Event::Pending(buf.len())),
            expected.get(next),
            "end of stream: pending bytes or missing events"
        );
        assert_eq!(next + 1, expected.len());
        if use_codec {
            match codec.decode_eof(&mut buf) {
                Ok(None) => assert!(buf.is_empty(), "decode_eof accepted a partial frame"),
                Err(e) => assert!(
                    e.is_io() && !buf.is_empty(),
                    "decode_eof on {} pending bytes: {e}",
                    buf.len()
                ),
                Ok(Some(item)) => {
                    panic!("decode_eof produced an item after decode did not: {item:?}")
                }
            }
        }
    });
    assert!(
        extra <= whole_run,
        "incremental decode of {n} bytes allocated {extra} (bound {whole_run})"
    );
}
