//! `users_file`: arbitrary bytes as a users file (TOML), the operator's
//! input that `serve --users` reads at start.

use std::path::Path;

use framewire::auth::{MemoryUsers, UsersFileError};

use super::*;

/// Arbitrary bytes as a users file: loading never panics, an error names a
/// line of the text (1-based, at most one past the last), and memory stays
/// proportional to the text.
pub fn check_users_file(data: &[u8]) {
    assert_counting_allocator();
    // A file that is not UTF-8 is refused when read, before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A directory that does not exist: `secret_file`s relative to it fail
    // to read (typed), never touch the machine's files.
    let path = Path::new("/nonexistent-framewire-fuzz/users.toml");
    let (loaded, extra) = measure(|| MemoryUsers::from_toml_str(text, path));
    let bound = 64 * data.len() + (1 << 20);
    assert!(
        extra <= bound,
        "a users file of {} bytes allocated {extra} (bound {bound})",
        data.len()
    );
    match loaded {
        Ok(users) => {
            // Every user came from a `[[user]]` table (or an inline array
            // of tables): never more users than the text could name.
            assert!(users.len() <= text.matches("name").count(), "{text:?}");
        }
        Err(UsersFileError::Invalid { line, .. }) => {
            let lines = text.matches('\n').count() + 1;
            assert!((1..=lines).contains(&line), "line {line} of {lines}");
        }
        Err(e) => assert!(e.is_read(), "{e:?}"),
    }
}
