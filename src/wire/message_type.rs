//! The message type byte: netaio 0.0.9's `MessageType` values plus custom
//! application types.

use std::fmt;

use super::DecodeError;

/// The type of a message: the first byte of every frame.
///
/// netaio reserves 0–30 for the base protocol and lets applications define
/// their own types from 31 to 255. The values netaio 0.0.9 assigns are the
/// associated constants; the reserved values it leaves unassigned (14–19, 21,
/// 22, 26–29) cannot be constructed, so a `MessageType` is always a value a
/// netaio peer accepts.
///
/// ```
/// use framewire::MessageType;
///
/// assert_eq!(MessageType::NOTIFY_URI.value(), 8);
/// assert_eq!(MessageType::try_from(24).unwrap(), MessageType::NOT_FOUND);
/// assert!(MessageType::try_from(14).is_err()); // reserved, unassigned
///
/// let chat = MessageType::custom(40).unwrap();
/// assert!(chat.is_custom());
/// assert_eq!(chat.to_string(), "CUSTOM(40)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageType(u8);

/// `(value, name)` of every type netaio 0.0.9 assigns, in value order.
const ASSIGNED: [(u8, &str); 19] = [
    (0, "REQUEST_URI"),
    (1, "RESPOND_URI"),
    (2, "CREATE_URI"),
    (3, "UPDATE_URI"),
    (4, "DELETE_URI"),
    (5, "SUBSCRIBE_URI"),
    (6, "UNSUBSCRIBE_URI"),
    (7, "PUBLISH_URI"),
    (8, "NOTIFY_URI"),
    (9, "ADVERTISE_PEER"),
    (10, "OK"),
    (11, "CONFIRM_SUBSCRIBE"),
    (12, "CONFIRM_UNSUBSCRIBE"),
    (13, "PEER_DISCOVERED"),
    (20, "ERROR"),
    (23, "AUTH_ERROR"),
    (24, "NOT_FOUND"),
    (25, "NOT_PERMITTED"),
    (30, "DISCONNECT"),
];

/// The first value applications may use for their own types.
pub(crate) const FIRST_CUSTOM: u8 = 31;

impl MessageType {
    /// Ask for a resource (netaio `REQUEST_URI`, 0).
    pub const REQUEST_URI: Self = Self(0);
    /// Answer to a request (1).
    pub const RESPOND_URI: Self = Self(1);
    /// Create a resource (2).
    pub const CREATE_URI: Self = Self(2);
    /// Update a resource (3).
    pub const UPDATE_URI: Self = Self(3);
    /// Delete a resource (4).
    pub const DELETE_URI: Self = Self(4);
    /// Subscribe to a topic (5).
    pub const SUBSCRIBE_URI: Self = Self(5);
    /// Unsubscribe from a topic (6).
    pub const UNSUBSCRIBE_URI: Self = Self(6);
    /// Publish to a topic (7).
    pub const PUBLISH_URI: Self = Self(7);
    /// Notification sent to subscribers (8).
    pub const NOTIFY_URI: Self = Self(8);
    /// Peer advertisement (9).
    pub const ADVERTISE_PEER: Self = Self(9);
    /// Success (10).
    pub const OK: Self = Self(10);
    /// Subscription confirmed (11).
    pub const CONFIRM_SUBSCRIBE: Self = Self(11);
    /// Unsubscription confirmed (12).
    pub const CONFIRM_UNSUBSCRIBE: Self = Self(12);
    /// Answer to a peer advertisement (13).
    pub const PEER_DISCOVERED: Self = Self(13);
    /// Generic error (20).
    pub const ERROR: Self = Self(20);
    /// Authentication failed (23).
    pub const AUTH_ERROR: Self = Self(23);
    /// Resource not found (24).
    pub const NOT_FOUND: Self = Self(24);
    /// Not permitted (25).
    pub const NOT_PERMITTED: Self = Self(25);
    /// Peer leaving (30).
    pub const DISCONNECT: Self = Self(30);

    /// An application-defined type, or `None` if `value` is in netaio's
    /// reserved range 0–30.
    pub const fn custom(value: u8) -> Option<Self> {
        if value >= FIRST_CUSTOM {
            Some(Self(value))
        } else {
            None
        }
    }

    /// The byte sent on the wire.
    pub const fn value(self) -> u8 {
        self.0
    }

    /// netaio's name for this type, or `None` for a custom type.
    pub fn name(self) -> Option<&'static str> {
        if self.is_custom() {
            return None;
        }
        ASSIGNED.iter().find(|(v, _)| *v == self.0).map(|(_, n)| *n)
    }

    /// Whether this is an application-defined type (31–255).
    pub const fn is_custom(self) -> bool {
        self.0 >= FIRST_CUSTOM
    }

    /// Whether netaio treats this type as an error report (its name contains
    /// `ERROR`: `ERROR` and `AUTH_ERROR`). netaio never answers an error
    /// report that fails authentication, which stops two peers from
    /// bouncing `AUTH_ERROR`s at each other forever.
    pub const fn is_error(self) -> bool {
        self.0 == Self::ERROR.0 || self.0 == Self::AUTH_ERROR.0
    }

    /// Every type netaio 0.0.9 assigns, in value order.
    pub fn netaio_types() -> impl Iterator<Item = Self> {
        ASSIGNED.iter().map(|(v, _)| Self(*v))
    }

    /// Parses a netaio name such as `"REQUEST_URI"`, or a decimal value
    /// such as `"40"` (any valid type).
    pub fn from_name(s: &str) -> Option<Self> {
        if let Ok(v) = s.parse::<u8>() {
            return Self::try_from(v).ok();
        }
        ASSIGNED
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(v, _)| Self(*v))
    }
}

impl TryFrom<u8> for MessageType {
    type Error = DecodeError;

    fn try_from(value: u8) -> Result<Self, DecodeError> {
        let assigned = value >= FIRST_CUSTOM || ASSIGNED.iter().any(|(v, _)| *v == value);
        if assigned {
            Ok(Self(value))
        } else {
            Err(DecodeError::UnknownMessageType { value })
        }
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        t.0
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` so width and alignment flags work in tables and logs.
        match self.name() {
            Some(n) => f.pad(n),
            None => f.pad(&format!("CUSTOM({})", self.0)),
        }
    }
}

impl fmt::Debug for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_is_classified() {
        let unassigned = [14, 15, 16, 17, 18, 19, 21, 22, 26, 27, 28, 29];
        for v in 0..=255u8 {
            let r = MessageType::try_from(v);
            if unassigned.contains(&v) {
                assert!(
                    matches!(r, Err(DecodeError::UnknownMessageType { value }) if value == v),
                    "{v}"
                );
            } else {
                assert_eq!(r.unwrap().value(), v);
            }
        }
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(MessageType::netaio_types().count(), 19);
        for t in MessageType::netaio_types() {
            let name = t.name().unwrap();
            assert_eq!(MessageType::from_name(name), Some(t));
            assert_eq!(t.to_string(), name);
        }
        assert_eq!(
            MessageType::from_name("not_found"),
            Some(MessageType::NOT_FOUND)
        );
        assert_eq!(MessageType::from_name("200").map(|t| t.value()), Some(200));
        assert_eq!(MessageType::from_name("14"), None);
        assert_eq!(MessageType::from_name("NOPE"), None);
    }

    #[test]
    fn custom_range() {
        assert_eq!(MessageType::custom(30), None);
        assert_eq!(MessageType::custom(31).map(u8::from), Some(31));
        assert!(MessageType::custom(255).unwrap().is_custom());
        assert!(!MessageType::DISCONNECT.is_custom());
        assert!(MessageType::AUTH_ERROR.is_error());
        assert!(!MessageType::NOT_FOUND.is_error());
    }

    #[test]
    fn debug_prints_the_netaio_name_or_the_number() {
        assert_eq!(format!("{:?}", MessageType::AUTH_ERROR), "AUTH_ERROR");
        assert_eq!(
            format!("{:?}", MessageType::custom(200).unwrap()),
            "CUSTOM(200)"
        );
    }
}
