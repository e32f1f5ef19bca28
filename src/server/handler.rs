//! What a handler is: an async function of a message and its connection's
//! [`Context`], whose result becomes the reply.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::wire::Message;

use super::Context;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A handler's failure. It becomes an error reply whose type netaio's
/// `make_error_msg` rules pick from the text (`ERROR` unless the text
/// mentions `not found`, `auth` or `not permitted`), with the request's uri
/// so the requester can match it. The text is sent to the peer: keep
/// secrets out of it.
///
/// Anything that converts into `Box<dyn Error + Send + Sync>` converts into
/// it, so handlers can use `?` on most errors and return `Err("text")`.
pub struct HandlerError(Box<dyn std::error::Error + Send + Sync>);

impl HandlerError {
    /// The underlying error.
    pub fn source(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync>>> From<E> for HandlerError {
    fn from(e: E) -> Self {
        HandlerError(e.into())
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// What a handler may return: a reply, no reply, or an error.
///
/// Implemented for [`Message`], `Option<Message>`, `()`, and
/// `Result<T, E>` where `T: IntoReply` and `E` converts into
/// [`HandlerError`].
pub trait IntoReply {
    /// The reply to send (`None`: none).
    fn into_reply(self) -> Result<Option<Message>, HandlerError>;
}

impl IntoReply for Message {
    fn into_reply(self) -> Result<Option<Message>, HandlerError> {
        Ok(Some(self))
    }
}

impl IntoReply for Option<Message> {
    fn into_reply(self) -> Result<Option<Message>, HandlerError> {
        Ok(self)
    }
}

impl IntoReply for () {
    fn into_reply(self) -> Result<Option<Message>, HandlerError> {
        Ok(None)
    }
}

impl<T: IntoReply, E: Into<HandlerError>> IntoReply for Result<T, E> {
    fn into_reply(self) -> Result<Option<Message>, HandlerError> {
        self.map_err(Into::into)?.into_reply()
    }
}

/// A message handler. Implemented for every
/// `Fn(Message, Context) -> impl Future<Output = impl IntoReply>` that is
/// `Send + Sync + 'static`, so closures and async fns work directly.
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

impl<F, Fut, R> Handler for F
where
    F: Fn(Message, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoReply,
{
    fn call(&self, msg: Message, ctx: Context) -> BoxFuture<Result<Option<Message>, HandlerError>> {
        let fut = self(msg, ctx);
        Box::pin(async move { fut.await.into_reply() })
    }
}

/// Runs a handler call, turning a panic (in the call itself or while its
/// future is polled) into `Err(payload)`, so one bad handler cannot take
/// its connection's other work, or the server, down.
pub(crate) async fn catch_panics<T>(
    call: impl FnOnce() -> BoxFuture<T>,
) -> Result<T, Box<dyn Any + Send>> {
    let fut = catch_unwind(AssertUnwindSafe(call))?;
    CatchUnwind(fut).await
}

struct CatchUnwind<T>(BoxFuture<T>);

impl<T> Future for CatchUnwind<T> {
    type Output = Result<T, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let fut = &mut self.0;
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// The text of a panic payload, for the log.
pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}
