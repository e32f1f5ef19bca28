//! A connection's read buffer and the frames decoded from it (mini-redis's
//! `Connection::read_frame` is the model, without the socket): it grows
//! only while a frame needs it, and every frame already buffered is
//! decoded before the driver reads again. The driver reads into
//! [`Inbound::read_buf`] and reports how much with
//! [`Inbound::handle_read`]; nothing here waits.

use bytes::BytesMut;

use crate::wire::{self, DecodeError, FrameConfig, Message};

/// Read buffer held while a connection is busy; it grows only while a
/// frame needs it. An idle connection holds none (see [`Inbound::release`]).
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

/// The bytes read from a connection and not yet decoded.
#[derive(Debug)]
pub(crate) struct Inbound {
    buf: BytesMut,
    /// Bytes read since [`take_bytes_read`](Self::take_bytes_read) last ran.
    read: u64,
}

impl Default for Inbound {
    /// Nothing allocated: the buffer comes with the first bytes.
    fn default() -> Self {
        Inbound {
            buf: BytesMut::new(),
            read: 0,
        }
    }
}

impl Inbound {
    /// The next frame already in the buffer; `Ok(None)` if no whole frame
    /// is there yet.
    pub(crate) fn buffered(&mut self, cfg: &FrameConfig) -> Result<Option<Decoded>, ReadError> {
        match wire::decode_frame(&mut self.buf, cfg) {
            Ok(Some(msg)) => Ok(Some(Decoded::Frame(msg))),
            Ok(None) => Ok(None),
            Err(e) if e.is_recoverable() => Ok(Some(Decoded::Damaged(e))),
            Err(e) => Err(ReadError::Invalid(e)),
        }
    }

    /// Where the driver reads to: the buffer, with room for at least half
    /// a [`READ_BUF`] after what it holds.
    pub(crate) fn read_buf(&mut self) -> &mut BytesMut {
        if self.buf.capacity() - self.buf.len() < READ_BUF / 2 {
            self.buf.reserve(READ_BUF);
        }
        &mut self.buf
    }

    /// Whether a buffer is held (busy) or not (idle: the driver reads the
    /// first bytes elsewhere and hands them to [`read_buf`](Self::read_buf)).
    pub(crate) fn holds_buffer(&self) -> bool {
        self.buf.capacity() > 0
    }

    /// Lets the buffer go if it holds no bytes; a no-op mid-frame. The
    /// driver calls it when the socket has nothing more to read, so a
    /// connection waiting for its peer keeps no buffer (thousands of idle
    /// connections then cost no read buffer each); the next bytes bring
    /// a new one. Frames already taken keep their own bytes alive.
    pub(crate) fn release(&mut self) {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
        }
    }

    /// The driver read `n` bytes into [`read_buf`](Self::read_buf) (0: the
    /// peer closed). `Ok(false)`: closed cleanly between frames.
    pub(crate) fn handle_read(&mut self, n: usize) -> Result<bool, ReadError> {
        match n {
            0 if self.buf.is_empty() => Ok(false),
            0 => Err(ReadError::ClosedInFrame {
                pending: self.buf.len(),
            }),
            n => {
                self.read += n as u64;
                Ok(true)
            }
        }
    }

    /// Bytes read since the last call (for counters).
    pub(crate) fn take_bytes_read(&mut self) -> u64 {
        std::mem::take(&mut self.read)
    }

    /// Whether part of a frame is waiting for more bytes.
    pub(crate) fn mid_frame(&self) -> bool {
        !self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{MessageType, Profile};

    #[test]
    fn frames_split_anywhere_come_out_whole_then_a_clean_close() {
        let frame = Message::new(MessageType::REQUEST_URI, "echo", "hello")
            .to_bytes(Profile::Netaio)
            .unwrap();
        let cfg = FrameConfig::new(Profile::Netaio);
        let mut inbound = Inbound::default();
        let mut stream = frame.chunks(3).collect::<Vec<_>>();
        stream.push(&frame);
        let mut got = 0;
        for chunk in stream {
            inbound.read_buf().extend_from_slice(chunk);
            assert!(inbound.handle_read(chunk.len()).unwrap());
            while let Some(d) = inbound.buffered(&cfg).unwrap() {
                assert!(matches!(d, Decoded::Frame(ref m) if &m.content()[..] == b"hello"));
                got += 1;
            }
        }
        assert_eq!(got, 2);
        assert!(!inbound.mid_frame());
        assert_eq!(inbound.take_bytes_read(), 2 * frame.len() as u64);
        assert_eq!(inbound.take_bytes_read(), 0, "taken");
        assert!(!inbound.handle_read(0).unwrap(), "a clean close");
    }

    #[test]
    fn close_inside_a_frame_says_how_much_was_pending() {
        let cfg = FrameConfig::new(Profile::Netaio);
        let mut inbound = Inbound::default();
        inbound.read_buf().extend_from_slice(&[0, 0, 3]);
        assert!(inbound.handle_read(3).unwrap());
        assert!(inbound.buffered(&cfg).unwrap().is_none());
        assert!(inbound.mid_frame());
        let e = inbound.handle_read(0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "connection closed inside a frame (3 bytes pending)"
        );
    }

    #[test]
    fn the_buffer_keeps_room_for_the_next_read() {
        // 8 KiB, the documented size (not the constant: a changed
        // constant must fail here).
        let mut inbound = Inbound::default();
        let cap = inbound.read_buf().capacity();
        assert!(cap >= 8 * 1024);
        // Exactly half a buffer free: not grown (it grows below that).
        let buf = inbound.read_buf();
        buf.extend_from_slice(&vec![0; cap - 4 * 1024]);
        assert_eq!(inbound.read_buf().capacity(), cap);
        inbound.read_buf().clear();
        let buf = inbound.read_buf();
        buf.extend_from_slice(&[1; 8 * 1024 - 10]);
        let buf = inbound.read_buf();
        assert!(buf.capacity() - buf.len() >= 4 * 1024);
    }

    #[test]
    fn a_damaged_frame_is_skipped_but_bytes_that_are_no_frame_end_the_stream() {
        let cfg = FrameConfig::new(Profile::Netaio);
        let mut frame = Message::new(MessageType::REQUEST_URI, "echo", "hello")
            .to_bytes(Profile::Netaio)
            .unwrap()
            .to_vec();
        *frame.last_mut().unwrap() ^= 1;
        let mut inbound = Inbound::default();
        inbound.read_buf().extend_from_slice(&frame);
        assert!(matches!(
            inbound.buffered(&cfg),
            Ok(Some(Decoded::Damaged(_)))
        ));
        assert!(!inbound.mid_frame(), "consumed: still in sync");
        // Longer than the frame limit allows: nothing later can fix that.
        let small = cfg.max_frame_len(8);
        inbound.read_buf().extend_from_slice(&frame);
        assert!(matches!(
            inbound.buffered(&small),
            Err(ReadError::Invalid(_))
        ));
    }
}
