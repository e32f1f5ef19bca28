//! Plugins for the library's tests.

use crate::wire::{Message, MessageType};

/// An auth plugin that passes a frame only once the connection's peer
/// data is known (as a per-peer cipher needs it), or an announcement.
#[derive(Debug)]
pub(crate) struct NeedsPeerData;

impl super::AuthPlugin for NeedsPeerData {
    fn make(&self, _m: &mut Message, _l: &super::Link<'_>) -> Result<(), super::AuthError> {
        Ok(())
    }

    fn check(&self, m: &Message, link: &super::Link<'_>) -> Result<(), super::AuthError> {
        if m.message_type == MessageType::ADVERTISE_PEER || link.peer_data.is_some() {
            Ok(())
        } else {
            Err(super::AuthError::BadMac)
        }
    }

    fn is_peer_specific(&self) -> bool {
        true
    }
}
