//! `tokio_util::codec` adapter over the sans-I/O [`wire`](crate::wire) layer.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::io::reader::ReadError;
use crate::wire::{self, DecodeError, FrameConfig, Message, Profile};
use crate::Error;

/// Frames [`Message`]s on a byte stream, for `tokio_util::codec::Framed`.
///
/// Each decoded item is a `Result<Message, DecodeError>`: the inner error is
/// always *recoverable* (a checksum mismatch; the damaged frame has been
/// consumed and the next one decodes normally — netaio answers it with
/// ERROR `invalid message` and keeps the connection). Errors that end the
/// stream (I/O, unknown type, oversized or malformed frames) come out as
/// the stream's own [`Error`]. They are split this way because a `Framed`
/// stream stops after its first error.
///
/// ```
/// use bytes::BytesMut;
/// use framewire::{FrameCodec, Message, Profile};
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = FrameCodec::new(Profile::Netaio);
/// let mut buf = BytesMut::new();
/// codec.encode(Message::respond("echo", "hi"), &mut buf).unwrap();
/// let msg = codec.decode(&mut buf).unwrap().unwrap().unwrap();
/// assert_eq!(&msg.content()[..], b"hi");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameCodec {
    config: FrameConfig,
}

impl FrameCodec {
    /// A codec with the default limits of `profile`.
    pub fn new(profile: Profile) -> Self {
        Self::with_config(FrameConfig::new(profile))
    }

    /// A codec with explicit limits.
    pub fn with_config(config: FrameConfig) -> Self {
        FrameCodec { config }
    }

    /// The profile and limits in force.
    pub fn config(&self) -> &FrameConfig {
        &self.config
    }
}

impl Decoder for FrameCodec {
    type Item = Result<Message, DecodeError>;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Error> {
        match wire::decode_frame(src, &self.config) {
            Ok(msg) => Ok(msg.map(Ok)),
            Err(e) if e.is_recoverable() => Ok(Some(Err(e))),
            Err(e) => Err(e.into()),
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, Error> {
        match self.decode(buf)? {
            Some(item) => Ok(Some(item)),
            None if buf.is_empty() => Ok(None),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                ReadError::ClosedInFrame { pending: buf.len() },
            )
            .into()),
        }
    }
}

// Only one `Encoder` impl: a second (say for `&Message`) would make
// `SinkExt::flush` on a `Framed` ambiguous for every user.
impl Encoder<Message> for FrameCodec {
    type Error = Error;

    fn encode(&mut self, msg: Message, dst: &mut BytesMut) -> Result<(), Error> {
        Ok(wire::encode_frame(&msg, &self.config, dst)?)
    }
}
