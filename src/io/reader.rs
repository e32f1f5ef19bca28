//! The one frame reader both connection shells use (mini-redis's
//! `Connection::read_frame` is the model): a read buffer that grows only
//! while a frame needs it, every frame already buffered decoded before the
//! socket is read again. It knows nothing of deadlines, plugins or what a
//! frame means: the shells race [`FrameReader::fill`] against their
//! timers and hand what [`FrameReader::buffered`] decodes to the pipeline.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::wire::{self, DecodeError, FrameConfig, Message};

/// Read buffer kept per connection; it grows only while a frame needs it.
pub(crate) const READ_BUF: usize = 8 * 1024;

/// A frame taken from the buffer.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// A whole, undamaged frame.
    Frame(Message),
    /// A frame whose checksum did not match; it was consumed and the
    /// stream is still in sync.
    Damaged(DecodeError),
}

/// Why reading ended the connection. The texts are what a framewire server
/// sends a peer in its last ERROR.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// Bytes that are not a frame (and that no later byte can fix).
    #[error("invalid frame: {0}")]
    Invalid(DecodeError),
    /// The peer closed the connection part way through a frame.
    #[error("connection closed inside a frame ({pending} bytes pending)")]
    ClosedInFrame {
        /// Bytes of the unfinished frame.
        pending: usize,
    },
    /// The socket failed.
    #[error("read failed: {0}")]
    Io(std::io::Error),
}

pub(crate) struct FrameReader<R> {
    rd: R,
    buf: BytesMut,
    /// Bytes read since [`take_bytes_read`](Self::take_bytes_read) last ran.
    read: u64,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(crate) fn new(rd: R) -> Self {
        FrameReader {
            rd,
            buf: BytesMut::with_capacity(READ_BUF),
            read: 0,
        }
    }

    /// The next frame already in the buffer; `Ok(None)` if no whole frame
    /// is there yet (nothing is read).
    pub(crate) fn buffered(&mut self, cfg: &FrameConfig) -> Result<Option<Decoded>, ReadError> {
        match wire::decode_frame(&mut self.buf, cfg) {
            Ok(Some(msg)) => Ok(Some(Decoded::Frame(msg))),
            Ok(None) => Ok(None),
            Err(e) if e.is_recoverable() => Ok(Some(Decoded::Damaged(e))),
            Err(e) => Err(ReadError::Invalid(e)),
        }
    }

    /// Bytes read from the socket since the last call (for counters).
    pub(crate) fn take_bytes_read(&mut self) -> u64 {
        std::mem::take(&mut self.read)
    }

    /// Whether part of a frame is waiting for more bytes.
    pub(crate) fn mid_frame(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Reads what the socket has into the buffer. `Ok(false)`: the peer
    /// closed cleanly between frames. Cancel-safe (bytes are either read
    /// into the buffer or left in the socket), so it can race timers.
    pub(crate) async fn fill(&mut self) -> Result<bool, ReadError> {
        if self.buf.capacity() - self.buf.len() < READ_BUF / 2 {
            self.buf.reserve(READ_BUF);
        }
        match self.rd.read_buf(&mut self.buf).await {
            Ok(0) if self.buf.is_empty() => Ok(false),
            Ok(0) => Err(ReadError::ClosedInFrame {
                pending: self.buf.len(),
            }),
            Ok(n) => {
                self.read += n as u64;
                Ok(true)
            }
            Err(e) => Err(ReadError::Io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{MessageType, Profile};

    #[tokio::test]
    async fn frames_split_anywhere_come_out_whole_then_a_clean_close() {
        let frame = Message::new(MessageType::REQUEST_URI, "echo", "hello")
            .to_bytes(Profile::Netaio)
            .unwrap();
        let (mut tx, rx) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for chunk in frame.chunks(3) {
                tx.write_all(chunk).await.unwrap();
            }
            tx.write_all(&frame).await.unwrap();
        });
        let cfg = FrameConfig::new(Profile::Netaio);
        let mut r = FrameReader::new(rx);
        let mut got = 0;
        loop {
            while let Some(d) = r.buffered(&cfg).unwrap() {
                assert!(matches!(d, Decoded::Frame(ref m) if &m.content()[..] == b"hello"));
                got += 1;
            }
            if !r.fill().await.unwrap() {
                break;
            }
        }
        assert_eq!(got, 2);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn close_inside_a_frame_says_how_much_was_pending() {
        let (mut tx, rx) = tokio::io::duplex(64);
        use tokio::io::AsyncWriteExt;
        tx.write_all(&[0, 0, 3]).await.unwrap();
        drop(tx);
        let cfg = FrameConfig::new(Profile::Netaio);
        let mut r = FrameReader::new(rx);
        assert!(r.fill().await.unwrap());
        assert!(r.buffered(&cfg).unwrap().is_none());
        assert!(r.mid_frame());
        let e = r.fill().await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "connection closed inside a frame (3 bytes pending)"
        );
    }
}
