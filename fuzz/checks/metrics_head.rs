//! `metrics_head`: arbitrary bytes as what a client sends the metrics
//! port (`serve --metrics`), read by the CLI's own head reader.

#[path = "../../src/bin/framewire/metrics/head.rs"]
mod head;

use head::{Head, HeadReader};

/// The bound the metrics port uses.
const MAX_HEAD: usize = 8 * 1024;

/// First byte: the read size (1..=256); the rest arrives in reads of that
/// size. The reader agrees with a plain reference (the head is whole once
/// the reads have reached the end of the stream's first empty line, and
/// refused once they pass the bound without it), never keeps more than
/// its bound, and says `GET /metrics` only for a whole head whose first
/// line is that request.
pub fn check_metrics_head(data: &[u8]) {
    let Some((&size, rest)) = data.split_first() else {
        return;
    };
    // Where the first empty line of the whole stream ends, if anywhere.
    let head_end = rest
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4);
    // Bounds beyond the port's own, so that short inputs reach them too.
    for max in [MAX_HEAD, 64, 4] {
        let mut reader = HeadReader::new(max);
        let (mut read_so_far, mut expected) = (0usize, Head::Partial);
        for read in rest.chunks(usize::from(size) + 1) {
            if expected == Head::Partial {
                read_so_far += read.len();
                if read_so_far > max {
                    expected = Head::TooLarge;
                } else if head_end.is_some_and(|end| end <= read_so_far) {
                    expected = Head::Complete;
                }
            }
            assert_eq!(reader.feed(read), expected, "max {max}");
            assert!(reader.kept() <= max);
        }
        let line = rest.split(|&b| b == b'\r').next().unwrap_or_default();
        let metrics = expected == Head::Complete
            && (line.starts_with(b"GET /metrics ") || line == b"GET /metrics");
        assert_eq!(reader.wants_metrics(), metrics, "max {max}");
    }
}
