//! [`ClientBuilder`]: where the client connects, with which plugins,
//! timeouts, reconnection, keepalive and handlers.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::auth::PluginLayer;
use crate::proto::pipeline::{Pipeline, Side};
use crate::router::{RouteKey, Router};
use crate::transport::{Connector, TcpConnector};
use crate::wire::{FrameConfig, Profile};

use super::config::Config;
use super::pending::{Budget, Pending};
use super::subscription::Topics;
use super::{
    connection, Client, ClientError, ClientHandler, ConnectionEvent, Inner, Keepalive,
    OfflineBuffer, Outlet, Reconnect,
};

/// How the builder was told to dial; made into a connector at `connect`,
/// when the keepalive setting is final.
enum Transport {
    Tcp,
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsConnector),
    Custom(Arc<dyn Connector>),
}

impl Transport {
    fn into_connector(self, keepalive: Option<Keepalive>) -> Arc<dyn Connector> {
        let tcp = TcpConnector::new().keepalive(keepalive.map(|k| k.tcp()));
        match self {
            Transport::Tcp => Arc::new(tcp),
            #[cfg(feature = "tls")]
            Transport::Tls(tls) => Arc::new(tls.tcp(tcp)),
            Transport::Custom(c) => c,
        }
    }
}

/// Builds a [`Client`]; from [`Client::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use framewire::client::{Client, Keepalive, Reconnect};
/// use framewire::{NetaioHmac, PluginLayer};
///
/// # async fn demo() -> Result<(), framewire::client::ClientError> {
/// let client = Client::builder("127.0.0.1:8888")
///     .plugins(PluginLayer::new().with_auth(NetaioHmac::new("secret")))
///     .request_timeout(Duration::from_secs(5))
///     .reconnect(Reconnect::default().max_attempts(10))
///     .keepalive(Some(Keepalive::default()))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
pub struct ClientBuilder {
    config: Config,
    transport: Transport,
    router: Router<Arc<dyn ClientHandler>>,
    events: broadcast::Sender<ConnectionEvent>,
    check_credentials: bool,
}

impl ClientBuilder {
    pub(super) fn new(servers: Vec<String>) -> Self {
        ClientBuilder {
            config: Config::new(servers),
            transport: Transport::Tcp,
            router: Router::new(),
            events: broadcast::channel(64).0,
            check_credentials: true,
        }
    }

    /// Whether [`connect`](Self::connect), when the client has an auth
    /// plugin, proves its credentials with one signed ping before it
    /// returns (default `true`): a server that answers AUTH_ERROR (a
    /// wrong secret, an unknown user) fails the connect with the error
    /// for which [`ClientError::is_auth_error`] holds, instead of the
    /// first request. Costs one round trip at connect, waited for at
    /// most the connect timeout (silence passes, as does a netaio
    /// server's NOT_FOUND).
    pub fn check_credentials(mut self, check: bool) -> Self {
        self.check_credentials = check;
        self
    }

    /// Frame profile (default `netaio`); must match the server's.
    pub fn profile(mut self, profile: Profile) -> Self {
        let frame = self.config.frame;
        let custom_max = frame.max_frame_len != frame.profile.default_max_frame_len();
        self.config.frame = FrameConfig::new(profile);
        if custom_max {
            self.config.frame = self.config.frame.max_frame_len(frame.max_frame_len);
        }
        self
    }

    /// Largest frame accepted from the server.
    pub fn max_frame_len(mut self, n: usize) -> Self {
        self.config.frame = self.config.frame.max_frame_len(n);
        self
    }

    /// Auth and cipher plugins for everything sent and received.
    pub fn plugins(mut self, layer: PluginLayer) -> Self {
        self.config.layer = layer;
        self
    }

    /// Default timeout of [`Client::request`] and friends (default 10 s,
    /// as netaio).
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.config.request_timeout = d;
        self
    }

    /// Time allowed for each TCP connect (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }

    /// Reconnection policy (default: [`Reconnect::default`]).
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.config.reconnect = policy;
        self
    }

    /// Keeps what is sent while the client is reconnecting (requests,
    /// [`send`](Client::send)s) within `limits`, and sends it first, in
    /// order, on the next connection (default: [`OfflineBuffer::default`]).
    /// A message that does not fit fails at once with
    /// [`ClientError::OfflineBufferFull`]; one kept past
    /// [`OfflineBuffer::max_age`] is not sent: a request fails with
    /// [`ClientError::ConnectionLost`], a `send` is counted in
    /// [`Client::offline_dropped`] and reported as
    /// [`ConnectionEvent::OfflineDropped`]. `None` turns the buffer off: a
    /// message sent while disconnected fails with `ConnectionLost`.
    /// Requests already sent when a connection is lost fail with
    /// `ConnectionLost` either way (whether the server acted on them is
    /// unknown).
    ///
    /// ```
    /// use framewire::client::{Client, OfflineBuffer};
    ///
    /// let builder = Client::builder("127.0.0.1:8888")
    ///     .offline_buffer(Some(OfflineBuffer::default().max_messages(100)));
    /// # drop(builder);
    /// ```
    pub fn offline_buffer(mut self, limits: Option<OfflineBuffer>) -> Self {
        self.config.offline = limits;
        self
    }

    /// Makes [`connect`](Self::connect) keep trying (by the reconnect
    /// policy, round the server list) instead of failing when no server
    /// answers the first round: for clients that may start before their
    /// servers.
    pub fn retry_first_connect(mut self, retry: bool) -> Self {
        self.config.retry_first_connect = retry;
        self
    }

    /// When a server asks its clients to move (a graceful shutdown), how
    /// long the client stays subscribed on it after the next server has
    /// confirmed its subscriptions (default 250 ms). Both deliver meanwhile
    /// (a notification heard twice is delivered once), so a notification
    /// is lost only if the two servers got it from their backplane more
    /// than this apart. Longer keeps the draining server up longer.
    pub fn handover_overlap(mut self, d: Duration) -> Self {
        self.config.handover = d;
        self
    }

    /// Keepalive (default: [`Keepalive::default`]); `None` turns it off.
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.config.keepalive = keepalive;
        self
    }

    /// Notifications buffered per subscription before new ones are dropped
    /// (default 1 024).
    pub fn subscription_buffer(mut self, n: usize) -> Self {
        self.config.subscription_buffer = n.max(1);
        self
    }

    /// Requests that may wait for their reply at once (default
    /// [`DEFAULT_MAX_PENDING_REQUESTS`](super::DEFAULT_MAX_PENDING_REQUESTS)).
    /// One more fails at once with [`ClientError::TooManyPending`]: memory
    /// stays bounded however many tasks share the client.
    pub fn max_pending_requests(mut self, n: usize) -> Self {
        self.config.max_pending_requests = n.max(1);
        self
    }

    /// Handles unsolicited messages matching `key` (keyed like the
    /// server's routes; the peer in a `TypeUriPeer` key is the server's
    /// address). Handlers run in order on their own task, never blocking
    /// the reader; a returned message is sent to the server.
    pub fn on(self, key: impl Into<RouteKey>, handler: impl ClientHandler) -> Self {
        self.router.on(key.into(), Arc::new(handler));
        self
    }

    /// Like [`on`](Self::on), for the next matching message only.
    pub fn once(self, key: impl Into<RouteKey>, handler: impl ClientHandler) -> Self {
        self.router.once(key.into(), Arc::new(handler));
        self
    }

    /// The writer's stall limit (30 s; not public: the tests shorten it).
    #[cfg(test)]
    pub(super) fn write_timeout(mut self, d: Duration) -> Self {
        self.config.write_timeout = d;
        self
    }

    /// Dials through `connector` instead of plain TCP (see
    /// [`transport`](crate::transport)); every reconnection uses it too.
    pub fn connector(mut self, connector: impl Connector) -> Self {
        self.transport = Transport::Custom(Arc::new(connector));
        self
    }

    /// Dials TLS with `config` (see
    /// [`tls::client_config`](crate::tls::client_config)), expecting the
    /// server's certificate to be valid for `server_name`. The connect
    /// timeout covers the handshake; reconnection and keepalive work as
    /// over TCP.
    ///
    /// ```no_run
    /// use std::path::Path;
    /// use framewire::{client::Client, tls};
    ///
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = tls::client_config(tls::root_store_from_pem(Path::new("ca.pem"))?, None)?;
    /// let client = Client::builder("127.0.0.1:8888")
    ///     .tls(config, "localhost".try_into()?)
    ///     .connect()
    ///     .await?;
    /// # drop(client); Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(
        mut self,
        config: Arc<rustls::ClientConfig>,
        server_name: rustls::pki_types::ServerName<'static>,
    ) -> Self {
        self.transport = Transport::Tls(crate::tls::TlsConnector::new(config, server_name));
        self
    }

    /// Logs in with `content` (a token, say) first on every connection,
    /// for a server with a login gate
    /// ([`ServerBuilder::login`](crate::server::ServerBuilder::login)); the
    /// login message also carries
    /// [`PROTOCOL_VERSION`](crate::protocol::PROTOCOL_VERSION). It goes
    /// out before anything else on the connection. [`connect`](Self::connect)
    /// waits for the answer and fails if the login is refused (the
    /// server's reason is in the error's reply); after a reconnection a
    /// refusal is logged, and the server closes the connection.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), framewire::client::ClientError> {
    /// let client = framewire::client::Client::builder("127.0.0.1:8888")
    ///     .login("let me in")
    ///     .connect()
    ///     .await?;
    /// # drop(client); Ok(()) }
    /// ```
    pub fn login(mut self, content: impl Into<bytes::Bytes>) -> Self {
        self.config.login = Some(content.into());
        self
    }

    /// netaio's peer management (`manage_peers_automatically`) as `local`:
    /// every connection starts with an ADVERTISE_PEER (after the login,
    /// if any), [`Client::close`] sends DISCONNECT, and what servers
    /// announce for `local`'s app id is listed by [`Client::peers`].
    ///
    /// ```no_run
    /// use framewire::client::Client;
    /// use framewire::peer::LocalPeer;
    ///
    /// # async fn demo() -> Result<(), framewire::client::ClientError> {
    /// let client = Client::builder("127.0.0.1:8888")
    ///     .peer(LocalPeer::random().with_fields([("name", "worker-7")]))
    ///     .connect()
    ///     .await?;
    /// for server in client.peers() {
    ///     println!("{:?} at {}", server.id, server.addr);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn peer(self, local: crate::peer::LocalPeer) -> Self {
        let (mut builder, peers) = super::peers::register(self, local);
        builder.config.peers = Some(peers);
        builder
    }

    /// Connection events from the very first connection on; see
    /// [`Client::events`], which only sees events after it is called.
    pub fn events(&self) -> broadcast::Receiver<ConnectionEvent> {
        self.events.subscribe()
    }

    /// Connects to the first server of the list that answers (each tried
    /// once, in order, unless [`retry_first_connect`](Self::retry_first_connect))
    /// and starts the background task.
    pub async fn connect(mut self) -> Result<Client, ClientError> {
        self.config.connector = self.transport.into_connector(self.config.keepalive);
        let stream = connection::dial_first(&self.config, &self.events).await?;
        let (done_tx, done) = tokio::sync::watch::channel(false);
        let offline = self.config.offline;
        let pipeline = Pipeline::new(Side::Client, self.config.layer.clone(), self.config.frame);
        let budget = Budget::new(self.config.max_pending_requests);
        let inner = Arc::new(Inner {
            config: self.config,
            pipeline,
            router: self.router,
            pending: Mutex::new(Pending::new()),
            budget,
            topics: Mutex::new(Topics::default()),
            outlet: Mutex::new(Outlet::new(offline)),
            offline_dropped: AtomicU64::new(0),
            recent: Mutex::default(),
            resubscribed: tokio::sync::watch::channel(0).0,
            connections: AtomicU64::new(0),
            events: self.events,
            closed: CancellationToken::new(),
            done,
        });
        let mut ready = connection::start(&inner, stream);
        let login = ready.take_login();
        tokio::spawn(connection::run(inner.clone(), ready, done_tx));
        let client = Client { inner };
        if let Some(login) = login {
            if let Err(e) = login.outcome(&client.inner).await {
                client.close().await;
                return Err(e);
            }
        }
        // A wrong secret is found out here, not at the first request: one
        // signed ping, and an AUTH_ERROR for it fails the connect. Anything
        // else (a reply, netaio's NOT_FOUND, silence) leaves it to the
        // requests: a netaio server may drop what it cannot verify.
        if self.check_credentials && client.inner.config.layer.auth().is_some() {
            let ping = crate::protocol::ping();
            let wait = client.inner.config.connect_timeout;
            if let Err(e) = client.call_timeout(ping, wait).await {
                if e.is_auth_error() {
                    client.close().await;
                    return Err(e);
                }
            }
        }
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_keeps_a_custom_frame_limit_and_takes_its_own_default_otherwise() {
        let custom = ClientBuilder::new(Vec::new())
            .max_frame_len(1234)
            .profile(Profile::Wide);
        assert_eq!(custom.config.frame.max_frame_len, 1234);
        let plain = ClientBuilder::new(Vec::new()).profile(Profile::Wide);
        assert_eq!(
            plain.config.frame.max_frame_len,
            Profile::Wide.default_max_frame_len()
        );
    }
}
