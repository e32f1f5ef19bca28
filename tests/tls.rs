//! TLS end to end: framewire's client and server over rustls, mutual TLS
//! identity in handlers, certificate failures named, reload, reconnection,
//! and hostile input on a TLS port (each closed within the handshake
//! deadline while a TLS bystander keeps working). Certificates are made
//! at test time.
#![cfg(feature = "tls")]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::tls::{localhost, trusting, Ca};
use common::{eventually, read_to_close_within, start, Running, LIMIT};
use framewire::client::{Client, ClientError, Reconnect, Subscription};
use framewire::server::{Context, Limits, Server, ServerBuilder};
use framewire::tls::rustls;
use framewire::{Message, MessageType, Profile};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Echo, `whoami` (the connection's identity) and subscriptions.
fn routes() -> ServerBuilder {
    Server::builder()
        .on(
            (MessageType::REQUEST_URI, "echo"),
            |m: Message, _c: Context| async move { Message::respond("echo", m.content().clone()) },
        )
        .on(
            (MessageType::REQUEST_URI, "whoami"),
            |_m: Message, c: Context| async move {
                let name = c.identity().map(|i| i.name().to_owned());
                Message::respond("whoami", name.unwrap_or_else(|| "nobody".into()))
            },
        )
        .subscriptions()
}

async fn tls_client(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> Result<Client, ClientError> {
    Client::builder(addr.to_string())
        .tls(config, localhost())
        .connect_timeout(LIMIT)
        .reconnect(Reconnect::disabled())
        .connect()
        .await
}

async fn echo(client: &Client, text: &str) -> Result<String, ClientError> {
    let reply = client.request("echo", text.to_owned()).await?;
    Ok(String::from_utf8_lossy(reply.content()).into_owned())
}

/// The rustls error behind a failed connection, if TLS is what failed.
fn rustls_error(e: &ClientError) -> Option<&rustls::Error> {
    framewire::tls::handshake_error(e)
}

/// A subscriber over TLS that must keep working while another peer
/// misbehaves: each check notifies the next number, which must be the next
/// thing it receives, then asks for an echo.
struct TlsBystander {
    client: Client,
    sub: Subscription,
    sent: u32,
}

impl TlsBystander {
    async fn join(srv: &Running, ca: &Ca) -> TlsBystander {
        let client = tls_client(srv.addr, trusting(ca)).await.unwrap();
        let sub = client.subscribe("bystander").await.unwrap();
        TlsBystander {
            client,
            sub,
            sent: 0,
        }
    }

    async fn check(&mut self, srv: &Running) {
        let n = self.sent;
        self.sent += 1;
        let note = Message::new(
            MessageType::NOTIFY_URI,
            "bystander",
            n.to_be_bytes().to_vec(),
        );
        assert_eq!(srv.handle.notify("bystander", note).unwrap(), 1);
        let got = tokio::time::timeout(LIMIT, self.sub.next())
            .await
            .expect("bystander notified in time")
            .expect("bystander still subscribed");
        assert_eq!(got.content()[..], n.to_be_bytes(), "nothing lost, in order");
        assert_eq!(
            echo(&self.client, "still here").await.unwrap(),
            "still here"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_subscriptions_over_tls() {
    let ca = Ca::new("test CA");
    let srv = start(routes().tls(ca.server().server_config(None)).build()).await;
    let client = tls_client(srv.addr, trusting(&ca)).await.unwrap();
    assert_eq!(echo(&client, "hi").await.unwrap(), "hi");
    let big = "x".repeat(60_000);
    assert_eq!(echo(&client, &big).await.unwrap(), big);
    let whoami = client.request("whoami", "").await.unwrap();
    assert_eq!(
        &whoami.content()[..],
        b"nobody",
        "no client certificate, no identity"
    );
    let mut sub = client.subscribe("news").await.unwrap();
    let note = Message::new(MessageType::NOTIFY_URI, "news", "flash");
    assert_eq!(srv.handle.notify("news", note).unwrap(), 1);
    let got = tokio::time::timeout(LIMIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.content()[..], b"flash");
    let stats = srv.handle.stats();
    assert_eq!((stats.tls_handshakes, stats.tls_handshake_failures), (1, 0));
    client.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_identity_reaches_handlers() {
    let (ca, clients) = (Ca::new("server CA"), Ca::new("clients CA"));
    let config = ca.server().server_config(Some(&clients));
    let srv = start(routes().tls(config).build()).await;
    let alice = clients.leaf("alice", |p| {
        p.subject_alt_names.push(rcgen::SanType::Rfc822Name(
            "alice@example.org".try_into().unwrap(),
        ));
    });
    let client = tls_client(srv.addr, alice.client_config(&ca))
        .await
        .unwrap();
    let whoami = client.request("whoami", "").await.unwrap();
    assert_eq!(&whoami.content()[..], b"alice");
    let info = srv.handle.connections();
    let identity = info[0].identity.as_ref().expect("identity in the registry");
    assert_eq!(identity.name(), "alice");
    assert_eq!(identity.subject(), Some("CN=alice"));
    assert!(identity
        .alt_names()
        .contains(&"alice@example.org".to_owned()));
    assert!(identity.alt_names().contains(&"127.0.0.1".to_owned()));
    assert_eq!(identity.source(), framewire::IdentitySource::Certificate);

    // No certificate: the server refuses the handshake. Under TLS 1.3 the
    // client learns it on its first read, so the first request fails.
    let anonymous = match tls_client(srv.addr, trusting(&ca)).await {
        Ok(c) => c.request("whoami", "").await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(
        anonymous.is_err(),
        "a client without a certificate is refused"
    );
    eventually("refusal counted", || {
        srv.handle.stats().tls_handshake_failures == 1
    })
    .await;
    assert_eq!(echo(&client, "unharmed").await.unwrap(), "unharmed");
    srv.stop().await;
}

/// A server certificate, the client's configuration, the name it expects,
/// and the rustls error that must come of it.
type Case = (
    common::tls::Leaf,
    Arc<rustls::ClientConfig>,
    &'static str,
    fn(&rustls::Error) -> bool,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_failures_are_named() {
    let ca = Ca::new("test CA");
    let expired = ca.leaf("localhost", |p| {
        p.not_before = rcgen::date_time_ymd(2000, 1, 1);
        p.not_after = rcgen::date_time_ymd(2001, 1, 1);
    });
    let cases: [Case; 3] = [
        (
            ca.server(),
            trusting(&Ca::new("another CA")),
            "localhost",
            |e| {
                matches!(
                    e,
                    rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
                )
            },
        ),
        (ca.server(), trusting(&ca), "other.example", |e| {
            matches!(
                e,
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                        | rustls::CertificateError::NotValidForNameContext { .. }
                )
            )
        }),
        (expired, trusting(&ca), "localhost", |e| {
            matches!(
                e,
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Expired
                        | rustls::CertificateError::ExpiredContext { .. }
                )
            )
        }),
    ];
    for (leaf, client_config, name, expected) in cases {
        let srv = start(routes().tls(leaf.server_config(None)).build()).await;
        let err = Client::builder(srv.addr.to_string())
            .tls(client_config, name.to_owned().try_into().unwrap())
            .reconnect(Reconnect::disabled())
            .connect()
            .await
            .expect_err("the handshake fails");
        assert!(err.is_connect(), "{err}");
        let tls = rustls_error(&err).unwrap_or_else(|| panic!("a rustls error behind {err}"));
        assert!(expected(tls), "{name}: {tls:?}");
        srv.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_to_new_connections_only() {
    let (old_ca, new_ca) = (Ca::new("old CA"), Ca::new("new CA"));
    let srv = start(routes().tls(old_ca.server().server_config(None)).build()).await;
    let before = tls_client(srv.addr, trusting(&old_ca)).await.unwrap();
    srv.handle
        .reload_tls(new_ca.server().server_config(None))
        .unwrap();
    let after = tls_client(srv.addr, trusting(&new_ca)).await.unwrap();
    assert_eq!(echo(&after, "new").await.unwrap(), "new");
    let stale = tls_client(srv.addr, trusting(&old_ca))
        .await
        .expect_err("old CA refused");
    assert!(matches!(
        rustls_error(&stale),
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer
        ))
    ));
    assert_eq!(echo(&before, "untouched").await.unwrap(), "untouched");

    let plain = Server::builder().build();
    let err = plain
        .handle()
        .reload_tls(new_ca.server().server_config(None));
    assert!(err.unwrap_err().is_not_enabled());
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reconnects_over_tls() {
    let ca = Ca::new("test CA");
    let srv = start(routes().tls(ca.server().server_config(None)).build()).await;
    let client = Client::builder(srv.addr.to_string())
        .tls(trusting(&ca), localhost())
        .reconnect(Reconnect::default().initial(Duration::from_millis(10)))
        .connect()
        .await
        .unwrap();
    let mut events = client.events();
    let mut sub = client.subscribe("news").await.unwrap();
    let id = srv.handle.connections()[0].id;
    assert!(srv.handle.disconnect(id));
    common::reconnected(&mut events).await;
    eventually("resubscribed", || srv.handle.stats().topics == 1).await;
    let note = Message::new(MessageType::NOTIFY_URI, "news", "again");
    srv.handle.notify("news", note).unwrap();
    let got = tokio::time::timeout(LIMIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.content()[..], b"again");
    assert_eq!(srv.handle.stats().tls_handshakes, 2);
    srv.stop().await;
}

/// The ClientHello a real rustls client would send first.
fn client_hello(ca: &Ca) -> Vec<u8> {
    let mut conn = rustls::ClientConnection::new(trusting(ca), localhost()).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    hello
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bytes_on_a_tls_port_are_closed_bystander_unharmed() {
    let (ca, clients) = (Ca::new("server CA"), Ca::new("clients CA"));
    // A handshake deadline far beyond the 5 s bound below: "closed at
    // once" must not be the deadline firing.
    let srv = start(
        routes()
            .tls(ca.server().server_config(None))
            .limits(Limits::default().tls_handshake_timeout(Duration::from_secs(60)))
            .build(),
    )
    .await;
    let mut bystander = TlsBystander::join(&srv, &ca).await;
    let plaintext = Message::new(MessageType::REQUEST_URI, "echo", "hi")
        .to_bytes(Profile::Netaio)
        .unwrap();
    let mut garbage_then_hello = b"GET / HTTP/1.1\r\n\r\n".to_vec();
    garbage_then_hello.extend(client_hello(&ca));
    let rows: [(&str, Vec<u8>); 3] = [
        ("plaintext netaio frame", plaintext.to_vec()),
        ("garbage before the ClientHello", garbage_then_hello),
        ("a record of 16 KiB of zeros", {
            let mut r = vec![0x16, 0x03, 0x01, 0x40, 0x00];
            r.extend(vec![0u8; 0x4000]);
            r
        }),
    ];
    for (i, (what, bytes)) in rows.iter().enumerate() {
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        let _ = s.write_all(bytes).await;
        let started = Instant::now();
        let (_reply, closed_at) = read_to_close_within(&mut s, LIMIT).await;
        assert!(
            closed_at - started < Duration::from_secs(5),
            "{what}: closed at once, not at the 60 s handshake deadline"
        );
        eventually(what, || {
            srv.handle.stats().tls_handshake_failures == i as u64 + 1
        })
        .await;
        bystander.check(&srv).await;
    }

    // A client certificate from another CA, against a mutual-TLS server.
    let mtls = start(
        routes()
            .tls(ca.server().server_config(Some(&clients)))
            .build(),
    )
    .await;
    let intruder = Ca::new("intruder CA").leaf("mallory", |_| {});
    let refused = match tls_client(mtls.addr, intruder.client_config(&ca)).await {
        Ok(c) => c.request("whoami", "").await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(refused.is_err(), "a certificate from another CA is refused");
    eventually("refusal counted", || {
        mtls.handle.stats().tls_handshake_failures == 1
    })
    .await;
    assert_eq!(mtls.handle.connection_count(), 0);
    bystander.check(&srv).await;
    mtls.stop().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshakes_are_released_at_the_deadline() {
    // Real time: the handshake runs over real sockets, where a paused
    // clock could jump past a late socket event. The deadline is kept
    // short; the bounds check behaviour (never before the deadline, soon
    // after it), not exact timing.
    const DEADLINE: Duration = Duration::from_secs(3);
    let ca = Ca::new("test CA");
    let limits = Limits::default().tls_handshake_timeout(DEADLINE);
    let srv = start(
        routes()
            .tls(ca.server().server_config(None))
            .limits(limits)
            .build(),
    )
    .await;
    let mut bystander = TlsBystander::join(&srv, &ca).await;
    let hello = client_hello(&ca);
    let rows: [(&str, &[u8]); 3] = [
        ("silent after connecting", &[]),
        ("half a ClientHello", &hello[..hello.len() / 2]),
        ("a whole ClientHello, then nothing", &hello),
    ];
    for (i, (what, bytes)) in rows.iter().enumerate() {
        // Before the connect: the server's deadline starts after this.
        let started = Instant::now();
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(bytes).await.unwrap();
        eventually("registered while it handshakes", || {
            srv.handle.connection_count() == 2
        })
        .await;
        let (_, closed_at) = read_to_close_within(&mut s, DEADLINE + LIMIT).await;
        let took = closed_at - started;
        assert!(
            took >= DEADLINE && took < DEADLINE + LIMIT,
            "{what}: closed after {took:?}, not at the {DEADLINE:?} deadline"
        );
        eventually("the failure and the timeout counted", || {
            let stats = srv.handle.stats();
            (stats.tls_handshake_failures, stats.timeouts) == (i as u64 + 1, i as u64 + 1)
        })
        .await;
        eventually("slot freed", || srv.handle.connection_count() == 1).await;
        bystander.check(&srv).await;
    }
    srv.stop().await;
}

/// TLS wrapped by the user around a TCP acceptor (no `ServerBuilder::tls`):
/// mutual TLS identity reaches handlers and the server counts the
/// handshakes, as with the builder's TLS, and the acceptor's reloader
/// swaps the certificate for new connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_acceptor_wrapped_by_hand_serves_like_the_builders() {
    use framewire::tls::TlsAcceptor;
    use framewire::transport::TcpAcceptor;

    let (ca, clients, renewed) = (
        Ca::new("server CA"),
        Ca::new("clients CA"),
        Ca::new("renewed CA"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::new(
        TcpAcceptor::new(listener),
        ca.server().server_config(Some(&clients)),
    );
    let reloader = acceptor.reloader();
    let server = routes().build();
    let handle = server.handle();
    let task = tokio::spawn(server.serve(acceptor, std::future::pending()));

    let alice = clients.leaf("alice", |_| {});
    let client = tls_client(addr, alice.client_config(&ca)).await.unwrap();
    let whoami = client.request("whoami", "").await.unwrap();
    assert_eq!(&whoami.content()[..], b"alice");
    assert_eq!(handle.stats().tls_handshakes, 1);
    assert!(
        handle
            .reload_tls(renewed.server().server_config(None))
            .unwrap_err()
            .is_not_enabled(),
        "the builder's reload is for the builder's TLS"
    );

    reloader.reload(renewed.server().server_config(None));
    let after = tls_client(addr, trusting(&renewed)).await.unwrap();
    assert_eq!(echo(&after, "renewed").await.unwrap(), "renewed");
    assert_eq!(echo(&client, "untouched").await.unwrap(), "untouched");
    handle.stop().await;
    task.await.unwrap().unwrap();
}
