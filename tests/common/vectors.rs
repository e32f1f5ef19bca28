//! The golden vectors made by the real netaio 0.0.9
//! (`tests/data/vectors.json`, copied from `shared/netaio/`).

use serde_json::Value;

/// Every case of the vectors file (checked to be netaio 0.0.9's).
pub fn all() -> Vec<Value> {
    let text = include_str!("../data/vectors.json");
    let doc: Value = serde_json::from_str(text).expect("vectors.json is JSON");
    assert_eq!(doc["netaio_version"], "0.0.9");
    doc["cases"].as_array().expect("cases array").clone()
}

/// The cases of one `kind` (`frame`, `behaviour`, ...).
pub fn of_kind(kind: &str) -> Vec<Value> {
    all().into_iter().filter(|c| c["kind"] == kind).collect()
}

/// A hex field of a case as bytes.
pub fn bytes(v: &Value) -> Vec<u8> {
    super::hex::unhex(v.as_str().expect("hex string"))
}
