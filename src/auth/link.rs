//! What a plugin knows about the connection a message travels on
//! ([`Link`]), and which end of it is which ([`Role`]). netaio hands its
//! plugins the node, the peer and the peer's plugin; framewire hands them
//! this, so a plugin can bind the direction and the session into its MAC,
//! keep replay state per session, and key per peer. Nothing here
//! does I/O.

use std::net::SocketAddr;

use bytes::Bytes;

use super::{Identity, NonceTag};
use crate::protocol::SessionId;

/// Which end of a connection a node is.
///
/// ```
/// use framewire::auth::Role;
///
/// assert_eq!(Role::Client.opposite(), Role::Server);
/// assert_eq!(Role::Peer.opposite(), Role::Peer);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// The end that connected.
    Client,
    /// The end that accepted.
    Server,
    /// Either end of a symmetric link (netaio's UDP nodes).
    Peer,
}

impl Role {
    /// The role of the other end.
    pub fn opposite(self) -> Role {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
            Role::Peer => Role::Peer,
        }
    }

    /// The byte StrictHmac binds for a message signed by this role.
    pub(crate) fn tag(self) -> u8 {
        match self {
            Role::Client => 1,
            Role::Server => 2,
            Role::Peer => 3,
        }
    }
}

/// One end's view of the connection a message travels on. `role` is this
/// end's: the signer's when making, the receiver's when checking (a check
/// expects the message to come from [`Role::opposite`]).
///
/// ```
/// use framewire::auth::{Link, Role};
/// use framewire::protocol::SessionId;
///
/// let sid = SessionId::random();
/// let link = Link::new(Role::Client).session(Some(&sid));
/// assert_eq!(link.role, Role::Client);
/// assert_eq!(link.session, Some(&sid));
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Link<'a> {
    /// This end's role.
    pub role: Role,
    /// The other end's address, when there is a connection.
    pub peer: Option<SocketAddr>,
    /// This end's id for the connection (unique for the life of a server
    /// or client), when there is one.
    pub connection: Option<u64>,
    /// The connection's session id, once known (a client picks it when it
    /// connects; a server learns it from the first verified frame).
    pub session: Option<&'a SessionId>,
    /// This node's nonce mark: HMAC plugins mark the nonces they make with
    /// it and refuse, as a replay, a frame that carries it (their own frame
    /// reflected back). Servers and clients always set it.
    pub tag: Option<&'a NonceTag>,
    /// Who the other end proved to be, once known (mutual TLS, or the
    /// first frame a [`UserHmac`](super::UserHmac) verified).
    pub identity: Option<&'a Identity>,
    /// The other end's advertised peer data (packed, as netaio's
    /// `DefaultPeerPlugin` packs it), when the node knows the peer. Per-peer
    /// ciphers read their key from it (the
    /// [`X25519CipherPlugin`](super::X25519CipherPlugin) its `pubkey`).
    pub peer_data: Option<&'a Bytes>,
}

impl<'a> Link<'a> {
    /// A link with only a role: no connection (messages sealed or opened
    /// by hand, as in tests and tools).
    pub const fn new(role: Role) -> Self {
        Link {
            role,
            peer: None,
            connection: None,
            session: None,
            tag: None,
            identity: None,
            peer_data: None,
        }
    }

    /// Sets [`Link::peer`].
    pub fn peer(mut self, peer: Option<SocketAddr>) -> Self {
        self.peer = peer;
        self
    }

    /// Sets [`Link::connection`].
    pub fn connection(mut self, id: Option<u64>) -> Self {
        self.connection = id;
        self
    }

    /// Sets [`Link::session`].
    pub fn session(mut self, session: Option<&'a SessionId>) -> Self {
        self.session = session;
        self
    }

    /// Sets [`Link::tag`].
    pub fn tag(mut self, tag: Option<&'a NonceTag>) -> Self {
        self.tag = tag;
        self
    }

    /// Sets [`Link::identity`].
    pub fn identity(mut self, identity: Option<&'a Identity>) -> Self {
        self.identity = identity;
        self
    }

    /// Sets [`Link::peer_data`].
    pub fn peer_data(mut self, data: Option<&'a Bytes>) -> Self {
        self.peer_data = data;
        self
    }
}
