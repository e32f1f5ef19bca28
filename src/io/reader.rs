//! The read side of a connection's driver: reads what the socket has into
//! a [`proto::inbound::Inbound`](crate::proto::inbound::Inbound), which
//! decodes it. It knows nothing of deadlines, plugins or what a frame
//! means: the drivers race [`read_into`] against their timers.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::proto::inbound::{Decoded, Inbound, ReadError};
use crate::wire::FrameConfig;

/// Reads what `rd` has into `inbound`. `Ok(false)`: the peer closed
/// cleanly between frames. Cancel-safe (bytes are either read into the
/// buffer or left in the socket), so it can race timers.
pub(crate) async fn read_into<R: AsyncRead + Unpin>(
    rd: &mut R,
    inbound: &mut Inbound,
) -> Result<bool, ReadError> {
    let n = rd
        .read_buf(inbound.read_buf())
        .await
        .map_err(ReadError::Io)?;
    inbound.handle_read(n)
}

/// A read half and its [`Inbound`] (the client's reader).
pub(crate) struct FrameReader<R> {
    rd: R,
    inbound: Inbound,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(crate) fn new(rd: R) -> Self {
        FrameReader {
            rd,
            inbound: Inbound::default(),
        }
    }

    /// The next frame already in the buffer (see [`Inbound::buffered`]).
    pub(crate) fn buffered(&mut self, cfg: &FrameConfig) -> Result<Option<Decoded>, ReadError> {
        self.inbound.buffered(cfg)
    }

    /// [`read_into`] this reader's buffer.
    pub(crate) async fn fill(&mut self) -> Result<bool, ReadError> {
        read_into(&mut self.rd, &mut self.inbound).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Message, MessageType, Profile};

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
    async fn close_inside_a_frame_is_an_error() {
        let (mut tx, rx) = tokio::io::duplex(64);
        use tokio::io::AsyncWriteExt;
        tx.write_all(&[0, 0, 3]).await.unwrap();
        drop(tx);
        let mut r = FrameReader::new(rx);
        assert!(r.fill().await.unwrap());
        let e = r.fill().await.unwrap_err();
        assert!(matches!(e, ReadError::ClosedInFrame { pending: 3 }), "{e}");
    }
}
