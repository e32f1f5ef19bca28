//! The server's handler trait: an async function of a message and its
//! connection's [`Context`], whose result becomes the reply. The types it
//! shares with the client's handlers live in [`crate::handler`].

use crate::handler::{BoxFuture, HandlerError, IntoReply};
use crate::wire::Message;

use super::Context;

/// A message handler, as the server calls it. Keep nothing of the message
/// past the call without [`Message::detach`]ing it first: its parts are
/// slices of the read buffer and would keep all of it alive.
///
/// Routes take anything [`IntoHandler`](super::IntoHandler): an async
/// function or closure of extractors (`Fn(Message, Context)`, or typed
/// ones: see [`extract`](super::extract)), or a type implementing this
/// trait by hand (a handler with its own state, say).
///
/// ```
/// use framewire::server::{Context, Server};
/// use framewire::{Message, MessageType};
///
/// async fn echo(msg: Message, _ctx: Context) -> Message {
///     Message::respond(msg.uri().clone(), msg.content().clone())
/// }
///
/// let server = Server::builder()
///     .on((MessageType::REQUEST_URI, "echo"), echo)
///     .on(MessageType::PUBLISH_URI, |msg: Message, ctx: Context| async move {
///         let note = Message::new(MessageType::NOTIFY_URI, msg.uri().clone(), msg.content().clone());
///         // `?` works on any error: it becomes an ERROR reply.
///         let delivered = ctx.server().notify(msg.uri(), note)?;
///         Ok::<_, framewire::server::SendError>(Message::ok(msg.uri().clone(), format!("{delivered}")))
///     })
///     .build();
/// # drop(server);
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Handles one message.
    fn call(&self, msg: Message, ctx: Context) -> BoxFuture<Result<Option<Message>, HandlerError>>;
}

/// A handler that answers without waiting: a plain function of the message
/// and its connection's [`Context`]. Registered with
/// [`ServerBuilder::on_sync`](super::ServerBuilder::on_sync), it is called
/// on the reader's task with no future to allocate or poll — the cheapest
/// path for work that needs no I/O (a lookup, a store update, a publish).
/// It must not block. Implemented for every
/// `Fn(Message, &Context) -> impl IntoReply + Send + Sync + 'static`.
///
/// ```
/// use framewire::server::{Context, Server};
/// use framewire::{Message, MessageType};
///
/// let server = Server::builder()
///     .on_sync((MessageType::REQUEST_URI, "echo"), |m: Message, _c: &Context| {
///         Message::respond("echo", m.content().clone())
///     })
///     .build();
/// # drop(server);
/// ```
pub trait SyncHandler: Send + Sync + 'static {
    /// Handles one message.
    fn call(&self, msg: Message, ctx: &Context) -> Result<Option<Message>, HandlerError>;
}

impl<F, R> SyncHandler for F
where
    F: Fn(Message, &Context) -> R + Send + Sync + 'static,
    R: IntoReply,
{
    fn call(&self, msg: Message, ctx: &Context) -> Result<Option<Message>, HandlerError> {
        self(msg, ctx).into_reply()
    }
}
