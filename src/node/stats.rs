//! The node's counters ([`NodeStats`]): one list of names makes both the
//! atomics the tasks add to and the snapshot the application reads.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::proto::pipeline::Count;

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// What a node has done since it was bound (counters), and how
        /// many peers it knows now.
        ///
        /// ```
        /// let stats = framewire::node::NodeStats::default();
        /// assert_eq!(stats.datagrams_in, 0);
        /// ```
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct NodeStats {
            /// Peers in the table now.
            pub peers: usize,
            $($(#[$doc])* pub $name: u64,)*
        }

        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $(pub(crate) $name: AtomicU64,)*
        }

        impl Counters {
            pub(crate) fn snapshot(&self, peers: usize) -> NodeStats {
                NodeStats {
                    peers,
                    $($name: self.$name.load(Ordering::Relaxed),)*
                }
            }
        }
    };
}

counters! {
    /// Datagrams received (all of them, before any check).
    datagrams_in,
    /// Bytes of datagrams received.
    bytes_in,
    /// Datagrams sent.
    datagrams_out,
    /// Bytes of datagrams sent.
    bytes_out,
    /// Datagrams larger than `NodeLimits::max_datagram`, dropped.
    oversized,
    /// Datagrams shorter than the frame their header announces, dropped.
    truncated,
    /// Datagrams that are not one frame (bad header, trailing bytes,
    /// undecodable auth fields or body), dropped.
    malformed,
    /// Frames whose checksum did not match.
    checksum_errors,
    /// Frames that failed an auth check.
    auth_failures,
    /// Verified frames refused because the replay cache was full.
    replay_capacity_refusals,
    /// Frames dropped because decryption failed.
    decrypt_failures,
    /// Handlers that returned an error.
    handler_errors,
    /// Handlers that panicked.
    handler_panics,
    /// Datagrams dropped because `NodeLimits::max_in_flight` handler
    /// calls were running.
    overloaded,
    /// Answers no request waited for and no handler took, dropped.
    unrouted,
    /// Datagrams not sent to an unverified address: a reply larger than
    /// its request allows, or anything (reply, notification, broadcast)
    /// larger than what the address has sent and not yet been sent back
    /// (`NodeLimits::unverified_credit`).
    amplification_dropped,
    /// Replies, notifications and broadcasts not sent: the source's rate
    /// limit, or the table of sources was full.
    rate_limited,
    /// Notifications and broadcasts not sent to an unverified address:
    /// that notify or broadcast had sent `NodeLimits::max_unverified_fanout`
    /// bytes to unverified addresses already.
    fanout_capped,
    /// Datagrams the socket refused to send.
    send_failed,
}

impl Counters {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds what the pipeline reports.
    pub(crate) fn count(&self, what: Count) {
        let c = match what {
            Count::ChecksumError => &self.checksum_errors,
            Count::AuthFailure | Count::LoginRefused | Count::PermissionDenied => {
                &self.auth_failures
            }
            Count::ReplayCapacity => &self.replay_capacity_refusals,
            Count::DecryptFailure => &self.decrypt_failures,
            Count::HandlerError | Count::ContentRejected => &self.handler_errors,
            Count::HandlerPanic => &self.handler_panics,
        };
        Self::add(c, 1);
    }
}
