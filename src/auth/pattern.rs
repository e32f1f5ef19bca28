//! NATS-style subject patterns over `/`-separated uris and topics, and the
//! [`Permissions`] a user is granted with them. Pure: no I/O, no clock.

use std::fmt;
use std::sync::Arc;

use crate::wire::{Message, MessageType};

/// A pattern over `/`-separated segments: a literal segment matches
/// itself, `*` matches exactly one segment, `{name}` matches one segment of
/// UTF-8 text and names it (a route's parameter, see
/// [`captures`](Self::captures); to permissions it is `*`), and `>` (last
/// only) matches one or more remaining segments. Routes and permissions
/// share this type.
///
/// ```
/// use framewire::auth::Pattern;
///
/// let p: Pattern = "pub/alerts/>".parse().unwrap();
/// assert!(p.matches(b"pub/alerts/fire"));
/// assert!(p.matches(b"pub/alerts/fire/3"));
/// assert!(!p.matches(b"pub/alerts"));
/// let q: Pattern = "k/*/v".parse().unwrap();
/// assert!(q.matches(b"k/a/v") && !q.matches(b"k/a/b/v"));
/// assert!("a/>/b".parse::<Pattern>().is_err());
/// let r: Pattern = "post/{room}".parse().unwrap();
/// let params = r.captures(b"post/lobby").unwrap();
/// assert_eq!(params.get("room"), Some("lobby"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Clone, PartialEq, Eq)]
enum Segment {
    Literal(Box<[u8]>),
    One,
    /// `{name}`: one segment, captured under its name.
    Named(Arc<str>),
    Rest,
}

impl Segment {
    /// How general it is, for ordering routes: a literal before a
    /// parameter or `*` (equally general), both before `>`.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::One | Segment::Named(_) => 1,
            Segment::Rest => 2,
        }
    }
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is empty or has an empty segment (`a//b`).
    #[error("pattern {0:?} has an empty segment")]
    EmptySegment(String),
    /// `>` appears before the last segment.
    #[error("pattern {0:?}: '>' may only be the last segment")]
    RestNotLast(String),
    /// `*` or `>` is mixed with other characters in one segment (`a*`).
    #[error("pattern {0:?}: '*' and '>' must be whole segments")]
    PartialWildcard(String),
    /// A `{name}` segment is malformed (a name must be 1..=64 letters,
    /// digits or `_`, and a whole segment), or a name is used twice.
    #[error("pattern {0:?}: a parameter is a whole segment `{{name}}`, its name 1..=64 letters, digits or '_', each name once")]
    BadParameter(String),
}

crate::predicates::predicates!(PatternError {
    /// Whether the pattern has an empty segment.
    is_empty_segment => PatternError::EmptySegment(_),
    /// Whether `>` is not last.
    is_rest_not_last => PatternError::RestNotLast(_),
    /// Whether a wildcard is part of a segment.
    is_partial_wildcard => PatternError::PartialWildcard(_),
    /// Whether a `{name}` parameter is malformed or repeated.
    is_bad_parameter => PatternError::BadParameter(_),
});

/// The longest parameter name: names are code, not data.
const MAX_PARAMETER_NAME: usize = 64;

/// `None`: not a parameter; `Some(None)`: a malformed one; `Some(name)`.
fn parameter_name(segment: &str) -> Option<Option<&str>> {
    if !segment.contains(['{', '}']) {
        return None;
    }
    let Some(name) = segment
        .strip_prefix('{')
        .and_then(|inner| inner.strip_suffix('}'))
    else {
        return Some(None);
    };
    let ok = (1..=MAX_PARAMETER_NAME).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    Some(ok.then_some(name))
}

impl std::str::FromStr for Pattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        let mut names: Vec<&str> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            match parameter_name(part) {
                Some(Some(name)) if !names.contains(&name) => {
                    names.push(name);
                    segments.push(Segment::Named(name.into()));
                    continue;
                }
                Some(_) => return Err(PatternError::BadParameter(text.to_owned())),
                None => {}
            }
            let segment = match *part {
                "" => return Err(PatternError::EmptySegment(text.to_owned())),
                "*" => Segment::One,
                ">" if i + 1 == parts.len() => Segment::Rest,
                ">" => return Err(PatternError::RestNotLast(text.to_owned())),
                s if s.contains(['*', '>']) => {
                    return Err(PatternError::PartialWildcard(text.to_owned()))
                }
                s => Segment::Literal(s.as_bytes().into()),
            };
            segments.push(segment);
        }
        Ok(Pattern {
            text: text.to_owned(),
            segments,
        })
    }
}

impl Pattern {
    /// Whether `subject` (a uri or topic, bytes as they arrive) matches.
    /// Linear in the subject's length; no allocation.
    pub fn matches(&self, subject: &[u8]) -> bool {
        let mut parts = subject.split(|b| *b == b'/');
        for segment in &self.segments {
            match segment {
                Segment::Rest => return parts.next().is_some(),
                Segment::One => {
                    if parts.next().is_none_or(<[u8]>::is_empty) {
                        return false;
                    }
                }
                // To a permission a parameter is `*`; a route also needs
                // its text (see `captures`).
                Segment::Named(_) => {
                    if parts.next().is_none_or(<[u8]>::is_empty) {
                        return false;
                    }
                }
                Segment::Literal(lit) => {
                    if parts.next() != Some(&lit[..]) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether it has no wildcard or parameter: it matches only its own
    /// text (a route keyed by it is an exact route).
    pub fn is_literal(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }

    /// The `{name}` parameters of `subject` if it matches, `None` if it
    /// does not. A parameter matches only a segment of UTF-8 text (a
    /// handler reads it as `&str`).
    ///
    /// ```
    /// use framewire::auth::Pattern;
    ///
    /// let p: Pattern = "rooms/{room}/posts/{id}".parse().unwrap();
    /// let params = p.captures(b"rooms/lobby/posts/7").unwrap();
    /// assert_eq!(params.get("room"), Some("lobby"));
    /// assert_eq!(params.get("id"), Some("7"));
    /// assert_eq!(params.get("other"), None);
    /// assert!(p.captures(b"rooms/lobby").is_none());
    /// ```
    pub fn captures(&self, subject: &[u8]) -> Option<Params> {
        if !self.matches(subject) {
            return None;
        }
        let mut params = Params::default();
        for (segment, part) in self.segments.iter().zip(subject.split(|b| *b == b'/')) {
            if let Segment::Named(name) = segment {
                let value = std::str::from_utf8(part).ok()?;
                params.pairs.push((name.clone(), value.into()));
            }
        }
        Some(params)
    }

    /// Orders patterns most specific first: segment by segment, a literal
    /// before a parameter or `*`, those before `>`; at an equal prefix the
    /// longer first. Patterns equal under it can only both match a subject
    /// when they are the same pattern (up to parameter names).
    pub(crate) fn specificity_cmp(&self, other: &Pattern) -> std::cmp::Ordering {
        let ranks = |p: &Pattern| p.segments.iter().map(Segment::rank).collect::<Vec<_>>();
        let (a, b) = (ranks(self), ranks(other));
        for (x, y) in a.iter().zip(&b) {
            if x != y {
                return x.cmp(y);
            }
        }
        b.len().cmp(&a.len())
    }
}

/// The `{name}` parameters a route's pattern captured from a message's
/// uri, as owned text (nothing here pins a read buffer).
///
/// ```
/// use framewire::auth::Pattern;
///
/// let p: Pattern = "history/{room}".parse().unwrap();
/// let params = p.captures(b"history/lobby").unwrap();
/// assert_eq!(params.iter().collect::<Vec<_>>(), [("room", "lobby")]);
/// assert_eq!(params.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(Arc<str>, Box<str>)>,
}

impl Params {
    /// The text of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| &**v)
    }

    /// Each parameter's name and text, in the pattern's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (&**n, &**v))
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are none (an exact route, or a pattern without
    /// `{name}`).
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.text)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What one kind of action may touch: `None` allows everything (nothing
/// was configured), a list allows what one of its patterns matches, and
/// `deny` patterns win over `allow`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    allow: Option<Vec<Pattern>>,
    deny: Vec<Pattern>,
}

impl Rule {
    /// Allows only what `patterns` match.
    pub fn allow(patterns: impl IntoIterator<Item = Pattern>) -> Self {
        Rule {
            allow: Some(patterns.into_iter().collect()),
            deny: Vec::new(),
        }
    }

    /// Also refuses what `patterns` match, whatever `allow` says.
    pub fn deny(mut self, patterns: impl IntoIterator<Item = Pattern>) -> Self {
        self.deny.extend(patterns);
        self
    }

    /// Whether `subject` is allowed.
    pub fn permits(&self, subject: &[u8]) -> bool {
        if self.deny.iter().any(|p| p.matches(subject)) {
            return false;
        }
        match &self.allow {
            None => true,
            Some(list) => list.iter().any(|p| p.matches(subject)),
        }
    }
}

/// What a user may do, checked by the pipeline before any handler runs: a
/// refused message is answered NOT_PERMITTED with its uri and nothing else
/// happens (no partial subscribe).
///
/// - `publish`: the uri of PUBLISH_URI (`pub/news`);
/// - `subscribe`: the topic of SUBSCRIBE_URI (`news`);
/// - `request`: the uri of REQUEST_URI, CREATE_URI, UPDATE_URI and
///   DELETE_URI, and of netaio's peer announcements (ADVERTISE_PEER,
///   PEER_DISCOVERED, DISCONNECT), whose uri is the app id (`netaio`):
///   like a create or delete, an announcement adds or removes server
///   state under that name, so a user whose `request` list does not
///   allow the app id cannot enter the peer table.
///
/// Other message types (UNSUBSCRIBE_URI, replies, custom types) are not
/// restricted. `Permissions::default()` allows everything.
///
/// ```
/// use framewire::auth::{Permissions, Rule};
/// use framewire::{Message, MessageType};
///
/// let p = Permissions::default()
///     .publish(Rule::allow(["pub/news".parse().unwrap()]))
///     .subscribe(Rule::allow(["news".parse().unwrap(), "alerts/>".parse().unwrap()]));
/// assert!(p.permits(&Message::new(MessageType::PUBLISH_URI, "pub/news", "x")));
/// assert!(!p.permits(&Message::new(MessageType::PUBLISH_URI, "pub/other", "x")));
/// assert!(p.permits(&Message::new(MessageType::SUBSCRIBE_URI, "alerts/fire", "")));
/// assert!(p.permits(&Message::new(MessageType::REQUEST_URI, "anything", "")));
/// let no_peers = Permissions::default().request(Rule::allow(["echo".parse().unwrap()]));
/// assert!(!no_peers.permits(&Message::new(MessageType::ADVERTISE_PEER, "netaio", "")));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    publish: Rule,
    subscribe: Rule,
    request: Rule,
}

impl Permissions {
    /// Nothing that permissions restrict is allowed (publish, subscribe,
    /// request): what a user without permissions gets.
    ///
    /// ```
    /// use framewire::auth::Permissions;
    /// use framewire::{Message, MessageType};
    ///
    /// let none = Permissions::nothing();
    /// assert!(!none.permits(&Message::new(MessageType::SUBSCRIBE_URI, "news", "")));
    /// assert!(none.permits(&Message::new(MessageType::UNSUBSCRIBE_URI, "news", "")));
    /// ```
    pub fn nothing() -> Self {
        Permissions {
            publish: Rule::allow([]),
            subscribe: Rule::allow([]),
            request: Rule::allow([]),
        }
    }

    /// Sets what may be published.
    pub fn publish(mut self, rule: Rule) -> Self {
        self.publish = rule;
        self
    }

    /// Sets what may be subscribed to.
    pub fn subscribe(mut self, rule: Rule) -> Self {
        self.subscribe = rule;
        self
    }

    /// Sets what may be requested, created, updated or deleted, and the
    /// app ids under which peers may be announced.
    pub fn request(mut self, rule: Rule) -> Self {
        self.request = rule;
        self
    }

    /// Whether `msg` is allowed.
    pub fn permits(&self, msg: &Message) -> bool {
        let rule = match msg.message_type {
            MessageType::PUBLISH_URI => &self.publish,
            MessageType::SUBSCRIBE_URI => &self.subscribe,
            MessageType::REQUEST_URI
            | MessageType::CREATE_URI
            | MessageType::UPDATE_URI
            | MessageType::DELETE_URI
            | MessageType::ADVERTISE_PEER
            | MessageType::PEER_DISCOVERED
            | MessageType::DISCONNECT => &self.request,
            _ => return true,
        };
        rule.permits(msg.uri())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Pattern {
        s.parse().unwrap()
    }

    #[test]
    fn wildcards() {
        assert!(p("a").matches(b"a"));
        assert!(!p("a").matches(b"a/b"));
        assert!(!p("a").matches(b""));
        assert!(p("*").matches(b"x"));
        assert!(!p("*").matches(b""));
        assert!(!p("*").matches(b"x/y"));
        assert!(p(">").matches(b"x/y"));
        assert!(p("a/*/c").matches(b"a/b/c"));
        assert!(!p("a/*/c").matches(b"a//c"));
        assert!(!p("a/>").matches(b"a"));
        assert!(
            p("a/>").matches(b"a/"),
            "an empty last segment is a segment"
        );
        for bad in ["", "a//b", "/a", "a/", "a>", "*x", "a/>/b"] {
            assert!(bad.parse::<Pattern>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn deny_wins() {
        let r = Rule::allow([p("k/>")]).deny([p("k/secret/>")]);
        assert!(r.permits(b"k/a"));
        assert!(!r.permits(b"k/secret/x"));
        assert!(!r.permits(b"other"));
        assert!(Rule::default().permits(b"anything"));
        assert!(!Rule::allow([]).permits(b"anything"));
    }

    #[test]
    fn parameters_are_named_segments_of_text() {
        let r = p("post/{room}");
        assert!(!r.is_literal() && p("post/lobby").is_literal());
        assert_eq!(
            r.captures(b"post/lobby").unwrap().get("room"),
            Some("lobby")
        );
        assert!(r.captures(b"post").is_none());
        assert!(r.captures(b"post/").is_none());
        assert!(r.captures(b"post/a/b").is_none());
        // Only text: the handler reads a parameter as &str.
        assert!(r.matches(b"post/\xff") && r.captures(b"post/\xff").is_none());
        let two = p("{a}/x/{b}");
        let c = two.captures(b"1/x/2").unwrap();
        assert_eq!(c.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "2")]);
        assert_eq!((c.len(), c.is_empty()), (2, false));
        assert!(p("a/*").captures(b"a/b").unwrap().is_empty());
        for bad in [
            "{}", "{a", "a}", "x{a}", "{a}x", "{a-b}", "{a}/{a}", "{a/b}",
        ] {
            let e = bad.parse::<Pattern>().unwrap_err();
            assert!(e.is_bad_parameter(), "{bad:?}: {e}");
        }
        let long = format!("{{{}}}", "n".repeat(MAX_PARAMETER_NAME));
        assert!(long.parse::<Pattern>().is_ok());
        let longer = format!("{{{}}}", "n".repeat(MAX_PARAMETER_NAME + 1));
        assert!(longer.parse::<Pattern>().is_err());
        // To a permission a parameter is a `*`.
        assert!(Rule::allow([p("post/{room}")]).permits(b"post/x"));
    }

    #[test]
    fn most_specific_sorts_first() {
        let mut v = ["a/>", "a/*/c", "a/b/>", "a/b/c", "a/{x}", "*/b/c", "a/b"]
            .map(p)
            .to_vec();
        v.sort_by(Pattern::specificity_cmp);
        let order: Vec<&str> = v.iter().map(Pattern::as_str).collect();
        assert_eq!(
            order,
            ["a/b/c", "a/b/>", "a/b", "a/*/c", "a/{x}", "a/>", "*/b/c"]
        );
    }

    #[test]
    fn a_pattern_prints_as_written() {
        let q = p("pub/*/>");
        assert_eq!(q.as_str(), "pub/*/>");
        assert_eq!(q.to_string(), "pub/*/>");
        assert_eq!(format!("{q:?}"), "Pattern(\"pub/*/>\")");
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        assert!("a//b".parse::<Pattern>().unwrap_err().is_empty_segment());
        assert!("a/>/b".parse::<Pattern>().unwrap_err().is_rest_not_last());
        assert!("a*".parse::<Pattern>().unwrap_err().is_partial_wildcard());
        assert!("a/b>".parse::<Pattern>().unwrap_err().is_partial_wildcard());
    }

    /// Each kind of action is judged by its own rule, and only those kinds.
    #[test]
    fn permissions_judge_each_action_by_its_rule() {
        let only = |pattern: &str| Rule::allow([p(pattern)]);
        let perms = Permissions::default()
            .publish(only("pub/ok"))
            .subscribe(only("sub/ok"))
            .request(only("req/ok"));
        let msg = |t: MessageType, uri: &str| Message::new(t, uri.to_owned(), "");
        let restricted = [
            (MessageType::PUBLISH_URI, "pub/ok"),
            (MessageType::SUBSCRIBE_URI, "sub/ok"),
            (MessageType::REQUEST_URI, "req/ok"),
            (MessageType::CREATE_URI, "req/ok"),
            (MessageType::UPDATE_URI, "req/ok"),
            (MessageType::DELETE_URI, "req/ok"),
        ];
        for (t, allowed) in restricted {
            assert!(perms.permits(&msg(t, allowed)), "{t:?} {allowed}");
            assert!(!perms.permits(&msg(t, "other")), "{t:?} other");
            // Another action's allowed uri is not this one's.
            for (_, theirs) in restricted.iter().filter(|(_, a)| *a != allowed) {
                assert!(!perms.permits(&msg(t, theirs)), "{t:?} {theirs}");
            }
        }
        for t in [
            MessageType::UNSUBSCRIBE_URI,
            MessageType::RESPOND_URI,
            MessageType::OK,
            MessageType::NOTIFY_URI,
        ] {
            assert!(perms.permits(&msg(t, "other")), "{t:?} is not restricted");
        }
        assert!(Permissions::default().permits(&msg(MessageType::PUBLISH_URI, "x")));
    }

    fn segment() -> impl Strategy<Value = String> {
        "[a-c]{1,2}"
    }

    proptest! {
        /// A literal pattern matches exactly its own text.
        #[test]
        fn literals_match_only_themselves(a in prop::collection::vec(segment(), 1..5),
                                          b in prop::collection::vec(segment(), 1..5)) {
            let (sa, sb) = (a.join("/"), b.join("/"));
            prop_assert!(p(&sa).matches(sa.as_bytes()));
            prop_assert_eq!(p(&sa).matches(sb.as_bytes()), sa == sb);
        }

        /// `*` at position i matches any one segment there, nothing else
        /// changes; `>` after a prefix matches every longer subject.
        #[test]
        fn wildcards_generalise_literals(segs in prop::collection::vec(segment(), 1..5),
                                         i in 0usize..5, extra in prop::collection::vec(segment(), 0..3)) {
            let i = i % segs.len();
            let mut pat = segs.clone();
            pat[i] = "*".into();
            let subject = segs.join("/");
            prop_assert!(p(&pat.join("/")).matches(subject.as_bytes()));
            let prefix = segs[..i].iter().cloned().chain([">".to_owned()]).collect::<Vec<_>>().join("/");
            let longer = segs[..i].iter().cloned().chain(segs[i..].iter().cloned()).chain(extra).collect::<Vec<_>>().join("/");
            prop_assert!(p(&prefix).matches(longer.as_bytes()));
            if i > 0 {
                // `>` needs at least one more segment.
                prop_assert!(!p(&prefix).matches(segs[..i].join("/").as_bytes()));
            }
        }
    }
}

#[cfg(test)]
mod predicate_tests {
    use super::*;

    #[test]
    fn each_predicate_holds_for_its_variants_only() {
        crate::predicates::check(
            PatternError::PREDICATES,
            &[
                (
                    PatternError::EmptySegment("a..b".into()),
                    &["is_empty_segment"],
                ),
                (
                    PatternError::RestNotLast(">.a".into()),
                    &["is_rest_not_last"],
                ),
                (
                    PatternError::PartialWildcard("a*".into()),
                    &["is_partial_wildcard"],
                ),
                (
                    PatternError::BadParameter("{a".into()),
                    &["is_bad_parameter"],
                ),
            ],
        );
    }
}
