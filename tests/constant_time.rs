//! Secrets, tokens and MACs are compared in constant time (issue 15): no
//! statement of the library compares a value named like one with `==`,
//! `!=`, `.eq(` / `.ne(`, `assert_eq!` / `assert_ne!` or `matches!` (they
//! go through `auth::crypto::ct_eq` or `Mac::verify_slice`). A source
//! audit over whole statements (a comparison split across lines counts),
//! so a new plugin that slips in a plain comparison fails here.

use std::path::Path;

/// Identifiers that hold secret-dependent bytes wherever they appear.
const SECRET_NAMES: &[&str] = &[
    "mac",
    "hmac",
    "tag",
    "secret",
    "token",
    "password",
    "digest",
    "expected",
    "key",
    "sig",
    "signature",
    "computed",
    "theirs",
];

/// Parts of longer identifiers (`their_mac`, `expected_hmac`) that mark
/// them as secret too: the unambiguous ones only (`key_len` is public).
const SECRET_PARTS: &[&str] = &[
    "mac",
    "hmac",
    "secret",
    "token",
    "password",
    "digest",
    "signature",
];

/// What compares in variable time.
const COMPARISONS: &[&str] = &[
    "==",
    "!=",
    ".eq(",
    ".ne(",
    "assert_eq!",
    "assert_ne!",
    "matches!",
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

fn secret_looking(word: &str) -> bool {
    let word = word.to_ascii_lowercase();
    SECRET_NAMES.contains(&word.as_str())
        || word
            .split('_')
            .filter(|part| !part.is_empty())
            .any(|part| SECRET_PARTS.contains(&part))
}

/// Whether the statement `code` (comments already removed) compares a
/// secret-looking identifier in variable time.
fn offending(code: &str) -> bool {
    if !COMPARISONS.iter().any(|c| code.contains(c)) {
        return false;
    }
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(secret_looking)
}

/// The statements of `text` with the line each starts on: code split at
/// `;`, `{` and `}`, line comments removed. A statement one of whose lines
/// says `// public: ` (values that travel in clear), or that opens a block
/// whose first line says so, is left out.
fn statements(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let (mut current, mut start, mut public) = (String::new(), 0, false);
    // Whether the last line ended by opening a block.
    let mut opened = false;
    for (i, line) in text.lines().enumerate() {
        let (code, comment) = match line.find("//") {
            Some(at) => (&line[..at], &line[at..]),
            None => (line, ""),
        };
        if comment.starts_with("// public: ") {
            if code.trim().is_empty() {
                // On a line of its own, first in a block: it speaks for
                // the statement that opened the block.
                if let Some(last) = out.last_mut().filter(|_| opened) {
                    last.1.clear();
                }
            }
            public = true;
        }
        let mut opened_here = false;
        for c in code.chars() {
            if current.trim().is_empty() {
                start = i + 1;
            }
            if matches!(c, ';' | '{' | '}') {
                if !public && !current.trim().is_empty() {
                    out.push((start, current.trim().to_owned()));
                }
                current.clear();
                public = false;
                opened_here = c == '{';
            } else {
                current.push(c);
            }
        }
        current.push(' ');
        opened = opened_here && current.trim().is_empty();
    }
    if !public && !current.trim().is_empty() {
        out.push((start, current.trim().to_owned()));
    }
    out
}

fn findings(text: &str) -> Vec<(usize, String)> {
    statements(text)
        .into_iter()
        .filter(|(_, s)| !s.is_empty() && offending(s))
        .collect()
}

#[test]
fn the_audit_catches_every_kind_of_plain_comparison() {
    for bad in [
        "    if mac == expected {",
        "    token != stored;",
        "    if their_mac.eq(&ours) {",
        "    assert_eq!(computed, received);",
        "    let same = matches!(sig, b\"x\");",
        "    let ok = expected_hmac\n        == received;",
        "    if a.ne(&signature) {",
    ] {
        assert_eq!(findings(bad).len(), 1, "{bad:?}");
    }
    for fine in [
        "    ct_eq(mac, &expected);",
        "    // a mac == b is wrong",
        "    if len == NONCE_LEN {",
        "    if key == other { // public: nonces travel in clear",
        "    let ok = key_len\n        == 32;",
        "    let x = mac;\n    if y == 1 {",
        "    if computed != crc {\n        // public: a CRC\n        return;",
    ] {
        assert!(findings(fine).is_empty(), "{fine:?}: {:?}", findings(fine));
    }
    // A statement split over lines is reported at its first line.
    assert_eq!(findings("a;\nlet ok = mac\n == b;")[0].0, 2);
}

#[test]
fn no_secret_is_compared_in_variable_time() {
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
        // Unit tests compare known values on purpose; so do the test
        // files of a module.
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let code = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or(&text);
        for (line, statement) in findings(code) {
            found.push(format!("{}:{line}: {statement}", file.display()));
        }
    }
    assert!(
        found.is_empty(),
        "compare these in constant time:\n{}",
        found.join("\n")
    );
}
