//! Properties checked by the fuzz targets (`fuzz/fuzz_targets/*.rs`) and
//! replayed on stable by `tests/fuzz_corpus.rs`.
//!
//! Plain functions that panic when a property is violated; no libFuzzer
//! dependency. Included with `#[path = "../checks.rs"] mod checks;` (targets)
//! or `#[path = "../fuzz/checks.rs"] mod checks;` (replay test). Whoever
//! includes it must install [`CountingAlloc`] as `#[global_allocator]`:
//! every check starts by verifying that it is (see
//! [`assert_counting_allocator`]), because `cargo fuzz run -s none` has no
//! sanitizer to catch a decoder that allocates what a hostile header claims.
//!
//! # Memory bounds
//!
//! Let `N` be the number of input bytes and `OVERHEAD` the per-message
//! constant of [`overhead`] (the auth-field vectors of one message: at most
//! `max_auth_fields` entries, plus small boxes). Allocation is counted as
//! live heap bytes (a `realloc` counts as its size change) above what was
//! live when the measured call started.
//!
//! * One-shot [`Message::decode`] / [`AuthFields::decode`] of bytes already in
//!   memory: `N + OVERHEAD` (it slices the input; the `N` covers an error
//!   that copies a field name).
//! * One [`wire::decode_frame`] / [`FrameCodec`] call on a buffer holding
//!   bytes of an `N`-byte stream: `N + RESERVE_CHUNK + OVERHEAD`. The decoder
//!   only asks for `min(missing, RESERVE_CHUNK)` more bytes, but `BytesMut`
//!   may satisfy that by moving the pending bytes (`<= N`) to a new buffer or
//!   by doubling an allocation that is itself smaller than `N` + the request.
//! * A whole incremental decode, feeding included ([`check_codec_stream`]):
//!   `2 * (N + RESERVE_CHUNK) + OVERHEAD`: with decoded messages dropped as
//!   they are checked, one buffer is live at a time, and `BytesMut` grows it to
//!   at most twice the largest `len + request` it was asked for.
//!
//! A header that claims 4 GiB (wide profile, no frame limit) therefore costs
//! at most `RESERVE_CHUNK` beyond the bytes that actually arrived.

#![allow(dead_code)]

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

// ---------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------

/// A global allocator that forwards to [`System`] and keeps, per thread, the
/// live heap bytes and their peak. Install it with
/// `#[global_allocator] static ALLOC: checks::CountingAlloc = checks::CountingAlloc;`
/// and read it with [`measure`].
pub struct CountingAlloc;

thread_local! {
    // Const-initialised, no destructor: usable from inside the allocator
    // without allocating or registering anything.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn record(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().wrapping_add(delta);
        live.set(now);
        let _ = PEAK.try_with(|peak| {
            if now > peak.get() {
                peak.set(now);
            }
        });
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the bookkeeping touches only thread-local `Cell`s and never
// allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            record(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            record(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        record(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            record(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Runs `f` and returns its result and the peak number of heap bytes that
/// were live during it above those live when it started (counted on this
/// thread only). Nests.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE.with(Cell::get);
    let outer_peak = PEAK.with(|p| p.replace(start));
    let r = f();
    let peak = PEAK.with(Cell::get);
    PEAK.with(|p| p.set(outer_peak.max(peak)));
    (r, usize::try_from(peak - start).unwrap_or(0))
}

/// Panics unless [`CountingAlloc`] is the global allocator (otherwise every
/// memory bound below would pass without measuring anything).
pub fn assert_counting_allocator() {
    let (v, extra) = measure(|| std::hint::black_box(Vec::<u8>::with_capacity(4096)));
    drop(v);
    assert!(
        extra >= 4096,
        "checks::CountingAlloc is not installed as #[global_allocator]"
    );
}

/// Bytes one decoded message may allocate besides slices of its frame: the
/// auth decoder's length table and field vector (at most `max_auth_fields`
/// entries each) plus a few small boxes (`Bytes`' shared header, an error).
pub fn overhead(cfg: &FrameConfig) -> usize {
    fields_overhead(cfg.get_max_auth_fields()) + 1024
}

fn fields_overhead(max_fields: usize) -> usize {
    max_fields.saturating_mul(size_of::<u64>() + size_of::<(FieldName, AuthValue)>())
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The configurations every byte input is decoded with: both profiles with
/// their defaults, the wide profile with no frame limit (so a header may
/// claim ~8 GiB and the decoder must wait for it without allocating it),
/// and tight limits.
pub fn configs() -> [FrameConfig; 4] {
    [
        FrameConfig::new(Profile::Netaio),
        FrameConfig::new(Profile::Wide),
        FrameConfig::new(Profile::Wide).max_frame_len(usize::MAX),
        FrameConfig::new(Profile::Netaio)
            .max_frame_len(64)
            .max_auth_fields(2),
    ]
}

/// Auth fields as a map: same names with the same values, whatever order.
///
/// `AuthFields`' derived `PartialEq` compares in memory order, and decoding
/// keeps wire order while encoding sorts the pairs as packify does, so a
/// message built with fields in another order does not compare `==` to its
/// own decoded copy.
pub fn same_fields(a: &AuthFields, b: &AuthFields) -> bool {
    a.len() == b.len() && a.iter().all(|(name, value)| b.get(name) == Some(value))
}

/// Messages equal up to the order of their auth fields.
pub fn same_message(a: &Message, b: &Message) -> bool {
    a.message_type == b.message_type && a.body == b.body && same_fields(&a.auth, &b.auth)
}

fn header_of(profile: Profile, frame: &[u8]) -> Header {
    Header::decode(profile, frame)
        .expect("header of an encoded frame decodes")
        .expect("encoded frame holds a whole header")
}

/// A message decoded from `original` (one whole frame of `profile`):
/// re-encoding works, changes at most the auth section (packify order and
/// widths become canonical, never longer), and the canonical frame is a
/// fixed point of decode → encode.
fn check_reencode(msg: &Message, profile: Profile, original: &[u8]) {
    let frame = msg
        .to_bytes(profile)
        .unwrap_or_else(|e| panic!("decoded message does not re-encode: {e}\n{msg:?}"));
    let mut via_codec = BytesMut::new();
    FrameCodec::new(profile)
        .encode(msg.clone(), &mut via_codec)
        .expect("FrameCodec encodes what to_bytes encodes");
    assert_eq!(via_codec, frame, "FrameCodec and to_bytes disagree");

    let hl = profile.header_len();
    let old = header_of(profile, original);
    let new = header_of(profile, &frame);
    assert_eq!(new.message_type, old.message_type);
    assert_eq!(new.body_length, old.body_length);
    assert_eq!(new.checksum, old.checksum);
    assert!(
        new.auth_length <= old.auth_length,
        "canonical auth is longer than the received one: {} > {}",
        new.auth_length,
        old.auth_length
    );
    let old_body = &original[hl + old.auth_length as usize..];
    let new_body = &frame[hl + new.auth_length as usize..];
    assert_eq!(new_body, old_body, "re-encoding changed the body");

    let back = Message::decode(profile, frame.clone())
        .unwrap_or_else(|e| panic!("re-encoded frame does not decode: {e}\n{msg:?}"));
    assert!(
        same_message(&back, msg),
        "re-encoded frame decodes to another message:\n{back:?}\nvs\n{msg:?}"
    );
    let again = back
        .to_bytes(profile)
        .expect("canonical message re-encodes");
    assert_eq!(again, frame, "canonical encoding is not stable");
    assert_eq!(
        Message::decode(profile, again).expect("canonical frame decodes"),
        back,
        "canonical frame does not decode to an identical message"
    );
}

// ---------------------------------------------------------------------------
// decode_frame
// ---------------------------------------------------------------------------

/// Arbitrary bytes: one-shot [`Message::decode`] in both profiles agrees with
/// the streaming decoder's first step; [`wire::decode_frame`] loops over the
/// buffer in every [`configs`] entry, consuming at least a header per step;
/// every decoded message survives [`check_reencode`]; memory stays bounded.
pub fn check_decode_frame(data: &[u8]) {
    assert_counting_allocator();
    let n = data.len();
    for profile in [Profile::Netaio, Profile::Wide] {
        let cfg = FrameConfig::new(profile);
        let src = Bytes::copy_from_slice(data);
        let (one_shot, extra) = measure(|| Message::decode(profile, src.clone()));
        assert!(
            extra <= n + overhead(&cfg),
            "one-shot {profile} decode of {n} bytes allocated {extra}"
        );
        if let Ok(msg) = &one_shot {
            check_reencode(msg, profile, data);
        }

        let mut buf = BytesMut::from(data);
        let first = wire::decode_frame(&mut buf, &cfg);
        match &one_shot {
            Ok(msg) => {
                assert_eq!(first.as_ref().ok(), Some(&Some(msg.clone())));
                assert!(buf.is_empty(), "{} bytes left after the frame", buf.len());
            }
            Err(DecodeError::Truncated { .. }) => {
                assert_eq!(first, Ok(None), "one-shot says truncated");
            }
            Err(DecodeError::TrailingBytes(k)) => {
                assert!(!matches!(first, Ok(None)), "one-shot saw a whole frame");
                assert_eq!(buf.len(), *k, "trailing byte count");
            }
            Err(e) => assert_eq!(first.as_ref().err(), Some(e)),
        }
    }
    for cfg in configs() {
        decode_loop(data, &cfg);
    }
}

fn decode_loop(data: &[u8], cfg: &FrameConfig) {
    decode_loop_with(data, cfg, wire::decode_frame);
}

/// A streaming decoder under test: [`wire::decode_frame`]'s signature.
pub type DecodeFn = fn(&mut BytesMut, &FrameConfig) -> Result<Option<Message>, DecodeError>;

/// [`decode_loop`]'s properties for any decoder with `decode_frame`'s
/// contract, so `tests/fuzz_corpus.rs` can show that broken decoders (one
/// that allocates what a header claims, one that alters a body, one that
/// consumes bytes and asks for more) make these checks fail.
pub fn decode_loop_with(data: &[u8], cfg: &FrameConfig, decode: DecodeFn) {
    let profile = cfg.profile();
    let bound = data.len() + RESERVE_CHUNK + overhead(cfg);
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.clone().freeze();
        let (step, extra) = measure(|| decode(&mut buf, cfg));
        assert!(
            extra <= bound,
            "decode_frame ({profile}) allocated {extra} bytes on a {}-byte input (bound {bound}); result {step:?}",
            data.len()
        );
        let consumed = before.len() - buf.len();
        match step {
            Ok(None) => {
                assert_eq!(consumed, 0, "Ok(None) consumed bytes");
                break;
            }
            Ok(Some(msg)) => {
                assert!(consumed >= profile.header_len() + 5);
                check_reencode(&msg, profile, &before[..consumed]);
            }
            Err(e) if e.is_recoverable() => {
                assert!(
                    consumed >= profile.header_len() + 2,
                    "{e}: consumed {consumed}"
                );
            }
            Err(_) => break,
        }
    }
}

// ---------------------------------------------------------------------------
// codec_stream
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// auth_fields
// ---------------------------------------------------------------------------

/// Arbitrary bytes as an auth section: decoding with the default field limit
/// and with none agree (except for the limit itself) and stay within memory
/// bounds; a decoded map re-encodes ([`check_fields_roundtrip`]).
pub fn check_auth_fields(data: &[u8]) {
    assert_counting_allocator();
    let n = data.len();
    let src = Bytes::copy_from_slice(data);
    let (limited, extra) = measure(|| AuthFields::decode(src.clone(), DEFAULT_MAX_AUTH_FIELDS));
    let bound = n + fields_overhead(DEFAULT_MAX_AUTH_FIELDS) + 1024;
    assert!(
        extra <= bound,
        "auth decode of {n} bytes allocated {extra} (bound {bound})"
    );

    // Without a limit the announced count is still checked against the
    // bytes present (one length-table entry each) before anything is
    // reserved for it: memory grows with the input, not with the claim.
    let (unlimited, extra) = measure(|| AuthFields::decode(src.clone(), usize::MAX));
    let bound = n + fields_overhead(n) + 1024;
    assert!(
        extra <= bound,
        "unlimited auth decode of {n} bytes allocated {extra} (bound {bound})"
    );

    match (&limited, &unlimited) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(AuthFieldsError::TooManyFields { count, max }), _) => {
            assert!(*count > *max as u64);
            if let Ok(b) = &unlimited {
                assert_eq!(b.len() as u64, *count);
            }
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("field limit changed the outcome: {a:?} vs {b:?}"),
    }
    if let Ok(fields) = &unlimited {
        check_fields_roundtrip(fields, Some(n));
    }
}

/// `fields` encodes to `encoded_len()` bytes (no more than `original_len`,
/// the size of a received encoding: packify's canonical form is the
/// shortest), decodes to the same map, and the canonical encoding is a
/// fixed point.
pub fn check_fields_roundtrip(fields: &AuthFields, original_len: Option<usize>) {
    let mut enc = Vec::new();
    fields.encode(&mut enc);
    assert_eq!(enc.len(), fields.encoded_len(), "encoded_len is wrong");
    if let Some(n) = original_len {
        assert!(
            enc.len() <= n,
            "canonical encoding is longer: {} > {n}",
            enc.len()
        );
    }
    let back = AuthFields::decode(Bytes::from(enc.clone()), usize::MAX)
        .unwrap_or_else(|e| panic!("encoded fields do not decode: {e}\n{fields:?}"));
    assert!(
        same_fields(&back, fields),
        "fields changed:\n{back:?}\nvs\n{fields:?}"
    );
    let mut again = Vec::new();
    back.encode(&mut again);
    assert_eq!(again, enc, "canonical encoding is not stable");
    assert_eq!(
        AuthFields::decode(Bytes::from(again), usize::MAX).expect("canonical fields decode"),
        back
    );
}

// ---------------------------------------------------------------------------
// roundtrip
// ---------------------------------------------------------------------------

/// A message to build, as the `roundtrip` target describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoundtripInput {
    /// The type byte (may be a reserved, unassigned value).
    pub type_byte: u8,
    /// The uri.
    pub uri: Vec<u8>,
    /// The content.
    pub content: Vec<u8>,
    /// Pad selector: see [`pad_len`]; appended to the content.
    pub pad: u8,
    /// Auth fields in insertion order (a repeated name replaces).
    pub fields: Vec<(String, FieldInput)>,
}

/// An auth field value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldInput {
    /// Bytes.
    Bytes(Vec<u8>),
    /// An integer.
    Int(i128),
}

/// Extra content bytes for pad selector `pad`: none below 240, else
/// 65 400..=65 640, straddling the netaio profile's 65 535-byte body limit
/// so the wide profile gets large frames the netaio one must refuse.
pub fn pad_len(pad: u8) -> usize {
    match pad {
        0..=239 => 0,
        p => 65_400 + usize::from(p - 240) * 16,
    }
}

impl RoundtripInput {
    /// Parses the replayable byte form (every byte string is accepted;
    /// missing bytes read as zero/empty):
    ///
    /// ```text
    /// type u8 | pad u8 | uri_len u16 | uri | content_len u16 | content |
    /// n_fields u8 | n × (name_len u8 | name (lossy UTF-8) | tag u8 |
    ///                    tag even: len u16 | bytes ; tag odd: i128 BE)
    /// ```
    ///
    /// The `roundtrip` target runs both this form and `arbitrary`'s
    /// structured form of its input; only this one can be replayed by the
    /// stable test, so regression inputs are stored in it ([`Self::to_bytes`]).
    pub fn from_bytes(data: &[u8]) -> Self {
        let mut r = Cursor(data);
        let type_byte = r.u8();
        let pad = r.u8();
        let uri = r.prefixed();
        let content = r.prefixed();
        let count = r.u8();
        let mut fields = Vec::new();
        for _ in 0..count {
            let name_len = usize::from(r.u8());
            let name = String::from_utf8_lossy(r.take(name_len)).into_owned();
            let value = if r.u8() % 2 == 0 {
                FieldInput::Bytes(r.prefixed())
            } else {
                let mut b = [0u8; 16];
                let got = r.take(16);
                b[..got.len()].copy_from_slice(got);
                FieldInput::Int(i128::from_be_bytes(b))
            };
            fields.push((name, value));
        }
        RoundtripInput {
            type_byte,
            uri,
            content,
            pad,
            fields,
        }
    }

    /// The byte form [`Self::from_bytes`] reads (lengths are truncated to
    /// their field widths).
    pub fn to_bytes(&self) -> Vec<u8> {
        fn put(out: &mut Vec<u8>, b: &[u8]) {
            let b = &b[..b.len().min(usize::from(u16::MAX))];
            out.extend_from_slice(&(b.len() as u16).to_be_bytes());
            out.extend_from_slice(b);
        }
        let mut out = vec![self.type_byte, self.pad];
        put(&mut out, &self.uri);
        put(&mut out, &self.content);
        let fields = &self.fields[..self.fields.len().min(255)];
        out.push(fields.len() as u8);
        for (name, value) in fields {
            let name = &name.as_bytes()[..name.len().min(255)];
            out.push(name.len() as u8);
            out.extend_from_slice(name);
            match value {
                FieldInput::Bytes(b) => {
                    out.push(0);
                    put(&mut out, b);
                }
                FieldInput::Int(i) => {
                    out.push(1);
                    out.extend_from_slice(&i.to_be_bytes());
                }
            }
        }
        out
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.0.split_at(n.min(self.0.len()));
        self.0 = tail;
        head
    }

    fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    fn u16(&mut self) -> u16 {
        (u16::from(self.u8()) << 8) | u16::from(self.u8())
    }

    /// `len u16 ‖ bytes`.
    fn prefixed(&mut self) -> Vec<u8> {
        let n = usize::from(self.u16());
        self.take(n).to_vec()
    }
}

/// [`check_roundtrip`] on [`RoundtripInput::from_bytes`]`(data)`.
pub fn check_roundtrip_bytes(data: &[u8]) {
    check_roundtrip(&RoundtripInput::from_bytes(data));
}

const UNASSIGNED: [u8; 12] = [14, 15, 16, 17, 18, 19, 21, 22, 26, 27, 28, 29];

/// Builds the message, encodes it in both profiles and decodes it back.
/// Encoding fails exactly when a length exceeds the profile or limit (and
/// then leaves the buffer untouched); otherwise the frame has the announced
/// layout, `FrameCodec` and `to_bytes` agree, the frame decodes (one-shot
/// and streamed, twice back to back) to the same message, and re-encoding
/// the decoded copy gives the same bytes. An unassigned type byte cannot be
/// built and is refused when received.
pub fn check_roundtrip(input: &RoundtripInput) {
    assert_counting_allocator();
    let mut content = input.content.clone();
    content.extend((0..pad_len(input.pad)).map(|i| (i % 251) as u8));
    let mut auth = AuthFields::new();
    for (name, value) in &input.fields {
        let value = match value {
            FieldInput::Bytes(b) => AuthValue::from(b.clone()),
            FieldInput::Int(i) => AuthValue::from(*i),
        };
        auth.insert(name.clone(), value);
    }

    let Ok(message_type) = MessageType::try_from(input.type_byte) else {
        assert!(
            UNASSIGNED.contains(&input.type_byte),
            "{} refused",
            input.type_byte
        );
        check_unassigned_type(input.type_byte);
        return;
    };
    assert!(!UNASSIGNED.contains(&input.type_byte));
    let msg = Message {
        message_type,
        auth,
        body: Body::new(input.uri.clone(), content),
    };

    for profile in [Profile::Netaio, Profile::Wide] {
        let cfg = FrameConfig::new(profile);
        let hl = profile.header_len();
        let uri_len = msg.body.uri.len();
        let body_len = msg.body.encoded_len();
        let auth_len = msg.auth.encoded_len();
        let frame_len = hl + auth_len + body_len;
        let max_section = profile.max_section_len() as usize;
        let fits = uri_len <= usize::from(u16::MAX)
            && msg.auth.len() <= cfg.get_max_auth_fields()
            && body_len <= max_section
            && auth_len <= max_section
            && frame_len <= cfg.get_max_frame_len();

        let mut dst = BytesMut::from(&b"prefix"[..]);
        let result = wire::encode_frame(&msg, &cfg, &mut dst);
        assert_eq!(
            result.is_ok(),
            fits,
            "{profile}: uri {uri_len}, auth {auth_len}, body {body_len}: {result:?}"
        );
        if result.is_err() {
            assert_eq!(&dst[..], b"prefix", "failed encode changed the buffer");
            assert!(msg.to_bytes(profile).is_err());
            continue;
        }
        assert_eq!(&dst[..6], b"prefix", "encode overwrote existing bytes");
        let frame = dst.split_off(6).freeze();
        assert_eq!(frame.len(), frame_len, "frame length");
        let header = header_of(profile, &frame);
        assert_eq!(header.message_type, msg.message_type);
        assert_eq!(header.auth_length as usize, auth_len);
        assert_eq!(header.body_length as usize, body_len);
        assert_eq!(header.checksum, msg.body.checksum());
        match profile {
            Profile::Netaio => assert_eq!(frame[0], input.type_byte),
            _ => assert_eq!(frame[1], input.type_byte),
        }
        assert_eq!(msg.to_bytes(profile).as_ref(), Ok(&frame));
        let mut via_codec = BytesMut::new();
        FrameCodec::new(profile)
            .encode(msg.clone(), &mut via_codec)
            .expect("FrameCodec encodes");
        assert_eq!(via_codec, frame);

        // Encode refuses more fields than the limit, so whatever it sends
        // a decoder with the same limits accepts.
        let back = Message::decode(profile, frame.clone())
            .unwrap_or_else(|e| panic!("{profile}: own frame does not decode: {e}"));
        assert!(
            same_message(&back, &msg),
            "{profile}: one-shot decode differs"
        );
        let dcfg = cfg;

        let mut buf = BytesMut::from(&frame[..]);
        let (back, extra) = measure(|| wire::decode_frame(&mut buf, &dcfg));
        let back = back
            .unwrap_or_else(|e| panic!("{profile}: own frame does not decode: {e}"))
            .expect("a whole frame");
        assert!(buf.is_empty());
        assert!(
            extra <= frame.len() + overhead(&dcfg),
            "decode allocated {extra}"
        );
        assert!(
            same_message(&back, &msg),
            "{profile} round trip changed the message:\n{back:?}\nvs\n{msg:?}"
        );
        assert_eq!(
            back.to_bytes(profile).as_ref(),
            Ok(&frame),
            "decoded copy re-encodes differently"
        );
        let mut reversed = AuthFields::new();
        for (name, value) in msg.auth.iter().collect::<Vec<_>>().into_iter().rev() {
            reversed.insert(name.to_owned(), value.clone());
        }
        let reversed = Message {
            auth: reversed,
            ..msg.clone()
        };
        assert_eq!(
            reversed.to_bytes(profile).as_ref(),
            Ok(&frame),
            "encoding depends on field insertion order"
        );

        // Two copies back to back through the streaming decoder.
        buf.extend_from_slice(&frame);
        buf.extend_from_slice(&frame);
        for _ in 0..2 {
            let got = wire::decode_frame(&mut buf, &dcfg);
            assert_eq!(got.as_ref().ok(), Some(&Some(back.clone())));
        }
        assert!(buf.is_empty());
        assert_eq!(wire::decode_frame(&mut buf, &dcfg), Ok(None));
    }
}

fn check_unassigned_type(value: u8) {
    for profile in [Profile::Netaio, Profile::Wide] {
        let mut frame = Message::new(MessageType::OK, "", "")
            .to_bytes(profile)
            .expect("OK encodes")
            .to_vec();
        let at = if profile == Profile::Netaio { 0 } else { 1 };
        frame[at] = value;
        let expected = if profile == Profile::Netaio && value == 29 {
            // 29 is the wide profile's marker byte.
            DecodeError::ProfileMismatch {
                expected: Profile::Netaio,
                found: Profile::Wide,
            }
        } else {
            DecodeError::UnknownMessageType { value }
        };
        assert_eq!(
            Message::decode(profile, frame.clone()),
            Err(expected.clone())
        );
        let mut buf = BytesMut::from(&frame[..]);
        assert_eq!(
            wire::decode_frame(&mut buf, &FrameConfig::new(profile)),
            Err(expected)
        );
    }
}
