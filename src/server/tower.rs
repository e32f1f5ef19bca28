//! tower on the server (feature `tower`): a route's handler as a
//! [`tower::Service`] ([`HandlerService`]), any service of
//! [`HandlerRequest`]s as a handler ([`service`]), and
//! [`ServerBuilder::layer`](super::ServerBuilder::layer), which wraps every
//! route's handler in a [`tower::Layer`] — tower's timeout, concurrency
//! limit, rate limit and load shedding, or your own.
//!
//! Each route gets its own instance of a layer's service: a
//! `ConcurrencyLimitLayer::new(8)` allows 8 calls at once per route; for
//! one limit over every route share a semaphore
//! (`GlobalConcurrencyLimitLayer::with_semaphore`). A service's
//! readiness is waited for per call (`poll_ready` then `call`, one caller
//! at a time), so a rate limit delays calls and a load shedder refuses
//! them at once. Its errors become ERROR replies: tower's timeout answers
//! `request timed out`, the load shedder `service overloaded`; a
//! handler's own error keeps its reply type (NOT_FOUND stays NOT_FOUND).

use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use tower::{Service, ServiceExt};

use crate::handler::{BoxFuture, HandlerError};
use crate::wire::Message;

use super::extract::IntoHandler;
use super::{Context, Handler};

/// What a route's service is called with: the message and its
/// connection's context.
#[derive(Debug)]
pub struct HandlerRequest {
    /// The message.
    pub msg: Message,
    /// Its connection.
    pub ctx: Context,
}

/// The error type between layers: tower's (`tower::BoxError`).
pub type BoxError = tower::BoxError;

/// A handler's own error, carried through the layers as a
/// [`BoxError`] so its reply type survives them.
#[derive(Debug)]
pub struct HandlerFailure(pub HandlerError);

impl fmt::Display for HandlerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for HandlerFailure {}

/// The handler error a layer's error becomes: a handler's own, as it
/// was; anything else (tower's `Elapsed`, `Overloaded`, yours) ERROR with
/// its text.
fn from_box(e: BoxError) -> HandlerError {
    match e.downcast::<HandlerFailure>() {
        Ok(own) => own.0,
        Err(other) => HandlerError::from(other),
    }
}

/// A route's handler as a [`tower::Service`]: what a [`tower::Layer`] given to
/// `ServerBuilder::layer` wraps (boxed, so every layer sees one type; its
/// readiness is the layers' below it, a handler itself is always ready).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use framewire::server::tower::HandlerService;
/// use framewire::Message;
///
/// let svc = HandlerService::new(|m: Message| async move {
///     Message::respond("echo", m.content().clone())
/// });
/// # drop(svc); }
/// ```
pub struct HandlerService(tower::util::BoxService<HandlerRequest, Option<Message>, BoxError>);

/// A handler with nothing around it: always ready.
#[derive(Clone)]
struct Leaf(Arc<dyn Handler>);

impl Service<HandlerRequest> for Leaf {
    type Response = Option<Message>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Option<Message>, BoxError>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: HandlerRequest) -> Self::Future {
        let fut = self.0.call(req.msg, req.ctx);
        Box::pin(async move {
            fut.await
                .map_err(|e| Box::new(HandlerFailure(e)) as BoxError)
        })
    }
}

impl HandlerService {
    /// Any handler (an async function of extractors, a [`Handler`]).
    pub fn new<A>(handler: impl IntoHandler<A>) -> Self {
        Self::from_arc(handler.into_handler(None))
    }

    /// Any service of the right shape, boxed.
    pub fn boxed<S>(svc: S) -> Self
    where
        S: Service<HandlerRequest, Response = Option<Message>> + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        HandlerService(tower::util::BoxService::new(svc.map_err(Into::into)))
    }

    pub(crate) fn from_arc(handler: Arc<dyn Handler>) -> Self {
        HandlerService(tower::util::BoxService::new(Leaf(handler)))
    }
}

impl fmt::Debug for HandlerService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HandlerService")
    }
}

impl Service<HandlerRequest> for HandlerService {
    type Response = Option<Message>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Option<Message>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: HandlerRequest) -> Self::Future {
        Box::pin(self.0.call(req))
    }
}

/// A [`tower::Service`] of [`HandlerRequest`]s as a handler: register it
/// with `on` like any other. Each call waits for the service to be ready,
/// one caller at a time, then runs without holding it.
///
/// ```
/// use framewire::server::tower::{service, HandlerRequest};
/// use framewire::server::Server;
/// use framewire::{Message, MessageType};
///
/// let echo = tower::service_fn(|req: HandlerRequest| async move {
///     Ok::<_, tower::BoxError>(Some(Message::respond("echo", req.msg.content().clone())))
/// });
/// let server = Server::builder().on((MessageType::REQUEST_URI, "echo"), service(echo)).build();
/// # drop(server);
/// ```
pub fn service<S>(svc: S) -> ServiceHandler<S>
where
    S: Service<HandlerRequest, Response = Option<Message>> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    ServiceHandler(Arc::new(tokio::sync::Mutex::new(svc)))
}

/// What [`service`] makes.
pub struct ServiceHandler<S>(Arc<tokio::sync::Mutex<S>>);

impl<S> fmt::Debug for ServiceHandler<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServiceHandler")
    }
}

impl<S> Handler for ServiceHandler<S>
where
    S: Service<HandlerRequest, Response = Option<Message>> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn call(&self, msg: Message, ctx: Context) -> BoxFuture<Result<Option<Message>, HandlerError>> {
        let svc = self.0.clone();
        Box::pin(async move {
            let fut = {
                let mut svc = svc.lock().await;
                let ready = svc.ready().await.map_err(|e| from_box(e.into()))?;
                ready.call(HandlerRequest { msg, ctx })
            };
            fut.await.map_err(|e| from_box(e.into()))
        })
    }
}
