//! The one path every received message takes, on the server and on the
//! client alike: sans-I/O steps from a decoded frame to what its
//! connection must do — send these bytes, call this handler, close, count.
//!
//! ```text
//! receive: instance plugins open ─► control (ping) ─► offered to requests
//!          and streams (client) ─► route ─► handler plugins open ─► Call
//! respond: handler result ─► error mapping ─► request id ─► seal
//!          (handler layer, then instance layer) ─► frame
//! ```
//!
//! It owns netaio's plugin order (through [`auth::Stack`](crate::auth)),
//! the control messages and request ids of [`crate::protocol`], how a
//! refusal or a damaged frame is answered and counted, and the caps that
//! close a connection. It must not touch sockets, timers, queues or tasks:
//! the connection shells in `server/` and `client/` do, and they call the
//! handler the pipeline picks (it is async; the pipeline is not).

mod receive;
mod respond;

pub(crate) use respond::CallResult;

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

use std::net::SocketAddr;

use crate::auth::{
    AuthError, AuthFailurePolicy, Identity, Link, NonceTag, PluginLayer, Role, Stack,
};
use crate::protocol::{RequestId, SessionId};
use crate::wire::{self, EncodeError, FrameConfig, Message, MessageType};

/// Which end of a connection a pipeline serves: servers answer pings and
/// refusals and reply with handler errors; clients absorb pongs and stay
/// silent, as netaio's client does. A peer (netaio's UDP node) is both:
/// it answers as a server does, without logins, permissions or a
/// connection to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
    Peer,
}

impl Side {
    fn role(self) -> Role {
        match self {
            Side::Server => Role::Server,
            Side::Client => Role::Client,
            Side::Peer => Role::Peer,
        }
    }

    /// Whether this side answers what it receives (refusals, damaged
    /// frames, handler errors, request ids): everyone but a client.
    fn answers(self) -> bool {
        self != Side::Client
    }
}

/// What a peer may get wrong on one connection before it is closed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    pub(crate) checksum_errors: u32,
    pub(crate) auth_failures: u32,
    /// What a refused frame gets, under the cap.
    pub(crate) on_auth_failure: AuthFailurePolicy,
}

impl Caps {
    /// No cap: damaged and refused frames are dropped forever (the client,
    /// whose only peer is its server).
    pub(crate) const NONE: Caps = Caps {
        checksum_errors: u32::MAX,
        auth_failures: u32::MAX,
        on_auth_failure: AuthFailurePolicy::Reply,
    };
}

/// One side's settings; shared by all its connections.
pub(crate) struct Pipeline {
    side: Side,
    instance: PluginLayer,
    frame: FrameConfig,
    /// Frame limits until a frame passed the instance auth plugin.
    pre_auth: FrameConfig,
    caps: Caps,
    /// A login message must come before anything is routed.
    login_required: bool,
    /// This node's nonce mark (see [`NonceTag`]).
    tag: NonceTag,
}

/// What the pipeline remembers about the peer of one connection.
#[derive(Debug)]
pub(crate) struct PeerState {
    role: Role,
    tag: NonceTag,
    connection: Option<u64>,
    addr: Option<SocketAddr>,
    /// The connection's session: picked by a client when it connects,
    /// learned by a server from the first accepted frame.
    session: Option<SessionId>,
    /// Who the peer proved to be: given by the shell (mutual TLS) or
    /// learned from the first frame an identity-aware plugin verified;
    /// never changes afterwards.
    identity: Option<Identity>,
    authenticated: bool,
    /// Whether the instance auth plugin was asked who the peer is (once,
    /// on the first verified frame: not a virtual call per frame).
    identity_asked: bool,
    /// Whether the login gate let the peer in (always, without a gate).
    logged_in: bool,
    /// Whether a verified frame showed the peer speaks framewire (a
    /// request id, a ping, a login): only those get framewire's own
    /// notices, which netaio peers would not understand.
    framewire: bool,
    checksum_errors: u32,
    auth_failures: u32,
    /// The peer's advertised data, for plugins keyed per peer (a UDP
    /// node knows it from its peer table).
    peer_data: Option<Bytes>,
}

impl PeerState {
    /// Whether the peer is in: a frame passed the instance auth plugin
    /// (always, when there is none) and the login gate let it in (always,
    /// without a gate).
    pub(crate) fn is_admitted(&self) -> bool {
        self.authenticated && self.logged_in
    }

    /// The link plugins see for this connection.
    pub(crate) fn link(&self) -> Link<'_> {
        Link::new(self.role)
            .peer(self.addr)
            .connection(self.connection)
            .session(self.session.as_ref())
            .tag(Some(&self.tag))
            .identity(self.identity.as_ref())
            .peer_data(self.peer_data.as_ref())
    }

    /// Sets the peer's advertised data (see [`Link::peer_data`]).
    pub(crate) fn with_peer_data(mut self, data: Option<Bytes>) -> Self {
        self.peer_data = data;
        self
    }

    /// Replaces the peer's advertised data (it announced new data, or
    /// first announced itself mid-connection).
    pub(crate) fn set_peer_data(&mut self, data: Option<Bytes>) {
        self.peer_data = data;
    }

    /// Whether the peer's advertised data is known.
    pub(crate) fn has_peer_data(&self) -> bool {
        self.peer_data.is_some()
    }

    /// The peer's identity, once known.
    pub(crate) fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// Fixes the identity the transport proved (a client certificate)
    /// before any frame is read.
    pub(crate) fn with_identity(mut self, identity: Option<Identity>) -> Self {
        self.identity = identity;
        self
    }

    /// The connection's session, once known.
    pub(crate) fn session(&self) -> Option<SessionId> {
        self.session
    }

    /// Whether the peer has shown it speaks framewire.
    pub(crate) fn speaks_framewire(&self) -> bool {
        self.framewire
    }
}

/// Something a shell adds to its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Count {
    ChecksumError,
    AuthFailure,
    /// A verified frame refused because the replay cache is full (the
    /// server's capacity, not the peer's fault).
    ReplayCapacity,
    DecryptFailure,
    HandlerError,
    HandlerPanic,
    /// A typed handler's extractor refused the message
    /// ([`HandlerError::is_rejection`](crate::handler::HandlerError::is_rejection)).
    ContentRejected,
    /// A login the gate (or the version check) refused.
    LoginRefused,
    /// A message its sender's permissions do not allow (answered
    /// NOT_PERMITTED, not handled).
    PermissionDenied,
}

/// Why the pipeline closes a connection; the text goes to the peer in the
/// last (unsigned) ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CloseReason {
    #[error("too many invalid messages")]
    TooManyChecksumErrors,
    #[error("too many auth failures")]
    TooManyAuthFailures,
    #[error("login refused")]
    LoginRefused,
    #[error("authentication failed")]
    AuthFailed,
    /// The client certificate and the user's key name different parties.
    #[error("authentication failed")]
    IdentityConflict,
}

/// What the connection must do after one step.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// A frame to send, sealed and encoded.
    pub(crate) send: Option<Bytes>,
    /// Close the connection (after sending `send`, without waiting for
    /// queue room).
    pub(crate) close: Option<CloseReason>,
    /// What to count.
    pub(crate) count: Option<Count>,
}

impl Outcome {
    fn nothing() -> Self {
        Outcome::default()
    }

    fn send(frame: Option<Bytes>) -> Self {
        Outcome {
            send: frame,
            ..Outcome::default()
        }
    }

    fn counted(mut self, count: Count) -> Self {
        self.count = Some(count);
        self
    }
}

/// A route's value as the pipeline needs it: its plugin layer.
pub(crate) trait Route: Clone {
    /// The per-handler plugin layer stacked on the instance one, if any.
    fn layer(&self) -> Option<&PluginLayer>;
}

/// Where one side's opened messages go.
pub(crate) trait Sink {
    type Route: Route;

    /// Offers `msg` to what takes messages before the handlers (the
    /// client's waiting requests and subscription streams); returns it
    /// if nothing took it for good.
    fn offer(&mut self, msg: Message) -> Option<Message> {
        Some(msg)
    }

    /// The handler for `msg`: on a server always one (the default at
    /// worst); on a client, none for a message no handler wants.
    fn route(&mut self, msg: &Message) -> Option<Cow<'_, Self::Route>>;

    /// An AUTH_ERROR that failed this side's own check (the peers hold
    /// different secrets). Returns whether something took it.
    fn unverified_error(&mut self, _msg: Message) -> bool {
        false
    }

    /// The server asked its clients to move elsewhere (client side).
    fn drain(&mut self) {}

    /// Looks up what the peer advertised (its peer-table entry) into
    /// `peer`, for plugins keyed per peer; nothing on a side without a
    /// peer table.
    fn refresh_peer_data(&mut self, _peer: &mut PeerState) {}
}

/// One step of [`Pipeline::receive`].
pub(crate) enum Step<'s, R: Route> {
    /// Nothing more to do than this.
    Done(Outcome),
    /// Call the route's handler with the message, then
    /// [`Pipeline::respond`] with its result.
    Call(Call<'s, R>),
    /// The message was refused (the outcome says how) before reaching the
    /// one-shot route it had consumed: give the route back to the router,
    /// so a refused message does not use it up.
    Refused(Outcome, R),
    /// A login message: run the login gate, then
    /// [`Pipeline::login_done`] with its answer (servers only).
    Login(LoginCall),
}

/// A login the pipeline asks the server shell to decide.
#[derive(Debug)]
pub(crate) struct LoginCall {
    /// The login message's content (copied out of the read buffer).
    pub(crate) content: Bytes,
    /// The protocol version it announced.
    pub(crate) version: Option<u64>,
    pub(crate) rid: Option<RequestId>,
}

/// A handler call the pipeline asks a shell to make.
pub(crate) struct Call<'s, R: Route> {
    pub(crate) route: Cow<'s, R>,
    pub(crate) msg: Message,
    pub(crate) reply_to: ReplyTo,
}

/// What a reply needs from the request it answers.
#[derive(Debug, Clone)]
pub(crate) struct ReplyTo {
    rid: Option<RequestId>,
    uri: Bytes,
}

/// Why an outgoing message could not become a frame.
#[derive(Debug)]
pub(crate) enum SealError {
    Auth(AuthError),
    Encode(EncodeError),
}

impl Pipeline {
    pub(crate) fn new(side: Side, instance: PluginLayer, frame: FrameConfig) -> Self {
        Pipeline {
            side,
            instance,
            frame,
            pre_auth: frame,
            caps: Caps::NONE,
            login_required: false,
            tag: NonceTag::random(),
        }
    }

    /// Until a frame has passed the instance auth plugin, frames larger
    /// than `max` are refused (only applies with an auth plugin).
    pub(crate) fn pre_auth_max_frame_len(mut self, max: usize) -> Self {
        if self.instance.auth().is_some() {
            self.pre_auth = self.frame.max_frame_len(self.frame.max_frame_len.min(max));
        }
        self
    }

    /// Requires a login message first (servers with a login gate).
    pub(crate) fn login_required(mut self, yes: bool) -> Self {
        self.login_required = yes;
        self
    }

    pub(crate) fn caps(mut self, caps: Caps) -> Self {
        self.caps = caps;
        self
    }

    /// The instance-wide plugin layer.
    pub(crate) fn instance(&self) -> &PluginLayer {
        &self.instance
    }

    /// A new connection's state: authenticated at once when there is no
    /// instance auth plugin. A client passes the session it picked for the
    /// connection; a server learns it from the first accepted frame.
    pub(crate) fn peer(
        &self,
        connection: Option<u64>,
        addr: Option<SocketAddr>,
        session: Option<SessionId>,
    ) -> PeerState {
        PeerState {
            role: self.side.role(),
            tag: self.tag.clone(),
            connection,
            addr,
            session,
            identity: None,
            authenticated: self.instance.auth().is_none(),
            identity_asked: false,
            logged_in: !self.login_required,
            framewire: false,
            checksum_errors: 0,
            auth_failures: 0,
            peer_data: None,
        }
    }

    /// How this side signs when no connection is involved (a fan-out
    /// sealed once for every receiver).
    pub(crate) fn link(&self) -> Link<'_> {
        Link::new(self.side.role()).tag(Some(&self.tag))
    }

    /// This node's nonce mark, for links made elsewhere.
    pub(crate) fn tag(&self) -> &NonceTag {
        &self.tag
    }

    /// The limits the next frame from `peer` is decoded with.
    /// Whether a peer must prove something before it is in: pass an
    /// instance auth plugin, or log in.
    pub(crate) fn has_auth(&self) -> bool {
        self.instance.auth().is_some() || self.login_required
    }

    /// The frame layout both ends speak.
    #[cfg(feature = "testing")]
    pub(crate) fn profile(&self) -> crate::wire::Profile {
        self.frame.profile
    }

    pub(crate) fn frame_for(&self, peer: &PeerState) -> &FrameConfig {
        if peer.authenticated {
            &self.frame
        } else {
            &self.pre_auth
        }
    }

    /// Seals `msg` (the handler layer, if any, then the instance layer)
    /// and frames it into `scratch`, whose memory is reused once the
    /// frames split off it have been written.
    pub(crate) fn seal_into(
        &self,
        msg: Message,
        handler: Option<&PluginLayer>,
        link: &Link<'_>,
        scratch: &mut BytesMut,
    ) -> Result<Bytes, SealError> {
        self.seal_append(msg, handler, link, scratch)?;
        Ok(scratch.split().freeze())
    }

    /// [`seal_into`](Self::seal_into), leaving the frame in `out` after
    /// what it held (on error `out` is left as it was).
    pub(crate) fn seal_append(
        &self,
        msg: Message,
        handler: Option<&PluginLayer>,
        link: &Link<'_>,
        out: &mut BytesMut,
    ) -> Result<(), SealError> {
        let stack = Stack {
            instance: &self.instance,
            handler,
        };
        let msg = stack.seal(msg, link).map_err(SealError::Auth)?;
        wire::encode_frame(&msg, &self.frame, out).map_err(SealError::Encode)
    }

    /// [`seal_into`](Self::seal_into) a fresh buffer, instance layer only.
    pub(crate) fn seal(&self, msg: Message, link: &Link<'_>) -> Result<Bytes, SealError> {
        self.seal_into(msg, None, link, &mut BytesMut::new())
    }

    /// [`seal`](Self::seal) with a per-call layer inside the instance one
    /// (netaio's per-call plugins).
    pub(crate) fn seal_with(
        &self,
        msg: Message,
        layer: Option<&PluginLayer>,
        link: &Link<'_>,
    ) -> Result<Bytes, SealError> {
        self.seal_into(msg, layer, link, &mut BytesMut::new())
    }

    /// Opens a per-call `layer` on a message the instance layer already
    /// opened (a reply to a request sealed with that layer).
    pub(crate) fn open_with(
        &self,
        msg: Message,
        layer: &PluginLayer,
        link: &Link<'_>,
    ) -> Result<Message, AuthError> {
        let stack = Stack {
            instance: &self.instance,
            handler: Some(layer),
        };
        stack.open_handler(msg, link).map_err(|r| r.error)
    }

    /// Frames `msg` as it is, without plugins: netaio sends its auth errors
    /// unsigned, and a last error may go to a peer that cannot verify.
    pub(crate) fn encode_plain(&self, msg: &Message) -> Result<Bytes, EncodeError> {
        let mut buf = BytesMut::new();
        wire::encode_frame(msg, &self.frame, &mut buf)?;
        Ok(buf.freeze())
    }

    /// The last frame a server sends before closing a connection: an
    /// unsigned ERROR saying why (always ERROR: `Message::error` would type
    /// a text mentioning "auth" as AUTH_ERROR). None but on a server.
    pub(crate) fn farewell(&self, why: &str) -> Option<Bytes> {
        if self.side != Side::Server {
            return None;
        }
        let msg = Message::new(MessageType::ERROR, "ERROR", why.to_owned());
        self.encode_plain(&msg).ok()
    }
}

#[cfg(test)]
mod tests;
