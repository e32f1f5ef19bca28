//! Errors of the sans-I/O wire layer.

use super::Profile;

/// Which section of a frame a length belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Section {
    /// The packed auth fields.
    Auth,
    /// The body (`uri_length ‖ uri ‖ content`).
    Body,
    /// The uri inside the body.
    Uri,
    /// The whole frame (header + auth + body).
    Frame,
    /// The number of auth fields (not a length in bytes).
    AuthFields,
}

impl std::fmt::Display for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Section::Auth => "auth",
            Section::Body => "body",
            Section::Uri => "uri",
            Section::Frame => "frame",
            Section::AuthFields => "auth field count",
        })
    }
}

/// Why the auth section could not be decoded as netaio's packify dict of
/// `str → bytes | int`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFieldsError {
    /// The section ends before a value it announces.
    #[error("auth fields truncated: needed {needed} more bytes, {available} available")]
    Truncated {
        /// Bytes the next item needs.
        needed: usize,
        /// Bytes left in the section.
        available: usize,
    },
    /// A packify type code that is not allowed at this position.
    #[error("auth fields: unexpected packify code 0x{code:02x} where {expected} was expected")]
    UnexpectedCode {
        /// The code byte received.
        code: u8,
        /// What the decoder was looking for.
        expected: &'static str,
    },
    /// A container item-length category byte other than 0x40/0x80/0xC0.
    #[error("auth fields: invalid item length category 0x{0:02x}")]
    InvalidItemCategory(u8),
    /// A dict entry that is not a `(key, value)` pair.
    #[error("auth fields: dict entry has {0} elements instead of 2")]
    NotAPair(u64),
    /// An item whose own encoding is shorter or longer than its entry in
    /// the container's length table.
    #[error("auth fields: item length table says {declared} bytes, item encodes {actual}")]
    ItemLengthMismatch {
        /// Length from the container's table.
        declared: usize,
        /// Length the item's encoding actually takes.
        actual: usize,
    },
    /// More fields than the configured maximum.
    #[error("auth fields: {count} fields exceed the limit of {max}")]
    TooManyFields {
        /// Fields announced by the peer.
        count: u64,
        /// The limit in force.
        max: usize,
    },
    /// A field name that is not UTF-8 (packify `str`).
    #[error("auth fields: field name is not UTF-8")]
    InvalidUtf8,
    /// The same field name twice.
    #[error("auth fields: duplicate field {0:?}")]
    DuplicateField(String),
    /// An integer value wider than 128 bits.
    #[error("auth fields: integer value of {0} bytes is too large")]
    IntTooLarge(usize),
    /// Bytes after the dict (netaio ignores them; framewire refuses them so
    /// that one frame has exactly one meaning).
    #[error("auth fields: {0} trailing bytes after the dict")]
    TrailingBytes(usize),
}

crate::predicates::predicates!(AuthFieldsError {
    /// The section ends before a value it announces.
    is_truncated => AuthFieldsError::Truncated { .. },
    /// A packify code not allowed at its position.
    is_unexpected_code => AuthFieldsError::UnexpectedCode { .. },
    /// An item-length category byte other than 0x40/0x80/0xC0.
    is_invalid_item_category => AuthFieldsError::InvalidItemCategory(_),
    /// A dict entry that is not a pair.
    is_not_a_pair => AuthFieldsError::NotAPair(_),
    /// An item whose encoding disagrees with the length table.
    is_item_length_mismatch => AuthFieldsError::ItemLengthMismatch { .. },
    /// More fields than the limit.
    is_too_many_fields => AuthFieldsError::TooManyFields { .. },
    /// A field name that is not UTF-8.
    is_invalid_utf8 => AuthFieldsError::InvalidUtf8,
    /// The same field name twice.
    is_duplicate_field => AuthFieldsError::DuplicateField(_),
    /// An integer wider than 128 bits.
    is_int_too_large => AuthFieldsError::IntTooLarge(_),
    /// Bytes after the dict.
    is_trailing_bytes => AuthFieldsError::TrailingBytes(_),
});

/// Why bytes could not be decoded into a [`Message`](crate::Message).
///
/// Every variant but [`ChecksumMismatch`](DecodeError::ChecksumMismatch) is
/// structural: the stream can no longer be trusted and the connection should
/// be closed. A checksum mismatch consumes exactly the damaged frame, so the
/// next frame decodes normally ([`is_recoverable`](DecodeError::is_recoverable)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The type byte is in netaio's reserved range but unassigned.
    #[error("unknown message type {value}")]
    UnknownMessageType {
        /// The byte received.
        value: u8,
    },
    /// The peer speaks the other frame profile.
    #[error("frame profile mismatch: expected {expected}, peer sent {found}")]
    ProfileMismatch {
        /// The profile this end is configured for.
        expected: Profile,
        /// The profile the frame was encoded with.
        found: Profile,
    },
    /// The header announces more bytes than the configured maximum. Nothing
    /// was allocated for it.
    #[error("{section} of {length} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Which length is too large.
        section: Section,
        /// The length announced.
        length: u64,
        /// The limit in force.
        max: u64,
    },
    /// `body_length` below 2: there is no room for the uri length.
    #[error("body of {length} bytes is shorter than its 2-byte uri length")]
    BodyTooShort {
        /// The body length announced.
        length: u64,
    },
    /// `uri_length` points past the end of the body.
    #[error("uri length {uri_length} exceeds the {available} body bytes after it")]
    UriOutOfBounds {
        /// The uri length announced.
        uri_length: u16,
        /// Body bytes after the uri length field.
        available: u64,
    },
    /// The auth section is not a valid packify dict of `str → bytes | int`.
    #[error(transparent)]
    AuthFields(#[from] AuthFieldsError),
    /// The CRC-32 in the header does not match the body. The frame was
    /// consumed; the stream is still in sync.
    #[error("checksum mismatch on {message_type:?} frame: header says {expected:#010x}, body hashes to {computed:#010x}")]
    ChecksumMismatch {
        /// Type of the damaged frame (the header is not covered by the CRC,
        /// so this is a hint, not a fact).
        message_type: super::MessageType,
        /// CRC from the header.
        expected: u32,
        /// CRC of the body received.
        computed: u32,
    },
    /// A one-shot decode of a byte slice that holds less than one frame.
    #[error("truncated frame: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes the frame needs.
        needed: u64,
        /// Bytes given.
        available: usize,
    },
    /// A one-shot decode of a byte slice with bytes after the frame.
    #[error("{0} trailing bytes after the frame")]
    TrailingBytes(usize),
}

crate::predicates::predicates!(DecodeError {
    /// The type byte is reserved but unassigned.
    is_unknown_message_type => DecodeError::UnknownMessageType { .. },
    /// The peer speaks the other frame profile.
    is_profile_mismatch => DecodeError::ProfileMismatch { .. },
    /// A length exceeded a configured limit.
    is_too_large => DecodeError::TooLarge { .. },
    /// The body is too short for its uri length.
    is_body_too_short => DecodeError::BodyTooShort { .. },
    /// The uri length points past the body.
    is_uri_out_of_bounds => DecodeError::UriOutOfBounds { .. },
    /// The auth section was malformed.
    is_auth_fields => DecodeError::AuthFields(_),
    /// A checksum mismatch.
    is_checksum_mismatch => DecodeError::ChecksumMismatch { .. },
    /// A one-shot decode got less than a frame.
    is_truncated => DecodeError::Truncated { .. },
    /// A one-shot decode got bytes after the frame.
    is_trailing_bytes => DecodeError::TrailingBytes(_),
    /// Whether the stream is still in sync after this error (only a
    /// checksum mismatch is), so the connection may go on.
    is_recoverable => DecodeError::ChecksumMismatch { .. },
});

/// Why a [`Message`](crate::Message) could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A section does not fit the profile's length field or the configured
    /// maximum frame size.
    #[error("{section} of {length} bytes does not fit (limit {max})")]
    TooLarge {
        /// Which section.
        section: Section,
        /// Its length.
        length: u64,
        /// The limit.
        max: u64,
    },
}

crate::predicates::predicates!(EncodeError {
    /// A section does not fit.
    is_too_large => EncodeError::TooLarge { .. },
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_print_as_error_messages_name_them() {
        let names = [
            (Section::Auth, "auth"),
            (Section::Body, "body"),
            (Section::Uri, "uri"),
            (Section::Frame, "frame"),
            (Section::AuthFields, "auth field count"),
        ];
        for (section, name) in names {
            assert_eq!(section.to_string(), name);
        }
    }
}

#[cfg(test)]
mod predicate_tests {
    use super::*;

    #[test]
    fn each_auth_fields_predicate_holds_for_its_variants_only() {
        crate::predicates::check(
            AuthFieldsError::PREDICATES,
            &[
                (
                    AuthFieldsError::Truncated {
                        needed: 2,
                        available: 1,
                    },
                    &["is_truncated"],
                ),
                (
                    AuthFieldsError::UnexpectedCode {
                        code: 1,
                        expected: "dict",
                    },
                    &["is_unexpected_code"],
                ),
                (
                    AuthFieldsError::InvalidItemCategory(9),
                    &["is_invalid_item_category"],
                ),
                (AuthFieldsError::NotAPair(3), &["is_not_a_pair"]),
                (
                    AuthFieldsError::ItemLengthMismatch {
                        declared: 2,
                        actual: 1,
                    },
                    &["is_item_length_mismatch"],
                ),
                (
                    AuthFieldsError::TooManyFields { count: 2, max: 1 },
                    &["is_too_many_fields"],
                ),
                (AuthFieldsError::InvalidUtf8, &["is_invalid_utf8"]),
                (
                    AuthFieldsError::DuplicateField("f".into()),
                    &["is_duplicate_field"],
                ),
                (AuthFieldsError::IntTooLarge(9), &["is_int_too_large"]),
                (AuthFieldsError::TrailingBytes(1), &["is_trailing_bytes"]),
            ],
        );
    }

    /// `EncodeError` has one variant today, so `is_too_large` cannot be
    /// false for any value (forced to `true`, it is equivalent).
    #[test]
    fn the_encode_error_predicate_holds() {
        let e = EncodeError::TooLarge {
            section: Section::Body,
            length: 2,
            max: 1,
        };
        assert!(e.is_too_large());
        assert_eq!(EncodeError::PREDICATES.len(), 1);
    }

    #[test]
    fn each_decode_error_predicate_holds_for_its_variants_only() {
        crate::predicates::check(
            DecodeError::PREDICATES,
            &[
                (
                    DecodeError::UnknownMessageType { value: 255 },
                    &["is_unknown_message_type"],
                ),
                (
                    DecodeError::ProfileMismatch {
                        expected: Profile::Netaio,
                        found: Profile::Wide,
                    },
                    &["is_profile_mismatch"],
                ),
                (
                    DecodeError::TooLarge {
                        section: Section::Frame,
                        length: 2,
                        max: 1,
                    },
                    &["is_too_large"],
                ),
                (
                    DecodeError::BodyTooShort { length: 1 },
                    &["is_body_too_short"],
                ),
                (
                    DecodeError::UriOutOfBounds {
                        uri_length: 9,
                        available: 1,
                    },
                    &["is_uri_out_of_bounds"],
                ),
                (
                    DecodeError::AuthFields(AuthFieldsError::InvalidUtf8),
                    &["is_auth_fields"],
                ),
                (
                    DecodeError::ChecksumMismatch {
                        message_type: super::super::MessageType::OK,
                        expected: 1,
                        computed: 2,
                    },
                    &["is_checksum_mismatch", "is_recoverable"],
                ),
                (
                    DecodeError::Truncated {
                        needed: 2,
                        available: 1,
                    },
                    &["is_truncated"],
                ),
                (DecodeError::TrailingBytes(1), &["is_trailing_bytes"]),
            ],
        );
    }
}
