//! Typed handlers: a handler is any async function whose arguments are
//! extractors (the [`Message`], its [`Context`], the route's [`Params`], a
//! [`Path`] parameter, the [`Identity`], shared [`State`], typed content
//! `Json<T>` / `MsgPack<T>`, `Valid<..>`), in any order, as axum's are.
//! An extractor that refuses the message (content that does not parse or
//! validate, a parameter that does not parse) answers ERROR with the
//! reason, counted in `Stats::content_rejections`; the function is not
//! called. `Fn(Message, Context)` handlers are simply the two-extractor
//! case, and a type implementing [`Handler`] by hand still registers as
//! it did.
//!
//! Extraction runs in two steps so order never matters: every argument
//! first reads what it needs from the message still whole (parsing
//! content, say), then `Message` and `Context` are moved out, not cloned.

use std::any::{Any, TypeId};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::Arc;

use crate::auth::{Identity, Params, Pattern};
use crate::handler::{BoxFuture, HandlerError, IntoReply, RequestHead};
use crate::wire::Message;

use super::{Context, Handler};

/// What a handler's arguments are extracted from: the message (whole
/// while extractors read it), its connection's [`Context`], and the
/// route's pattern.
pub struct Request<'a> {
    msg: Option<Message>,
    ctx: Option<Context>,
    pattern: Option<&'a Pattern>,
}

impl Request<'_> {
    /// The message. Every [`FromRequest`] runs before `Message` and
    /// `Context` arguments are moved out, so it is always there for them.
    pub fn message(&self) -> &Message {
        self.msg
            .as_ref()
            .expect("moved out only after every extractor read it")
    }

    /// The connection's context.
    pub fn context(&self) -> &Context {
        self.ctx
            .as_ref()
            .expect("moved out only after every extractor read it")
    }

    /// The `{name}` parameters the route's pattern captured (empty for an
    /// exact route).
    pub fn params(&self) -> Params {
        self.pattern
            .and_then(|p| p.captures(self.message().uri()))
            .unwrap_or_default()
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("msg", &self.msg)
            .field("pattern", &self.pattern)
            .finish_non_exhaustive()
    }
}

/// An argument a typed handler can take, read from the [`Request`].
/// Implement it for your own extractors; an `Err` is the reply (use
/// [`HandlerError::rejected`] for "this message is unacceptable").
///
/// ```
/// use framewire::handler::HandlerError;
/// use framewire::server::{FromRequest, Request, Server};
/// use framewire::{Message, MessageType};
///
/// /// The content as text, refused when it is not UTF-8.
/// struct Text(String);
///
/// impl FromRequest for Text {
///     fn from_request(req: &Request<'_>) -> Result<Self, HandlerError> {
///         String::from_utf8(req.message().content().to_vec())
///             .map(Text)
///             .map_err(|_| HandlerError::rejected("content: not UTF-8"))
///     }
/// }
///
/// let server = Server::builder()
///     .on((MessageType::REQUEST_URI, "shout"), |Text(t): Text| async move {
///         Message::respond("shout", t.to_uppercase())
///     })
///     .build();
/// # drop(server);
/// ```
pub trait FromRequest: Sized {
    /// Reads the argument, or the reply that refuses the message.
    fn from_request(req: &Request<'_>) -> Result<Self, HandlerError>;
}

/// What a typed handler's argument is: every [`FromRequest`], plus
/// [`Message`] and [`Context`] (moved out, not cloned). Implement
/// [`FromRequest`], not this.
pub trait Extract: Sized {
    /// What the first step kept.
    #[doc(hidden)]
    type Read;
    /// The first step: reads what it needs from the whole message.
    #[doc(hidden)]
    fn read(req: &Request<'_>) -> Result<Self::Read, HandlerError>;
    /// The second step: may move parts out of the request.
    #[doc(hidden)]
    fn finish(read: Self::Read, req: &mut Request<'_>) -> Result<Self, HandlerError>;
}

impl<T: FromRequest> Extract for T {
    type Read = T;
    fn read(req: &Request<'_>) -> Result<T, HandlerError> {
        T::from_request(req)
    }
    fn finish(read: T, _: &mut Request<'_>) -> Result<T, HandlerError> {
        Ok(read)
    }
}

impl Extract for Message {
    type Read = ();
    fn read(_: &Request<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
    fn finish((): (), req: &mut Request<'_>) -> Result<Message, HandlerError> {
        req.msg
            .take()
            .ok_or_else(|| HandlerError::from("a handler takes its Message argument once"))
    }
}

impl Extract for Context {
    type Read = ();
    fn read(_: &Request<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
    fn finish((): (), req: &mut Request<'_>) -> Result<Context, HandlerError> {
        Ok(match req.ctx.take() {
            Some(ctx) => ctx,
            None => unreachable_context(),
        })
    }
}

/// A second `Context` argument: the request gave its one away. Handlers
/// with two are a programming error every call would hit, so it is loud.
fn unreachable_context() -> Context {
    panic!("a handler takes its Context argument once")
}

impl FromRequest for Params {
    fn from_request(req: &Request<'_>) -> Result<Self, HandlerError> {
        Ok(req.params())
    }
}

impl<T: FromRequest> FromRequest for Option<T> {
    fn from_request(req: &Request<'_>) -> Result<Self, HandlerError> {
        Ok(T::from_request(req).ok())
    }
}

/// The identity the connection proved (a user's key, a client
/// certificate); a connection without one is answered NOT_PERMITTED.
/// Take `Option<Identity>` to serve both.
impl FromRequest for Identity {
    fn from_request(req: &Request<'_>) -> Result<Self, HandlerError> {
        req.context()
            .identity()
            .cloned()
            .ok_or_else(|| HandlerError::not_permitted("this route needs an identity"))
    }
}

/// The route's one `{name}` parameter, parsed as `T` (`Path<String>`,
/// `Path<u64>`): a value that does not parse is refused with the reason.
/// For several parameters take [`Params`].
///
/// ```
/// use framewire::auth::Pattern;
/// use framewire::server::{Path, Server};
/// use framewire::{Message, MessageType, RouteKey};
///
/// let item = RouteKey::pattern(MessageType::REQUEST_URI, "items/{id}").unwrap();
/// let server = Server::builder()
///     .on(item, |Path(id): Path<u32>| async move {
///         Message::respond(format!("items/{id}"), format!("item {id}"))
///     })
///     .build();
/// # drop(server);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Path<T>(pub T);

impl<T> FromRequest for Path<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    fn from_request(req: &Request<'_>) -> Result<Self, HandlerError> {
        let params = req.params();
        let Some((name, text)) = params.iter().next() else {
            return Err(HandlerError::from("the route has no {name} parameter"));
        };
        text.parse::<T>().map(Path).map_err(|e| {
            let why: String = e.to_string().chars().take(128).collect();
            HandlerError::rejected(format!("{name}: {why}"))
        })
    }
}

/// Shared state given to [`ServerBuilder::state`](super::ServerBuilder::state),
/// cloned for the call (keep it cheap to clone: an `Arc`, a handle).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use framewire::server::{Server, State};
/// use framewire::{Message, MessageType};
///
/// let hits = Arc::new(Mutex::new(0u64));
/// let server = Server::builder()
///     .state(hits)
///     .on((MessageType::REQUEST_URI, "hits"), |State(hits): State<Arc<Mutex<u64>>>| async move {
///         let mut n = hits.lock().unwrap();
///         *n += 1;
///         Message::respond("hits", n.to_string())
///     })
///     .build();
/// # drop(server);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct State<S>(pub S);

impl<S: Clone + Send + Sync + 'static> FromRequest for State<S> {
    fn from_request(req: &Request<'_>) -> Result<Self, HandlerError> {
        req.context()
            .server()
            .state::<S>()
            .map(State)
            .ok_or_else(|| {
                HandlerError::from(format!(
                    "no state of type {} was given to the server",
                    std::any::type_name::<S>()
                ))
            })
    }
}

/// The values given to `ServerBuilder::state`, one per type.
#[derive(Default, Clone)]
pub(crate) struct States(Vec<(TypeId, Arc<dyn Any + Send + Sync>)>);

impl States {
    pub(crate) fn insert<S: Send + Sync + 'static>(&mut self, value: S) {
        let id = TypeId::of::<S>();
        self.0.retain(|(t, _)| *t != id);
        self.0.push((id, Arc::new(value)));
    }

    pub(crate) fn get<S: Clone + 'static>(&self) -> Option<S> {
        let id = TypeId::of::<S>();
        self.0
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| v.downcast_ref::<S>())
            .cloned()
    }
}

#[cfg(feature = "json")]
impl<T: serde::de::DeserializeOwned> FromRequest for crate::content::Json<T> {
    fn from_request(req: &Request<'_>) -> Result<Self, HandlerError> {
        crate::content::from_json(req.message().content())
            .map(crate::content::Json)
            .map_err(HandlerError::rejected)
    }
}

#[cfg(feature = "msgpack")]
impl<T: serde::de::DeserializeOwned> FromRequest for crate::content::MsgPack<T> {
    fn from_request(req: &Request<'_>) -> Result<Self, HandlerError> {
        crate::content::from_msgpack(req.message().content())
            .map(crate::content::MsgPack)
            .map_err(HandlerError::rejected)
    }
}

#[cfg(any(feature = "json", feature = "msgpack"))]
impl<T: FromRequest + crate::content::Validated> FromRequest for crate::content::Valid<T> {
    fn from_request(req: &Request<'_>) -> Result<Self, HandlerError> {
        let value = T::from_request(req)?;
        value
            .validate_inner()
            .map_err(|e| HandlerError::rejected(crate::content::ContentError::from(e)))?;
        Ok(crate::content::Valid(value))
    }
}

/// What `on`, `once` and their kin accept: a [`Handler`], or an async
/// function of extractors (see the [module docs](self)). `Args` only tells
/// the two apart; it is inferred.
pub trait IntoHandler<Args>: Send + Sync + 'static {
    /// The handler for a route (its pattern, if it has one, is where
    /// [`Params`] come from).
    #[doc(hidden)]
    fn into_handler(self, pattern: Option<Pattern>) -> Arc<dyn Handler>;
}

/// `Args` of a type implementing [`Handler`] itself.
#[doc(hidden)]
#[derive(Debug)]
pub enum ByHandler {}

/// `Args` of an async function of extractors.
#[doc(hidden)]
#[derive(Debug)]
pub enum ByExtractors {}

impl<H: Handler> IntoHandler<ByHandler> for H {
    fn into_handler(self, _: Option<Pattern>) -> Arc<dyn Handler> {
        Arc::new(self)
    }
}

/// An async function of extractors as a [`Handler`].
struct Typed<F, A> {
    f: F,
    pattern: Option<Pattern>,
    args: PhantomData<fn() -> A>,
}

/// The reply of a typed handler's result: with the request's head when
/// the result needs it (typed content picks RESPOND_URI or OK and takes
/// the uri), without an extra reference otherwise.
async fn reply<R: IntoReply>(
    fut: impl Future<Output = R>,
    head: Option<RequestHead>,
) -> Result<Option<Message>, HandlerError> {
    let r = fut.await;
    match head {
        Some(head) => r.into_reply_to(&head),
        None => r.into_reply(),
    }
}

macro_rules! typed_handler {
    ($($t:ident),*) => {
        // The closure called in place gives the extraction steps `?`.
        #[allow(non_snake_case, unused_variables, unused_mut, clippy::redundant_closure_call)]
        impl<F, Fut, R, $($t,)*> Handler for Typed<F, ($($t,)*)>
        where
            F: Fn($($t),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoReply + 'static,
            $($t: Extract + 'static,)*
        {
            fn call(&self, msg: Message, ctx: Context) -> BoxFuture<Result<Option<Message>, HandlerError>> {
                let head = R::NEEDS_REQUEST.then(|| RequestHead::of(&msg));
                let mut req = Request { msg: Some(msg), ctx: Some(ctx), pattern: self.pattern.as_ref() };
                let args = (|| {
                    $(let $t = $t::read(&req)?;)*
                    $(let $t = $t::finish($t, &mut req)?;)*
                    Ok::<_, HandlerError>(($($t,)*))
                })();
                match args {
                    Ok(($($t,)*)) => Box::pin(reply((self.f)($($t),*), head)),
                    Err(e) => Box::pin(async move { Err(e) }),
                }
            }
        }

        impl<F, Fut, R, $($t,)*> IntoHandler<(ByExtractors, $($t,)*)> for F
        where
            F: Fn($($t),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoReply + 'static,
            $($t: Extract + 'static,)*
        {
            fn into_handler(self, pattern: Option<Pattern>) -> Arc<dyn Handler> {
                Arc::new(Typed::<F, ($($t,)*)> { f: self, pattern, args: PhantomData })
            }
        }
    };
}

typed_handler!();
typed_handler!(T1);
typed_handler!(T1, T2);
typed_handler!(T1, T2, T3);
typed_handler!(T1, T2, T3, T4);
typed_handler!(T1, T2, T3, T4, T5);
typed_handler!(T1, T2, T3, T4, T5, T6);

#[cfg(test)]
mod tests {
    use super::States;

    #[test]
    fn a_second_state_of_one_type_replaces_the_first_and_keeps_the_others() {
        let mut states = States::default();
        states.insert(1u32);
        states.insert(String::from("kept"));
        states.insert(2u32);
        assert_eq!(states.get::<u32>(), Some(2));
        assert_eq!(states.get::<String>().as_deref(), Some("kept"));
        assert_eq!(states.get::<u64>(), None);
        assert_eq!(states.0.len(), 2, "one value per type");
    }
}
