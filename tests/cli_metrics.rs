//! `framewire serve --metrics`: the Prometheus endpoint scraped over real
//! HTTP before and after traffic; counters move by exactly what was sent
//! (refusals and auth failures included); route labels stay bounded when
//! clients send thousands of distinct uris.
#![cfg(feature = "cli")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use framewire::{Message, MessageType, NetaioHmac, PluginStack};

const BIN: &str = env!("CARGO_BIN_EXE_framewire");

/// Starts `serve --metrics 127.0.0.1:0 ARGS`; returns the child and both
/// addresses (from its two ready lines).
fn serve(args: &[&str]) -> (KillOnDrop, String, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        .args(args)
        .env_remove("FRAMEWIRE_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let out = lines_of(child.stdout.take().unwrap());
    let guard = KillOnDrop(child);
    let line = |prefix: &str| {
        let l = out
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no {prefix:?} line within 30 s"));
        l.trim()
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{l:?}"))
            .to_owned()
    };
    let addr = line("listening on ");
    let metrics = line("metrics on ");
    (guard, addr, metrics)
}

/// GET `path` over HTTP/1.1; the status line and the body.
fn get(addr: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a response");
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

/// Every sample line as `name{labels}` → value.
fn scrape(addr: &str) -> BTreeMap<String, f64> {
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_owned(), v.parse().unwrap())
        })
        .collect()
}

fn value(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_by_exactly_what_was_sent() {
    let (_srv, addr, metrics) = serve(&["--secret", "s3cret"]);
    let before = scrape(&metrics);
    let good = PluginStack::new(framewire::PluginLayer::new().with_auth(NetaioHmac::new("s3cret")));
    let bad = PluginStack::new(framewire::PluginLayer::new().with_auth(NetaioHmac::new("wrong")));
    let mut c = connect(addr.parse().unwrap()).await;
    let len = |m: &Message| m.to_bytes(framewire::Profile::Netaio).unwrap().len() as f64;
    let (mut bytes_in, mut bytes_out) = (0.0, 0.0);
    for i in 0..3 {
        let sealed = good
            .seal(Message::new(
                MessageType::REQUEST_URI,
                "echo",
                i.to_string(),
            ))
            .unwrap();
        bytes_in += len(&sealed);
        let r = call(&mut c, sealed).await;
        bytes_out += len(&r);
        assert_eq!(good.open(r).unwrap().message_type, MessageType::RESPOND_URI);
    }
    let forged = bad
        .seal(Message::new(MessageType::REQUEST_URI, "echo", "x"))
        .unwrap();
    bytes_in += len(&forged);
    let refused = call(&mut c, forged).await;
    bytes_out += len(&refused);
    assert_eq!(refused.message_type, MessageType::AUTH_ERROR);
    drop(c);
    // The server adds a batch to its counters just after handing its
    // replies over (and the writer after writing): scrape until they are
    // in (bounded), then every figure must be exact.
    let mut after = scrape(&metrics);
    for _ in 0..500 {
        let moved = |k: &str| value(&after, k) - value(&before, k);
        if moved("framewire_frames_received_total") >= 4.0
            && moved("framewire_frames_sent_total") >= 4.0
            && moved("framewire_sent_bytes_total") >= bytes_out
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        after = scrape(&metrics);
    }
    let moved = |k: &str| value(&after, k) - value(&before, k);
    assert_eq!(moved("framewire_connections_accepted_total"), 1.0);
    assert_eq!(moved("framewire_frames_received_total"), 4.0);
    assert_eq!(moved("framewire_frames_sent_total"), 4.0);
    assert_eq!(moved("framewire_received_bytes_total"), bytes_in);
    assert_eq!(moved("framewire_sent_bytes_total"), bytes_out);
    // One reply per write here: every write found one frame queued.
    assert_eq!(
        moved("framewire_outbound_queue_frames_bucket{le=\"1\"}"),
        4.0
    );
    assert_eq!(
        moved("framewire_frames_rejected_total{reason=\"auth\"}"),
        1.0
    );
    assert_eq!(
        moved("framewire_handler_duration_seconds_count{route=\"REQUEST_URI echo\"}"),
        3.0
    );
    // Anything but GET /metrics is a 404.
    assert_eq!(get(&metrics, "/").0, "HTTP/1.1 404 Not Found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_labels_stay_bounded_by_the_registered_routes() {
    let (_srv, addr, metrics) = serve(&[]);
    let mut c = connect(addr.parse().unwrap()).await;
    for i in 0..2000 {
        send(
            &mut c,
            Message::new(MessageType::REQUEST_URI, format!("k/{i}"), ""),
        )
        .await;
    }
    for _ in 0..2000 {
        assert_eq!(recv(&mut c).await.message_type, MessageType::NOT_FOUND);
    }
    let m = scrape(&metrics);
    let routes: BTreeSet<&str> = m
        .keys()
        .filter(|k| k.starts_with("framewire_handler_duration_seconds_count"))
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        routes.into_iter().collect::<Vec<_>>(),
        ["framewire_handler_duration_seconds_count{route=\"REQUEST_URI\"}"],
        "one label for the one route that answered them all"
    );
    assert_eq!(
        value(
            &m,
            "framewire_handler_duration_seconds_count{route=\"REQUEST_URI\"}"
        ),
        2000.0
    );
    assert!(
        m.keys().all(|k| !k.contains("k/1")),
        "no raw uri in any label"
    );
}

#[test]
fn a_metrics_address_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = taken.local_addr().unwrap().to_string();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--metrics", &at])
        .env_remove("FRAMEWIRE_SECRET");
    let (code, _, err) = exit_status(cmd);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot listen for metrics"), "{err}");
}
