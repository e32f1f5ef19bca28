//! The layers `ServerBuilder::layer` wraps every route's handler in
//! (feature `tower`; without it there are none and wrapping is the
//! identity), applied to routes registered before and after, the default
//! handler, and routes added while serving. It builds on the server's
//! tower adapters (`tower.rs`) and owns no I/O.

use std::future::ready;
use std::sync::Arc;

#[cfg(feature = "tower")]
use tower::{Layer, Service};

use crate::handler::{BoxFuture, HandlerError};
use crate::wire::Message;

#[cfg(feature = "tower")]
use super::tower::{service, BoxError, HandlerRequest, HandlerService};
use super::{Context, Handler, SyncHandler};

/// One layer as a function of the service below it.
#[cfg(feature = "tower")]
type LayerFn = Arc<dyn Fn(HandlerService) -> HandlerService + Send + Sync>;

/// The layers every route's handler is wrapped in, innermost first.
#[derive(Default, Clone)]
pub(crate) struct Layers {
    #[cfg(feature = "tower")]
    stack: Vec<LayerFn>,
}

impl Layers {
    /// `handler` inside every layer, as one tower stack (so each layer sees
    /// the readiness of those below it), called through one
    /// `server::tower::service`.
    pub(crate) fn wrap(&self, handler: Arc<dyn Handler>) -> Arc<dyn Handler> {
        #[cfg(feature = "tower")]
        if !self.stack.is_empty() {
            let svc = self
                .stack
                .iter()
                .fold(HandlerService::from_arc(handler), |svc, layer| layer(svc));
            return Arc::new(service(svc));
        }
        handler
    }

    pub(crate) fn is_empty(&self) -> bool {
        #[cfg(feature = "tower")]
        return self.stack.is_empty();
        #[cfg(not(feature = "tower"))]
        true
    }

    /// Adds `layer` around everything added before it.
    #[cfg(feature = "tower")]
    pub(crate) fn push<L>(&mut self, layer: L)
    where
        L: Layer<HandlerService> + Send + Sync + 'static,
        L::Service: Service<HandlerRequest, Response = Option<Message>> + Send + 'static,
        <L::Service as Service<HandlerRequest>>::Error: Into<BoxError>,
        <L::Service as Service<HandlerRequest>>::Future: Send + 'static,
    {
        self.stack
            .push(Arc::new(move |svc| HandlerService::boxed(layer.layer(svc))));
    }
}

/// A sync handler as an async one, so a layer can wrap it.
pub(crate) struct SyncAsAsync(pub(crate) Arc<dyn SyncHandler>);

impl Handler for SyncAsAsync {
    fn call(&self, msg: Message, ctx: Context) -> BoxFuture<Result<Option<Message>, HandlerError>> {
        Box::pin(ready(self.0.call(msg, &ctx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_layers_is_empty_and_a_layer_is_not() {
        let mut layers = Layers::default();
        assert!(layers.is_empty());
        #[cfg(feature = "tower")]
        {
            layers.push(tower::layer::util::Identity::new());
            assert!(!layers.is_empty());
        }
        let _ = &mut layers;
    }
}
