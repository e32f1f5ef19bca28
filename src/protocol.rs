//! framewire's two additions to netaio's protocol, both ignored by netaio
//! peers: the keepalive ping and the request id. Their names and encodings
//! live here, below the server and the client, so both sides agree by
//! construction. Nothing here touches plugins or connections.

use crate::wire::{AuthValue, Message, MessageType};

/// Uri of the keepalive ping (a REQUEST_URI). framewire servers answer it
/// with an empty RESPOND_URI on the same uri before routing; netaio servers
/// route it like any request (usually to NOT_FOUND), which is just as good
/// a sign of life.
///
/// ```
/// use framewire::protocol::PING_URI;
///
/// assert!(PING_URI.starts_with('\0')); // no netaio route can collide
/// ```
pub const PING_URI: &str = "\0framewire/ping";

/// Auth field carrying a request id. A framewire client sets it on a
/// request and a framewire server copies it into the reply, so replies can
/// be matched to requests even when several share a uri; netaio peers
/// ignore unknown fields.
///
/// ```
/// use framewire::protocol::REQUEST_ID_FIELD;
///
/// assert_eq!(REQUEST_ID_FIELD, "rid");
/// ```
pub const REQUEST_ID_FIELD: &str = "rid";

/// A request id: 8 bytes, big-endian, in the [`REQUEST_ID_FIELD`] auth
/// field. Only that exact shape is a request id; any other value in the
/// field is ignored.
///
/// ```
/// use framewire::protocol::RequestId;
/// use framewire::{Message, MessageType};
///
/// let mut request = Message::new(MessageType::REQUEST_URI, "echo", "");
/// RequestId::from(7).attach(&mut request);
/// assert_eq!(RequestId::of(&request), Some(RequestId::from(7)));
///
/// request.auth.insert("rid", b"not eight".as_slice());
/// assert_eq!(RequestId::of(&request), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(u64);

impl RequestId {
    /// The request id `msg` carries, if it carries a well-formed one.
    pub fn of(msg: &Message) -> Option<RequestId> {
        let b = msg.auth.get_bytes(REQUEST_ID_FIELD)?;
        Some(RequestId(u64::from_be_bytes(b.as_ref().try_into().ok()?)))
    }

    /// Sets this id on `msg` (replacing any earlier one).
    pub fn attach(self, msg: &mut Message) {
        msg.auth
            .insert(REQUEST_ID_FIELD, AuthValue::from(self.0.to_be_bytes()));
    }

    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for RequestId {
    fn from(n: u64) -> Self {
        RequestId(n)
    }
}

/// Uri of the drain notice (a NOTIFY_URI) a framewire server sends its
/// framewire clients when it starts a graceful shutdown: "move to another
/// instance". Only connections that have shown they speak framewire (a
/// request id, a ping or a login) get it, so netaio peers never see it.
///
/// ```
/// assert!(framewire::protocol::DRAIN_URI.starts_with('\0'));
/// ```
pub const DRAIN_URI: &str = "\0framewire/drain";

/// The drain notice.
pub(crate) fn drain_notice() -> Message {
    Message::new(MessageType::NOTIFY_URI, DRAIN_URI, "shutting down")
}

pub(crate) fn is_drain(msg: &Message) -> bool {
    msg.message_type == MessageType::NOTIFY_URI && msg.body.uri[..] == *DRAIN_URI.as_bytes()
}

/// Auth field carrying a notification id: a server with a
/// [backplane](crate::server::Backplane) stamps what it relays (16 bytes:
/// its incarnation and the message's sequence number), identically on
/// every instance, so a client that hears one message from two instances
/// while it moves between them delivers it once. netaio peers ignore it.
///
/// ```
/// use framewire::protocol::{NotifyId, NOTIFY_ID_FIELD};
/// use framewire::{Message, MessageType};
///
/// assert_eq!(NOTIFY_ID_FIELD, "nid");
/// let mut note = Message::new(MessageType::NOTIFY_URI, "news", "hi");
/// NotifyId::new(7, 1).attach(&mut note);
/// assert_eq!(NotifyId::of(&note), Some(NotifyId::new(7, 1)));
/// ```
pub const NOTIFY_ID_FIELD: &str = "nid";

/// A notification id (see [`NOTIFY_ID_FIELD`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotifyId([u8; 16]);

impl NotifyId {
    /// The id of message `seq` of the instance incarnation `incarnation`.
    pub fn new(incarnation: u64, seq: u64) -> Self {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&incarnation.to_be_bytes());
        b[8..].copy_from_slice(&seq.to_be_bytes());
        NotifyId(b)
    }

    /// The incarnation of the instance that numbered it.
    pub fn incarnation(self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(b)
    }

    /// Its number among that incarnation's relayed messages.
    pub fn seq(self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[8..]);
        u64::from_be_bytes(b)
    }

    /// The id `msg` carries, if well-formed.
    pub fn of(msg: &Message) -> Option<NotifyId> {
        let b = msg.auth.get_bytes(NOTIFY_ID_FIELD)?;
        Some(NotifyId(b.as_ref().try_into().ok()?))
    }

    /// Sets this id on `msg`.
    pub fn attach(self, msg: &mut Message) {
        msg.auth.insert(NOTIFY_ID_FIELD, AuthValue::from(self.0));
    }
}

/// Auth field carrying a notification's position in its topic (16
/// bytes: the history's epoch and the message's number in the topic), set
/// by a server with a topic history ([`ServerBuilder::history`]), so a
/// client that comes back can ask for what it missed. netaio peers ignore
/// it.
///
/// [`ServerBuilder::history`]: crate::server::ServerBuilder::history
pub const POSITION_FIELD: &str = "pos";

/// Auth field of a SUBSCRIBE_URI that resumes: the last [`Position`] the
/// client delivered on the topic (16 bytes). The server sends what came
/// after it from the topic's history, before the confirmation.
pub const RESUME_FIELD: &str = "from";

/// Auth field of a gap notice: a NOTIFY_URI on the topic, without content,
/// telling a resuming client how many notifications its history no
/// longer holds (8 bytes, big-endian; `u64::MAX`: unknown, the client's
/// position is from another instance or an earlier run). Its
/// [`POSITION_FIELD`] is the last one lost.
pub const GAP_FIELD: &str = "gap";

/// `lost` of a gap notice when it is not known.
pub const GAP_UNKNOWN: u64 = u64::MAX;

/// A notification's position in its topic (see [`POSITION_FIELD`]):
/// positions of one epoch (one server's history, one run) count up by one
/// per notification on the topic.
///
/// ```
/// use framewire::protocol::Position;
/// use framewire::{Message, MessageType};
///
/// let mut note = Message::new(MessageType::NOTIFY_URI, "news", "hi");
/// Position::new(7, 41).attach(&mut note);
/// let pos = Position::of(&note).unwrap();
/// assert_eq!((pos.epoch(), pos.n()), (7, 41));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    epoch: u64,
    n: u64,
}

impl Position {
    /// Message `n` of a topic in the history of epoch `epoch`.
    pub fn new(epoch: u64, n: u64) -> Self {
        Position { epoch, n }
    }

    /// The history's epoch.
    pub fn epoch(self) -> u64 {
        self.epoch
    }

    /// The number of the message in its topic.
    pub fn n(self) -> u64 {
        self.n
    }

    fn bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.epoch.to_be_bytes());
        b[8..].copy_from_slice(&self.n.to_be_bytes());
        b
    }

    fn from_field(msg: &Message, field: &str) -> Option<Position> {
        let b: [u8; 16] = msg.auth.get_bytes(field)?.as_ref().try_into().ok()?;
        let (epoch, n) = b.split_at(8);
        Some(Position {
            epoch: u64::from_be_bytes(epoch.try_into().ok()?),
            n: u64::from_be_bytes(n.try_into().ok()?),
        })
    }

    /// The position `msg` carries, if well-formed.
    pub fn of(msg: &Message) -> Option<Position> {
        Self::from_field(msg, POSITION_FIELD)
    }

    /// Sets this position on `msg`.
    pub fn attach(self, msg: &mut Message) {
        msg.auth
            .insert(POSITION_FIELD, AuthValue::from(self.bytes()));
    }

    /// The position a SUBSCRIBE_URI resumes from, if well-formed.
    pub fn resumed_from(msg: &Message) -> Option<Position> {
        Self::from_field(msg, RESUME_FIELD)
    }

    /// Sets this position as where the SUBSCRIBE_URI `msg` resumes from.
    pub fn resume_from(self, msg: &mut Message) {
        msg.auth.insert(RESUME_FIELD, AuthValue::from(self.bytes()));
    }
}

/// The gap notice for `topic`: `lost` notifications (or [`GAP_UNKNOWN`])
/// up to `last`.
pub(crate) fn gap_notice(topic: &[u8], lost: u64, last: Position) -> Message {
    let mut m = Message::new(
        MessageType::NOTIFY_URI,
        bytes::Bytes::copy_from_slice(topic),
        "",
    );
    m.auth
        .insert(GAP_FIELD, AuthValue::from(lost.to_be_bytes()));
    last.attach(&mut m);
    m
}

/// How many notifications a gap notice says were lost (`Some(GAP_UNKNOWN)`
/// when unknown); `None` for any other message.
pub fn gap_of(msg: &Message) -> Option<u64> {
    if msg.message_type != MessageType::NOTIFY_URI {
        return None;
    }
    let b: [u8; 8] = msg.auth.get_bytes(GAP_FIELD)?.as_ref().try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// Auth field of a SUBSCRIBE_URI that joins a queue group: the group's
/// name (1 to [`MAX_GROUP_LEN`] bytes of `[A-Za-z0-9-_.]`). Each
/// notification on the topic goes to one member of each group, across
/// every instance of the service, while plain subscribers get them all.
/// netaio servers ignore it (the subscription is then a plain one).
pub const GROUP_FIELD: &str = "grp";

/// Longest queue-group name, in bytes.
pub const MAX_GROUP_LEN: usize = 64;

/// Whether `name` is a valid queue-group name (see [`GROUP_FIELD`]).
///
/// ```
/// use framewire::protocol::is_group_name;
///
/// assert!(is_group_name(b"workers-1.eu"));
/// assert!(!is_group_name(b"") && !is_group_name(b"a b") && !is_group_name(&[b'w'; 65]));
/// ```
pub fn is_group_name(name: &[u8]) -> bool {
    (1..=MAX_GROUP_LEN).contains(&name.len())
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The queue group a SUBSCRIBE_URI joins, if it names one (not checked:
/// the registry refuses a bad name, and counts it).
pub(crate) fn group_of(msg: &Message) -> Option<&[u8]> {
    msg.auth.get_bytes(GROUP_FIELD).map(|b| b.as_ref())
}

/// Sets the queue group the SUBSCRIBE_URI `msg` joins.
pub(crate) fn set_group(msg: &mut Message, group: &[u8]) {
    msg.auth.insert(
        GROUP_FIELD,
        AuthValue::from(bytes::Bytes::copy_from_slice(group)),
    );
}

/// The keepalive ping a client sends.
pub(crate) fn ping() -> Message {
    Message::new(MessageType::REQUEST_URI, PING_URI, "")
}

/// A framewire server's answer to [`ping`].
pub(crate) fn pong() -> Message {
    Message::respond(PING_URI, "")
}

pub(crate) fn is_ping(msg: &Message) -> bool {
    msg.message_type == MessageType::REQUEST_URI && msg.body.uri[..] == *PING_URI.as_bytes()
}

/// Whether a frame of this type answers something the receiver sent (a
/// reply, a confirmation, an error), as opposed to what a server sends of
/// its own accord (notifications, its own requests, peer announcements,
/// DISCONNECT). The client's keepalive counts only answers as proof that
/// the server still hears it: a server that keeps notifying but no longer
/// reads is as dead to the client's requests as a silent one.
pub(crate) fn is_answer(t: MessageType) -> bool {
    matches!(
        t,
        MessageType::RESPOND_URI
            | MessageType::OK
            | MessageType::CONFIRM_SUBSCRIBE
            | MessageType::CONFIRM_UNSUBSCRIBE
            | MessageType::PEER_DISCOVERED
            | MessageType::ERROR
            | MessageType::AUTH_ERROR
            | MessageType::NOT_FOUND
            | MessageType::NOT_PERMITTED
    )
}

pub(crate) fn is_pong(msg: &Message) -> bool {
    msg.message_type == MessageType::RESPOND_URI && msg.body.uri[..] == *PING_URI.as_bytes()
}

/// Auth field carrying a connection's session id in strict mode: a random
/// 16-byte value a client picks for each connection and both ends bind
/// into every MAC on it, so a frame from one connection cannot be replayed
/// on another (and the replay cache can give each session its own share).
///
/// ```
/// use framewire::protocol::SESSION_FIELD;
///
/// assert_eq!(SESSION_FIELD, "sid");
/// ```
pub const SESSION_FIELD: &str = "sid";

/// A connection's session id (see [`SESSION_FIELD`]).
///
/// ```
/// use framewire::protocol::SessionId;
///
/// let a = SessionId::random();
/// assert_ne!(a, SessionId::random());
/// assert_eq!(SessionId::from_bytes(*a.as_bytes()), a);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId([u8; 16]);

impl SessionId {
    /// A fresh id from the system's CSPRNG.
    pub fn random() -> Self {
        SessionId(crate::random::bytes())
    }

    /// An id from its bytes.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        SessionId(b)
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The session id `msg` carries, if well-formed.
    pub fn of(msg: &Message) -> Option<SessionId> {
        let b = msg.auth.get_bytes(SESSION_FIELD)?;
        Some(SessionId(b.as_ref().try_into().ok()?))
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not a secret, but long: the first bytes identify it in logs.
        write!(
            f,
            "SessionId({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// The uri of the login message a client sends first to a server with a
/// login gate (framewire's own, never routed to handlers).
pub const LOGIN_URI: &str = "\0framewire/login";

/// The auth field of a login message carrying the client's protocol
/// version (an integer; servers may require a minimum).
pub const VERSION_FIELD: &str = "ver";

/// The protocol version this framewire speaks: the login message carries
/// it so a server can refuse clients older than it supports.
pub const PROTOCOL_VERSION: u64 = 1;

/// The login message: `content` for the server's gate, and the version.
pub(crate) fn login(content: bytes::Bytes) -> Message {
    let mut m = Message::new(MessageType::REQUEST_URI, LOGIN_URI, content);
    m.auth.insert(
        VERSION_FIELD,
        AuthValue::from(PROTOCOL_VERSION.to_be_bytes()),
    );
    m
}

/// Whether `msg` is a login message.
pub(crate) fn is_login(msg: &Message) -> bool {
    msg.message_type == MessageType::REQUEST_URI && msg.body.uri[..] == *LOGIN_URI.as_bytes()
}

/// The protocol version a login message announces (8 big-endian bytes).
pub(crate) fn version_of(msg: &Message) -> Option<u64> {
    let b = msg.auth.get_bytes(VERSION_FIELD)?;
    Some(u64::from_be_bytes(b.as_ref().try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_id_is_eight_big_endian_bytes_in_its_field() {
        let mut m = Message::new(MessageType::REQUEST_URI, "echo", "");
        assert_eq!(RequestId::of(&m), None);
        let id = RequestId::from(0x0102_0304_0506_0708);
        assert_eq!(id.get(), 0x0102_0304_0506_0708);
        id.attach(&mut m);
        assert_eq!(
            &m.auth.get_bytes(REQUEST_ID_FIELD).unwrap()[..],
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(RequestId::of(&m), Some(id));
        RequestId::from(9).attach(&mut m);
        assert_eq!(RequestId::of(&m).map(RequestId::get), Some(9), "replaced");
        m.auth.insert(REQUEST_ID_FIELD, b"seven".as_slice());
        assert_eq!(RequestId::of(&m), None);
    }

    #[test]
    fn a_notify_id_is_the_incarnation_then_the_sequence() {
        let mut m = Message::new(MessageType::NOTIFY_URI, "news", "hi");
        assert_eq!(NotifyId::of(&m), None);
        NotifyId::new(1, 2).attach(&mut m);
        let mut expected = [0u8; 16];
        expected[7] = 1;
        expected[15] = 2;
        assert_eq!(&m.auth.get_bytes(NOTIFY_ID_FIELD).unwrap()[..], expected);
        assert_eq!(NotifyId::of(&m), Some(NotifyId::new(1, 2)));
        assert_ne!(NotifyId::of(&m), Some(NotifyId::new(2, 1)));
        m.auth.insert(NOTIFY_ID_FIELD, [0u8; 8]);
        assert_eq!(NotifyId::of(&m), None);
    }

    #[test]
    fn a_session_id_is_sixteen_bytes_in_its_field() {
        let bytes: [u8; 16] = std::array::from_fn(|i| i as u8 + 0xa0);
        let id = SessionId::from_bytes(bytes);
        assert_eq!(id.as_bytes(), &bytes);
        assert_eq!(format!("{id:?}"), "SessionId(a0a1a2a3…)");
        let a = SessionId::random();
        assert_ne!(a, SessionId::random());
        assert_ne!(a.as_bytes(), &[0; 16]);

        let mut m = Message::new(MessageType::REQUEST_URI, "echo", "");
        assert_eq!(SessionId::of(&m), None);
        m.auth.insert(SESSION_FIELD, bytes);
        assert_eq!(SessionId::of(&m), Some(id));
        m.auth.insert(SESSION_FIELD, [1u8; 8]);
        assert_eq!(SessionId::of(&m), None);
    }

    /// Each of framewire's own messages is told by its type and its uri
    /// together, never by one of them alone.
    #[test]
    fn own_messages_are_known_by_type_and_uri() {
        let ping = ping();
        let pong = pong();
        let drain = drain_notice();
        let login = login(bytes::Bytes::from_static(b"hello"));
        assert_eq!(
            (ping.message_type, &ping.uri()[..], &ping.content()[..]),
            (MessageType::REQUEST_URI, PING_URI.as_bytes(), &b""[..])
        );
        assert_eq!(
            (pong.message_type, &pong.uri()[..]),
            (MessageType::RESPOND_URI, PING_URI.as_bytes())
        );
        assert_eq!(
            (drain.message_type, &drain.uri()[..]),
            (MessageType::NOTIFY_URI, DRAIN_URI.as_bytes())
        );
        assert_eq!(
            (login.message_type, &login.uri()[..], &login.content()[..]),
            (
                MessageType::REQUEST_URI,
                LOGIN_URI.as_bytes(),
                &b"hello"[..]
            )
        );
        assert_eq!(version_of(&login), Some(PROTOCOL_VERSION));

        type Check = (&'static str, fn(&Message) -> bool);
        let checks: [Check; 4] = [
            ("ping", is_ping),
            ("pong", is_pong),
            ("drain", is_drain),
            ("login", is_login),
        ];
        let own = [&ping, &pong, &drain, &login];
        for (i, (name, is)) in checks.iter().enumerate() {
            for (j, m) in own.iter().enumerate() {
                assert_eq!(is(m), i == j, "{name} of message {j}");
            }
            // The right uri with another type, and the right type with
            // another uri, are not it.
            let right = own[i];
            let other_type = if right.message_type == MessageType::REQUEST_URI {
                MessageType::PUBLISH_URI
            } else {
                MessageType::REQUEST_URI
            };
            let wrong_type = Message::new(other_type, right.uri().clone(), "");
            let wrong_uri = Message::new(right.message_type, "echo", "");
            assert!(!is(&wrong_type), "{name} with another type");
            assert!(!is(&wrong_uri), "{name} with another uri");
        }
    }

    #[test]
    fn a_login_version_is_eight_big_endian_bytes() {
        let mut m = Message::new(MessageType::REQUEST_URI, LOGIN_URI, "");
        assert_eq!(version_of(&m), None);
        m.auth.insert(VERSION_FIELD, 258u64.to_be_bytes());
        assert_eq!(version_of(&m), Some(258));
        m.auth.insert(VERSION_FIELD, [1u8, 2]);
        assert_eq!(version_of(&m), None);
    }
}
