//! The fuzz check of a server with every gate on: a login gate, per-user
//! keys (strict HMAC per user) with permissions, and netaio peer
//! management. Arbitrary messages, signed with a user's real key (so the
//! fuzzer reaches what lies behind the MAC), go to it over the in-memory
//! test kit. Nothing may panic, nothing may be routed before a login,
//! nothing a user's permissions refuse may reach its handler, and the
//! connection must close cleanly. Shared by
//! `fuzz_targets/server_auth.rs` and `tests/fuzz_corpus.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use framewire::auth::{MemoryUsers, Permissions, Rule, User, UserHmac};
use framewire::peer::LocalPeer;
use framewire::protocol::{LOGIN_URI, VERSION_FIELD};
use framewire::server::{
    readme_routes, ConnectionInfo, Context, Hello, Limits, LoginRefused, Server,
};
use framewire::testing::TestServer;
use framewire::{
    AuthValue, Identity, IdentitySource, Message, MessageType, PluginLayer, PluginStack,
};

fn rule(patterns: &[&str]) -> Rule {
    Rule::allow(patterns.iter().map(|p| p.parse().expect("pattern")))
}

/// alice may request `echo`, `whoami` and `k/>` but not `k/secret/>` nor
/// `admin`, publish `pub/news`, subscribe `news`; bob may publish nothing
/// and request anything but `admin` and `k/secret/>`.
fn users() -> MemoryUsers {
    MemoryUsers::new()
        .with(
            User::new("alice", "alice-secret").permissions(
                Permissions::default()
                    .request(
                        rule(&["echo", "whoami", "k/>"])
                            .deny(["k/secret/>".parse().expect("pattern")]),
                    )
                    .publish(rule(&["pub/news"]))
                    .subscribe(rule(&["news"])),
            ),
        )
        .with(
            User::new("bob", "bob-secret").permissions(
                Permissions::default()
                    .publish(rule(&[]))
                    .request(Rule::default().deny([
                        "admin".parse().expect("pattern"),
                        "k/secret/>".parse().expect("pattern"),
                    ])),
            ),
        )
}

/// Calls of the routes nobody may reach, and of every route.
#[derive(Default)]
struct Reached {
    forbidden: AtomicUsize,
    any: AtomicUsize,
}

fn server(reached: Arc<Reached>) -> Server {
    let (r1, r2, r3) = (reached.clone(), reached.clone(), reached);
    readme_routes(Server::builder())
        .limits(
            Limits::default()
                .max_frame_len(Some(64 * 1024))
                .max_subscriptions_per_connection(4)
                .max_auth_failures(8),
        )
        .plugins(PluginLayer::new().with_auth(UserHmac::server(users())))
        .login(|hello: Hello, info: ConnectionInfo| async move {
            if framewire::auth::crypto::ct_eq(&hello.content, b"let me in") {
                // The gate keeps the name the user's key proved.
                let name = info
                    .identity
                    .map_or("guest".to_owned(), |i| i.name().to_owned());
                Ok(Identity::new(name, IdentitySource::Login))
            } else {
                Err(LoginRefused::new("unknown token"))
            }
        })
        .peers(LocalPeer::random().with_app_id(&b"fuzz"[..]))
        .on(
            (MessageType::REQUEST_URI, "admin"),
            move |_m: Message, _c: Context| {
                r1.forbidden.fetch_add(1, Ordering::SeqCst);
                std::future::ready(Message::ok("admin", ""))
            },
        )
        .on(
            (MessageType::CREATE_URI, "k/secret/x"),
            move |_m: Message, _c: Context| {
                r2.forbidden.fetch_add(1, Ordering::SeqCst);
                std::future::ready(Message::ok("k/secret/x", ""))
            },
        )
        .on(
            (MessageType::REQUEST_URI, "whoami"),
            move |_m: Message, c: Context| {
                r3.any.fetch_add(1, Ordering::SeqCst);
                let who = c
                    .identity()
                    .map(|i| i.name().to_owned())
                    .unwrap_or_default();
                std::future::ready(Message::respond("whoami", who))
            },
        )
        .build()
}

/// The input: which user signs (and with which key), whether the login
/// comes first, then up to 16 arbitrary messages (laid out as
/// `#[derive(Arbitrary)]` would, without the derive crate).
#[derive(Debug)]
struct Input {
    as_bob: bool,
    wrong_key: bool,
    login_first: bool,
    good_token: bool,
    /// Every n-th message goes unsigned (0: none).
    unsigned_every: u8,
    messages: Vec<Message>,
}

impl Input {
    fn take(mut u: Unstructured<'_>) -> arbitrary::Result<Input> {
        Ok(Input {
            as_bob: bool::arbitrary(&mut u)?,
            wrong_key: bool::arbitrary(&mut u)?,
            login_first: bool::arbitrary(&mut u)?,
            good_token: bool::arbitrary(&mut u)?,
            unsigned_every: u8::arbitrary(&mut u)?,
            messages: Vec::<Message>::arbitrary_take_rest(u)?,
        })
    }
}

pub fn check_server_auth(data: &[u8]) {
    let Ok(input) = Input::take(Unstructured::new(data)) else {
        return;
    };
    let (name, secret) = if input.as_bob {
        ("bob", "bob-secret")
    } else {
        ("alice", "alice-secret")
    };
    let key = if input.wrong_key {
        "not the key"
    } else {
        secret
    };
    let signer = PluginStack::new(PluginLayer::new().with_auth(UserHmac::client(name, key)));
    let logs_in = input.login_first && input.good_token && !input.wrong_key;
    // A login among the arbitrary messages could let the peer in later:
    // the routing properties hold for inputs without one.
    let no_other_login = !input
        .messages
        .iter()
        .any(|m| &m.uri()[..] == LOGIN_URI.as_bytes());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let reached = Arc::new(Reached::default());
        let server = TestServer::new(server(reached.clone())).timeout(Duration::from_secs(60));
        let mut peer = server.peer().expect("a peer");
        if input.login_first {
            let token: &[u8] = if input.good_token {
                b"let me in"
            } else {
                b"guess"
            };
            let mut login = Message::new(MessageType::REQUEST_URI, LOGIN_URI, token.to_vec());
            login
                .auth
                .insert(VERSION_FIELD, AuthValue::from(1u64.to_be_bytes()));
            // The peer may already be gone (a refused login closes it).
            let _ = peer.send(signer.seal(login).expect("sealable")).await;
        }
        for (i, msg) in input.messages.into_iter().take(16).enumerate() {
            let unsigned = input.unsigned_every != 0 && i % usize::from(input.unsigned_every) == 0;
            let frame = if unsigned {
                Some(msg)
            } else {
                signer.seal(msg).ok()
            };
            if let Some(frame) = frame {
                if peer.send(frame).await.is_err() {
                    break; // closed by the server (a cap, a refused login)
                }
            }
        }
        let _ = peer.hang_up().await;
        let closed = peer
            .closed()
            .await
            .expect("the server closes after the peer hangs up");
        // Every answer the server gave is one a server gives.
        for m in &closed.messages {
            assert!(!m.message_type.is_custom(), "{m:?}");
        }
        let stats = server.stats();
        assert_eq!(stats.handler_panics, 0, "{stats:?}");
        assert_eq!(
            reached.forbidden.load(Ordering::SeqCst),
            0,
            "a route no user may reach ran"
        );
        if !logs_in && no_other_login {
            assert_eq!(
                reached.any.load(Ordering::SeqCst),
                0,
                "routed before a login"
            );
        }
    });
}
