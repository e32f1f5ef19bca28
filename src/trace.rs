//! Trace context across framewire: a W3C `traceparent`
//! (<https://www.w3.org/TR/trace-context/>) carried as the header
//! [`TRACEPARENT`] from a client call to the server handler it reaches, to
//! the notifications that handler sends (and across the backplane, which
//! carries headers), and on to the subscribers' handlers.
//!
//! - A server handler for a message with a `traceparent` runs inside a
//!   `tracing` span `framewire.handler` whose fields are the trace id,
//!   the caller's span id (`parent_id`) and its own (`span_id`), and in a
//!   trace [`scope`] of its own span: what it sends (`Context::send`,
//!   `notify`, `broadcast`, `send_to_tag`, a `Client` call) carries the
//!   trace on, with its span as the parent.
//! - A `Client` call or send made inside a [`scope`] carries it (its
//!   message's own `traceparent`, if it set one, wins); a client handler
//!   for a message with one runs in its scope, as a server handler does.
//! - With feature `otel`, [`current`] falls back to the OpenTelemetry
//!   context of the current `tracing` span (tracing-opentelemetry), and a
//!   handler's span is given the incoming context as its parent: traces in
//!   Jaeger or Tempo go through framewire hops unbroken. See the crate's
//!   `examples/otel_trace.rs`.
//!
//! Between netaio-mode peers the header is not covered by the MAC (see
//! [`crate::wire`]'s headers): strict mode signs it.

use std::fmt;
use std::future::Future;

use crate::wire::Message;

/// The header carrying the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";

/// A W3C `traceparent`, version `00`: the trace, the sender's span, and
/// the flags (bit 0: sampled).
///
/// ```
/// use framewire::trace::TraceParent;
///
/// let tp: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap();
/// assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(tp.is_sampled());
/// let child = tp.child();
/// assert_eq!(child.trace_id(), tp.trace_id());
/// assert_ne!(child.span_id(), tp.span_id());
/// assert_eq!(tp.to_string().parse::<TraceParent>().unwrap(), tp);
/// assert!("00-00000000000000000000000000000000-00f067aa0ba902b7-01".parse::<TraceParent>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

/// A `traceparent` that is not version 00's format, or has an all-zero id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>, ids not all zero)")]
pub struct TraceParentError;

fn hex_into(src: &str, dst: &mut [u8]) -> Result<(), TraceParentError> {
    if src.len() != dst.len() * 2 {
        return Err(TraceParentError);
    }
    for (i, out) in dst.iter_mut().enumerate() {
        let pair = src.get(i * 2..i * 2 + 2).ok_or(TraceParentError)?;
        // Lower-case hex digits only, as the recommendation says
        // (`from_str_radix` alone would take a sign: "+b").
        if !pair
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(TraceParentError);
        }
        *out = u8::from_str_radix(pair, 16).map_err(|_| TraceParentError)?;
    }
    Ok(())
}

impl std::str::FromStr for TraceParent {
    type Err = TraceParentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('-');
        let (Some("00"), Some(trace), Some(span), Some(flags), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TraceParentError);
        };
        let mut tp = TraceParent {
            trace_id: [0; 16],
            span_id: [0; 8],
            flags: 0,
        };
        hex_into(trace, &mut tp.trace_id)?;
        hex_into(span, &mut tp.span_id)?;
        let mut f = [0u8; 1];
        hex_into(flags, &mut f)?;
        tp.flags = f[0];
        if tp.trace_id == [0; 16] || tp.span_id == [0; 8] {
            return Err(TraceParentError);
        }
        Ok(tp)
    }
}

impl TraceParent {
    /// From its parts; `None` if either id is all zero.
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8], sampled: bool) -> Option<Self> {
        (trace_id != [0; 16] && span_id != [0; 8]).then_some(TraceParent {
            trace_id,
            span_id,
            flags: u8::from(sampled),
        })
    }

    /// A new trace (random ids), sampled.
    pub fn new_root() -> Self {
        let mut trace_id = [0u8; 16];
        crate::random::fill(&mut trace_id);
        trace_id[0] |= 1; // never all zero
        TraceParent {
            trace_id,
            span_id: new_span_id(),
            flags: 1,
        }
    }

    /// The same trace and flags, a new span id: the span of work done on
    /// behalf of this one.
    pub fn child(&self) -> Self {
        TraceParent {
            span_id: new_span_id(),
            ..*self
        }
    }

    /// The trace id.
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The span id (the sender's span, to a receiver: its parent).
    pub fn span_id(&self) -> [u8; 8] {
        self.span_id
    }

    /// Whether the trace is sampled (flag bit 0).
    pub fn is_sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The trace id in lower-case hex.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The span id in lower-case hex.
    pub fn span_id_hex(&self) -> String {
        hex(&self.span_id)
    }

    /// The trace context `msg` carries, if its header is a valid one.
    pub fn of(msg: &Message) -> Option<Self> {
        let value = msg.header(TRACEPARENT)?;
        std::str::from_utf8(value).ok()?.parse().ok()
    }

    /// Sets `msg`'s header to this context.
    pub fn attach(&self, msg: &mut Message) {
        // 55 bytes and a valid name: always within the header bounds,
        // unless the message already has the most headers allowed, when
        // the trace is left off rather than failing the send.
        let _ = msg.set_header(TRACEPARENT, self.to_string());
    }
}

fn new_span_id() -> [u8; 8] {
    let mut id = [0u8; 8];
    crate::random::fill(&mut id);
    id[0] |= 1; // never all zero
    id
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.span_id),
            self.flags
        )
    }
}

impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceParent({self})")
    }
}

tokio::task_local! {
    static CURRENT: TraceParent;
}

/// Runs `fut` with `tp` as the current trace context: what it sends
/// through framewire carries it.
///
/// ```
/// use framewire::trace::{self, TraceParent};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let tp = TraceParent::new_root();
/// let seen = trace::scope(tp, async { trace::current() }).await;
/// assert_eq!(seen, Some(tp));
/// assert_eq!(trace::current(), None);
/// # }
/// ```
pub async fn scope<F: Future>(tp: TraceParent, fut: F) -> F::Output {
    CURRENT.scope(tp, fut).await
}

/// The current trace context: the innermost [`scope`], else (feature
/// `otel`) the current `tracing` span's OpenTelemetry context.
pub fn current() -> Option<TraceParent> {
    CURRENT.try_with(|tp| *tp).ok().or_else(otel_current)
}

#[cfg(not(feature = "otel"))]
fn otel_current() -> Option<TraceParent> {
    None
}

#[cfg(feature = "otel")]
fn otel_current() -> Option<TraceParent> {
    otel_of(&tracing::Span::current())
}

/// The OpenTelemetry ids of `span`, if it has valid ones (a subscriber
/// with the tracing-opentelemetry layer is installed).
#[cfg(feature = "otel")]
fn otel_of(span: &tracing::Span) -> Option<TraceParent> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = span.context();
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return None;
    }
    TraceParent::new(
        sc.trace_id().to_bytes(),
        sc.span_id().to_bytes(),
        sc.is_sampled(),
    )
}

/// Gives `msg` the current trace context, unless it carries one.
pub(crate) fn attach_current(msg: &mut Message) {
    if let Some(tp) = current() {
        if msg.header(TRACEPARENT).is_none() {
            tp.attach(msg);
        }
    }
}

/// Runs a handler's future for a message carrying `incoming`: in a span
/// of its own (a child of the caller's) and a trace scope of that span.
pub(crate) async fn handle_in<F: Future>(
    incoming: TraceParent,
    side: &'static str,
    fut: F,
) -> F::Output {
    use tracing::Instrument;
    let (span, own) = handler_span(incoming, side);
    scope(own, fut).instrument(span).await
}

/// [`handle_in`] for a plain call (a sync handler).
pub(crate) fn handle_sync_in<R>(
    incoming: TraceParent,
    side: &'static str,
    f: impl FnOnce() -> R,
) -> R {
    let (span, own) = handler_span(incoming, side);
    let _entered = span.enter();
    CURRENT.sync_scope(own, f)
}

/// A handler's span, child of `incoming`, and the trace context of that
/// span (what the handler's own sends carry): with feature `otel` the ids
/// OpenTelemetry gave the span, so the next hop's parent is a span the
/// collector knows; otherwise a new span id in `incoming`'s trace.
fn handler_span(incoming: TraceParent, side: &'static str) -> (tracing::Span, TraceParent) {
    let span = tracing::info_span!(
        "framewire.handler",
        side,
        trace_id = %incoming.trace_id_hex(),
        parent_id = %incoming.span_id_hex(),
        span_id = tracing::field::Empty,
    );
    #[cfg(feature = "otel")]
    let own = {
        otel_parent(&span, incoming);
        otel_of(&span).unwrap_or_else(|| incoming.child())
    };
    #[cfg(not(feature = "otel"))]
    let own = incoming.child();
    span.record("span_id", own.span_id_hex());
    (span, own)
}

/// The trace context a received message carries (no lookup at all for a
/// message without auth fields, the common case: inlined into the caller,
/// the lookup itself is not).
#[inline(always)]
pub(crate) fn incoming(msg: &Message) -> Option<TraceParent> {
    if msg.auth.is_empty() {
        None
    } else {
        incoming_lookup(msg)
    }
}

#[inline(never)]
fn incoming_lookup(msg: &Message) -> Option<TraceParent> {
    TraceParent::of(msg)
}

/// Makes the incoming context the OpenTelemetry parent of `span`.
#[cfg(feature = "otel")]
fn otel_parent(span: &tracing::Span, incoming: TraceParent) {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let sc = SpanContext::new(
        TraceId::from_bytes(incoming.trace_id),
        SpanId::from_bytes(incoming.span_id),
        TraceFlags::new(incoming.flags),
        true,
        TraceState::default(),
    );
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(sc));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_version_00_with_nonzero_lowercase_ids_parses() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        let tp: TraceParent = ok.parse().unwrap();
        assert!(!tp.is_sampled());
        assert_eq!(tp.to_string(), ok);
        assert_eq!(tp.span_id_hex(), "00f067aa0ba902b7");
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-é4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
        ] {
            assert!(bad.parse::<TraceParent>().is_err(), "{bad:?}");
        }
        assert!(TraceParent::new([0; 16], [1; 8], true).is_none());
        assert!(TraceParent::new([1; 16], [0; 8], true).is_none());
        let root = TraceParent::new_root();
        assert!(root.is_sampled() && root.trace_id() != [0; 16]);
        let mut m = Message::ok("k", "");
        assert_eq!(TraceParent::of(&m), None);
        root.attach(&mut m);
        assert_eq!(TraceParent::of(&m), Some(root));
        m.set_header(TRACEPARENT, "garbage").unwrap();
        assert_eq!(TraceParent::of(&m), None);
    }

    #[test]
    fn ids_are_what_was_given_or_random_and_never_zero() {
        let tp = TraceParent::new([7; 16], [9; 8], false).unwrap();
        assert_eq!(
            (tp.trace_id(), tp.span_id(), tp.is_sampled()),
            ([7; 16], [9; 8], false)
        );
        assert_eq!(tp.trace_id_hex(), "07".repeat(16));
        assert_eq!(tp.span_id_hex(), "09".repeat(8));
        assert_eq!(
            format!("{tp:?}"),
            format!("TraceParent(00-{}-{}-00)", "07".repeat(16), "09".repeat(8))
        );
        // The low bit of the first byte is set, so no id is ever all zero.
        for _ in 0..64 {
            let root = TraceParent::new_root();
            assert_eq!(root.trace_id()[0] & 1, 1);
            assert_eq!(root.span_id()[0] & 1, 1);
            assert_eq!(root.child().span_id()[0] & 1, 1);
        }
        let (a, b) = (TraceParent::new_root(), TraceParent::new_root());
        assert_ne!(a.trace_id(), b.trace_id(), "a new trace each time");
        assert_ne!(a.child().span_id(), a.child().span_id());
    }

    #[tokio::test]
    async fn a_scope_is_attached_unless_the_message_has_its_own() {
        let outer = TraceParent::new_root();
        let own = TraceParent::new_root();
        let (plain, kept) = scope(outer, async {
            let mut plain = Message::ok("k", "");
            attach_current(&mut plain);
            let mut kept = Message::ok("k", "");
            own.attach(&mut kept);
            attach_current(&mut kept);
            (plain, kept)
        })
        .await;
        assert_eq!(TraceParent::of(&plain), Some(outer));
        assert_eq!(TraceParent::of(&kept), Some(own));
        let mut none = Message::ok("k", "");
        attach_current(&mut none);
        assert_eq!(none.headers().count(), 0, "no scope: nothing attached");
        let seen = handle_in(outer, "server", async { current() })
            .await
            .unwrap();
        assert_eq!(seen.trace_id(), outer.trace_id());
        assert_ne!(seen.span_id(), outer.span_id(), "the handler's own span");
    }
}
