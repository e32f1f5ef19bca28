//! The pipeline without sockets: what each kind of frame leads to.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

use super::*;
use crate::auth::{NetaioHmac, NetaioStreamCipher, PluginStack};
use crate::handler::HandlerError;
use crate::protocol::{self, RequestId};
use crate::wire::{DecodeError, FrameConfig, Profile};

const LINK: crate::auth::Link<'static> = crate::auth::Link::new(crate::auth::Role::Server);

#[derive(Clone)]
struct R(Option<PluginLayer>);

impl Route for R {
    fn layer(&self) -> Option<&PluginLayer> {
        self.0.as_ref()
    }
}

/// Routes everything to one route; records what was offered.
struct One {
    route: R,
    offered: Vec<Message>,
    take: bool,
}

impl Sink for One {
    type Route = R;
    fn offer(&mut self, msg: Message) -> Option<Message> {
        self.offered.push(msg.clone());
        (!self.take).then_some(msg)
    }
    fn route(&mut self, _msg: &Message) -> Option<Cow<'_, R>> {
        Some(Cow::Borrowed(&self.route))
    }
}

fn sink(layer: Option<PluginLayer>) -> One {
    One {
        route: R(layer),
        offered: Vec::new(),
        take: false,
    }
}

fn hmac() -> PluginLayer {
    PluginLayer::new().with_auth(NetaioHmac::new("k"))
}

fn server(layer: PluginLayer, caps: Caps) -> Pipeline {
    Pipeline::new(Side::Server, layer, FrameConfig::new(Profile::Netaio))
        .pre_auth_max_frame_len(1000)
        .caps(caps)
}

fn decode(frame: &Bytes) -> Message {
    Message::decode(Profile::Netaio, frame.clone()).unwrap()
}

#[test]
fn a_server_answers_pings_itself_and_routes_the_rest() {
    let p = server(PluginLayer::new(), Caps::NONE);
    let mut peer = p.peer(None, None, None);
    let mut s = sink(None);
    let pong = p
        .receive(&mut peer, protocol::ping(), &mut s)
        .done()
        .unwrap();
    assert_eq!(decode(&pong.send.unwrap()), protocol::pong());
    assert!(s.offered.is_empty(), "a ping is not offered or routed");

    let mut request = Message::new(MessageType::REQUEST_URI, "echo", "hi");
    RequestId::from(9).attach(&mut request);
    let Step::Call(call) = p.receive(&mut peer, request, &mut s) else {
        panic!("routed to the handler");
    };
    assert_eq!(&call.msg.content()[..], b"hi");
    let reply = Message::respond("echo", "hi");
    let out = p.respond(
        call.reply_to,
        None,
        &LINK,
        Ok(Ok(Some(reply))),
        &mut BytesMut::new(),
    );
    let sent = decode(&out.send.unwrap());
    assert_eq!(RequestId::of(&sent), Some(RequestId::from(9)), "id echoed");
    assert_eq!(out.count, None);
}

#[test]
fn refusals_are_answered_unsigned_counted_and_capped() {
    let p = server(
        hmac(),
        Caps {
            checksum_errors: 1,
            auth_failures: 2,
            ..Caps::NONE
        },
    );
    let mut peer = p.peer(None, None, None);
    assert_eq!(p.frame_for(&peer).max_frame_len, 1000, "pre-auth limit");
    let unsigned = || Message::new(MessageType::REQUEST_URI, "echo", "");
    for _ in 0..2 {
        let o = p
            .receive(&mut peer, unsigned(), &mut sink(None))
            .done()
            .unwrap();
        assert_eq!(decode(&o.send.unwrap()), Message::error("HMAC auth failed"));
        assert_eq!((o.count, o.close), (Some(Count::AuthFailure), None));
    }
    let o = p
        .receive(&mut peer, unsigned(), &mut sink(None))
        .done()
        .unwrap();
    assert_eq!(o.close, Some(CloseReason::TooManyAuthFailures));
    let last = decode(&o.send.unwrap());
    assert_eq!(last.message_type, MessageType::ERROR);
    assert_eq!(&last.content()[..], b"too many auth failures");

    // Signed: accepted, and from then on the normal frame limit applies.
    let signed = PluginStack::new(hmac()).seal(unsigned()).unwrap();
    let mut fresh = p.peer(None, None, None);
    assert!(matches!(
        p.receive(&mut fresh, signed, &mut sink(None)),
        Step::Call(_)
    ));
    assert_eq!(p.frame_for(&fresh).max_frame_len, 131_079);
}

#[test]
fn damaged_frames_get_a_signed_error_then_close_past_the_cap() {
    let p = server(
        hmac(),
        Caps {
            checksum_errors: 1,
            auth_failures: 1,
            ..Caps::NONE
        },
    );
    let mut peer = p.peer(None, None, None);
    let crc = DecodeError::ChecksumMismatch {
        message_type: MessageType::OK,
        expected: 1,
        computed: 2,
    };
    let o = p.damaged(&mut peer, &crc);
    let reply = PluginStack::new(hmac())
        .open(decode(&o.send.unwrap()))
        .unwrap();
    assert_eq!(&reply.content()[..], b"invalid message");
    assert_eq!(
        p.damaged(&mut peer, &crc).close,
        Some(CloseReason::TooManyChecksumErrors)
    );
}

#[test]
fn undecryptable_messages_are_dropped_silently() {
    let p = server(
        PluginLayer::new().with_cipher(NetaioStreamCipher::new("k")),
        Caps::NONE,
    );
    let o = p
        .receive(
            &mut p.peer(None, None, None),
            Message::new(MessageType::OK, "x", ""),
            &mut sink(None),
        )
        .done()
        .unwrap();
    assert!(o.send.is_none() && o.close.is_none());
    assert_eq!(o.count, Some(Count::DecryptFailure));
}

#[test]
fn the_handler_layer_opens_after_routing_and_seals_before_the_instance() {
    let p = server(hmac(), Caps::NONE);
    let inner = || PluginLayer::new().with_auth(NetaioHmac::new("inner").hmac_field("camh"));
    let client = PluginStack::new(hmac()).with_handler(inner());
    let sent = client
        .seal(Message::new(MessageType::CREATE_URI, "k", "v"))
        .unwrap();
    let mut s = sink(Some(inner()));
    let Step::Call(call) = p.receive(&mut p.peer(None, None, None), sent, &mut s) else {
        panic!("both layers pass");
    };
    let layer = call.route.layer().cloned();
    let out = p.respond(
        call.reply_to,
        layer.as_ref(),
        &LINK,
        Ok(Ok(Some(Message::ok("k", "stored")))),
        &mut BytesMut::new(),
    );
    let sent = decode(&out.send.unwrap());
    assert!(sent.auth.contains("camh") && sent.auth.contains("hmac"));
    client.open(sent).unwrap();

    // Only the instance layer: the handler layer refuses (and answers).
    let half = PluginStack::new(hmac())
        .seal(Message::new(MessageType::CREATE_URI, "k", "v"))
        .unwrap();
    let o = p
        .receive(
            &mut p.peer(None, None, None),
            half,
            &mut sink(Some(inner())),
        )
        .done()
        .unwrap();
    assert_eq!(decode(&o.send.unwrap()), Message::error("HMAC auth failed"));
}

/// A handler's cipher hides the uri from the check before routing: the
/// decrypted uri is checked too, so `deny_*` lists do not fail open.
#[test]
fn permissions_judge_the_uri_a_handler_cipher_decrypted() {
    use crate::auth::{Identity, IdentitySource, Permissions, Rule};
    let p = server(PluginLayer::new(), Caps::NONE);
    let cipher = || PluginLayer::new().with_cipher(NetaioStreamCipher::new("handler key"));
    let client = PluginStack::new(PluginLayer::new()).with_handler(cipher());
    let rules = Permissions::default()
        .request(Rule::allow(["k/>".parse().unwrap()]).deny(["k/secret/>".parse().unwrap()]));
    let identity = Identity::new("alice", IdentitySource::Certificate)
        .with_permissions(std::sync::Arc::new(rules));
    let peer = || {
        p.peer(None, None, None)
            .with_identity(Some(identity.clone()))
    };
    let sealed = client
        .seal(Message::new(MessageType::CREATE_URI, "k/secret/x", "v"))
        .unwrap();
    assert_ne!(&sealed.uri()[..], b"k/secret/x", "the cipher hides the uri");
    let o = p
        .receive(&mut peer(), sealed, &mut sink(Some(cipher())))
        .done()
        .expect("refused, no handler call");
    assert_eq!(o.count, Some(Count::PermissionDenied));
    let refusal = decode(&o.send.unwrap());
    assert_eq!(refusal.message_type, MessageType::NOT_PERMITTED);
    assert_eq!(&refusal.uri()[..], b"k/secret/x");
    // An allowed uri behind the same cipher reaches its handler.
    let sealed = client
        .seal(Message::new(MessageType::CREATE_URI, "k/open", "v"))
        .unwrap();
    let mut open = sink(Some(cipher()));
    let Step::Call(call) = p.receive(&mut peer(), sealed, &mut open) else {
        panic!("allowed");
    };
    assert_eq!(&call.msg.uri()[..], b"k/open");
}

#[test]
fn handler_failures_become_error_replies_on_a_server_only() {
    let server = server(PluginLayer::new(), Caps::NONE);
    let client = Pipeline::new(Side::Client, PluginLayer::new(), FrameConfig::default());
    let to = || ReplyTo {
        rid: None,
        uri: Bytes::from_static(b"k"),
    };
    let mut scratch = BytesMut::new();
    let o = server.respond(to(), None, &LINK, Ok(Err("boom".into())), &mut scratch);
    assert_eq!(
        decode(&o.send.unwrap()),
        Message::error("boom").with_uri("k")
    );
    assert_eq!(o.count, Some(Count::HandlerError));
    let o = server.respond(to(), None, &LINK, Err(Box::new("bug")), &mut scratch);
    assert_eq!(
        decode(&o.send.unwrap()),
        Message::error("internal error").with_uri("k")
    );
    assert_eq!(o.count, Some(Count::HandlerPanic));
    let o = client.respond(to(), None, &LINK, Ok(Err("boom".into())), &mut scratch);
    assert!(o.send.is_none());
    assert_eq!(o.count, Some(Count::HandlerError));
}

#[test]
fn a_failed_handlers_error_report_is_not_sealed_with_its_routes_layer() {
    let server = server(PluginLayer::new(), Caps::NONE);
    let cipher = PluginLayer::new().with_cipher(NetaioStreamCipher::new("handler key"));
    let to = || ReplyTo {
        rid: None,
        uri: Bytes::from_static(b"k"),
    };
    let mut scratch = BytesMut::new();
    // Its own reply: sealed with the route's layer (netaio's order).
    let ok = Message::respond("k", "secret");
    let o = server.respond(
        to(),
        Some(&cipher),
        &LINK,
        Ok(Ok(Some(ok.clone()))),
        &mut scratch,
    );
    assert_ne!(decode(&o.send.unwrap()), ok, "encrypted");
    // What framewire answers for a failed handler: readable, as every
    // error report the pipeline makes (call_with does not open them).
    let o = server.respond(
        to(),
        Some(&cipher),
        &LINK,
        Ok(Err("refused".into())),
        &mut scratch,
    );
    assert_eq!(
        decode(&o.send.unwrap()),
        Message::error("refused").with_uri("k")
    );
    let o = server.respond(
        to(),
        Some(&cipher),
        &LINK,
        Err(Box::new("bug")),
        &mut scratch,
    );
    assert_eq!(
        decode(&o.send.unwrap()),
        Message::error("internal error").with_uri("k")
    );
}

#[test]
fn a_handler_errors_reply_type_comes_from_how_it_was_made_not_its_text() {
    let server = server(PluginLayer::new(), Caps::NONE);
    let to = || ReplyTo {
        rid: None,
        uri: Bytes::from_static(b"k"),
    };
    let mut scratch = BytesMut::new();
    let mut reply = |e: HandlerError| {
        let o = server.respond(to(), None, &LINK, Ok(Err(e)), &mut scratch);
        decode(&o.send.unwrap())
    };
    // Text netaio's make_error_msg would type: ERROR all the same.
    for text in ["invalid author", "thing not found", "not permitted"] {
        let r = reply(text.into());
        assert_eq!(
            (r.message_type, &r.uri()[..], &r.content()[..]),
            (MessageType::ERROR, &b"k"[..], text.as_bytes()),
        );
    }
    let typed = [
        (
            HandlerError::not_found("no such key"),
            MessageType::NOT_FOUND,
        ),
        (
            HandlerError::not_permitted("read-only"),
            MessageType::NOT_PERMITTED,
        ),
        (HandlerError::auth("token expired"), MessageType::AUTH_ERROR),
    ];
    for (e, want) in typed {
        let r = reply(e);
        assert_eq!((r.message_type, &r.uri()[..]), (want, &b"k"[..]));
    }
}

#[test]
fn a_client_absorbs_pongs_offers_the_rest_and_stays_silent_on_refusals() {
    let p = Pipeline::new(Side::Client, hmac(), FrameConfig::default());
    let signed = |m| PluginStack::new(hmac()).seal(m).unwrap();
    let mut s = sink(None);
    s.take = true;
    assert!(p
        .receive(
            &mut p.peer(None, None, None),
            signed(protocol::pong()),
            &mut s
        )
        .done()
        .is_some());
    assert!(s.offered.is_empty());
    let note = signed(Message::new(MessageType::NOTIFY_URI, "t", "x"));
    assert!(p
        .receive(&mut p.peer(None, None, None), note, &mut s)
        .done()
        .is_some());
    assert_eq!(s.offered.len(), 1, "taken by a request or stream");
    let forged = Message::new(MessageType::NOTIFY_URI, "t", "x");
    let o = p
        .receive(&mut p.peer(None, None, None), forged, &mut s)
        .done()
        .unwrap();
    assert!(o.send.is_none());
    assert_eq!(o.count, Some(Count::AuthFailure));
}

#[test]
fn an_unverifiable_auth_error_is_a_refusal_unless_the_sink_takes_it() {
    // The default sink takes nothing: the AUTH_ERROR we cannot verify is
    // counted as a refusal, silently, like any unsigned frame.
    let p = Pipeline::new(Side::Client, hmac(), FrameConfig::default());
    let mut s = sink(None);
    let unsigned = Message::error("HMAC auth failed");
    assert_eq!(unsigned.message_type, MessageType::AUTH_ERROR);
    let o = p
        .receive(&mut p.peer(None, None, None), unsigned.clone(), &mut s)
        .done()
        .unwrap();
    assert_eq!(
        (o.send.is_none(), o.count),
        (true, Some(Count::AuthFailure))
    );
    // A sink that takes it (the client's, for the waiting request): done,
    // nothing counted.
    struct Takes(One);
    impl Sink for Takes {
        type Route = R;
        fn offer(&mut self, msg: Message) -> Option<Message> {
            self.0.offer(msg)
        }
        fn route(&mut self, msg: &Message) -> Option<Cow<'_, R>> {
            self.0.route(msg)
        }
        fn unverified_error(&mut self, msg: Message) -> bool {
            self.0.offered.push(msg);
            true
        }
    }
    let mut t = Takes(sink(None));
    let o = p
        .receive(&mut p.peer(None, None, None), unsigned, &mut t)
        .done()
        .unwrap();
    assert_eq!((o.send.is_none(), o.count), (true, None));
    assert_eq!(t.0.offered.len(), 1);
}

#[test]
fn a_login_gate_may_not_rename_a_user_its_key_proved() {
    use crate::auth::{Identity, IdentitySource};
    let p = server(hmac(), Caps::NONE);
    let login = |proven: Option<Identity>, given: Option<Identity>| {
        let mut peer = p.peer(None, None, None);
        peer.identity = proven;
        let o = p.login_done(&mut peer, Ok(given), None);
        let who = peer.identity.map(|i| i.name().to_owned());
        (o.close, o.count, who)
    };
    let user = |n: &str| Some(Identity::new(n, IdentitySource::User));
    let gate = |n: &str| Some(Identity::new(n, IdentitySource::Login));
    let cert = |n: &str| Some(Identity::new(n, IdentitySource::Certificate));
    // The key proved alice: the gate may name alice, not bob.
    let (close, count, who) = login(user("alice"), gate("bob"));
    assert_eq!(
        (close, count, who.as_deref()),
        (
            Some(CloseReason::LoginRefused),
            Some(Count::LoginRefused),
            Some("alice")
        )
    );
    let (close, count, who) = login(user("alice"), gate("alice"));
    assert_eq!((close, count, who.as_deref()), (None, None, Some("alice")));
    // Only a user's key binds the name: a certificate's does not.
    let (close, _, who) = login(cert("alice"), gate("bob"));
    assert_eq!((close, who.as_deref()), (None, Some("bob")));
    // Nothing proven, or the gate names nobody: in.
    assert_eq!(login(None, gate("bob")).0, None);
    assert_eq!(login(user("alice"), None).0, None);
}

#[test]
fn the_pipeline_keeps_its_instance_layer_and_frame_profile() {
    // The default profile is netaio's: the wide one tells a kept value
    // from a default.
    let p = Pipeline::new(Side::Server, hmac(), FrameConfig::new(Profile::Wide));
    assert!(p.instance().auth().is_some());
    #[cfg(feature = "testing")]
    assert_eq!(p.profile(), Profile::Wide);
    let p = Pipeline::new(Side::Server, PluginLayer::new(), FrameConfig::default());
    assert!(p.instance().is_empty());
}
