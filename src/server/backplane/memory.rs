//! [`MemoryBackplane`]: instances in one process share one, for tests and
//! for embedding several servers in one program.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::sync::lock;

use super::{Backplane, Inbound};

/// A backplane inside one process: every clone is the same hub, and an
/// envelope published on it is delivered to every started instance
/// before `publish` returns. [`set_available`](Self::set_available)
/// simulates an outage.
///
/// ```
/// use framewire::server::{MemoryBackplane, Server};
///
/// let hub = MemoryBackplane::new();
/// let a = Server::builder().subscriptions().backplane(hub.clone()).instance_id("a").build();
/// let b = Server::builder().subscriptions().backplane(hub.clone()).instance_id("b").build();
/// # drop((a, b));
/// ```
#[derive(Clone, Default)]
pub struct MemoryBackplane {
    hub: Arc<Hub>,
}

#[derive(Default)]
struct Hub {
    instances: Mutex<Vec<Inbound>>,
    down: AtomicBool,
}

impl MemoryBackplane {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// While unavailable, `publish` drops everything (and instances count
    /// it), as a Redis that is down would.
    pub fn set_available(&self, up: bool) {
        self.hub.down.store(!up, Relaxed);
        for inbound in lock(&self.hub.instances).iter() {
            inbound.set_connected(up);
        }
    }
}

impl Backplane for MemoryBackplane {
    fn start(&self, inbound: Inbound) {
        inbound.set_connected(!self.hub.down.load(Relaxed));
        let mut instances = lock(&self.hub.instances);
        instances.retain(|i| !i.is_closed());
        instances.push(inbound);
    }

    fn publish(&self, envelope: Bytes) -> bool {
        if self.hub.down.load(Relaxed) {
            return false;
        }
        // Delivered outside the lock: a receiving server may publish in
        // turn (a handler reacting to a notification, say).
        let instances = lock(&self.hub.instances).clone();
        for inbound in instances {
            inbound.deliver(&envelope);
        }
        true
    }
}

impl std::fmt::Debug for MemoryBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackplane")
            .field("instances", &lock(&self.hub.instances).len())
            .field("available", &!self.hub.down.load(Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_it_publishes_nothing_and_says_so() {
        let hub = MemoryBackplane::new();
        assert_eq!(
            format!("{hub:?}"),
            "MemoryBackplane { instances: 0, available: true }"
        );
        assert!(hub.publish(Bytes::from_static(b"x")));
        hub.set_available(false);
        assert!(!hub.publish(Bytes::from_static(b"x")));
        assert_eq!(
            format!("{hub:?}"),
            "MemoryBackplane { instances: 0, available: false }"
        );
    }
}
