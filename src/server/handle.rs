//! The cloneable [`ServerHandle`]'s methods: fan-out (notify, broadcast,
//! tags), the connection registry, routes changed at run time, counters
//! and shutdown, over what every connection shares (`shared.rs`).

use std::net::SocketAddr;

use tracing::warn;

use bytes::Bytes;

use crate::auth::PluginLayer;
use crate::router::RouteKey;
use crate::wire::Message;

use super::backplane::{Relay, Target};
use super::shared::{Serve, ServerHandle};
use super::{
    keyed_async, ConnectionId, ConnectionInfo, IntoHandler, SendError, Stats, SubscribeError,
};
use crate::peer::{LocalPeer, Peer};

impl ServerHandle {
    /// Sends `msg` to every connection subscribed to `key`. Sealed and
    /// encoded once when the plugins allow; never waits for a slow
    /// receiver. Returns the number of receivers that accepted it.
    ///
    /// `msg` must be NOTIFY_URI with `key` as its uri (what subscribers
    /// take: [`Message::notify`]); anything else is refused with
    /// [`SendError::TopicMismatch`] before it reaches anyone.
    ///
    /// ```
    /// use framewire::server::Server;
    /// use framewire::Message;
    ///
    /// let handle = Server::builder().build().handle();
    /// assert_eq!(handle.notify("lobby", Message::notify("lobby", "hi")).unwrap(), 0);
    /// let wrong = handle.notify("lobby", Message::ok("lobby", "hi")).unwrap_err();
    /// assert!(wrong.is_topic_mismatch());
    /// ```
    ///
    /// With a [backplane](super::ServerBuilder::backplane), the message is
    /// also relayed to the other instances' subscribers; the count is this
    /// instance's.
    pub fn notify(&self, key: impl AsRef<[u8]>, mut msg: Message) -> Result<usize, SendError> {
        let key = key.as_ref();
        super::error::check_topic(key, &msg)?;
        crate::trace::attach_current(&mut msg);
        let groups = self.shared.assign_groups(key);
        let relay = |msg| {
            let target = || {
                let topic = Bytes::copy_from_slice(key);
                match groups.is_empty() {
                    true => Target::Topic(topic),
                    false => Target::Grouped(topic, groups.clone()),
                }
            };
            self.shared.relay_out(target, msg)
        };
        let serve = Serve::Assigned {
            me: self.shared.groups.me(),
            groups: &groups,
        };
        self.shared.notify_topic(key, msg, relay, None, serve)
    }

    /// Sends `msg` to every connection (relayed to the other instances'
    /// with a backplane, as [`notify`](Self::notify)).
    pub fn broadcast(&self, mut msg: Message) -> Result<usize, SendError> {
        crate::trace::attach_current(&mut msg);
        let msg = self.shared.relay_out(|| Target::All, msg);
        let conns = self.shared.registry.all();
        self.shared.fan_out(&conns, msg, None)
    }

    /// Sends `msg` to every connection tagged `tag` (relayed to the other
    /// instances' with a backplane, as [`notify`](Self::notify)).
    pub fn send_to_tag(&self, tag: &str, mut msg: Message) -> Result<usize, SendError> {
        crate::trace::attach_current(&mut msg);
        let msg = self
            .shared
            .relay_out(|| Target::Tag(Bytes::copy_from_slice(tag.as_bytes())), msg);
        let conns = self.shared.registry.with_tag(tag);
        self.shared.fan_out(&conns, msg, None)
    }

    /// Sends `msg` to one connection.
    pub fn send_to(&self, id: ConnectionId, mut msg: Message) -> Result<(), SendError> {
        crate::trace::attach_current(&mut msg);
        self.send_to_inner(id, msg, None)
    }

    /// [`notify`](Self::notify) with a per-call plugin layer inside the
    /// instance one (netaio's per-call plugins: an extra signature only
    /// some receivers check, say).
    ///
    /// ```
    /// use framewire::server::Server;
    /// use framewire::{Message, MessageType, NetaioHmac, PluginLayer};
    ///
    /// let handle = Server::builder().build().handle();
    /// let admin = PluginLayer::new().with_auth(NetaioHmac::new("admin").hmac_field("admin_hmac"));
    /// let note = Message::new(MessageType::NOTIFY_URI, "ops", "restart at 3");
    /// assert_eq!(handle.notify_with("ops", note, &admin).unwrap(), 0);
    /// ```
    pub fn notify_with(
        &self,
        key: impl AsRef<[u8]>,
        mut msg: Message,
        layer: &PluginLayer,
    ) -> Result<usize, SendError> {
        super::error::check_topic(key.as_ref(), &msg)?;
        crate::trace::attach_current(&mut msg);
        self.shared
            .notify_topic(key.as_ref(), msg, |m| m, Some(layer), Serve::Every)
    }

    /// [`broadcast`](Self::broadcast) with a per-call plugin layer.
    pub fn broadcast_with(
        &self,
        mut msg: Message,
        layer: &PluginLayer,
    ) -> Result<usize, SendError> {
        crate::trace::attach_current(&mut msg);
        let conns = self.shared.registry.all();
        self.shared.fan_out(&conns, msg, Some(layer))
    }

    /// [`send_to_tag`](Self::send_to_tag) with a per-call plugin layer.
    pub fn send_to_tag_with(
        &self,
        tag: &str,
        mut msg: Message,
        layer: &PluginLayer,
    ) -> Result<usize, SendError> {
        crate::trace::attach_current(&mut msg);
        let conns = self.shared.registry.with_tag(tag);
        self.shared.fan_out(&conns, msg, Some(layer))
    }

    /// [`send_to`](Self::send_to) with a per-call plugin layer.
    pub fn send_to_with(
        &self,
        id: ConnectionId,
        mut msg: Message,
        layer: &PluginLayer,
    ) -> Result<(), SendError> {
        crate::trace::attach_current(&mut msg);
        self.send_to_inner(id, msg, Some(layer))
    }

    fn send_to_inner(
        &self,
        id: ConnectionId,
        msg: Message,
        layer: Option<&PluginLayer>,
    ) -> Result<(), SendError> {
        let conn = self
            .shared
            .registry
            .get(id)
            .ok_or(SendError::NoSuchConnection(id))?;
        let pipeline = &self.shared.pipeline;
        let frame = pipeline.seal_with(msg, layer, &conn.link(pipeline.tag()))?;
        self.shared.deliver(&conn, frame)
    }

    /// Subscribes connection `id` to `key` (already subscribed is fine).
    /// Refused past the subscription bounds of [`Limits`](super::Limits) (counted in
    /// [`Stats::subscriptions_refused`]).
    pub fn subscribe(&self, key: impl Into<Bytes>, id: ConnectionId) -> Result<(), SubscribeError> {
        let result = self.shared.registry.subscribe(key.into(), id);
        if let Err(e) = &result {
            self.shared.counters.subscription_refused(e);
        }
        result
    }

    /// Subscribes connection `id` to `key` as a member of queue group
    /// `group`: each notification on `key` goes to one member of the
    /// group, across every instance of the service (with a backplane),
    /// the members taking turns; plain subscribers still get them all.
    /// Subscribing again (plainly or in another group) replaces the
    /// subscription. Refused like [`subscribe`](Self::subscribe), and for
    /// a group name that is not 1 to 64 bytes of `[A-Za-z0-9-_.]`
    /// ([`SubscribeError::BadGroup`](super::SubscribeError::BadGroup)) or
    /// past [`Limits::max_queue_groups`](super::Limits::max_queue_groups).
    ///
    /// ```
    /// use framewire::server::{ConnectionInfo, Server, ServerHandle};
    ///
    /// // Every connection joins the "workers" group of "jobs" as it comes.
    /// let server = Server::builder()
    ///     .on_join(|info: &ConnectionInfo, handle: &ServerHandle| {
    ///         handle.subscribe_group("jobs", "workers", info.id).unwrap();
    ///         assert!(handle.subscribe_group("jobs", "a b", info.id).unwrap_err().is_bad_group());
    ///     })
    ///     .build();
    /// assert_eq!(server.handle().group_members("jobs", "workers"), 0); // nobody yet
    /// ```
    pub fn subscribe_group(
        &self,
        key: impl Into<Bytes>,
        group: impl AsRef<[u8]>,
        id: ConnectionId,
    ) -> Result<(), SubscribeError> {
        let group = Bytes::copy_from_slice(group.as_ref());
        let result = self
            .shared
            .registry
            .subscribe_in(key.into(), Some(group), id);
        if let Err(e) = &result {
            self.shared.counters.subscription_refused(e);
        }
        result
    }

    /// Members of queue group `group` on `topic`: this instance's, and
    /// those the other instances last announced (what a publish here
    /// assigns turns among).
    pub fn group_members(&self, topic: impl AsRef<[u8]>, group: impl AsRef<[u8]>) -> u64 {
        let (topic, group) = (topic.as_ref(), group.as_ref());
        let here = self.shared.registry.local_groups(topic);
        let local = here
            .iter()
            .find(|(name, _)| name == group)
            .map_or(0, |(_, n)| *n);
        self.shared
            .groups
            .members(topic, group, local, super::backplane::clock_now())
    }

    /// Unsubscribes `id` from `key`; returns whether it was subscribed.
    pub fn unsubscribe(&self, key: &[u8], id: ConnectionId) -> bool {
        self.shared.registry.unsubscribe(key, id)
    }

    /// Unsubscribes `id` from every topic; returns how many it held.
    pub fn unsubscribe_all(&self, id: ConnectionId) -> usize {
        self.shared.registry.unsubscribe_all(id)
    }

    /// The peers this server knows (with [`ServerBuilder::peers`](super::ServerBuilder::peers)),
    /// by id; empty without peer management.
    ///
    /// ```
    /// use framewire::peer::LocalPeer;
    /// use framewire::server::Server;
    ///
    /// let server = Server::builder().peers(LocalPeer::random()).build();
    /// assert!(server.handle().peers().is_empty());
    /// assert!(server.handle().local_peer().is_some());
    /// ```
    pub fn peers(&self) -> Vec<Peer> {
        self.shared
            .peers
            .as_ref()
            .map(|p| p.all())
            .unwrap_or_default()
    }

    /// The peer with id `id`, if this server knows it.
    pub fn peer(&self, id: &[u8]) -> Option<Peer> {
        self.shared.peers.as_ref()?.get(id)
    }

    /// Forgets the peer `id`; returns whether it was known. Its connection
    /// stays open (a later ADVERTISE_PEER adds it again).
    pub fn remove_peer(&self, id: &[u8]) -> bool {
        self.shared
            .peers
            .as_ref()
            .is_some_and(|p| p.remove(id).is_some())
    }

    /// This server's own peer identity, with peer management.
    pub fn local_peer(&self) -> Option<LocalPeer> {
        Some(self.shared.peers.as_ref()?.local().clone())
    }

    /// Connections open now, by id.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let mut v: Vec<_> = self
            .shared
            .registry
            .all()
            .iter()
            .map(|c| c.info())
            .collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// Number of connections open now.
    pub fn connection_count(&self) -> usize {
        self.shared.registry.len()
    }

    /// Closes connection `id` after what is queued for it is written.
    /// Returns false if there is no such connection.
    pub fn disconnect(&self, id: ConnectionId) -> bool {
        match self.shared.registry.get(id) {
            Some(conn) => {
                conn.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// The connections whose [`Identity`](crate::Identity) is called
    /// `name`, by id.
    ///
    /// ```
    /// let server = framewire::server::Server::builder().build();
    /// assert!(server.handle().connections_of("alice").is_empty());
    /// ```
    pub fn connections_of(&self, name: &str) -> Vec<ConnectionInfo> {
        let mut v: Vec<_> = self
            .shared
            .registry
            .all()
            .iter()
            .filter(|c| c.identity().is_some_and(|i| i.name() == name))
            .map(|c| c.info())
            .collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// Closes every connection whose [`Identity`](crate::Identity) is
    /// called `name` (a user whose key was revoked, a certificate to shut
    /// out), after what is queued for each is written. Returns how many.
    ///
    /// ```
    /// let server = framewire::server::Server::builder().build();
    /// assert_eq!(server.handle().disconnect_identity("alice"), 0);
    /// ```
    pub fn disconnect_identity(&self, name: &str) -> usize {
        let mut closed = 0;
        for conn in self.shared.registry.all() {
            if conn.identity().is_some_and(|i| i.name() == name) {
                conn.cancel.cancel();
                closed += 1;
            }
        }
        closed
    }

    /// The shared state of type `S` given to
    /// [`ServerBuilder::state`](super::ServerBuilder::state), cloned.
    pub fn state<S: Clone + 'static>(&self) -> Option<S> {
        self.shared.states.get::<S>()
    }

    /// A route added while serving: inside the builder's tower layers,
    /// persistent or one-shot.
    fn register<A>(
        &self,
        key: impl Into<RouteKey>,
        handler: impl IntoHandler<A>,
        layer: Option<PluginLayer>,
        once: bool,
    ) {
        let (key, route) = keyed_async(key, handler, layer);
        let route = route.layered(&self.shared.layers);
        if once {
            self.shared.router.once(key, route);
        } else {
            self.shared.router.on(key, route);
        }
    }

    /// Registers a handler while the server runs (replacing one on the
    /// same key).
    pub fn on<A>(&self, key: impl Into<RouteKey>, handler: impl IntoHandler<A>) {
        self.register(key, handler, None, false);
    }

    /// Registers a one-shot handler while the server runs.
    pub fn once<A>(&self, key: impl Into<RouteKey>, handler: impl IntoHandler<A>) {
        self.register(key, handler, None, true);
    }

    /// [`on`](Self::on) with a per-handler plugin layer (netaio's
    /// per-handler auth and cipher plugins, added at run time).
    ///
    /// ```
    /// use framewire::server::{Context, Server};
    /// use framewire::{Message, MessageType, PluginLayer, StrictHmac};
    ///
    /// let handle = Server::builder().build().handle();
    /// let admin = PluginLayer::new().with_auth(StrictHmac::new("admin secret"));
    /// handle.on_with(MessageType::DELETE_URI, |m: Message, _c: Context| async move {
    ///     Message::ok(m.uri().clone(), "deleted")
    /// }, admin);
    /// ```
    pub fn on_with<A>(
        &self,
        key: impl Into<RouteKey>,
        handler: impl IntoHandler<A>,
        layer: PluginLayer,
    ) {
        self.register(key, handler, Some(layer), false);
    }

    /// [`once`](Self::once) with a per-handler plugin layer.
    pub fn once_with<A>(
        &self,
        key: impl Into<RouteKey>,
        handler: impl IntoHandler<A>,
        layer: PluginLayer,
    ) {
        self.register(key, handler, Some(layer), true);
    }

    /// Removes the handlers registered on `key`.
    pub fn remove_handler(&self, key: impl Into<RouteKey>) -> bool {
        self.shared.router.remove(&key.into())
    }

    /// Counters since the server was built.
    pub fn stats(&self) -> Stats {
        let shared = &self.shared;
        let mut stats = shared
            .counters
            .snapshot(shared.registry.len(), shared.registry.topics());
        stats.backplane_connected = shared.relay.as_ref().is_some_and(Relay::is_connected);
        stats.subscription_bytes = shared.registry.subscription_bytes();
        stats
    }

    /// The frame profile the server speaks (what an in-memory test peer
    /// must encode with).
    #[cfg(feature = "testing")]
    pub(crate) fn profile(&self) -> crate::wire::Profile {
        self.shared.pipeline.profile()
    }

    /// This instance's name on the backplane, if it has one (see
    /// [`ServerBuilder::instance_id`](super::ServerBuilder::instance_id)).
    ///
    /// ```
    /// use framewire::server::{MemoryBackplane, Server};
    ///
    /// let server = Server::builder().backplane(MemoryBackplane::new()).instance_id("eu-1").build();
    /// assert_eq!(server.handle().instance_id().as_deref(), Some("eu-1"));
    /// assert_eq!(Server::builder().build().handle().instance_id(), None);
    /// ```
    pub fn instance_id(&self) -> Option<String> {
        let relay = self.shared.relay.as_ref()?;
        Some(String::from_utf8_lossy(relay.name()).into_owned())
    }

    /// Counts a new connection from `peer` in, unless the server is
    /// shutting down, at its connection limit, or at the limit for that
    /// address.
    pub(crate) fn admit(&self, peer: SocketAddr) -> bool {
        let shared = &self.shared;
        if shared.stopping.is_cancelled() || shared.registry.len() >= shared.limits.max_connections
        {
            shared.counters.rejected();
            return false;
        }
        if shared.registry.count_from(peer.ip()) >= shared.limits.max_connections_per_address {
            shared.counters.rejected_per_address();
            return false;
        }
        shared.counters.accepted();
        true
    }

    /// Replaces the TLS configuration (a renewed certificate, a new client
    /// CA) for connections accepted from now on; connections already up
    /// keep theirs. Fails with [`TlsError::NotEnabled`](crate::tls::TlsError::NotEnabled)
    /// if the server was built without [`ServerBuilder::tls`](super::ServerBuilder::tls).
    ///
    /// ```no_run
    /// use std::path::Path;
    /// # fn demo(handle: framewire::server::ServerHandle) -> Result<(), framewire::tls::TlsError> {
    /// let renewed = framewire::tls::server_config_from_pem(
    ///     Path::new("cert.pem"), Path::new("key.pem"), None)?;
    /// handle.reload_tls(renewed)?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn reload_tls(
        &self,
        config: std::sync::Arc<rustls::ServerConfig>,
    ) -> Result<(), crate::tls::TlsError> {
        let (tls, _) = self
            .shared
            .tls
            .as_ref()
            .ok_or(crate::tls::TlsError::NotEnabled)?;
        tls.reload(config);
        Ok(())
    }

    /// Starts a graceful shutdown, as the `shutdown` future passed to
    /// [`Server::serve`](super::Server::serve) does.
    pub fn shutdown(&self) {
        self.shared.stopping.cancel();
    }

    /// Shuts down gracefully and returns when done: stops accepting, asks
    /// framewire clients to move and serves until they have (at most
    /// [`Limits::drain_timeout`](super::Limits::drain_timeout)), stops
    /// reading, lets handlers finish and queues flush (aborting what is
    /// left after [`Limits::shutdown_grace`](super::Limits::shutdown_grace)),
    /// and sends the backplane's last relays. What
    /// [`Server::serve`](super::Server::serve) does when its shutdown
    /// future completes; call it yourself for connections fed through
    /// [`serve_stream`](Self::serve_stream). Calling it again (or while
    /// `serve` runs it) waits for the same shutdown.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = framewire::server::Server::builder().build();
    /// server.handle().stop().await;
    /// assert!(!server.handle().serve_stream(tokio::io::duplex(64).0, "127.0.0.1:9".parse().unwrap()));
    /// # }
    /// ```
    pub async fn stop(&self) {
        let shared = &self.shared;
        if shared
            .finishing
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return shared.finished.cancelled().await;
        }
        // Later callers wait for `finished`: signal it however this call
        // ends, even if its future is dropped half way (they must not hang).
        let _finished = shared.finished.clone().drop_guard();
        tracing::info!("shutting down");
        shared.stopping.cancel();
        shared.drain().await;
        shared.shutdown.cancel();
        shared.tracker.close();
        if tokio::time::timeout(shared.limits.shutdown_grace, shared.tracker.wait())
            .await
            .is_err()
        {
            warn!(
                remaining = shared.tracker.len(),
                "grace period over, aborting connections"
            );
            shared.abort.cancel();
            shared.tracker.wait().await;
        }
        if let Some(relay) = &shared.relay {
            let flushed = relay.backplane().flush();
            if tokio::time::timeout(std::time::Duration::from_secs(2), flushed)
                .await
                .is_err()
            {
                warn!("backplane: relayed messages still unsent at shutdown");
            }
            relay.backplane().stop();
        }
        tracing::info!("stopped");
    }
}
