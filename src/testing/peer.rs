//! [`TestPeer`]: one raw in-memory connection to a
//! [`TestServer`](super::TestServer), driven frame by frame or byte by
//! byte the way a hostile peer would, and [`Closed`]: how it ended.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio_util::codec::Framed;

use crate::codec::FrameCodec;
use crate::wire::{Message, MessageType, Profile};

use super::TestError;

/// A raw connection to a [`TestServer`](super::TestServer): frames in the
/// server's profile (no plugins: seal with your
/// [`PluginStack`](crate::auth::PluginStack) if the server checks), or
/// any bytes at all. Every wait is bounded by the server's
/// [`timeout`](super::TestServer::timeout).
///
/// ```
/// use framewire::server::Server;
/// use framewire::testing::TestServer;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let server = TestServer::new(Server::builder().build());
/// let mut peer = server.peer().unwrap();
/// // A netaio header announcing an unknown message type (14).
/// peer.send_raw([14, 0, 0, 0, 0, 0, 0, 0, 0]).await.unwrap();
/// let closed = peer.closed().await.unwrap();
/// assert!(closed.reason().unwrap().contains("unknown message type"));
/// # }
/// ```
#[derive(Debug)]
pub struct TestPeer {
    framed: Framed<DuplexStream, FrameCodec>,
    addr: SocketAddr,
    timeout: Duration,
}

impl TestPeer {
    pub(super) fn new(
        io: DuplexStream,
        addr: SocketAddr,
        profile: Profile,
        timeout: Duration,
    ) -> Self {
        TestPeer {
            framed: Framed::new(io, FrameCodec::new(profile)),
            addr,
            timeout,
        }
    }

    /// The address the server sees this peer at.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Encodes and sends `msg` (waiting, bounded, if the server is not
    /// reading).
    pub async fn send(&mut self, msg: Message) -> Result<(), TestError> {
        let timeout = self.timeout;
        bounded(timeout, self.framed.send(msg))
            .await?
            .map_err(TestError::from)
    }

    /// Sends `bytes` as they are: a truncated header, a lying length, a
    /// frame split at any byte.
    pub async fn send_raw(&mut self, bytes: impl AsRef<[u8]>) -> Result<(), TestError> {
        let timeout = self.timeout;
        let io = self.framed.get_mut();
        let write = async {
            io.write_all(bytes.as_ref()).await?;
            io.flush().await
        };
        bounded(timeout, write)
            .await?
            .map_err(|e| TestError::Codec(e.into()))
    }

    /// The next message from the server. [`TestError::Closed`] if the
    /// server closed the connection first, [`TestError::Timeout`] if
    /// nothing came in time.
    pub async fn recv(&mut self) -> Result<Message, TestError> {
        let timeout = self.timeout;
        match bounded(timeout, self.framed.next()).await? {
            None => Err(TestError::Closed { before: Vec::new() }),
            Some(Err(e)) => Err(TestError::Codec(e)),
            Some(Ok(Err(damaged))) => Err(TestError::Damaged(damaged)),
            Some(Ok(Ok(msg))) => Ok(msg),
        }
    }

    /// Sends `msg` and returns the next message.
    pub async fn call(&mut self, msg: Message) -> Result<Message, TestError> {
        self.send(msg).await?;
        self.recv().await
    }

    /// Reads until the server closes the connection and returns what
    /// came before; [`TestError::NotClosed`] if it is still open when the
    /// kit's timeout runs out.
    pub async fn closed(&mut self) -> Result<Closed, TestError> {
        let mut messages = Vec::new();
        let timeout = self.timeout;
        let read_all = async {
            loop {
                match self.framed.next().await {
                    None | Some(Err(_)) => return Ok(()),
                    Some(Ok(Err(damaged))) => return Err(TestError::Damaged(damaged)),
                    Some(Ok(Ok(msg))) => messages.push(msg),
                }
            }
        };
        match tokio::time::timeout(timeout, read_all).await {
            Ok(Ok(())) => Ok(Closed { messages }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(TestError::NotClosed { got: messages }),
        }
    }

    /// Hangs up the sending side (the peer's FIN); reading goes on.
    pub async fn hang_up(&mut self) -> Result<(), TestError> {
        let timeout = self.timeout;
        bounded(timeout, self.framed.get_mut().shutdown())
            .await?
            .map_err(|e| TestError::Codec(e.into()))
    }
}

/// How a connection ended, as its peer saw it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Closed {
    /// Every message that arrived before the close, in order.
    pub messages: Vec<Message>,
}

impl Closed {
    /// The server's last word, if the last message was an ERROR: the
    /// reason it gave for closing (the server sends one when it closes for
    /// a deadline, a decode error or a cap; never for a plain hang-up).
    ///
    /// ```
    /// use framewire::testing::Closed;
    /// # fn demo(closed: Closed) {
    /// if let Some(why) = closed.reason() {
    ///     println!("closed: {why}");
    /// }
    /// # }
    /// ```
    pub fn reason(&self) -> Option<String> {
        let last = self.messages.last()?;
        (last.message_type == MessageType::ERROR)
            .then(|| String::from_utf8_lossy(last.content()).into_owned())
    }
}

async fn bounded<F: Future>(timeout: Duration, f: F) -> Result<F::Output, TestError> {
    tokio::time::timeout(timeout, f)
        .await
        .map_err(|_| TestError::Timeout(timeout))
}
