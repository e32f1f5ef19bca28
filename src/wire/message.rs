//! `Message` and the reply helpers netaio servers use.

use bytes::{Bytes, BytesMut};

use super::{
    frame, AuthFields, AuthValue, Body, DecodeError, EncodeError, FieldName, FrameConfig,
    MessageType, Profile,
};

/// One framed message: type, auth fields and body.
///
/// The header is not stored: its lengths and checksum are derived from the
/// other parts when the message is encoded, so they can never be stale.
///
/// ```
/// use framewire::{Message, MessageType, Profile};
///
/// let request = Message::new(MessageType::REQUEST_URI, "echo", "hello");
/// let bytes = request.to_bytes(Profile::Netaio).unwrap();
/// assert_eq!(bytes.len(), 9 + 3 + 11);
///
/// let back = Message::decode(Profile::Netaio, bytes).unwrap();
/// assert_eq!(back, request);
/// assert_eq!(&back.body.content[..], b"hello");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The message type.
    pub message_type: MessageType,
    /// Auth fields (empty unless a plugin or the caller set some).
    pub auth: AuthFields,
    /// Uri and content.
    pub body: Body,
}

impl Message {
    /// A message with no auth fields.
    pub fn new(
        message_type: MessageType,
        uri: impl Into<Bytes>,
        content: impl Into<Bytes>,
    ) -> Self {
        Message {
            message_type,
            auth: AuthFields::new(),
            body: Body::new(uri, content),
        }
    }

    /// The uri.
    pub fn uri(&self) -> &Bytes {
        &self.body.uri
    }

    /// The content.
    pub fn content(&self) -> &Bytes {
        &self.body.content
    }

    /// Replaces the uri.
    pub fn with_uri(mut self, uri: impl Into<Bytes>) -> Self {
        self.body.uri = uri.into();
        self
    }

    /// Replaces the auth fields.
    pub fn with_auth(mut self, auth: AuthFields) -> Self {
        self.auth = auth;
        self
    }

    /// `OK` with `uri` and `content` (netaio `make_ok_msg`).
    pub fn ok(uri: impl Into<Bytes>, content: impl Into<Bytes>) -> Self {
        Self::new(MessageType::OK, uri, content)
    }

    /// `RESPOND_URI` with `uri` and `content` (netaio `make_respond_uri_msg`).
    pub fn respond(uri: impl Into<Bytes>, content: impl Into<Bytes>) -> Self {
        Self::new(MessageType::RESPOND_URI, uri, content)
    }

    /// `NOTIFY_URI` with the topic as uri: what a subscriber of `topic`
    /// receives (see `ServerHandle::notify`).
    ///
    /// ```
    /// use framewire::{Message, MessageType};
    ///
    /// let note = Message::notify("lobby", "hello");
    /// assert_eq!(note.message_type, MessageType::NOTIFY_URI);
    /// assert_eq!(&note.uri()[..], b"lobby");
    /// ```
    pub fn notify(topic: impl Into<Bytes>, content: impl Into<Bytes>) -> Self {
        Self::new(MessageType::NOTIFY_URI, topic, content)
    }

    /// `NOT_FOUND` with content `not found` (netaio `make_not_found_msg`).
    /// netaio's default handler sends it with an empty uri.
    pub fn not_found(uri: impl Into<Bytes>) -> Self {
        Self::new(MessageType::NOT_FOUND, uri, "not found")
    }

    /// `NOT_PERMITTED` with content `not permitted` (netaio
    /// `make_not_permitted_msg`).
    pub fn not_permitted(uri: impl Into<Bytes>) -> Self {
        Self::new(MessageType::NOT_PERMITTED, uri, "not permitted")
    }

    /// An error report with uri `ERROR`, typed from its text exactly as
    /// netaio's `make_error_msg` does: contains `not found` → `NOT_FOUND`,
    /// else `auth` → `AUTH_ERROR`, else `not permitted` → `NOT_PERMITTED`,
    /// else `ERROR`. Use [`with_uri`](Self::with_uri) to echo a request uri.
    ///
    /// ```
    /// use framewire::{Message, MessageType};
    ///
    /// assert_eq!(Message::error("HMAC auth failed").message_type, MessageType::AUTH_ERROR);
    /// assert_eq!(Message::error("invalid message").message_type, MessageType::ERROR);
    /// assert_eq!(&Message::error("x").uri()[..], b"ERROR");
    /// ```
    pub fn error(text: impl Into<Bytes>) -> Self {
        let text = text.into();
        let has = |needle: &[u8]| text.windows(needle.len()).any(|w| w == needle);
        let message_type = if has(b"not found") {
            MessageType::NOT_FOUND
        } else if has(b"auth") {
            MessageType::AUTH_ERROR
        } else if has(b"not permitted") {
            MessageType::NOT_PERMITTED
        } else {
            MessageType::ERROR
        };
        Self::new(message_type, "ERROR", text)
    }

    /// The message with every part copied into one new allocation of its
    /// own size. A decoded message's uri, content and auth values are
    /// slices of the read buffer they came from, and keep all of it alive:
    /// detach what you keep past handling it (a stored value, a queued
    /// notification), so a few bytes do not pin kilobytes.
    ///
    /// ```
    /// use framewire::{Message, MessageType, Profile};
    ///
    /// let frame = Message::new(MessageType::OK, "k", vec![7u8; 4096]).to_bytes(Profile::Netaio).unwrap();
    /// let msg = Message::decode(Profile::Netaio, frame.clone()).unwrap();
    /// let kept = msg.clone().detach();
    /// assert_eq!(kept, msg);
    /// assert!(!frame.as_ptr_range().contains(&kept.content().as_ptr()));
    /// ```
    pub fn detach(self) -> Message {
        let auth_len: usize = self
            .auth
            .iter()
            .map(|(n, v)| n.len() + v.as_bytes().map_or(0, |b| b.len()))
            .sum();
        let mut buf =
            BytesMut::with_capacity(self.body.uri.len() + self.body.content.len() + auth_len);
        let take = |b: &[u8], buf: &mut BytesMut| {
            buf.extend_from_slice(b);
            buf.split().freeze()
        };
        let uri = take(&self.body.uri, &mut buf);
        let content = take(&self.body.content, &mut buf);
        let mut auth = AuthFields::new();
        for (name, value) in self.auth.iter() {
            let name = FieldName(take(name.as_bytes(), &mut buf));
            let value = match value {
                AuthValue::Bytes(b) => AuthValue::Bytes(take(b, &mut buf)),
                AuthValue::Int(i) => AuthValue::Int(*i),
            };
            auth.insert(name, value);
        }
        Message {
            message_type: self.message_type,
            auth,
            body: Body { uri, content },
        }
    }

    /// Appends the encoded frame to `dst`. On error nothing is appended.
    pub fn encode(&self, profile: Profile, dst: &mut BytesMut) -> Result<(), EncodeError> {
        frame::encode_frame(self, &FrameConfig::new(profile), dst)
    }

    /// The encoded frame as [`Bytes`].
    pub fn to_bytes(&self, profile: Profile) -> Result<Bytes, EncodeError> {
        let mut buf = BytesMut::new();
        self.encode(profile, &mut buf)?;
        Ok(buf.freeze())
    }

    /// Decodes exactly one frame from `src` (default limits for `profile`).
    /// Uri, content and auth values are slices of `src`.
    pub fn decode(profile: Profile, src: impl Into<Bytes>) -> Result<Message, DecodeError> {
        frame::decode_exact(src.into(), &FrameConfig::new(profile))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_match_netaio_types_and_uris() {
        assert_eq!(Message::ok("k", "stored").message_type, MessageType::OK);
        let nf = Message::not_found("");
        assert_eq!(
            (nf.message_type, &nf.content()[..]),
            (MessageType::NOT_FOUND, &b"not found"[..])
        );
        let np = Message::not_permitted("");
        assert_eq!(&np.content()[..], b"not permitted");
        assert_eq!(
            Message::error("thing not found").message_type,
            MessageType::NOT_FOUND
        );
        assert_eq!(
            Message::error("not permitted").message_type,
            MessageType::NOT_PERMITTED
        );
        // "auth" wins over "not permitted", as in netaio.
        assert_eq!(
            Message::error("auth not permitted").message_type,
            MessageType::AUTH_ERROR
        );
        let e = Message::error("cannot overwrite").with_uri("test1");
        assert_eq!(
            (e.message_type, &e.uri()[..]),
            (MessageType::ERROR, &b"test1"[..])
        );
    }

    #[test]
    fn detach_tiles_every_part_into_one_allocation() {
        let mut m = Message::new(MessageType::OK, "uri", "content");
        // A one-byte name and value: a capacity of name x value instead of
        // name + value would be one byte short.
        m.auth.insert("a", vec![b'b']);
        m.auth.insert("n", 5i128);
        let frame = m.to_bytes(Profile::Netaio).unwrap();
        let kept = Message::decode(Profile::Netaio, frame.clone())
            .unwrap()
            .detach();
        assert_eq!(kept, m);
        let mut parts: Vec<&[u8]> = vec![kept.uri(), kept.content()];
        for (name, value) in kept.auth.iter() {
            parts.push(name.as_bytes());
            parts.extend(value.as_bytes().map(|b| &b[..]));
        }
        parts.sort_by_key(|p| p.as_ptr() as usize);
        let start = parts[0].as_ptr() as usize;
        assert!(!frame.as_ptr_range().contains(&parts[0].as_ptr()));
        let end = parts.iter().fold(start, |at, p| {
            assert_eq!(p.as_ptr() as usize, at, "parts are not contiguous");
            at + p.len()
        });
        assert_eq!(end - start, 3 + 7 + 1 + 1 + 1);
    }
}
