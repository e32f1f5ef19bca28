//! One identity per connection (issue 35, findings 1 and 9), over real
//! TLS sockets: with mutual TLS and per-user keys together, the user's
//! permissions are what is enforced (the certificate's name and the user's
//! must match), and a client certificate is named by the one kind of name
//! the server trusts, never by another kind it happens to carry.
#![cfg(feature = "tls")]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::tls::{localhost, Ca};
use common::{eventually, start, Running, LIMIT};
use framewire::auth::{MemoryUsers, Permissions, Rule, User, UserHmac};
use framewire::client::{Client, ClientError, Reconnect};
use framewire::server::{readme_routes, Context, Server};
use framewire::tls::{rustls, CertificateName};
use framewire::{Message, MessageType, PluginLayer};

fn rule(patterns: &[&str]) -> Rule {
    Rule::allow(patterns.iter().map(|p| p.parse().unwrap()))
}

/// alice may only echo, publish `pub/news` and subscribe `news`.
fn users() -> MemoryUsers {
    MemoryUsers::new().with(
        User::new("alice", "alice-secret").permissions(
            Permissions::default()
                .request(rule(&["echo", "whoami"]))
                .publish(rule(&["pub/news"]))
                .subscribe(rule(&["news"])),
        ),
    )
}

/// The readme routes (a key-value store, pub/sub) and `whoami`, over
/// mutual TLS (clients' CA `clients`), with users when `with_users`.
async fn server(ca: &Ca, clients: &Ca, with_users: bool, name: CertificateName) -> Running {
    let mut builder = readme_routes(Server::builder())
        .tls(ca.server().server_config(Some(clients)))
        .client_certificate_name(name)
        .on(
            (MessageType::REQUEST_URI, "whoami"),
            |_m: Message, c: Context| async move {
                let who = c
                    .identity()
                    .map(|i| format!("{} {:?}", i.name(), i.source()));
                Message::respond("whoami", who.unwrap_or_else(|| "nobody".into()))
            },
        );
    if with_users {
        builder = builder.plugins(PluginLayer::new().with_auth(UserHmac::server(users())));
    }
    start(builder.build()).await
}

async fn client(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    user: Option<(&str, &str)>,
) -> Result<Client, ClientError> {
    let mut builder = Client::builder(addr.to_string())
        .tls(config, localhost())
        .connect_timeout(LIMIT)
        .request_timeout(LIMIT)
        .reconnect(Reconnect::disabled());
    if let Some((name, secret)) = user {
        builder = builder.plugins(PluginLayer::new().with_auth(UserHmac::client(name, secret)));
    }
    builder.connect().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_with_users_enforces_the_users_permissions() {
    let (ca, clients) = (Ca::new("server CA"), Ca::new("clients CA"));
    let srv = server(&ca, &clients, true, CertificateName::CommonName).await;
    // The attack: a certificate whose common name is the user's name.
    let cert = clients.leaf("alice", |_| {});
    let alice = client(
        srv.addr,
        cert.client_config(&ca),
        Some(("alice", "alice-secret")),
    )
    .await
    .unwrap();
    let whoami = alice.request("whoami", "").await.unwrap();
    assert_eq!(&whoami.content()[..], b"alice User", "the user's identity");

    for denied in [
        Message::new(MessageType::CREATE_URI, "k/secret", "x"),
        Message::new(MessageType::DELETE_URI, "k/secret", ""),
        Message::new(MessageType::PUBLISH_URI, "pub/alerts", "x"),
        Message::new(MessageType::SUBSCRIBE_URI, "alerts", ""),
    ] {
        let what = format!("{:?} {:?}", denied.message_type, denied.uri());
        let refused = alice.call(denied).await.unwrap_err();
        assert!(refused.is_not_permitted(), "{what}: {refused:?}");
    }
    assert_eq!(srv.handle.stats().permission_denials, 4);
    // What the users file allows still works.
    let ok = alice
        .call(Message::new(MessageType::PUBLISH_URI, "pub/news", "x"))
        .await
        .unwrap();
    assert_eq!(ok.message_type, MessageType::OK);

    // The registry has one identity: the user's, with the certificate's
    // details and the user's permissions.
    let info = srv.handle.connections();
    let identity = info[0].identity.as_ref().expect("identity");
    assert_eq!(identity.name(), "alice");
    assert_eq!(identity.source(), framewire::IdentitySource::User);
    assert_eq!(identity.subject(), Some("CN=alice"));
    assert!(identity.permissions().is_some());
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_of_another_name_than_the_user_is_refused() {
    let (ca, clients) = (Ca::new("server CA"), Ca::new("clients CA"));
    let srv = server(&ca, &clients, true, CertificateName::CommonName).await;
    let bobs = clients.leaf("bob", |_| {});
    // Refused at connect (the credential ping), with nothing routed.
    let refused = client(
        srv.addr,
        bobs.client_config(&ca),
        Some(("alice", "alice-secret")),
    )
    .await
    .unwrap_err();
    assert!(
        refused.is_auth_error() || refused.is_connection_lost(),
        "bob's certificate does not carry alice's key: {refused:?}"
    );
    eventually("refusal counted", || srv.handle.stats().auth_failures >= 1).await;
    assert_eq!(srv.handle.stats().permission_denials, 0);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_names_do_not_cross_kinds() {
    let (ca, clients) = (Ca::new("server CA"), Ca::new("clients CA"));
    // "O=Evil Corp, OU=machines" with the DNS name alice, no common name.
    let evil = clients.leaf("alice", |p| {
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, "Evil Corp");
        p.distinguished_name
            .push(rcgen::DnType::OrganizationalUnitName, "machines");
        p.subject_alt_names = vec![rcgen::SanType::DnsName("alice".try_into().unwrap())];
    });

    // Names from the common name (the default): refused, never "alice".
    let srv = server(&ca, &clients, false, CertificateName::CommonName).await;
    let outcome = match client(srv.addr, evil.client_config(&ca), None).await {
        Ok(c) => c.request("whoami", "").await.map(|m| m.content().clone()),
        Err(e) => Err(e),
    };
    assert!(outcome.is_err(), "no common name: refused, got {outcome:?}");
    eventually("refusal counted", || {
        srv.handle.stats().tls_handshake_failures == 1
    })
    .await;
    assert!(srv.handle.connections().is_empty());
    // A certificate with a common name is served as before.
    let good = clients.leaf("carol", |_| {});
    let carol = client(srv.addr, good.client_config(&ca), None)
        .await
        .unwrap();
    let who = carol.request("whoami", "").await.unwrap();
    assert_eq!(&who.content()[..], b"carol Certificate");
    srv.stop().await;

    // Names from DNS names: the same certificate is "alice", and one
    // with two DNS names is refused (which one would be meant?).
    let srv = server(&ca, &clients, false, CertificateName::DnsName).await;
    let by_dns = client(srv.addr, evil.client_config(&ca), None)
        .await
        .unwrap();
    let who = by_dns.request("whoami", "").await.unwrap();
    assert_eq!(&who.content()[..], b"alice Certificate");
    let two = clients.leaf("dave", |p| {
        p.subject_alt_names = vec![
            rcgen::SanType::DnsName("dave".try_into().unwrap()),
            rcgen::SanType::DnsName("erin".try_into().unwrap()),
        ];
    });
    let outcome = match client(srv.addr, two.client_config(&ca), None).await {
        Ok(c) => c.request("whoami", "").await.map(|m| m.content().clone()),
        Err(e) => Err(e),
    };
    assert!(outcome.is_err(), "two DNS names: refused, got {outcome:?}");
    srv.stop().await;
}
