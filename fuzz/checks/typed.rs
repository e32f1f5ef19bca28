//! `typed_content`: what the typed-service layer parses from a peer — a
//! route pattern against a uri, typed content in JSON and MessagePack, a
//! W3C `traceparent`, an application header. Input: a first line (the
//! pattern, the traceparent, the header name) and the rest (the uri, the
//! content, the header value).

use std::collections::BTreeMap;

use framewire::auth::Pattern;
use framewire::content::{self, MAX_REASON};
use framewire::trace::TraceParent;
use framewire::{Message, MessageType, RouteKey};

/// What content is parsed as: maps with paths to name in a reason.
type Shape = BTreeMap<String, Vec<u32>>;

/// A reason's bound: two bounded parts (field and reason) and the frame
/// of the message around them.
const MAX_TEXT: usize = 2 * MAX_REASON + 128;

pub fn check_typed_content(data: &[u8]) {
    super::assert_counting_allocator();
    let (head, rest) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(head);

    // A pattern: printed as written; a capture only where it matches,
    // each parameter one non-empty segment; a pattern without wildcards is
    // an exact route that matches only its own text.
    if let Ok(p) = text.parse::<Pattern>() {
        assert_eq!(p.as_str(), text);
        let matched = p.matches(rest);
        let captured = p.captures(rest);
        assert!(captured.is_none() || matched, "captured without matching");
        for (name, value) in captured.iter().flat_map(|c| c.iter()) {
            assert!(
                !value.is_empty() && !value.contains('/'),
                "{name}={value:?}"
            );
        }
        if p.is_literal() {
            assert_eq!(matched, text.as_bytes() == rest);
            assert!(matches!(
                RouteKey::from((MessageType::REQUEST_URI, p)),
                RouteKey::TypeUri(..)
            ));
        }
    }

    // A traceparent: what parses prints back exactly.
    if let Ok(tp) = text.parse::<TraceParent>() {
        assert_eq!(tp.to_string(), text);
        assert_ne!(tp.trace_id(), [0; 16]);
    }

    // Content: never a panic; a refusal's text bounded whatever came in;
    // a value that parses re-encodes and parses to itself.
    for bytes in [rest, data] {
        match content::from_json::<Shape>(bytes) {
            Ok(v) => {
                let again = content::to_json(&v).unwrap();
                assert_eq!(content::from_json::<Shape>(&again).unwrap(), v);
            }
            Err(e) => assert!(e.to_string().len() <= MAX_TEXT, "{}", e.to_string().len()),
        }
        match content::from_msgpack::<Shape>(bytes) {
            Ok(v) => {
                let again = content::to_msgpack(&v).unwrap();
                assert_eq!(content::from_msgpack::<Shape>(&again).unwrap(), v);
            }
            Err(e) => assert!(e.to_string().len() <= MAX_TEXT, "{}", e.to_string().len()),
        }
    }

    // A header: set exactly when its name and value are within the rules,
    // and then read back as given.
    let mut msg = Message::ok("k", "");
    match msg.set_header(&text, rest.to_vec()) {
        Ok(()) => {
            assert_eq!(msg.header(&text), Some(rest));
            assert!(rest.len() <= framewire::wire::MAX_HEADER_VALUE);
        }
        Err(e) => assert!(e.is_bad_name() || e.is_too_long(), "{e}"),
    }
}
