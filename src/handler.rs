//! What server and client handlers have in common, below both runtimes:
//! the boxed future a handler returns, what it may return
//! ([`IntoReply`]), its error ([`HandlerError`]), and the panic isolation
//! every handler call runs under. The handler traits themselves, whose
//! signatures name each side's context, are `server::Handler` and
//! `client::ClientHandler`.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::wire::{Message, MessageType};

/// A boxed, sendable future: what [`Handler::call`](crate::server::Handler::call)
/// and [`ClientHandler::call`](crate::client::ClientHandler::call) return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A handler's failure. On a server (and a node) it becomes an error
/// reply with the request's uri, so the requester can match it, and the
/// error's text as content; a client logs it. The text is sent to the
/// peer: keep secrets out of it.
///
/// The reply's type comes from how the error was made, never from its
/// text: [`not_found`](Self::not_found) answers NOT_FOUND,
/// [`not_permitted`](Self::not_permitted) NOT_PERMITTED and
/// [`auth`](Self::auth) AUTH_ERROR; any other error — `Err("text")`, `?`
/// on any error — answers ERROR, whatever it says (a validation error
/// about a field named `author` is not an authentication failure).
/// netaio's own text-typed helper stays available as
/// [`Message::error`] for handlers that want its rules.
///
/// Anything that converts into `Box<dyn Error + Send + Sync>` converts into
/// it, so handlers can use `?` on most errors and return `Err("text")`.
///
/// ```
/// use framewire::handler::HandlerError;
/// use framewire::MessageType;
///
/// fn parse(n: &[u8]) -> Result<u32, HandlerError> {
///     let text = std::str::from_utf8(n)?; // any error converts
///     Ok(text.parse()?)
/// }
/// assert_eq!(parse(b"42").unwrap(), 42);
/// assert_eq!(parse(b"x").unwrap_err().to_string(), "invalid digit found in string");
///
/// let invalid = HandlerError::from("invalid author: not found in the directory");
/// assert_eq!(invalid.reply_type(), MessageType::ERROR);
/// let missing = HandlerError::not_found("no such key");
/// assert_eq!(missing.reply_type(), MessageType::NOT_FOUND);
/// assert_eq!(missing.to_string(), "no such key");
/// ```
pub struct HandlerError {
    error: Box<dyn std::error::Error + Send + Sync>,
    reply_type: MessageType,
    rejection: bool,
}

impl HandlerError {
    fn typed(
        reply_type: MessageType,
        e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        HandlerError {
            error: e.into(),
            reply_type,
            rejection: false,
        }
    }

    /// The message itself is unacceptable (its content does not parse or
    /// validate, a parameter is missing): answered ERROR with the reason,
    /// and counted apart from handler failures (the server's
    /// `Stats::content_rejections`). What typed extractors return.
    ///
    /// ```
    /// use framewire::handler::HandlerError;
    /// use framewire::MessageType;
    ///
    /// let e = HandlerError::rejected("text: must be 1..=500 characters");
    /// assert!(e.is_rejection() && e.reply_type() == MessageType::ERROR);
    /// assert!(!HandlerError::from("failed").is_rejection());
    /// ```
    pub fn rejected(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        HandlerError {
            rejection: true,
            ..Self::typed(MessageType::ERROR, e)
        }
    }

    /// Whether it was made by [`rejected`](Self::rejected).
    pub fn is_rejection(&self) -> bool {
        self.rejection
    }

    /// The request names nothing the handler has: answered NOT_FOUND.
    ///
    /// ```
    /// use framewire::handler::HandlerError;
    /// use framewire::MessageType;
    ///
    /// assert_eq!(HandlerError::not_found("no such key").reply_type(), MessageType::NOT_FOUND);
    /// ```
    pub fn not_found(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::typed(MessageType::NOT_FOUND, e)
    }

    /// The requester may not do this: answered NOT_PERMITTED.
    ///
    /// ```
    /// use framewire::handler::HandlerError;
    /// use framewire::MessageType;
    ///
    /// let e = HandlerError::not_permitted("read-only");
    /// assert_eq!(e.reply_type(), MessageType::NOT_PERMITTED);
    /// ```
    pub fn not_permitted(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::typed(MessageType::NOT_PERMITTED, e)
    }

    /// The requester's credentials are refused: answered AUTH_ERROR.
    ///
    /// ```
    /// use framewire::handler::HandlerError;
    /// use framewire::MessageType;
    ///
    /// assert_eq!(HandlerError::auth("token expired").reply_type(), MessageType::AUTH_ERROR);
    /// ```
    pub fn auth(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::typed(MessageType::AUTH_ERROR, e)
    }

    /// The type of the error reply it becomes: ERROR unless it was made
    /// by [`not_found`](Self::not_found), [`not_permitted`](Self::not_permitted)
    /// or [`auth`](Self::auth).
    pub fn reply_type(&self) -> MessageType {
        self.reply_type
    }

    /// The underlying error.
    pub fn source(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.error
    }
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync>>> From<E> for HandlerError {
    fn from(e: E) -> Self {
        // Any error: ERROR, whatever its text says.
        Self::typed(MessageType::ERROR, e)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.error, f)
    }
}

/// What a handler may return: a reply, no reply, or an error.
///
/// Implemented for [`Message`], `Option<Message>`, `()`, and
/// `Result<T, E>` where `T: IntoReply` and `E` converts into
/// [`HandlerError`].
///
/// ```
/// use framewire::handler::IntoReply;
/// use framewire::Message;
///
/// assert!(Message::ok("k", "v").into_reply().unwrap().is_some());
/// assert!(().into_reply().unwrap().is_none());
/// let failed: Result<Message, &str> = Err("no such key");
/// assert_eq!(failed.into_reply().unwrap_err().to_string(), "no such key");
/// ```
pub trait IntoReply {
    /// Whether the reply depends on the request (its type and uri), so a
    /// typed handler keeps them for [`into_reply_to`](Self::into_reply_to)
    /// (typed content does; a `Message` is the reply as it is).
    const NEEDS_REQUEST: bool = false;

    /// The reply to send (`None`: none).
    fn into_reply(self) -> Result<Option<Message>, HandlerError>;

    /// The reply to `request` (default: [`into_reply`](Self::into_reply)).
    fn into_reply_to(self, request: &RequestHead) -> Result<Option<Message>, HandlerError>
    where
        Self: Sized,
    {
        let _ = request;
        self.into_reply()
    }
}

/// What a reply may depend on of its request: the type and the uri.
///
/// ```
/// use framewire::handler::RequestHead;
/// use framewire::{Message, MessageType};
///
/// let head = RequestHead::of(&Message::new(MessageType::REQUEST_URI, "history/lobby", ""));
/// assert_eq!(head.reply_type(), MessageType::RESPOND_URI);
/// let head = RequestHead::of(&Message::new(MessageType::PUBLISH_URI, "post/lobby", ""));
/// assert_eq!(head.reply_type(), MessageType::OK);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The request's type.
    pub message_type: MessageType,
    /// The request's uri (held only until the reply is made).
    pub uri: bytes::Bytes,
}

impl RequestHead {
    /// `msg`'s head.
    pub fn of(msg: &Message) -> Self {
        RequestHead {
            message_type: msg.message_type,
            uri: msg.uri().clone(),
        }
    }

    /// The type of a successful typed reply: RESPOND_URI to a REQUEST_URI
    /// (netaio's request/response pair), OK to anything else.
    pub fn reply_type(&self) -> MessageType {
        if self.message_type == MessageType::REQUEST_URI {
            MessageType::RESPOND_URI
        } else {
            MessageType::OK
        }
    }

    /// A successful reply carrying `content`, with the request's uri.
    pub fn reply(&self, content: impl Into<bytes::Bytes>) -> Message {
        Message::new(self.reply_type(), self.uri.clone(), content)
    }
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
    const NEEDS_REQUEST: bool = T::NEEDS_REQUEST;

    fn into_reply(self) -> Result<Option<Message>, HandlerError> {
        self.map_err(Into::into)?.into_reply()
    }

    fn into_reply_to(self, request: &RequestHead) -> Result<Option<Message>, HandlerError> {
        self.map_err(Into::into)?.into_reply_to(request)
    }
}

/// Typed content as the reply (`Json`, `MsgPack`): RESPOND_URI to a
/// REQUEST_URI, OK to anything else, with the request's uri
/// ([`RequestHead::reply`]). A value that cannot be encoded is a handler
/// error. Without the request (a client handler's reply): RESPOND_URI with
/// an empty uri.
macro_rules! typed_reply {
    ($feature:literal, $wrapper:ident, $encode:ident) => {
        #[cfg(feature = $feature)]
        impl<T: serde::Serialize> IntoReply for crate::content::$wrapper<T> {
            const NEEDS_REQUEST: bool = true;

            fn into_reply(self) -> Result<Option<Message>, HandlerError> {
                self.into_reply_to(&RequestHead {
                    message_type: MessageType::REQUEST_URI,
                    uri: bytes::Bytes::new(),
                })
            }

            fn into_reply_to(self, request: &RequestHead) -> Result<Option<Message>, HandlerError> {
                Ok(Some(request.reply(crate::content::$encode(&self.0)?)))
            }
        }
    };
}

typed_reply!("json", Json, to_json);
typed_reply!("msgpack", MsgPack, to_msgpack);

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply that does not need the request is the same given one.
    #[test]
    fn replies_without_the_request_ignore_it() {
        let head = RequestHead::of(&Message::new(MessageType::REQUEST_URI, "k", ""));
        let reply = || Message::respond("other", "v");
        let given = reply().into_reply_to(&head).unwrap().unwrap();
        assert_eq!(given, reply());
        assert!(().into_reply_to(&head).unwrap().is_none());
        let failed: Result<Message, HandlerError> = Err("no".into());
        assert_eq!(failed.into_reply_to(&head).unwrap_err().to_string(), "no");
    }

    #[test]
    fn a_handler_error_is_the_error_it_wraps() {
        let e = HandlerError::from(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such key",
        ));
        assert_eq!(e.to_string(), "no such key");
        assert_eq!(
            format!("{e:?}"),
            format!(
                "{:?}",
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such key")
            )
        );
        let io = e.source().downcast_ref::<std::io::Error>().unwrap();
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(HandlerError::from("text").to_string(), "text");
    }

    #[test]
    fn replies_are_what_the_handler_returned() {
        let m = Message::ok("k", "v");
        let reply =
            |r: Result<Option<Message>, HandlerError>| r.unwrap().map(|m| m.content().clone());
        assert_eq!(reply(m.clone().into_reply()), Some("v".into()));
        assert_eq!(reply(Some(m.clone()).into_reply()), Some("v".into()));
        assert_eq!(reply(None::<Message>.into_reply()), None);
        assert_eq!(reply(().into_reply()), None);
        assert_eq!(
            reply(Ok::<_, &str>(m.clone()).into_reply()),
            Some("v".into())
        );
        assert_eq!(reply(Ok::<_, &str>(()).into_reply()), None);
        let failed = Err::<Message, _>("no such key").into_reply().unwrap_err();
        assert_eq!(failed.to_string(), "no such key");
    }

    fn run<T>(fut: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(fut)
    }

    #[test]
    fn panics_in_the_call_or_its_future_become_errors() {
        assert_eq!(
            run(catch_panics(|| Box::pin(async { 7u32 }) as BoxFuture<u32>)).unwrap(),
            7
        );
        let in_call = run(catch_panics(|| -> BoxFuture<u32> {
            std::panic::panic_any("in the call")
        }))
        .unwrap_err();
        assert_eq!(panic_text(&*in_call), "in the call");
        let in_future = run(catch_panics(|| -> BoxFuture<u32> {
            Box::pin(async {
                tokio::task::yield_now().await;
                panic!("polled {}", 2)
            })
        }))
        .unwrap_err();
        assert_eq!(panic_text(&*in_future), "polled 2");
        assert_eq!(panic_text(&7u8), "non-string panic payload");
    }
}
