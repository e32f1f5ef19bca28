//! How replies are printed: raw content, or one JSON object per line.

use std::io::Write;

use framewire::{Message, MessageType};

/// `{"type":"RESPOND_URI","code":1,"uri":"echo","content":"hi"}`; content
/// (and uri) as a string when UTF-8, else as `content_base64`
/// (`uri_base64`).
pub fn json(msg: &Message) -> String {
    let mut out = String::from("{");
    out.push_str(&format!(
        "\"type\":{}",
        quote(&msg.message_type.to_string())
    ));
    out.push_str(&format!(",\"code\":{}", msg.message_type.value()));
    field(&mut out, "uri", msg.uri());
    field(&mut out, "content", msg.content());
    out.push('}');
    out
}

fn field(out: &mut String, name: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => out.push_str(&format!(",\"{name}\":{}", quote(s))),
        Err(_) => out.push_str(&format!(",\"{name}_base64\":\"{}\"", base64(bytes))),
    }
}

pub fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            c if (c as u32) < 0x20 => q.push_str(&format!("\\u{:04x}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Prints a message: its content and a newline, or its JSON line.
pub fn print(msg: &Message, as_json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if as_json {
        writeln!(out, "{}", json(msg))?;
    } else {
        out.write_all(msg.content())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Whether a reply type means success for the CLI's exit status.
pub fn is_success(t: MessageType) -> bool {
    !matches!(
        t,
        MessageType::NOT_FOUND
            | MessageType::ERROR
            | MessageType::AUTH_ERROR
            | MessageType::NOT_PERMITTED
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_base64() {
        let m = Message::respond("echo", "hi \"there\"\n");
        assert_eq!(
            json(&m),
            r#"{"type":"RESPOND_URI","code":1,"uri":"echo","content":"hi \"there\"\n"}"#
        );
        let m = Message::respond("b", vec![0xff, 0x00, 0x10, 0x20]);
        assert_eq!(
            json(&m),
            r#"{"type":"RESPOND_URI","code":1,"uri":"b","content_base64":"/wAQIA=="}"#
        );
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b""), "");
    }
}
