//! The metrics port's request head, without I/O: bytes go in as they
//! arrive, and it says when a whole head (ending in an empty line) is in,
//! or that it grew past its bound, and whether it asks for the metrics.
//! Plain std only: the fuzz target `metrics_head` and `tests/fuzz_corpus.rs`
//! include this file as it is.

/// How far a request head has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// More bytes are needed.
    Partial,
    /// The head is whole (its empty line arrived).
    Complete,
    /// Past the bound without an end: the connection is closed.
    TooLarge,
}

/// A request head being read, bounded by `max` bytes.
#[derive(Debug)]
pub struct HeadReader {
    head: Vec<u8>,
    max: usize,
    state: Head,
}

impl HeadReader {
    pub fn new(max: usize) -> Self {
        HeadReader {
            head: Vec::with_capacity(max.min(512)),
            max,
            state: Head::Partial,
        }
    }

    /// Takes `bytes` (what one read returned). Bytes after a whole head,
    /// or after the bound was passed, are not kept.
    pub fn feed(&mut self, bytes: &[u8]) -> Head {
        if self.state != Head::Partial {
            return self.state;
        }
        if self.head.len() + bytes.len() > self.max {
            self.state = Head::TooLarge;
            self.head = Vec::new();
            return self.state;
        }
        // Only the new bytes (and the three before them) can complete the
        // terminator: a head sent a byte at a time costs linear time.
        let from = self.head.len().saturating_sub(3);
        self.head.extend_from_slice(bytes);
        if self.head[from..].windows(4).any(|w| w == b"\r\n\r\n") {
            self.state = Head::Complete;
        }
        self.state
    }

    /// Whether a whole head asks for `GET /metrics` (its first line, up
    /// to the first `\r`, is that request line).
    pub fn wants_metrics(&self) -> bool {
        if self.state != Head::Complete {
            return false;
        }
        let line = self.head.split(|&b| b == b'\r').next().unwrap_or_default();
        line.starts_with(b"GET /metrics ") || line == b"GET /metrics"
    }

    /// Bytes kept (never more than the bound).
    #[allow(dead_code)] // for the tests and the fuzz check
    pub fn kept(&self) -> usize {
        self.head.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_completes_at_its_empty_line_however_it_is_split() {
        let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        for split in 1..request.len() {
            let mut r = HeadReader::new(8192);
            let mut state = Head::Partial;
            for part in request.chunks(split) {
                state = r.feed(part);
            }
            assert_eq!(state, Head::Complete, "split {split}");
            assert!(r.wants_metrics());
        }
        let mut r = HeadReader::new(8192);
        assert_eq!(r.feed(b"GET / HTTP/1.1\r\n"), Head::Partial);
        assert!(!r.wants_metrics(), "not whole yet");
        assert_eq!(r.feed(b"\r\n"), Head::Complete);
        assert!(!r.wants_metrics(), "another path");
        let mut r = HeadReader::new(8192);
        r.feed(b"GET /metricsX HTTP/1.1\r\n\r\n");
        assert!(!r.wants_metrics());
        let mut r = HeadReader::new(8192);
        r.feed(b"GET /metrics\r\n\r\n");
        assert!(r.wants_metrics(), "HTTP/0.9 style");
    }

    #[test]
    fn a_head_past_its_bound_is_refused_and_not_kept() {
        let mut r = HeadReader::new(16);
        assert_eq!(r.feed(&[b'a'; 16]), Head::Partial);
        assert_eq!(r.kept(), 16);
        assert_eq!(r.feed(b"\r"), Head::TooLarge);
        assert_eq!(r.kept(), 0);
        assert_eq!(r.feed(b"\r\n\r\n"), Head::TooLarge, "stays refused");
        let mut r = HeadReader::new(4);
        assert_eq!(r.feed(b"\r\n\r\n"), Head::Complete, "exactly the bound");
        assert_eq!(r.feed(b"more"), Head::Complete);
        assert_eq!(r.kept(), 4, "nothing after the head is kept");
    }
}
