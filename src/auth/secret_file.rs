//! [`read_secret_file`]: a key kept in a file of its own, read the one way
//! every part of framewire reads one (the CLI's `--secret-file`, a users
//! file's `secret_file`, the backplane's cluster key), so that a file saved
//! with Windows line ends gives the same key everywhere.

use std::path::Path;

use zeroize::Zeroizing;

/// The secret in the file at `path`: its bytes, less one line end (`\n` or
/// `\r\n`) that an editor adds; wiped from memory on drop. Only one line
/// end is removed, so a key that really ends in a newline keeps the rest.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("key");
/// std::fs::write(&path, "s3cret\r\n").unwrap();
/// assert_eq!(&framewire::auth::read_secret_file(&path).unwrap()[..], b"s3cret");
/// std::fs::write(&path, "s3cret\n").unwrap();
/// assert_eq!(&framewire::auth::read_secret_file(&path).unwrap()[..], b"s3cret");
/// ```
pub fn read_secret_file(path: &Path) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(std::fs::read(path)?);
    strip_line_end(&mut bytes);
    Ok(bytes)
}

fn strip_line_end(bytes: &mut Vec<u8>) {
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::strip_line_end;

    #[test]
    fn one_line_end_is_removed_whichever_kind() {
        for (raw, key) in [
            (&b"k\n"[..], &b"k"[..]),
            (b"k\r\n", b"k"),
            (b"k", b"k"),
            (b"k\n\n", b"k\n"),
            (b"k\r", b"k\r"),
            (b"\r\n", b""),
            (b"", b""),
        ] {
            let mut bytes = raw.to_vec();
            strip_line_end(&mut bytes);
            assert_eq!(bytes, key, "{raw:?}");
        }
    }
}
