//! Typed content: a message's content as a serde type, in JSON (feature
//! `json`) or MessagePack (feature `msgpack`), with the reason when it does
//! not parse or validate. Pure: no I/O. The server's extractors
//! (`server::extract`) and the client's typed calls both decode through
//! here, so a reason reads the same on both sides.
//!
//! A reason names what was wrong: the JSON's syntax error and where, the
//! field and what it expected (`text: invalid type: integer `5`, expected
//! a string`), a missing field, or a bound a [`Validate`] impl states
//! (`text: must be 1..=500 characters`). Reasons quote at most
//! [`MAX_REASON`] bytes, whatever the content holds.

use std::fmt;
use std::ops::RangeInclusive;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The longest reason kept (bytes): a reason goes back to a peer that may
/// have sent a megabyte of nonsense, and it must not echo it.
pub const MAX_REASON: usize = 256;

/// Why content was refused or could not be made. Its `Display` is the
/// reason a peer is told.
///
/// ```
/// # #[cfg(feature = "json")] {
/// use framewire::content::{self, ContentError};
///
/// #[derive(serde::Deserialize, Debug)]
/// struct Post { text: String }
///
/// let e = content::from_json::<Post>(br#"{"text": 5}"#).unwrap_err();
/// assert!(e.is_invalid());
/// assert_eq!(e.to_string(), "text: invalid type: integer `5`, expected a string at line 1 column 10");
/// let e = content::from_json::<Post>(b"{}").unwrap_err();
/// assert_eq!(e.to_string(), "missing field `text` at line 1 column 2");
/// let e = content::from_json::<Post>(b"hello").unwrap_err();
/// assert!(e.is_not_parsed());
/// assert_eq!(e.to_string(), "content does not parse as JSON: expected value at line 1 column 1");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// The content is not in the format at all (a syntax error, truncated).
    #[error("content does not parse as {format}: {reason}")]
    NotParsed {
        /// `JSON` or `MessagePack`.
        format: &'static str,
        /// The parser's reason.
        reason: String,
    },
    /// It parses, but a field is missing or of the wrong type.
    #[error("{}{reason}", field_prefix(.field))]
    Invalid {
        /// Where (`text`, `items[2].name`; empty at the top).
        field: String,
        /// What was wrong.
        reason: String,
    },
    /// It is the type, but a [`Validate`] bound refused it.
    #[error(transparent)]
    Validation(#[from] Invalid),
    /// A value could not be encoded (a map with non-string keys in JSON).
    #[error("content could not be encoded as {format}: {reason}")]
    Encode {
        /// `JSON` or `MessagePack`.
        format: &'static str,
        /// The encoder's reason.
        reason: String,
    },
}

crate::predicates::predicates!(ContentError {
    /// Whether the content is not in the format at all.
    is_not_parsed => ContentError::NotParsed { .. },
    /// Whether a field was missing or of the wrong type.
    is_invalid => ContentError::Invalid { .. },
    /// Whether a validation bound refused it.
    is_validation => ContentError::Validation(_),
    /// Whether a value could not be encoded.
    is_encode => ContentError::Encode { .. },
});

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

/// `text` cut to at most [`MAX_REASON`] bytes, on a character boundary.
fn bounded(mut text: String) -> String {
    if text.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// A bound a value broke: the field and what it must be. What
/// [`Validate::validate`] returns.
///
/// ```
/// use framewire::content::Invalid;
///
/// let e = Invalid::new("text", "must be 1..=500 characters");
/// assert_eq!(e.to_string(), "text: must be 1..=500 characters");
/// assert_eq!((e.field(), e.problem()), ("text", "must be 1..=500 characters"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{problem}", field_prefix(.field))]
pub struct Invalid {
    field: String,
    problem: String,
}

impl Invalid {
    /// `field` (empty for the whole value) must be what `problem` says.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Invalid {
            field: bounded(field.into()),
            problem: bounded(problem.into()),
        }
    }

    /// The field.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What it must be.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

/// Bounds a value states about itself, checked after it parsed: a typed
/// handler's `Valid<Json<T>>` answers ERROR with the [`Invalid`] reason.
///
/// ```
/// use framewire::content::{chars_in, Invalid, Validate};
///
/// struct Post { text: String }
///
/// impl Validate for Post {
///     fn validate(&self) -> Result<(), Invalid> {
///         chars_in("text", &self.text, 1..=500)
///     }
/// }
/// assert!(Post { text: "hi".into() }.validate().is_ok());
/// let e = Post { text: String::new() }.validate().unwrap_err();
/// assert_eq!(e.to_string(), "text: must be 1..=500 characters, not 0");
/// ```
pub trait Validate {
    /// `Ok` when every bound holds.
    fn validate(&self) -> Result<(), Invalid>;
}

impl<T: Validate> Validate for Vec<T> {
    fn validate(&self) -> Result<(), Invalid> {
        for (i, item) in self.iter().enumerate() {
            item.validate().map_err(|e| {
                let field = if e.field.is_empty() {
                    format!("[{i}]")
                } else {
                    format!("[{i}].{}", e.field)
                };
                Invalid::new(field, e.problem)
            })?;
        }
        Ok(())
    }
}

/// Checks that `value` has a number of characters (not bytes) in
/// `range`: the usual bound on a text field.
pub fn chars_in(field: &str, value: &str, range: RangeInclusive<usize>) -> Result<(), Invalid> {
    // Counting stops past the bound: a long value costs no more than that.
    let n = value.chars().take(range.end().saturating_add(1)).count();
    if range.contains(&n) {
        return Ok(());
    }
    let shown = if n > *range.end() {
        format!("more than {}", range.end())
    } else {
        n.to_string()
    };
    Err(Invalid::new(
        field,
        format!(
            "must be {}..={} characters, not {shown}",
            range.start(),
            range.end()
        ),
    ))
}

/// Checks that `value` is in `range`.
///
/// ```
/// use framewire::content::in_range;
///
/// assert!(in_range("limit", 5u32, 1..=100).is_ok());
/// assert_eq!(in_range("limit", 0u32, 1..=100).unwrap_err().to_string(), "limit: must be in 1..=100, not 0");
/// ```
pub fn in_range<T: PartialOrd + fmt::Display>(
    field: &str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<(), Invalid> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(Invalid::new(
        field,
        format!(
            "must be in {}..={}, not {value}",
            range.start(),
            range.end()
        ),
    ))
}

/// Keeps a serde error's reason, with the field path
/// `serde_path_to_error` found (`.` at the top means none).
fn invalid(path: &serde_path_to_error::Path, reason: String) -> ContentError {
    let field = path.to_string();
    let field = if field == "." { String::new() } else { field };
    ContentError::Invalid {
        field: bounded(field),
        reason: bounded(reason),
    }
}

/// `content` as JSON of type `T`, or why not.
#[cfg(feature = "json")]
pub fn from_json<T: DeserializeOwned>(content: &[u8]) -> Result<T, ContentError> {
    let not_parsed = |e: serde_json::Error| ContentError::NotParsed {
        format: "JSON",
        reason: bounded(e.to_string()),
    };
    let mut de = serde_json::Deserializer::from_slice(content);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().clone();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => invalid(&path, inner.to_string()),
            _ => not_parsed(inner),
        }
    })?;
    // Trailing bytes after the value are a syntax error, as in
    // `serde_json::from_slice`.
    de.end().map_err(not_parsed)?;
    Ok(value)
}

/// `value` as JSON.
#[cfg(feature = "json")]
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, ContentError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| ContentError::Encode {
            format: "JSON",
            reason: bounded(e.to_string()),
        })
}

/// `content` as MessagePack of type `T`, or why not.
#[cfg(feature = "msgpack")]
pub fn from_msgpack<T: DeserializeOwned>(content: &[u8]) -> Result<T, ContentError> {
    let mut de = rmp_serde::Deserializer::from_read_ref(content);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().clone();
        match e.into_inner() {
            // The data did not have the type's shape: a field's fault.
            rmp_serde::decode::Error::Syntax(reason) => invalid(&path, reason),
            rmp_serde::decode::Error::TypeMismatch(m) if m != rmp::Marker::Reserved => {
                invalid(&path, format!("unexpected MessagePack marker {m:?}"))
            }
            other => ContentError::NotParsed {
                format: "MessagePack",
                reason: bounded(other.to_string()),
            },
        }
    })
}

/// `value` as MessagePack (structs as maps, so field names travel and
/// other languages read it).
#[cfg(feature = "msgpack")]
pub fn to_msgpack<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, ContentError> {
    rmp_serde::to_vec_named(value)
        .map(Bytes::from)
        .map_err(|e| ContentError::Encode {
            format: "MessagePack",
            reason: bounded(e.to_string()),
        })
}

/// JSON content: as a typed handler's argument, the message's content
/// parsed as `T` (a message that does not parse is answered ERROR with
/// the reason, and the handler is not called); as its return value, the
/// reply (RESPOND_URI to a REQUEST_URI, OK to anything else, with the
/// request's uri).
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

/// MessagePack content: as [`Json`], in MessagePack.
#[cfg(feature = "msgpack")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MsgPack<T>(pub T);

/// A typed argument whose value is also [`Validate`]d: `Valid<Json<T>>`
/// answers ERROR with the bound that failed, as it does for content that
/// does not parse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Valid<T>(pub T);

/// What [`Valid`] checks: the value inside a content wrapper.
pub trait Validated {
    /// The inner value's [`Validate::validate`].
    fn validate_inner(&self) -> Result<(), Invalid>;
}

#[cfg(feature = "json")]
impl<T: Validate> Validated for Json<T> {
    fn validate_inner(&self) -> Result<(), Invalid> {
        self.0.validate()
    }
}

#[cfg(feature = "msgpack")]
impl<T: Validate> Validated for MsgPack<T> {
    fn validate_inner(&self) -> Result<(), Invalid> {
        self.0.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
    struct Post {
        text: String,
        #[serde(default)]
        tags: Vec<Tag>,
    }

    #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
    struct Tag {
        name: String,
    }

    impl Validate for Tag {
        fn validate(&self) -> Result<(), Invalid> {
            chars_in("name", &self.name, 1..=3)
        }
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_reasons_name_the_field_or_the_syntax() {
        let ok: Post = from_json(br#"{"text": "hi"}"#).unwrap();
        assert_eq!(ok.text, "hi");
        let nested = from_json::<Post>(br#"{"text": "", "tags": [{"name": "a"}, {"name": 1}]}"#)
            .unwrap_err();
        assert!(nested.is_invalid());
        assert!(
            nested
                .to_string()
                .starts_with("tags[1].name: invalid type: integer `1`"),
            "{nested}"
        );
        for bad in [&b"{"[..], b"", b"{\"text\": \"a\"} x", b"\xff"] {
            let e = from_json::<Post>(bad).unwrap_err();
            assert!(e.is_not_parsed(), "{bad:?}: {e}");
            assert!(e
                .to_string()
                .starts_with("content does not parse as JSON: "));
        }
        // A reason never echoes more than MAX_REASON bytes of the input.
        let key = "k".repeat(10_000);
        let e = from_json::<Post>(
            format!("{{\"text\": \"a\", \"tags\": {{\"{key}\": 1}}}}").as_bytes(),
        )
        .unwrap_err();
        assert!(
            e.to_string().len() < MAX_REASON * 2 + 64,
            "{}",
            e.to_string().len()
        );
        assert_eq!(
            to_json(&Tag { name: "x".into() }).unwrap(),
            &br#"{"name":"x"}"#[..]
        );
        let bad_key: std::collections::HashMap<Vec<u8>, u8> = [(vec![1], 1)].into();
        assert!(to_json(&bad_key).unwrap_err().is_encode());
        assert!(Json(Tag {
            name: String::new()
        })
        .validate_inner()
        .is_err());
        assert!(Json(Tag { name: "a".into() }).validate_inner().is_ok());
    }

    #[cfg(feature = "msgpack")]
    #[test]
    fn msgpack_round_trips_and_names_the_field() {
        let post = Post {
            text: "hi".into(),
            tags: vec![Tag { name: "a".into() }],
        };
        let bytes = to_msgpack(&post).unwrap();
        assert_eq!(from_msgpack::<Post>(&bytes).unwrap(), post);
        let wrong = to_msgpack(&Tag { name: "x".into() }).unwrap();
        let e = from_msgpack::<Post>(&wrong).unwrap_err();
        assert!(e.is_invalid(), "{e}");
        assert!(e.to_string().contains("text"), "{e}");
        let e = from_msgpack::<Post>(&[0xc1]).unwrap_err();
        assert!(e.is_not_parsed(), "{e:?}");
        assert!(from_msgpack::<Post>(&[]).unwrap_err().is_not_parsed());
        // A value of the wrong type (an integer for a struct): the value's
        // fault, not the encoding's.
        let number = to_msgpack(&5u8).unwrap();
        let e = from_msgpack::<Post>(&number).unwrap_err();
        assert!(e.is_invalid(), "{e:?}");
        assert!(MsgPack(Tag {
            name: String::new()
        })
        .validate_inner()
        .is_err());
        assert!(MsgPack(Tag { name: "a".into() }).validate_inner().is_ok());
    }

    #[test]
    fn reasons_are_cut_on_a_character_boundary_at_the_bound() {
        let exact = "x".repeat(MAX_REASON);
        assert_eq!(bounded(exact.clone()), exact, "at the bound: kept whole");
        // Byte MAX_REASON falls inside an 'é': cut before it.
        let cut = bounded(format!("a{}", "é".repeat(200)));
        assert_eq!(cut.len(), MAX_REASON - 1 + '…'.len_utf8());
        assert!(cut.ends_with("é…"));
    }

    #[test]
    fn validation_states_the_bound_and_where() {
        assert!(chars_in("t", "ééé", 1..=3).is_ok(), "characters, not bytes");
        assert_eq!(
            chars_in("t", "abcd", 1..=3).unwrap_err().to_string(),
            "t: must be 1..=3 characters, not more than 3"
        );
        let tags = vec![
            Tag { name: "a".into() },
            Tag {
                name: "abcd".into(),
            },
        ];
        let e = tags.validate().unwrap_err();
        assert_eq!(e.field(), "[1].name");
        assert_eq!(e.problem(), "must be 1..=3 characters, not more than 3");
        // An empty range refuses everything and says the count.
        #[allow(clippy::reversed_empty_ranges)]
        let empty = chars_in("t", "abc", 5..=3).unwrap_err();
        assert_eq!(empty.problem(), "must be 5..=3 characters, not 3");
        let e = Invalid::new("", "x".repeat(1000));
        assert_eq!(e.to_string().chars().count(), MAX_REASON + 1);
        assert!(ContentError::from(e).is_validation());
        assert!(in_range("n", 3, 1..=3).is_ok());
        assert!(in_range("n", 4, 1..=3).is_err());
    }

    #[test]
    fn each_predicate_holds_for_its_variants_only() {
        crate::predicates::check(
            ContentError::PREDICATES,
            &[
                (
                    ContentError::NotParsed {
                        format: "JSON",
                        reason: String::new(),
                    },
                    &["is_not_parsed"],
                ),
                (
                    ContentError::Invalid {
                        field: String::new(),
                        reason: String::new(),
                    },
                    &["is_invalid"],
                ),
                (
                    ContentError::Validation(Invalid::new("a", "b")),
                    &["is_validation"],
                ),
                (
                    ContentError::Encode {
                        format: "JSON",
                        reason: String::new(),
                    },
                    &["is_encode"],
                ),
            ],
        );
    }
}
