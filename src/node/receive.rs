//! The node's receive loop: one datagram is one frame, checked for size
//! and shape, then the shared pipeline; a handler call runs in its own
//! task (bounded by `max_in_flight`), and every reply passes the guard.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use bytes::{Bytes, BytesMut};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::handler::catch_panics;
use crate::proto::pipeline::{Sink, Step};
use crate::router::RouteCache;
use crate::wire::{self, DecodeError, Message};

use super::handle::Shared;
use super::pending::is_answer;
use super::stats::Counters;
use super::{NodeHandle, Origin, Route};

/// Reads `socket` until the node stops (or is dropped). Holds the node
/// weakly, so dropping the last handle ends it.
pub(crate) async fn run(socket: Arc<UdpSocket>, node: Weak<Shared>, stop: CancellationToken) {
    let Some(max) = node.upgrade().map(|s| s.limits.max_datagram) else {
        return;
    };
    // One byte more than the largest datagram accepted: a datagram that
    // fills it is oversized (the kernel cuts what does not fit). No UDP
    // payload exceeds 65 535 bytes, whatever the limit says.
    let mut buf = vec![0u8; max.min(usize::from(u16::MAX)).saturating_add(1)];
    let mut cache = None;
    loop {
        let got = tokio::select! {
            _ = stop.cancelled() => return,
            got = socket.recv_from(&mut buf) => got,
        };
        let Some(shared) = node.upgrade() else {
            return;
        };
        let cache = cache.get_or_insert_with(|| shared.router.cache());
        match got {
            Ok((n, from)) => on_datagram(&shared, &buf[..n], from, cache),
            // ICMP errors from earlier sends surface here on some systems;
            // the socket is still good.
            Err(e) => tracing::debug!(error = %e, "receive error"),
        }
    }
}

/// The node's side of the pipeline: waiting requests first, then the
/// handlers; an answer nobody takes is dropped, never answered.
struct Inbox<'a> {
    shared: &'a Shared,
    cache: &'a mut RouteCache<Route>,
    from: SocketAddr,
}

impl Sink for Inbox<'_> {
    type Route = Route;

    fn offer(&mut self, msg: Message) -> Option<Message> {
        self.shared.pending.offer(self.from, msg)
    }

    fn route(&mut self, msg: &Message) -> Option<Cow<'_, Route>> {
        let shared = self.shared;
        match shared.router.lookup_cached(self.cache, msg, self.from) {
            Some(route) => Some(route),
            None if is_answer(msg.message_type) => {
                Counters::add(&shared.counters.unrouted, 1);
                None
            }
            None => Some(Cow::Borrowed(&shared.default)),
        }
    }
}

fn on_datagram(shared: &Arc<Shared>, data: &[u8], from: SocketAddr, cache: &mut RouteCache<Route>) {
    let counters = &shared.counters;
    Counters::add(&counters.datagrams_in, 1);
    Counters::add(&counters.bytes_in, data.len() as u64);
    if data.len() > shared.limits.max_datagram {
        Counters::add(&counters.oversized, 1);
        return;
    }
    if is_own(shared.local, from) {
        // Our own multicast, looped back to us.
        return;
    }
    // What an unverified source sends is what it may be sent back.
    shared.earn(from, data.len());
    let pipeline = &shared.pipeline;
    let mut peer = pipeline
        .peer(None, Some(from), None)
        .with_peer_data(shared.peer_data(from));
    // One exact-size copy per datagram: messages slice it, and the read
    // buffer is reused at once.
    let frame = Bytes::copy_from_slice(data);
    let msg = match wire::decode_exact(frame, pipeline.frame_for(&peer)) {
        Ok(msg) => msg,
        Err(e) if e.is_recoverable() => {
            let outcome = pipeline.damaged(&mut peer, &e);
            return shared.finish(outcome, from, data.len());
        }
        Err(DecodeError::Truncated { .. }) => return Counters::add(&counters.truncated, 1),
        Err(e) => {
            tracing::debug!(error = %e, %from, "datagram dropped");
            return Counters::add(&counters.malformed, 1);
        }
    };
    let cause = data.len();
    let mut inbox = Inbox {
        shared,
        cache,
        from,
    };
    let call = match pipeline.receive(&mut peer, msg, &mut inbox) {
        Step::Done(outcome) => return shared.finish(outcome, from, cause),
        Step::Refused(outcome, one_shot) => {
            shared.router.give_back(cache, one_shot);
            return shared.finish(outcome, from, cause);
        }
        // A peer's pipeline has no login gate.
        Step::Login(_) => return,
        Step::Call(call) => call,
    };
    let Ok(permit) = shared.in_flight.clone().try_acquire_owned() else {
        Counters::add(&counters.overloaded, 1);
        return;
    };
    let route = call.route.into_owned();
    let (msg, reply_to) = (call.msg, call.reply_to);
    let node = NodeHandle {
        shared: shared.clone(),
    };
    shared.tasks.spawn(async move {
        let origin = Origin::new(from, node.clone());
        let result = catch_panics(|| route.handler.call(msg, origin)).await;
        let shared = &node.shared;
        let link = peer.link();
        let layer = route.layer.as_deref();
        let outcome = shared
            .pipeline
            .respond(reply_to, layer, &link, result, &mut BytesMut::new());
        shared.finish(outcome, from, cause);
        drop(permit);
    });
}

/// Whether a datagram from `from` is one this node sent itself.
fn is_own(local: SocketAddr, from: SocketAddr) -> bool {
    from == local
        || (local.ip().is_unspecified() && from.port() == local.port() && from.ip().is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_own;
    use std::net::SocketAddr;

    fn at(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn own_datagrams_are_those_from_the_nodes_address() {
        // Bound to an address: only that address is the node.
        assert!(is_own(at("127.0.0.1:5000"), at("127.0.0.1:5000")));
        assert!(!is_own(at("127.0.0.1:5000"), at("127.0.0.1:5001")));
        assert!(!is_own(at("127.0.0.1:5000"), at("127.0.0.2:5000")));
        // Bound to every address: its port on a loopback address (its
        // multicast, looped back), not the port elsewhere nor another port.
        assert!(is_own(at("0.0.0.0:5000"), at("127.0.0.1:5000")));
        assert!(!is_own(at("0.0.0.0:5000"), at("127.0.0.1:5001")));
        assert!(!is_own(at("0.0.0.0:5000"), at("10.0.0.1:5000")));
        assert!(!is_own(at("127.0.0.1:5000"), at("0.0.0.0:5000")));
    }
}
