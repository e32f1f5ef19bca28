//! The respond half: from what a handler returned (or how it failed) to
//! the frame that answers the request.

use std::any::Any;

use bytes::BytesMut;
use tracing::{debug, error, warn};

use crate::auth::{Link, PluginLayer};
use crate::handler::{panic_text, HandlerError};
use crate::wire::{Message, MessageType};

use super::{Count, Outcome, Pipeline, ReplyTo, Side};

/// A handler call's result as [`catch_panics`](crate::handler::catch_panics)
/// gives it: the handler's own result, or the payload of its panic.
pub(crate) type CallResult = Result<Result<Option<Message>, HandlerError>, Box<dyn Any + Send>>;

impl Pipeline {
    /// The reply to a handled message. On a server (and a peer) a failed
    /// handler is answered with an error report of the type its
    /// [`HandlerError`] was made with (never one read from its text), the
    /// request's uri, so the requester can match it, and the request id
    /// echoed; on a client a failed handler is only logged.
    pub(crate) fn respond(
        &self,
        reply_to: ReplyTo,
        layer: Option<&PluginLayer>,
        link: &Link<'_>,
        result: CallResult,
        scratch: &mut BytesMut,
    ) -> Outcome {
        scratch.clear();
        let (count, replied) = self.respond_into(reply_to, layer, link, result, scratch);
        Outcome {
            send: replied.then(|| scratch.split().freeze()),
            close: None,
            count,
        }
    }

    /// [`respond`](Self::respond), appending the reply frame (if there is
    /// one) to `out` after what it holds, so the replies to several
    /// requests can leave as one buffer. Returns what to count and whether
    /// a frame was appended.
    pub(crate) fn respond_into(
        &self,
        reply_to: ReplyTo,
        layer: Option<&PluginLayer>,
        link: &Link<'_>,
        result: CallResult,
        out: &mut BytesMut,
    ) -> (Option<Count>, bool) {
        let uri = reply_to.uri;
        // A handler's own reply is sealed with its route's layer, then the
        // instance layer (netaio's order). An error report framewire makes
        // for a handler that failed is sealed with the instance layer only,
        // as every other error report the pipeline makes (not found,
        // refusals): a requester's `call_with` takes error reports as they
        // come, so one sealed with the handler's cipher would reach it as
        // ciphertext.
        let handler_layer = matches!(result, Ok(Ok(_))).then_some(layer).flatten();
        let (reply, count) = match result {
            Ok(Ok(reply)) => (reply, None),
            Ok(Err(e)) => {
                debug!(error = %e, ?uri, "handler error");
                let reply = self
                    .side
                    .answers()
                    .then(|| Message::new(e.reply_type(), uri.clone(), e.to_string()));
                let count = if e.is_rejection() {
                    Count::ContentRejected
                } else {
                    Count::HandlerError
                };
                (reply, Some(count))
            }
            Err(panic) => {
                error!(panic = panic_text(&*panic), ?uri, "handler panicked");
                let reply = self.side.answers().then(|| internal_error(uri.clone()));
                (reply, Some(Count::HandlerPanic))
            }
        };
        let Some(mut reply) = reply else {
            return (count, false);
        };
        if self.side.answers() {
            if let Some(id) = reply_to.rid {
                id.attach(&mut reply);
            }
        }
        let Err(e) = self.seal_append(reply, handler_layer, link, out) else {
            return (count, true);
        };
        warn!(error = ?e, "reply could not be sent");
        let replied = match self.side {
            Side::Server | Side::Peer => {
                let mut failed = internal_error(uri);
                if let Some(id) = reply_to.rid {
                    id.attach(&mut failed);
                }
                self.seal_append(failed, None, link, out).is_ok()
            }
            Side::Client => false,
        };
        (count, replied)
    }
}

/// What a requester is told when its handler panicked or its reply could
/// not be sealed: ERROR, no detail.
fn internal_error(uri: bytes::Bytes) -> Message {
    Message::new(MessageType::ERROR, uri, "internal error")
}
