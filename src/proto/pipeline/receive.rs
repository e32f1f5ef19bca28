//! The receive half: from a decoded (or damaged) frame to a reply, a drop,
//! a close, or a handler call.

use tracing::debug;

use std::borrow::Cow;

use bytes::Bytes;

use crate::auth::{
    AuthFailurePolicy, Identity, IdentitySource, Layer, Rejection, RejectionKind, Stack,
};
use crate::protocol::{self, RequestId, SessionId};
use crate::wire::{DecodeError, Message, MessageType};

use super::{
    Call, CloseReason, Count, LoginCall, Outcome, PeerState, Pipeline, ReplyTo, Route, Side, Sink,
    Step,
};

/// What a server answers (signed) to a verified frame its full replay
/// cache cannot take: the server's capacity, so the client does not blame
/// its secret. No "auth" in the text, so netaio's typing makes it ERROR.
pub(crate) const REPLAY_CACHE_FULL: &str = "server busy: replay cache full, try again";

/// What a server with a login gate answers to anything before a login.
pub(crate) const LOGIN_REQUIRED: &str = "login required";

impl Pipeline {
    /// netaio's receive order: instance auth check → instance decrypt →
    /// control messages → (client: waiting requests and streams) → route,
    /// keyed on the decrypted message → handler auth check → handler
    /// decrypt → the handler call, which the shell makes.
    pub(crate) fn receive<'s, S: Sink>(
        &self,
        peer: &mut PeerState,
        msg: Message,
        sink: &'s mut S,
    ) -> Step<'s, S::Route> {
        let rid = RequestId::of(&msg);
        // An AUTH_ERROR this client cannot verify still tells a waiting
        // request what happened (the secrets differ), instead of it timing
        // out; keep the original to hand over.
        let unverified = (self.side == Side::Client && msg.message_type == MessageType::AUTH_ERROR)
            .then(|| msg.clone());
        let stack = Stack {
            instance: &self.instance,
            handler: None,
        };
        let msg = match stack.open_instance(msg, &peer.link()) {
            Ok(m) => m,
            Err(rejection) => {
                if let Some(original) = unverified {
                    if sink.unverified_error(original) {
                        return Step::Done(Outcome::nothing());
                    }
                }
                return Step::Done(self.refused(peer, rejection, rid));
            }
        };
        peer.authenticated = true;
        if !peer.framewire {
            peer.framewire = rid.is_some() || protocol::is_ping(&msg) || protocol::is_login(&msg);
        }
        if peer.session.is_none() {
            peer.session = SessionId::of(&msg);
        }
        if !peer.identity_asked {
            // The first verified frame says who the peer is, for good: a
            // later frame signed as anyone else fails the plugin's check.
            peer.identity_asked = true;
            if let Some(proven) = self.instance.auth().and_then(|a| a.identity(&msg)) {
                // One identity per connection: a certificate (mutual TLS)
                // and a user's key must name the same party, and the user's
                // permissions are what is enforced.
                match Identity::settle(peer.identity.take(), proven) {
                    Ok(settled) => peer.identity = Some(settled),
                    Err(conflict) => {
                        debug!(%conflict, "identity conflict");
                        return Step::Done(
                            self.closing(CloseReason::IdentityConflict, Count::AuthFailure),
                        );
                    }
                }
            }
        }
        match self.side {
            // Answered before routing, so it never reaches (or depends on)
            // the application's handlers.
            Side::Server | Side::Peer if protocol::is_ping(&msg) => {
                // A ping with a request id (Client::ping) gets it back.
                let mut pong = protocol::pong();
                if let Some(rid) = rid {
                    rid.attach(&mut pong);
                }
                let pong = self.seal(pong, &peer.link()).ok();
                return Step::Done(Outcome::send(pong));
            }
            // The keepalive's pong (no request id) ends here; one with an
            // id answers a Client::ping waiting for it.
            Side::Client if protocol::is_pong(&msg) && rid.is_none() => {
                return Step::Done(Outcome::nothing())
            }
            Side::Client if protocol::is_drain(&msg) => {
                sink.drain();
                return Step::Done(Outcome::nothing());
            }
            _ => {}
        }
        if self.side == Side::Server && protocol::is_login(&msg) {
            if peer.logged_in {
                // Already in (or no gate at all): a login is answered, not
                // routed, so clients that log in work with any server.
                return Step::Done(self.login_done(peer, Ok(None), rid));
            }
            return Step::Login(LoginCall {
                content: Bytes::copy_from_slice(msg.content()),
                version: protocol::version_of(&msg),
                rid,
            });
        }
        if !peer.logged_in {
            return Step::Done(self.login_first(peer, rid));
        }
        let Some(msg) = sink.offer(msg) else {
            return Step::Done(Outcome::nothing());
        };
        let Some(route) = sink.route(&msg) else {
            return Step::Done(Outcome::nothing());
        };
        let stack = Stack {
            instance: &self.instance,
            handler: route.layer(),
        };
        let msg = match stack.open_handler(msg, &peer.link()) {
            Ok(m) => m,
            Err(rejection) => {
                let outcome = self.refused(peer, rejection, rid);
                return match route {
                    Cow::Owned(one_shot) => Step::Refused(outcome, one_shot),
                    Cow::Borrowed(_) => Step::Done(outcome),
                };
            }
        };
        // Permissions judge the message the handler would act on: after
        // the handler's own plugins, since a handler cipher may hide the
        // uri on the wire (netaio's encrypts it), and a check of the wire
        // uri would let deny lists fail open (and allow lists fail shut).
        // Still before the handler runs: a refusal changes nothing.
        if let Some(refusal) = self.not_permitted(peer, &msg, rid) {
            return match route {
                Cow::Owned(one_shot) => Step::Refused(refusal, one_shot),
                Cow::Borrowed(_) => Step::Done(refusal),
            };
        }
        let reply_to = ReplyTo {
            rid,
            uri: msg.body.uri.clone(),
        };
        Step::Call(Call {
            route,
            msg,
            reply_to,
        })
    }

    /// A message before the login gate let the peer in: refused as an auth
    /// failure (AUTH_ERROR `login required`, capped like one), not routed.
    fn login_first(&self, peer: &mut PeerState, rid: Option<RequestId>) -> Outcome {
        if let Some(outcome) = self.auth_failed(peer) {
            return outcome;
        }
        let mut refusal = Message::new(MessageType::AUTH_ERROR, "ERROR", LOGIN_REQUIRED);
        if let Some(id) = rid {
            id.attach(&mut refusal);
        }
        Outcome::send(self.sealed_or_plain(refusal, peer)).counted(Count::AuthFailure)
    }

    /// The gate's answer to a login: OK (the peer is in, with the gate's
    /// identity if it gave one), or AUTH_ERROR with the gate's reason, and
    /// the connection closed.
    pub(crate) fn login_done(
        &self,
        peer: &mut PeerState,
        result: Result<Option<Identity>, String>,
        rid: Option<RequestId>,
    ) -> Outcome {
        // Every later frame is signed as the user its key proved: a gate
        // that names someone else would have them all refused, so such a
        // login is refused itself, with a reason.
        let result = result.and_then(|given| match (&peer.identity, given) {
            (Some(proven), Some(given))
                if proven.source() == IdentitySource::User && proven.name() != given.name() =>
            {
                Err(format!(
                    "the login gate named {:?}, the key is {:?}'s",
                    given.name(),
                    proven.name()
                ))
            }
            (_, given) => Ok(given),
        });
        let (mut reply, refused) = match result {
            Ok(identity) => {
                peer.logged_in = true;
                if let Some(given) = identity {
                    peer.identity = Some(given.within(peer.identity.as_ref()));
                }
                (Message::respond(protocol::LOGIN_URI, "logged in"), false)
            }
            Err(reason) => (
                Message::new(MessageType::AUTH_ERROR, protocol::LOGIN_URI, reason),
                true,
            ),
        };
        if let Some(id) = rid {
            id.attach(&mut reply);
        }
        let send = self.sealed_or_plain(reply, peer);
        if refused {
            return Outcome {
                send,
                close: Some(CloseReason::LoginRefused),
                count: Some(Count::LoginRefused),
            };
        }
        Outcome::send(send)
    }

    /// Sealed for the peer if the plugins can (a refusal may come before
    /// there is a key to sign with), else plain.
    fn sealed_or_plain(&self, msg: Message, peer: &PeerState) -> Option<Bytes> {
        match self.seal(msg.clone(), &peer.link()) {
            Ok(frame) => Some(frame),
            Err(_) => self.encode_plain(&msg).ok(),
        }
    }

    /// NOT_PERMITTED (signed, with the uri and the request id) if the
    /// peer's permissions refuse `msg`: nothing else happens, no handler
    /// runs. Servers only: a server's messages are not policed.
    fn not_permitted(
        &self,
        peer: &PeerState,
        msg: &Message,
        rid: Option<RequestId>,
    ) -> Option<Outcome> {
        if self.side != Side::Server {
            return None;
        }
        if peer.identity.as_ref()?.permits(msg) {
            return None;
        }
        debug!(uri = ?msg.body.uri, "not permitted");
        let mut reply = Message::not_permitted(msg.body.uri.clone());
        if let Some(id) = rid {
            id.attach(&mut reply);
        }
        Some(Outcome::send(self.seal(reply, &peer.link()).ok()).counted(Count::PermissionDenied))
    }

    /// A frame whose checksum did not match: netaio answers ERROR `invalid
    /// message` (through the instance plugins) and keeps the connection;
    /// past the cap it is closed. A client drops it, as netaio's does.
    pub(crate) fn damaged(&self, peer: &mut PeerState, error: &DecodeError) -> Outcome {
        debug!(%error, "checksum mismatch");
        if !self.side.answers() {
            return Outcome::nothing().counted(Count::ChecksumError);
        }
        peer.checksum_errors = peer.checksum_errors.saturating_add(1);
        if peer.checksum_errors > self.caps.checksum_errors {
            return self.closing(CloseReason::TooManyChecksumErrors, Count::ChecksumError);
        }
        let reply = self.seal(Message::error("invalid message"), &peer.link());
        Outcome::send(reply.ok()).counted(Count::ChecksumError)
    }

    /// How a refusal is answered and counted ([`RejectionKind`] decided
    /// where the plugin refused).
    fn refused(
        &self,
        peer: &mut PeerState,
        rejection: Rejection,
        rid: Option<RequestId>,
    ) -> Outcome {
        if rejection.kind == RejectionKind::Decrypt {
            debug!(error = ?rejection.error, "decrypt failed, message dropped");
            return Outcome::nothing().counted(Count::DecryptFailure);
        }
        debug!(error = ?rejection.error, "auth check failed");
        let count = match rejection.kind {
            RejectionKind::Capacity => Count::ReplayCapacity,
            _ => Count::AuthFailure,
        };
        if !self.side.answers() {
            return Outcome::nothing().counted(count);
        }
        if rejection.kind == RejectionKind::Capacity {
            // The MAC verified: the peer did nothing wrong and may be told,
            // signed, that this is the server's capacity, not its secret.
            let mut busy = Message::error(REPLAY_CACHE_FULL);
            if let Some(id) = rid {
                id.attach(&mut busy);
            }
            return Outcome::send(self.seal(busy, &peer.link()).ok()).counted(count);
        }
        if let Some(outcome) = self.auth_failed(peer) {
            return outcome;
        }
        // The error goes out unsigned, as netaio's does. Nothing of a frame
        // the instance layer refused is echoed, not even its request id (it
        // could be anyone's); past the instance layer the id verified, and
        // lets a framewire client match the refusal at once.
        let verified_id = rid.filter(|_| rejection.layer == Layer::Handler);
        let reply = rejection.reply.and_then(|mut m| {
            if let Some(id) = verified_id {
                id.attach(&mut m);
            }
            self.encode_plain(&m).ok()
        });
        Outcome::send(reply).counted(Count::AuthFailure)
    }

    /// Counts an auth failure against the cap and applies the policy:
    /// `Some` is the whole outcome (closed past the cap, dropped or closed
    /// by policy); `None` means reply as netaio does.
    fn auth_failed(&self, peer: &mut PeerState) -> Option<Outcome> {
        peer.auth_failures = peer.auth_failures.saturating_add(1);
        if peer.auth_failures > self.caps.auth_failures {
            return Some(self.closing(CloseReason::TooManyAuthFailures, Count::AuthFailure));
        }
        match self.caps.on_auth_failure {
            AuthFailurePolicy::Drop => Some(Outcome::nothing().counted(Count::AuthFailure)),
            // Nothing said: not even the farewell a cap sends.
            AuthFailurePolicy::Close => Some(Outcome {
                send: None,
                close: Some(CloseReason::AuthFailed),
                count: Some(Count::AuthFailure),
            }),
            _ => None,
        }
    }

    fn closing(&self, reason: CloseReason, count: Count) -> Outcome {
        Outcome {
            send: self.farewell(&reason.to_string()),
            close: Some(reason),
            count: Some(count),
        }
    }
}

impl<R: Route> Step<'_, R> {
    /// The outcome, if no handler call is needed.
    #[cfg(test)]
    pub(crate) fn done(self) -> Option<Outcome> {
        match self {
            Step::Done(o) => Some(o),
            Step::Refused(o, _) => Some(o),
            Step::Call(_) | Step::Login(_) => None,
        }
    }
}
