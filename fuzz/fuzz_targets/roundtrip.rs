#![no_main]
//! Structured round trip: an `arbitrary` message description is built,
//! encoded in both profiles and decoded back (`checks::check_roundtrip`).
//! The same bytes are also read in the replayable form of
//! `checks::RoundtripInput::from_bytes`, which is what the seeds and
//! regression files use (the stable replay test has no `arbitrary`).

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;

#[path = "../checks/mod.rs"]
mod checks;

#[global_allocator]
static ALLOC: checks::CountingAlloc = checks::CountingAlloc;

#[derive(Arbitrary, Debug)]
struct Input {
    type_byte: u8,
    uri: Vec<u8>,
    content: Vec<u8>,
    pad: u8,
    fields: Vec<(String, Value)>,
}

#[derive(Arbitrary, Debug)]
enum Value {
    Bytes(Vec<u8>),
    Int(i128),
}

impl From<Input> for checks::RoundtripInput {
    fn from(i: Input) -> Self {
        checks::RoundtripInput {
            type_byte: i.type_byte,
            uri: i.uri,
            content: i.content,
            pad: i.pad,
            fields: i
                .fields
                .into_iter()
                .map(|(name, value)| {
                    let value = match value {
                        Value::Bytes(b) => checks::FieldInput::Bytes(b),
                        Value::Int(n) => checks::FieldInput::Int(n),
                    };
                    (name, value)
                })
                .collect(),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    checks::check_roundtrip_bytes(data);
    if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
        checks::check_roundtrip(&input.into());
    }
});
