//! Handlers for messages the server sends unasked.

use std::future::Future;

use crate::handler::{BoxFuture, HandlerError, IntoReply};
use crate::wire::Message;

use super::Client;

/// A client-side handler: an async function of the message and the client.
/// A returned message is sent to the server (netaio's TCPClient drops
/// handler results; framewire sends them).
///
/// ```no_run
/// use framewire::client::Client;
/// use framewire::{Message, MessageType};
///
/// # async fn demo() -> Result<(), framewire::client::ClientError> {
/// let client = Client::builder("127.0.0.1:8888")
///     .on(MessageType::NOTIFY_URI, |msg: Message, _client: Client| async move {
///         println!("notification on {:?}", msg.uri());
///     })
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
pub trait ClientHandler: Send + Sync + 'static {
    /// Handles one message.
    fn call(
        &self,
        msg: Message,
        client: Client,
    ) -> BoxFuture<Result<Option<Message>, HandlerError>>;
}

impl<F, Fut, R> ClientHandler for F
where
    F: Fn(Message, Client) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoReply,
{
    fn call(
        &self,
        msg: Message,
        client: Client,
    ) -> BoxFuture<Result<Option<Message>, HandlerError>> {
        let fut = self(msg, client);
        Box::pin(async move { fut.await.into_reply() })
    }
}
