//! Where what the client reads goes: replies to their waiting requests
//! (a per-call layer opened here, beside the instance layer),
//! notifications to the subscription streams, and what handlers want to
//! the dispatcher, which runs them one at a time off the reader's task.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::sync::mpsc;
use tracing::debug;

use crate::auth::PluginLayer;
use crate::handler::catch_panics;
use crate::proto::pipeline::{self, ReplyTo, Sink};
use crate::protocol;
use crate::router::RouteCache;
use crate::sync::lock;
use crate::wire::{Message, MessageType};

use super::subscription::Admit;
use super::{Client, ClientHandler, ConnectionEvent, Current, Inner};

pub(super) type Handler = Arc<dyn ClientHandler>;

impl pipeline::Route for Handler {
    fn layer(&self) -> Option<&PluginLayer> {
        None
    }
}

/// Unsolicited messages waiting for their handler.
pub(super) type Dispatch = mpsc::Sender<(Handler, Message, ReplyTo)>;

pub(super) const DISPATCH_QUEUE: usize = 1024;

/// The client's side of the pipeline: replies go to their waiting
/// requests, notifications to the subscription streams, and what handlers
/// want to the dispatcher.
pub(super) struct Deliver<'a> {
    pub(super) inner: &'a Inner,
    pub(super) current: &'a Current,
    pub(super) routes: &'a mut RouteCache<Handler>,
    /// Set when the server asked its clients to move.
    pub(super) drained: &'a std::cell::Cell<bool>,
}

impl Sink for Deliver<'_> {
    type Route = Handler;

    fn offer(&mut self, msg: Message) -> Option<Message> {
        let (rest, answer) = lock(&self.inner.pending).complete_later(msg);
        if let Some(answer) = answer {
            // A per-call layer opens here, beside the instance layer.
            let (inner, current) = (self.inner, self.current);
            answer.send(|msg, layer| {
                Ok(inner.pipeline.open_with(msg, layer, &current.link(inner))?)
            });
        }
        let msg = rest?;
        if msg.message_type == MessageType::NOTIFY_URI {
            let mut topics = lock(&self.inner.topics);
            let (admit, gap) = topics.admit(&msg);
            if let Some(lost) = gap {
                let topic = msg.body.uri.clone();
                self.inner.emit(ConnectionEvent::Gap { topic, lost });
            }
            if admit == Admit::Drop {
                return None; // delivered before, or a notice for the client
            }
            if let Some(id) = protocol::NotifyId::of(&msg) {
                if !lock(&self.inner.recent).first_time(id) {
                    return None; // heard already, from the instance we left
                }
            }
            topics.deliver(&msg);
        }
        Some(msg)
    }

    fn route(&mut self, msg: &Message) -> Option<Cow<'_, Handler>> {
        self.inner
            .router
            .lookup_cached(self.routes, msg, self.current.peer)
    }

    fn unverified_error(&mut self, msg: Message) -> bool {
        lock(&self.inner.pending).fail_unverified(msg)
    }

    fn drain(&mut self) {
        self.drained.set(true);
    }
}

/// Runs handlers one at a time, in arrival order, off the reader's task;
/// sends what they return.
pub(super) async fn dispatcher(
    inner: Arc<Inner>,
    mut rx: mpsc::Receiver<(Handler, Message, ReplyTo)>,
) {
    let mut scratch = BytesMut::new();
    while let Some((handler, msg, reply_to)) = rx.recv().await {
        let client = Client {
            inner: inner.clone(),
        };
        let result = match crate::trace::incoming(&msg) {
            None => catch_panics(|| handler.call(msg, client)).await,
            Some(tp) => {
                let call = catch_panics(|| handler.call(msg, client));
                crate::trace::handle_in(tp, "client", call).await
            }
        };
        let current = match inner.current() {
            Ok(c) => c,
            Err(e) => {
                debug!(error = %e, "handler reply not sent");
                continue;
            }
        };
        let outcome =
            inner
                .pipeline
                .respond(reply_to, None, &current.link(&inner), result, &mut scratch);
        if let Some(frame) = outcome.send {
            if let Err(e) = current.push(frame).await {
                debug!(error = %e, "handler reply not sent");
            }
        }
    }
}
