//! [`ServerBuilder`]: routes, plugins, profile, limits and hooks, fixed
//! before the server starts (routes may still change through the handle).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::PluginLayer;
use crate::proto::pipeline::{Caps, Pipeline, Side};
use crate::router::{RouteKey, Router};
use crate::wire::{FrameConfig, Message, MessageType, Profile};

use super::backplane::{self, Relay};
use super::registry::{Registry, SubscriptionCaps};
use super::shared::{Hook, Shared};
use super::stats::Counters;
use super::{
    keyed, keyed_async, pubsub, route, sync_route, Backplane, ConnectionInfo, Context, IntoHandler,
    Limits, LoginGate, Route, Server, ServerHandle, SyncHandler,
};

/// netaio's `not_found_handler`: NOT_FOUND, uri `""`, content `not found`.
async fn not_found(_msg: Message, _ctx: Context) -> Message {
    Message::not_found("")
}

/// Builds a [`Server`]; from [`Server::builder`].
///
/// ```
/// use std::time::Duration;
/// use framewire::server::{Context, Limits, Server};
/// use framewire::{Message, MessageType, NetaioHmac, PluginLayer, Profile};
///
/// let server = Server::builder()
///     .profile(Profile::Netaio)
///     .plugins(PluginLayer::new().with_auth(NetaioHmac::new("secret")))
///     .limits(Limits::default().idle_timeout(Duration::from_secs(60)))
///     .on((MessageType::REQUEST_URI, "echo"), |m: Message, _c: Context| async move {
///         Message::respond("echo", m.content().clone())
///     })
///     .subscriptions()
///     .build();
/// # drop(server);
/// ```
pub struct ServerBuilder {
    router: Router<Route>,
    default: Route,
    layer: PluginLayer,
    profile: Profile,
    limits: Limits,
    on_join: Option<Hook>,
    on_leave: Option<Hook>,
    login: Option<Arc<dyn LoginGate>>,
    min_version: Option<u64>,
    backplane: Option<Arc<dyn Backplane>>,
    instance_id: Option<String>,
    peers: Option<Arc<super::peers::Peers>>,
    timed: bool,
    states: super::extract::States,
    layers: super::layers::Layers,
    history: Option<super::History>,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
    #[cfg(feature = "tls")]
    certificate_name: crate::tls::CertificateName,
}

impl ServerBuilder {
    pub(super) fn new() -> Self {
        ServerBuilder {
            router: Router::new(),
            default: route(not_found, None, None),
            layer: PluginLayer::new(),
            profile: Profile::Netaio,
            limits: Limits::default(),
            on_join: None,
            on_leave: None,
            login: None,
            min_version: None,
            backplane: None,
            instance_id: None,
            peers: None,
            timed: super::metrics::TIMED,
            states: Default::default(),
            layers: Default::default(),
            history: None,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            certificate_name: crate::tls::CertificateName::default(),
        }
    }

    /// Answers SUBSCRIBE_URI and UNSUBSCRIBE_URI the way netaio's readme
    /// does: (un)subscribes the connection to the message's uri and replies
    /// CONFIRM_SUBSCRIBE / CONFIRM_UNSUBSCRIBE with that uri. A subscription
    /// past [`Limits::max_subscriptions_per_connection`] (or a topic or byte
    /// bound: [`Limits::max_topic_len`],
    /// [`Limits::max_subscription_bytes_per_connection`],
    /// [`Limits::max_subscription_bytes`]) is answered with an ERROR
    /// carrying the uri and counted in
    /// [`Stats::subscriptions_refused`](super::Stats::subscriptions_refused). Later [`on`](Self::on) calls for those types
    /// replace these.
    ///
    /// ```
    /// use framewire::server::Server;
    /// use framewire::{Message, MessageType};
    ///
    /// let server = Server::builder().subscriptions().build();
    /// let handle = server.handle();
    /// // Nobody has subscribed yet.
    /// let note = Message::new(MessageType::NOTIFY_URI, "news", "hello");
    /// assert_eq!(handle.notify("news", note).unwrap(), 0);
    /// ```
    pub fn subscriptions(self) -> Self {
        self.on_sync(MessageType::SUBSCRIBE_URI, pubsub::subscribe)
            .on_sync(MessageType::UNSUBSCRIBE_URI, pubsub::unsubscribe)
    }

    /// Makes subscriptions resumable: every notification on a topic
    /// carries its [`Position`](crate::protocol::Position) there and a
    /// copy is kept within `history`'s bounds; a client that reconnects
    /// resubscribes from the last position it delivered and is sent what
    /// it missed, or told how much the history no longer holds (see
    /// [`History`](super::History)). framewire's `Client` does this by
    /// itself; netaio clients keep today's behaviour. Costs a copy of
    /// each notification and a lock per topic while it is queued.
    ///
    /// ```
    /// use framewire::server::{History, Server};
    ///
    /// let server = Server::builder().subscriptions().history(History::default()).build();
    /// # drop(server);
    /// ```
    pub fn history(mut self, history: super::History) -> Self {
        self.history = Some(history);
        self
    }

    /// Handles messages matching `key` (see [`RouteKey`]).
    pub fn on<A>(self, key: impl Into<RouteKey>, handler: impl IntoHandler<A>) -> Self {
        {
            let (key, route) = keyed_async(key, handler, None);
            self.router.on(key, route)
        };
        self
    }

    /// Handles messages matching `key` with a [`SyncHandler`]: a plain
    /// function, called without a future (for work that never waits).
    pub fn on_sync(self, key: impl Into<RouteKey>, handler: impl SyncHandler) -> Self {
        {
            let (key, route) = keyed(key, sync_route(handler, None));
            self.router.on(key, route)
        };
        self
    }

    /// Like [`on`](Self::on), with a per-handler plugin layer stacked on the
    /// instance one (netaio's per-handler auth/cipher plugins).
    pub fn on_with<A>(
        self,
        key: impl Into<RouteKey>,
        handler: impl IntoHandler<A>,
        layer: PluginLayer,
    ) -> Self {
        {
            let (key, route) = keyed_async(key, handler, Some(layer));
            self.router.on(key, route)
        };
        self
    }

    /// Handles the next message matching `key`, then forgets the handler.
    pub fn once<A>(self, key: impl Into<RouteKey>, handler: impl IntoHandler<A>) -> Self {
        {
            let (key, route) = keyed_async(key, handler, None);
            self.router.once(key, route)
        };
        self
    }

    /// Like [`once`](Self::once), with a per-handler plugin layer.
    pub fn once_with<A>(
        self,
        key: impl Into<RouteKey>,
        handler: impl IntoHandler<A>,
        layer: PluginLayer,
    ) -> Self {
        {
            let (key, route) = keyed_async(key, handler, Some(layer));
            self.router.once(key, route)
        };
        self
    }

    /// Shared state for handlers, one value per type: a handler takes it
    /// as a [`State<S>`](super::State) argument (cloned for each call:
    /// give an `Arc` or a handle), anything else through
    /// [`ServerHandle::state`]. A second value of one type replaces the
    /// first.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use framewire::server::Server;
    ///
    /// let server = Server::builder().state(Arc::new("config".to_string())).build();
    /// assert_eq!(server.handle().state::<Arc<String>>().unwrap().as_str(), "config");
    /// assert!(server.handle().state::<u8>().is_none());
    /// ```
    pub fn state<S: Clone + Send + Sync + 'static>(mut self, value: S) -> Self {
        self.states.insert(value);
        self
    }

    /// Wraps every route's handler (those registered before and after
    /// this call, the default handler, and those added while serving) in
    /// `layer` (feature `tower`): tower's `TimeoutLayer`,
    /// `ConcurrencyLimitLayer`, `RateLimitLayer`, `LoadShedLayer`, or your
    /// own. A later `layer` wraps the earlier ones. Each route gets its own
    /// instance of the layer's service (see [`tower`](super::tower)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use framewire::server::Server;
    /// use framewire::{Message, MessageType};
    ///
    /// let server = Server::builder()
    ///     .on((MessageType::REQUEST_URI, "slow"), |_m: Message| async {
    ///         tokio::time::sleep(Duration::from_secs(60)).await;
    ///         Message::respond("slow", "late")
    ///     })
    ///     // Answered ERROR "request timed out" after 2 s.
    ///     .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(2)))
    ///     .build();
    /// # drop(server);
    /// ```
    #[cfg(feature = "tower")]
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower::Layer<super::tower::HandlerService> + Send + Sync + 'static,
        L::Service: tower::Service<super::tower::HandlerRequest, Response = Option<Message>>
            + Send
            + 'static,
        <L::Service as tower::Service<super::tower::HandlerRequest>>::Error:
            Into<super::tower::BoxError>,
        <L::Service as tower::Service<super::tower::HandlerRequest>>::Future: Send + 'static,
    {
        self.layers.push(layer);
        self
    }

    /// Handles messages no route matches (default: netaio's NOT_FOUND).
    pub fn default_handler<A>(mut self, handler: impl IntoHandler<A>) -> Self {
        self.default = route(handler, None, None);
        self
    }

    /// The instance-wide plugin layer (auth and/or cipher) every message
    /// passes.
    pub fn plugins(mut self, layer: PluginLayer) -> Self {
        self.layer = layer;
        self
    }

    /// The frame profile (default `netaio`).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// Limits (default [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Called after a connection is accepted and registered.
    pub fn on_join(
        mut self,
        hook: impl Fn(&ConnectionInfo, &ServerHandle) + Send + Sync + 'static,
    ) -> Self {
        self.on_join = Some(Arc::new(hook));
        self
    }

    /// Called after a connection closed and was removed from the registry.
    pub fn on_leave(
        mut self,
        hook: impl Fn(&ConnectionInfo, &ServerHandle) + Send + Sync + 'static,
    ) -> Self {
        self.on_leave = Some(Arc::new(hook));
        self
    }

    /// Serves TLS on every accepted connection, with `config` (see
    /// [`tls::server_config`](crate::tls::server_config)); each handshake
    /// must finish within [`Limits::tls_handshake_timeout`]. With a
    /// client-certificate verifier in `config`, the verified certificate
    /// is the connection's [`Context::identity`].
    ///
    /// ```
    /// let key = rcgen::KeyPair::generate().unwrap();
    /// let cert = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap()
    ///     .self_signed(&key).unwrap();
    /// let config = framewire::tls::server_config(
    ///     vec![cert.der().clone()],
    ///     framewire::tls::rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    ///     None,
    /// ).unwrap();
    /// let server = framewire::server::Server::builder().tls(config).build();
    /// # drop(server);
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Which part of a verified client certificate names the connection
    /// (default [`CertificateName::CommonName`](crate::tls::CertificateName)):
    /// only that kind is read, and a certificate without exactly one
    /// value of it is refused right after the handshake (counted as a
    /// failed handshake), never named by something else it carries.
    ///
    /// ```
    /// use framewire::tls::CertificateName;
    ///
    /// let server = framewire::server::Server::builder()
    ///     .client_certificate_name(CertificateName::Uri)
    ///     .build();
    /// # drop(server);
    /// ```
    #[cfg(feature = "tls")]
    pub fn client_certificate_name(mut self, name: crate::tls::CertificateName) -> Self {
        self.certificate_name = name;
        self
    }

    /// Requires every connection to log in first (hoist's model): its
    /// first message must be a login (see
    /// [`ClientBuilder::login`](crate::client::ClientBuilder::login)),
    /// which `gate` answers with the connection's [`Identity`](crate::Identity)
    /// or a [`LoginRefused`](super::LoginRefused) (sent back, then the connection is closed).
    /// Until then nothing is routed; the gate must answer within
    /// [`Limits::auth_timeout`], and a connection not in by then is
    /// closed. Panics in the gate refuse the login.
    ///
    /// ```
    /// use framewire::server::{Hello, LoginRefused, Server};
    /// use framewire::{Identity, IdentitySource};
    ///
    /// let server = Server::builder()
    ///     .login(|hello: Hello, _info| async move {
    ///         if framewire::auth::crypto::ct_eq(&hello.content, b"let me in") {
    ///             Ok(Identity::new("guest", IdentitySource::Login))
    ///         } else {
    ///             Err(LoginRefused::new("unknown token"))
    ///         }
    ///     })
    ///     .build();
    /// # drop(server);
    /// ```
    pub fn login(mut self, gate: impl LoginGate) -> Self {
        self.login = Some(Arc::new(gate));
        self
    }

    /// Refuses logins announcing a protocol version older than `version`
    /// (see [`protocol::PROTOCOL_VERSION`](crate::protocol::PROTOCOL_VERSION)).
    /// Implies that connections must log in, with or without a gate.
    pub fn min_protocol_version(mut self, version: u64) -> Self {
        self.min_version = Some(version);
        self
    }

    /// Relays [`notify`](ServerHandle::notify),
    /// [`broadcast`](ServerHandle::broadcast) and
    /// [`send_to_tag`](ServerHandle::send_to_tag) to the other instances on
    /// `backplane`, and delivers theirs to this instance's connections (see
    /// [`Backplane`] for what is and is not guaranteed). Without one, a
    /// server is one process and nothing is relayed.
    ///
    /// ```
    /// use framewire::server::{MemoryBackplane, Server};
    ///
    /// let server = Server::builder().backplane(MemoryBackplane::new()).build();
    /// # drop(server);
    /// ```
    pub fn backplane(mut self, backplane: impl Backplane) -> Self {
        self.backplane = Some(Arc::new(backplane));
        self
    }

    /// This instance's name on the backplane (default: 8 random hex
    /// digits), in logs and in what it relays; at most 255 bytes (longer
    /// names are cut). Two instances may share a name by mistake: each
    /// also carries a random incarnation, so neither mistakes the other's
    /// messages for its own.
    pub fn instance_id(mut self, name: impl Into<String>) -> Self {
        self.instance_id = Some(name.into());
        self
    }

    /// netaio's peer management (`manage_peers_automatically`) as `local`:
    /// ADVERTISE_PEER is answered with PEER_DISCOVERED and adds the peer,
    /// PEER_DISCOVERED adds it, DISCONNECT forgets it and drops its
    /// connection's subscriptions; all keyed by `local`'s app id (see
    /// `framewire::peer`). Peers are listed by
    /// [`ServerHandle::peers`](super::ServerHandle::peers) and forgotten
    /// when their connection closes. Each connection holds one peer id,
    /// which no other connection can take or remove; the table is bounded
    /// by [`Limits::max_peer_bytes`] and [`Limits::max_peer_entry_bytes`].
    ///
    /// ```
    /// use framewire::peer::LocalPeer;
    /// use framewire::server::Server;
    ///
    /// let me = LocalPeer::random().with_fields([("name", "eu-1")]).with_app_id("billing");
    /// let server = Server::builder().peers(me).subscriptions().build();
    /// # drop(server);
    /// ```
    pub fn peers(mut self, local: crate::peer::LocalPeer) -> Self {
        let peers = Arc::new(super::peers::Peers::held(local));
        self.peers = Some(peers.clone());
        super::peers::register(self, peers)
    }

    /// Whether each handler call is timed for the
    /// `framewire_handler_duration_seconds` histogram (feature `metrics`;
    /// on by default with it, and meaningless without it). Timing costs two
    /// clock reads and a histogram lookup per call: turn it off when no
    /// metrics recorder is installed (`framewire serve` does, without
    /// `--metrics`).
    ///
    /// ```
    /// let server = framewire::server::Server::builder().handler_timing(false).build();
    /// # drop(server);
    /// ```
    pub fn handler_timing(mut self, on: bool) -> Self {
        self.timed = on && super::metrics::TIMED;
        self
    }

    /// The server, ready to [`serve`](Server::serve).
    pub fn build(self) -> Server {
        let limits = self.limits;
        if let Some(peers) = &self.peers {
            // The limits may have been set after `peers`.
            peers.set_bounds(limits.max_peer_bytes, limits.max_peer_entry_bytes);
        }
        let max_frame = limits
            .max_frame_len
            .unwrap_or(self.profile.default_max_frame_len());
        let frame = FrameConfig::new(self.profile).max_frame_len(max_frame);
        let pipeline = Pipeline::new(Side::Server, self.layer, frame)
            .pre_auth_max_frame_len(limits.pre_auth_max_frame_len)
            .caps(Caps {
                checksum_errors: limits.max_checksum_errors,
                auth_failures: limits.max_auth_failures,
                on_auth_failure: limits.auth_failure,
            })
            .login_required(self.login.is_some() || self.min_version.is_some());
        let relay = self.backplane.map(|b| {
            let name = self.instance_id.unwrap_or_else(backplane::random_name);
            Relay::new(b, &name)
        });
        Server {
            handle: ServerHandle {
                shared: Arc::new(Shared {
                    registry: Registry::new(SubscriptionCaps::new(&limits)),
                    router: {
                        if !self.layers.is_empty() {
                            self.router.map(|r| r.clone().layered(&self.layers));
                        }
                        self.router
                    },
                    default: self.default.layered(&self.layers),
                    pipeline,
                    counters: Counters::default(),
                    on_join: self.on_join,
                    on_leave: self.on_leave,
                    stopping: CancellationToken::new(),
                    finishing: Default::default(),
                    finished: CancellationToken::new(),
                    shutdown: CancellationToken::new(),
                    abort: CancellationToken::new(),
                    tracker: TaskTracker::new(),
                    login: self.login,
                    min_version: self.min_version,
                    groups: backplane::Directory::new(relay.as_ref().map_or(0, Relay::incarnation)),
                    relay,
                    peers: self.peers,
                    timed: self.timed,
                    states: self.states,
                    layers: self.layers,
                    history: self.history.map(super::history::Histories::new),
                    #[cfg(feature = "tls")]
                    tls: self
                        .tls
                        .map(|c| (crate::tls::TlsReloader::new(c), self.certificate_name)),
                    limits,
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_timing_is_off_when_asked_and_on_only_with_metrics() {
        let timed = |on| {
            Server::builder()
                .handler_timing(on)
                .build()
                .handle()
                .shared
                .timed
        };
        assert!(!timed(false));
        assert_eq!(timed(true), super::super::metrics::TIMED);
    }
}
