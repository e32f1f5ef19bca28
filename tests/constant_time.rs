//! Secrets, tokens and MACs are compared in constant time (issue 15): no
//! line of the library compares a value named like one with `==` or `!=`
//! (they go through `auth::crypto::ct_eq` or `Mac::verify_slice`). A
//! source audit, so a new plugin that slips in an `==` fails here.

use std::path::Path;

/// Identifiers that hold secret-dependent bytes wherever they appear.
const SECRET_NAMES: &[&str] = &[
    "mac", "hmac", "tag", "secret", "token", "password", "digest", "expected", "key",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The comparisons in `line` that involve a secret-looking identifier.
fn offending(line: &str) -> bool {
    // A comparison of values that travel in clear says so on its line.
    if line.contains("// public: ") {
        return false;
    }
    let code = line.split("//").next().unwrap_or("");
    if !(code.contains("==") || code.contains("!=")) {
        return false;
    }
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| SECRET_NAMES.contains(&word.to_ascii_lowercase().as_str()))
}

#[test]
fn the_audit_catches_a_plain_comparison() {
    assert!(offending("    if mac == expected {"));
    assert!(offending("    token != stored"));
    assert!(!offending("    ct_eq(mac, &expected)"));
    assert!(!offending("    // a mac == b is wrong"));
    assert!(!offending("    if len == NONCE_LEN {"));
    assert!(!offending(
        "    if key == other { // public: nonces travel in clear"
    ));
}

#[test]
fn no_secret_is_compared_with_eq() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(
        files.len() > 50,
        "the audit reads the library: {}",
        files.len()
    );
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // Unit tests compare known values on purpose.
        let code = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or(&text);
        for (i, line) in code.lines().enumerate() {
            if offending(line) {
                found.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "compare these in constant time:\n{}",
        found.join("\n")
    );
}
