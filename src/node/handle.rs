//! The running node's state ([`Shared`]) and its public handle
//! ([`NodeHandle`]): sends, requests, notifications, the peer table.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::PluginLayer;
use crate::peer::{Peer, Peers};
use crate::proto::pipeline::{Outcome, Pipeline};
use crate::router::Router;
use crate::sync::lock;
use crate::wire::{Message, MessageType};

use super::guard::{Guard, Refusal};
use super::pending::Pending;
use super::stats::Counters;
use super::subscriptions::{Made, Subscriptions};
use super::{NodeError, NodeLimits, NodeStats, Route};

/// The runtime's clock (virtual under `tokio::time::pause`, so tests can
/// age peers), as the table's `std` instant.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Everything the node's tasks share.
pub(crate) struct Shared {
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) local: SocketAddr,
    pub(crate) pipeline: Pipeline,
    pub(crate) router: Router<Route>,
    pub(crate) default: Route,
    pub(crate) peers: Option<Arc<Peers>>,
    pub(crate) pending: Pending,
    pub(crate) counters: Counters,
    pub(crate) limits: NodeLimits,
    /// The multicast group and port, if the node joined one.
    pub(crate) group: Option<SocketAddr>,
    /// Where advertisements go besides the group.
    pub(crate) seeds: Vec<SocketAddr>,
    pub(crate) in_flight: Arc<Semaphore>,
    pub(crate) stop: CancellationToken,
    pub(crate) tasks: TaskTracker,
    subs: Mutex<Subscriptions>,
    guard: Mutex<Guard>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last handle is gone: the receive and advertise loops, which
        // hold the socket but not this, end.
        self.stop.cancel();
    }
}

/// What [`Shared::new`] needs.
pub(crate) struct Parts {
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) pipeline: Pipeline,
    pub(crate) router: Router<Route>,
    pub(crate) default: Route,
    pub(crate) peers: Option<Arc<Peers>>,
    pub(crate) limits: NodeLimits,
    pub(crate) group: Option<SocketAddr>,
    pub(crate) seeds: Vec<SocketAddr>,
}

impl Shared {
    pub(crate) fn new(p: Parts) -> std::io::Result<Self> {
        Ok(Shared {
            local: p.socket.local_addr()?,
            socket: p.socket,
            pipeline: p.pipeline,
            router: p.router,
            default: p.default,
            peers: p.peers,
            pending: Pending::new(p.limits.max_pending_requests),
            counters: Counters::default(),
            in_flight: Arc::new(Semaphore::new(p.limits.max_in_flight.max(1))),
            guard: Mutex::new(Guard::new(&p.limits)),
            subs: Mutex::new(Subscriptions::new(&p.limits)),
            group: p.group,
            seeds: p.seeds,
            limits: p.limits,
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
        })
    }

    /// Whether `addr` is verified: a known peer on a node whose instance
    /// auth plugin checked every datagram it accepted, or (unless turned
    /// off) a loopback address, which no other host can send from.
    pub(crate) fn is_verified(&self, addr: SocketAddr) -> bool {
        (self.limits.trust_loopback && addr.ip().is_loopback())
            || (self.pipeline.instance().auth().is_some()
                && self.peers.as_ref().is_some_and(|p| p.knows(addr)))
    }

    /// Whether `addr` is a peer in the table (its datagram-made
    /// subscriptions live as long as it does).
    fn is_peer(&self, addr: SocketAddr) -> bool {
        self.peers.as_ref().is_some_and(|p| p.knows(addr))
    }

    /// A datagram of `len` bytes came from `from`: if it is unverified,
    /// that is what it may be sent back (see [`Guard::earn`]).
    pub(crate) fn earn(&self, from: SocketAddr, len: usize) {
        if !self.is_verified(from) {
            lock(&self.guard).earn(from.ip(), len, now());
        }
    }

    /// The peer data the plugins see for `addr`.
    pub(crate) fn peer_data(&self, addr: SocketAddr) -> Option<Bytes> {
        self.peers.as_ref()?.data_at(addr)
    }

    /// `msg` sealed (per-call `layer` inside the instance one) for `to`.
    pub(crate) fn seal(
        &self,
        msg: Message,
        to: SocketAddr,
        layer: Option<&PluginLayer>,
    ) -> Result<Bytes, NodeError> {
        let data = self.peer_data(to);
        let link = self.pipeline.link().peer(Some(to)).peer_data(data.as_ref());
        let frame = self.pipeline.seal_with(msg, layer, &link)?;
        if frame.len() > self.limits.max_datagram {
            return Err(NodeError::TooLarge {
                len: frame.len(),
                max: self.limits.max_datagram,
            });
        }
        Ok(frame)
    }

    /// Sends a frame, waiting for room in the socket's buffer.
    pub(crate) async fn send_frame(&self, frame: &[u8], to: SocketAddr) -> Result<(), NodeError> {
        match self.socket.send_to(frame, to).await {
            Ok(_) => {
                self.sent(frame.len());
                Ok(())
            }
            Err(e) => {
                Counters::add(&self.counters.send_failed, 1);
                Err(NodeError::Io(e))
            }
        }
    }

    /// Sends a frame if the socket takes it now (replies: the receive
    /// loop never waits on a send).
    pub(crate) fn try_send(&self, frame: &[u8], to: SocketAddr) {
        match self.socket.try_send_to(frame, to) {
            Ok(_) => self.sent(frame.len()),
            Err(e) => {
                tracing::debug!(error = %e, %to, "datagram not sent");
                Counters::add(&self.counters.send_failed, 1);
            }
        }
    }

    fn sent(&self, len: usize) {
        Counters::add(&self.counters.datagrams_out, 1);
        Counters::add(&self.counters.bytes_out, len as u64);
    }

    /// Whether the guard lets `len` bytes go to `to` (`cause`: the size of
    /// the datagram it answers); counts a refusal.
    pub(crate) fn permitted(&self, to: SocketAddr, len: usize, cause: Option<usize>) -> bool {
        // Verified destinations skip the guard (and its lock) altogether.
        self.is_verified(to) || self.guard_permits(to, len, cause)
    }

    /// [`permitted`](Self::permitted) for an address known to be
    /// unverified: its credit, its bucket, its request's size.
    fn guard_permits(&self, to: SocketAddr, len: usize, cause: Option<usize>) -> bool {
        let now = now();
        let verdict = lock(&self.guard).permit(to.ip(), len, cause, now);
        match verdict {
            Ok(()) => true,
            Err(Refusal::Amplification) => {
                Counters::add(&self.counters.amplification_dropped, 1);
                false
            }
            Err(Refusal::RateLimited) => {
                Counters::add(&self.counters.rate_limited, 1);
                false
            }
        }
    }

    /// Applies what the pipeline decided for a datagram of `cause` bytes
    /// from `from`.
    pub(crate) fn finish(&self, outcome: Outcome, from: SocketAddr, cause: usize) {
        if let Some(what) = outcome.count {
            self.counters.count(what);
        }
        if let Some(frame) = outcome.send {
            if self.permitted(from, frame.len(), Some(cause)) {
                self.try_send(&frame, from);
            }
        }
    }

    /// Subscribes `addr` to `key` on the node's clock; expired
    /// subscriptions go first, so the room they took is free.
    pub(crate) fn subscribe(
        &self,
        key: Bytes,
        addr: SocketAddr,
        made: Made,
    ) -> Result<(), NodeError> {
        let now = now();
        let mut subs = lock(&self.subs);
        subs.expire(now, |a| self.is_peer(a));
        Ok(subs.add(key, addr, made, now)?)
    }

    /// The live subscribers of `key` (expired ones dropped first), and
    /// whether a datagram made each.
    fn subscribers_of(&self, key: &[u8]) -> Vec<(SocketAddr, bool)> {
        let mut subs = lock(&self.subs);
        subs.expire(now(), |a| self.is_peer(a));
        subs.of(key)
    }

    /// Forgets what `addr` subscribed to (its peer left or timed out).
    pub(crate) fn forget_subscriptions(&self, addr: SocketAddr) {
        lock(&self.subs).remove_all(addr);
    }

    /// Where an announcement goes: the group and the seeds (the operator's
    /// choice), and with `and_peers` every known peer (learned from
    /// datagrams, so possibly a forged address).
    fn targets(&self, and_peers: bool) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
        let mut chosen: Vec<SocketAddr> = self
            .group
            .into_iter()
            .chain(self.seeds.iter().copied())
            .collect();
        chosen.sort();
        chosen.dedup();
        let mut learned = Vec::new();
        if and_peers {
            if let Some(peers) = &self.peers {
                learned.extend(peers.all().into_iter().map(|p| p.addr));
            }
        }
        learned.sort();
        learned.dedup();
        learned.retain(|a| chosen.binary_search(a).is_err());
        (chosen, learned)
    }

    /// Sends this node's `message_type` announcement (ADVERTISE_PEER,
    /// DISCONNECT) to the group and the seeds, and with `and_peers` to
    /// every known peer.
    pub(crate) async fn announce(&self, message_type: MessageType, and_peers: bool) {
        let Some(peers) = &self.peers else {
            return;
        };
        let (chosen, learned) = self.targets(and_peers);
        let all = chosen.iter().map(|&a| (a, true));
        for (to, operators) in all.chain(learned.iter().map(|&a| (a, false))) {
            // A fresh message each time: the plugins sign it anew (netaio
            // does the same, to avoid stale auth fields).
            let msg = peers.local().message(message_type);
            match self.seal(msg, to, None) {
                Ok(frame) => {
                    // A learned peer may be a forged address: it is sent no
                    // more than its address earned, like any other reply.
                    if !operators && !self.permitted(to, frame.len(), None) {
                        continue;
                    }
                    if let Err(e) = self.send_frame(&frame, to).await {
                        tracing::debug!(error = %e, %to, "announcement not sent");
                    }
                }
                Err(e) => tracing::debug!(error = %e, %to, "announcement not sealed"),
            }
        }
    }
}

/// A running node: cheap to clone; every clone is the same node. The node
/// runs until [`stop`](Self::stop) or until its last handle is dropped.
#[derive(Clone)]
pub struct NodeHandle {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("local_addr", &self.shared.local)
            .field("group", &self.shared.group)
            .finish()
    }
}

impl NodeHandle {
    /// The address the node is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local
    }

    /// The multicast group and port the node joined, if any.
    pub fn group(&self) -> Option<SocketAddr> {
        self.shared.group
    }

    /// Sends `msg` to `to` through the plugins (netaio's `send`).
    pub async fn send(&self, msg: Message, to: SocketAddr) -> Result<(), NodeError> {
        self.send_raw(msg, to, None).await
    }

    /// [`send`](Self::send) with a per-call plugin layer inside the
    /// instance one (netaio's per-call plugins, e.g. an
    /// [`X25519CipherPlugin`](crate::auth::X25519CipherPlugin)).
    pub async fn send_with(
        &self,
        msg: Message,
        to: SocketAddr,
        layer: &PluginLayer,
    ) -> Result<(), NodeError> {
        self.send_raw(msg, to, Some(layer)).await
    }

    async fn send_raw(
        &self,
        msg: Message,
        to: SocketAddr,
        layer: Option<&PluginLayer>,
    ) -> Result<(), NodeError> {
        self.live()?;
        let frame = self.shared.seal(msg, to, layer)?;
        self.shared.send_frame(&frame, to).await
    }

    /// Sends `msg` to the multicast group (netaio's `multicast`); an I/O
    /// error of kind `NotConnected` if the node joined none.
    pub async fn multicast(&self, msg: Message) -> Result<(), NodeError> {
        let Some(group) = self.shared.group else {
            return Err(NodeError::Io(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "the node joined no multicast group",
            )));
        };
        self.send(msg, group).await
    }

    /// Sends `msg` to every known peer (netaio's `broadcast`); how many
    /// it went to. Sealed once unless a plugin is peer-specific. Peers
    /// are learned from datagrams, so an unverified one is sent no more
    /// bytes than it sent (and rate-limited), and the whole broadcast no
    /// more than [`NodeLimits::max_unverified_fanout`] to unverified ones:
    /// a spoofed advertisement cannot make a node flood its victim.
    pub async fn broadcast(&self, msg: Message) -> Result<usize, NodeError> {
        let to: Vec<SocketAddr> = self.peers().into_iter().map(|p| p.addr).collect();
        self.fan_out(msg, to.into_iter().map(|a| (a, true)).collect())
            .await
    }

    /// Sends `msg` to the subscribers of `key` (netaio's `notify`); how
    /// many it went to. A subscription a received datagram made is, unless
    /// its address is verified, sent no more bytes than that address sent
    /// ([`NodeLimits::unverified_credit`]) and rate-limited per source IP;
    /// all of them together get at most
    /// [`NodeLimits::max_unverified_fanout`] bytes of this notification.
    pub async fn notify(&self, key: &[u8], msg: Message) -> Result<usize, NodeError> {
        let subs = self.shared.subscribers_of(key);
        self.fan_out(msg, subs).await
    }

    /// Sends `msg` to each address; `true` beside one means a datagram
    /// made it (then, unless it is verified, the guard decides, and the
    /// fan-out's bytes to such addresses are capped).
    async fn fan_out(&self, msg: Message, to: Vec<(SocketAddr, bool)>) -> Result<usize, NodeError> {
        self.live()?;
        let once = !self.shared.pipeline.instance().is_peer_specific();
        let shared_frame = match (once, to.first()) {
            (true, Some((first, _))) => Some(self.shared.seal(msg.clone(), *first, None)?),
            _ => None,
        };
        let mut sent = 0;
        let cap = self.shared.limits.max_unverified_fanout;
        let mut unverified = 0usize;
        for (addr, remote) in to {
            let frame = match &shared_frame {
                Some(f) => f.clone(),
                None => match self.shared.seal(msg.clone(), addr, None) {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::debug!(error = %e, %addr, "not sealed for this peer");
                        continue;
                    }
                },
            };
            if remote && !self.shared.is_verified(addr) {
                let total = unverified.saturating_add(frame.len());
                if total > cap {
                    Counters::add(&self.shared.counters.fanout_capped, 1);
                    continue;
                }
                if !self.shared.guard_permits(addr, frame.len(), None) {
                    continue;
                }
                unverified = total;
            }
            if self.shared.send_frame(&frame, addr).await.is_ok() {
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// Subscribes `addr` to `key` (netaio's `subscribe`).
    /// The application chose the address: the subscription never expires
    /// and is not limited by the guard (see [`Origin::subscribe`](super::Origin::subscribe)
    /// for one a datagram asks for).
    pub fn subscribe(&self, key: impl Into<Bytes>, addr: SocketAddr) -> Result<(), NodeError> {
        self.shared.subscribe(key.into(), addr, Made::App)
    }

    /// Unsubscribes `addr` from `key`; whether it was subscribed.
    pub fn unsubscribe(&self, key: &[u8], addr: SocketAddr) -> bool {
        lock(&self.shared.subs).remove(key, addr)
    }

    /// The addresses subscribed to `key` (expired ones are dropped first).
    pub fn subscribers(&self, key: &[u8]) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self
            .shared
            .subscribers_of(key)
            .into_iter()
            .map(|(a, _)| a)
            .collect();
        v.sort();
        v
    }

    /// The peers the node knows, by id (none without peer management).
    pub fn peers(&self) -> Vec<Peer> {
        self.shared
            .peers
            .as_ref()
            .map(|p| p.all())
            .unwrap_or_default()
    }

    /// The peer with this id.
    pub fn peer(&self, id: &[u8]) -> Option<Peer> {
        self.shared.peers.as_ref()?.get(id)
    }

    /// The peer last heard from `addr`.
    pub fn peer_at(&self, addr: SocketAddr) -> Option<Peer> {
        self.shared.peers.as_ref()?.at(addr)
    }

    /// Forgets a peer and its address's subscriptions.
    pub fn remove_peer(&self, id: &[u8]) -> Option<Peer> {
        let peer = self.shared.peers.as_ref()?.remove(id)?;
        self.shared.forget_subscriptions(peer.addr);
        Some(peer)
    }

    /// The node's counters.
    pub fn stats(&self) -> NodeStats {
        let peers = self.shared.peers.as_ref().map_or(0, |p| p.len());
        self.shared.counters.snapshot(peers)
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.shared.stop.is_cancelled()
    }

    /// Stops the node: with peer management it first says DISCONNECT (to
    /// the group, the seeds and every known peer, as netaio does to the
    /// group), then the loops end, waiting requests fail with
    /// [`NodeError::Stopped`], and handler calls get up to a second to
    /// finish.
    pub async fn stop(&self) {
        if self.shared.stop.is_cancelled() {
            return;
        }
        // With peer management, DISCONNECT first (netaio says it to the group).
        self.shared.announce(MessageType::DISCONNECT, true).await;
        self.shared.stop.cancel();
        self.shared.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.shared.tasks.wait()).await;
    }

    pub(super) fn live(&self) -> Result<(), NodeError> {
        if self.shared.stop.is_cancelled() {
            Err(NodeError::Stopped)
        } else {
            Ok(())
        }
    }
}
