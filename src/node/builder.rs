//! Configuring a node ([`NodeBuilder`]), and binding it ([`Node::bind`]):
//! the socket (and the group's), the receive loops, the advertiser.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{lookup_host, ToSocketAddrs, UdpSocket};

use crate::auth::PluginLayer;
use crate::peer::{LocalPeer, Peers};
use crate::proto::pipeline::{Pipeline, Side};
use crate::router::{RouteKey, Router};
use crate::wire::{FrameConfig, Message, Profile};

use super::handle::{Parts, Shared};
use super::{NodeError, NodeHandle, NodeHandler, NodeLimits, Origin, Route};

/// netaio's default handler's NOT_FOUND, to requests only (the receive
/// loop drops answers no handler takes before this is asked). netaio's
/// node gives it uri `ERROR`, which netaio's own `request` never matches
/// (it times out); the request's uri lets it match.
async fn not_found(msg: Message, _from: Origin) -> Message {
    Message::not_found(msg.uri().clone())
}

/// A node, configured and not yet bound. Made by [`Node::builder`].
///
/// ```no_run
/// use framewire::node::Node;
///
/// # #[tokio::main] async fn main() -> Result<(), framewire::node::NodeError> {
/// let node = framewire::node::readme_routes(Node::builder()).build();
/// let handle = node.bind("127.0.0.1:8888").await?;
/// println!("listening on {} (udp)", handle.local_addr());
/// # Ok(()) }
/// ```
pub struct Node {
    builder: NodeBuilder,
}

/// Configures a [`Node`]: handlers, plugins, peer management, multicast,
/// limits.
///
/// ```
/// use std::net::Ipv4Addr;
/// use framewire::node::{Node, NodeLimits, DEFAULT_MULTICAST_GROUP};
/// use framewire::peer::LocalPeer;
/// use framewire::{NetaioHmac, PluginLayer};
///
/// let node = Node::builder()
///     .plugins(PluginLayer::new().with_auth(NetaioHmac::new("secret")))
///     .peers(LocalPeer::random().with_app_id("billing"))
///     .multicast(DEFAULT_MULTICAST_GROUP, None)
///     .limits(NodeLimits::default().replies_per_second(20))
///     .build();
/// # drop(node);
/// ```
pub struct NodeBuilder {
    router: Router<Route>,
    default: Route,
    layer: PluginLayer,
    profile: Profile,
    limits: NodeLimits,
    local: Option<LocalPeer>,
    group: Option<(Ipv4Addr, Option<u16>)>,
    interface: Ipv4Addr,
    seeds: Vec<SocketAddr>,
}

impl Node {
    /// A builder with netaio's defaults: no plugins, no peer management,
    /// no multicast, NOT_FOUND for requests no handler takes.
    pub fn builder() -> NodeBuilder {
        NodeBuilder {
            router: Router::new(),
            default: Route::new(not_found, None),
            layer: PluginLayer::new(),
            profile: Profile::Netaio,
            limits: NodeLimits::default(),
            local: None,
            group: None,
            interface: Ipv4Addr::UNSPECIFIED,
            seeds: Vec::new(),
        }
    }

    /// Binds the node to `addr` (IPv4: netaio's nodes are IPv4) and starts
    /// it: with peer management it advertises at once, then every
    /// [`NodeLimits::advertise_every`].
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<NodeHandle, NodeError> {
        let mut b = self.builder;
        // The table's byte bound comes from the limits, which may have
        // been set after `peers`: made here, with its handlers.
        let peers = match b.local.take() {
            Some(local) => {
                let (bytes, entry) = (b.limits.max_peer_bytes, b.limits.max_peer_entry_bytes);
                let peers = Arc::new(Peers::evicting(local, bytes, entry));
                b = super::peers::register(b, peers.clone());
                Some(peers)
            }
            None => None,
        };
        let addr = lookup_host(addr)
            .await?
            .find(SocketAddr::is_ipv4)
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "no IPv4 address")
            })?;
        let shared_port = b.group.is_some();
        let socket = Arc::new(udp(addr, shared_port, |_| Ok(()))?);
        let local = socket.local_addr()?;
        let group = b
            .group
            .map(|(ip, port)| SocketAddr::from((ip, port.unwrap_or(local.port()))));
        // The group has its own socket, bound to the group address: it
        // gets the group's datagrams only, while the node's own address
        // stays unique for replies (several nodes on one host share the
        // group's port).
        let group_socket = match group {
            Some(SocketAddr::V4(g)) => {
                let interface = b.interface;
                Some(Arc::new(udp(SocketAddr::V4(g), true, |s| {
                    s.join_multicast_v4(g.ip(), &interface)
                })?))
            }
            _ => None,
        };
        let frame = FrameConfig::new(b.profile);
        let pipeline = Pipeline::new(Side::Peer, b.layer, frame);
        let shared = Arc::new(Shared::new(Parts {
            socket: socket.clone(),
            pipeline,
            router: b.router,
            default: b.default,
            peers,
            limits: b.limits,
            group,
            seeds: b.seeds,
        })?);
        let stop = shared.stop.clone();
        let weak = Arc::downgrade(&shared);
        tokio::spawn(super::receive::run(socket, weak.clone(), stop.clone()));
        if let Some(g) = group_socket {
            tokio::spawn(super::receive::run(g, weak.clone(), stop.clone()));
        }
        if shared.peers.is_some() {
            tokio::spawn(super::peers::advertise(weak, stop));
        }
        Ok(NodeHandle { shared })
    }
}

/// A non-blocking UDP socket bound to `addr`, `set_up` before binding.
/// `shared_port`: several sockets (processes) may bind the port, as
/// multicast members on one host must; the node's own socket then takes
/// no group traffic it did not join itself.
fn udp(
    addr: SocketAddr,
    shared_port: bool,
    set_up: impl FnOnce(&Socket) -> std::io::Result<()>,
) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    if shared_port {
        s.set_reuse_address(true)?;
        s.set_multicast_all_v4(false)?;
    }
    set_up(&s)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

impl NodeBuilder {
    /// Registers `handler` for `key` (most specific first: type + uri +
    /// source address, type + uri, type).
    pub fn on(self, key: impl Into<RouteKey>, handler: impl NodeHandler) -> Self {
        self.router.on(key.into(), Route::new(handler, None));
        self
    }

    /// [`on`](Self::on) with a per-handler plugin layer inside the
    /// instance one (netaio's per-handler plugins): messages must pass it,
    /// replies are sealed with it.
    pub fn on_with(
        self,
        key: impl Into<RouteKey>,
        handler: impl NodeHandler,
        layer: PluginLayer,
    ) -> Self {
        self.router.on(key.into(), Route::new(handler, Some(layer)));
        self
    }

    /// Handles requests no route matches (default: netaio's NOT_FOUND).
    /// Answers (OK, RESPOND_URI, errors, ...) never reach it.
    pub fn default_handler(mut self, handler: impl NodeHandler) -> Self {
        self.default = Route::new(handler, None);
        self
    }

    /// The instance-wide plugin layer (auth, cipher).
    pub fn plugins(mut self, layer: PluginLayer) -> Self {
        self.layer = layer;
        self
    }

    /// The frame layout (default netaio's).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// The node's bounds and timers.
    pub fn limits(mut self, limits: NodeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Manages peers as netaio's `manage_peers_automatically` does, as
    /// `local`: advertises to the group and the seeds, answers
    /// advertisements, forgets silent peers (see `node::peers`; its three
    /// handlers replace any registered on the same keys). The table is
    /// bounded by `local`'s max peers and [`NodeLimits::max_peer_bytes`],
    /// and evicts the peer heard from least recently when full.
    pub fn peers(mut self, local: LocalPeer) -> Self {
        self.local = Some(local);
        self
    }

    /// Joins multicast `group` (netaio's default is
    /// [`DEFAULT_MULTICAST_GROUP`](super::DEFAULT_MULTICAST_GROUP)) on
    /// `port` (default: the node's own port, as netaio's node sends to
    /// its own port).
    pub fn multicast(mut self, group: Ipv4Addr, port: Option<u16>) -> Self {
        self.group = Some((group, port));
        self
    }

    /// The interface address the group is joined on (default: any).
    pub fn multicast_interface(mut self, interface: Ipv4Addr) -> Self {
        self.interface = interface;
        self
    }

    /// Also advertises to `addr` (unicast), e.g. where multicast does not
    /// reach.
    pub fn seed(mut self, addr: SocketAddr) -> Self {
        self.seeds.push(addr);
        self
    }

    /// The node, ready to [`bind`](Node::bind).
    pub fn build(self) -> Node {
        Node { builder: self }
    }

    /// [`build`](Self::build) then [`bind`](Node::bind).
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<NodeHandle, NodeError> {
        self.build().bind(addr).await
    }
}
