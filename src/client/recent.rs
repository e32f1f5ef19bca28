//! Notification ids seen lately: a client moving between instances of one
//! service hears the same relayed notification from both for a moment,
//! and delivers it once. Bounded: the oldest ids are forgotten first.

use std::collections::VecDeque;

use crate::random::HashSet;

use crate::protocol::NotifyId;

/// Ids remembered: far more than can arrive twice during one move.
const KEEP: usize = 4096;

#[derive(Default)]
pub(crate) struct Recent {
    seen: HashSet<NotifyId>,
    order: VecDeque<NotifyId>,
}

impl Recent {
    /// Whether `id` is new (and remembers it).
    pub(crate) fn first_time(&mut self, id: NotifyId) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > KEEP {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_caught_and_memory_is_bounded() {
        let mut r = Recent::default();
        assert!(r.first_time(NotifyId::new(1, 1)));
        assert!(!r.first_time(NotifyId::new(1, 1)));
        assert!(r.first_time(NotifyId::new(2, 1)), "another instance's 1");
        for seq in 2..(KEEP as u64 + 10) {
            assert!(r.first_time(NotifyId::new(1, seq)));
        }
        assert_eq!((r.seen.len(), r.order.len()), (KEEP, KEEP));
        assert!(
            r.first_time(NotifyId::new(1, 1)),
            "forgotten after KEEP more"
        );
    }
}
