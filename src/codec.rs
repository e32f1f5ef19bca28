//! `tokio_util::codec` adapter over the sans-I/O [`wire`](crate::wire) layer.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::proto::inbound::ReadError;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MessageType;

    #[test]
    fn the_codec_keeps_its_limits() {
        let config = FrameConfig::new(Profile::Wide)
            .max_frame_len(4096)
            .max_auth_fields(3);
        assert_eq!(*FrameCodec::with_config(config).config(), config);
        assert_eq!(
            *FrameCodec::new(Profile::Wide).config(),
            FrameConfig::new(Profile::Wide)
        );
        // A frame over the limit is refused both ways.
        let mut codec = FrameCodec::with_config(config);
        let big = Message::new(MessageType::NOTIFY_URI, "t", vec![0u8; 5000]);
        assert!(codec.encode(big.clone(), &mut BytesMut::new()).is_err());
        let mut buf = BytesMut::new();
        FrameCodec::new(Profile::Wide)
            .encode(big, &mut buf)
            .unwrap();
        assert!(codec.decode(&mut buf).is_err());
    }

    #[test]
    fn frames_decode_whole_and_split_and_a_torn_end_is_an_error() {
        let mut codec = FrameCodec::new(Profile::Netaio);
        let mut buf = BytesMut::new();
        codec
            .encode(Message::respond("echo", "hi"), &mut buf)
            .unwrap();
        let frame = buf.split().freeze();
        assert_eq!(codec.decode_eof(&mut buf).unwrap().map(|_| ()), None);

        // Half a frame: nothing yet, and an end there is an error.
        let mut half = BytesMut::from(&frame[..frame.len() / 2]);
        assert!(codec.decode(&mut half).unwrap().is_none());
        let torn = codec.decode_eof(&mut half).unwrap_err();
        assert!(torn.is_io(), "{torn}");

        // The whole frame, at the end of the stream.
        let mut whole = BytesMut::from(&frame[..]);
        let msg = codec.decode_eof(&mut whole).unwrap().unwrap().unwrap();
        assert_eq!(&msg.content()[..], b"hi");
        assert!(whole.is_empty());

        // A damaged checksum is an item, not the stream's end.
        let mut damaged = BytesMut::from(&frame[..]);
        damaged[8] ^= 0xff;
        assert!(matches!(
            codec.decode(&mut damaged),
            Ok(Some(Err(DecodeError::ChecksumMismatch { .. })))
        ));
    }
}
