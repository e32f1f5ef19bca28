//! Handler timing through the `metrics` facade (feature `metrics`): timed
//! by default, under the registered route's label; `handler_timing(false)`
//! records nothing (no clock reads for servers without a recorder). A
//! local recorder on the test's thread, an in-memory server on the same.
#![cfg(feature = "metrics")]

use std::sync::{Arc, Mutex};

use framewire::server::{Context, Server};
use framewire::testing::TestServer;
use framewire::{Message, MessageType};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

/// Remembers every histogram recording as (name, labels).
#[derive(Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

struct Record(String, Arc<Mutex<Vec<String>>>);

impl metrics::HistogramFn for Record {
    fn record(&self, _value: f64) {
        self.1.lock().unwrap().push(self.0.clone());
    }
}

impl Recorder for Seen {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{} {}", key.name(), labels.join(","));
        Histogram::from_arc(Arc::new(Record(name, self.0.clone())))
    }
}

async fn handler_recordings(timing: Option<bool>) -> Vec<String> {
    let seen = Seen::default();
    let log = seen.0.clone();
    let _guard = metrics::set_default_local_recorder(&seen);
    let mut builder = Server::builder().on(
        (MessageType::REQUEST_URI, "echo"),
        |m: Message, _c: Context| async move { Message::respond("echo", m.content().clone()) },
    );
    if let Some(on) = timing {
        builder = builder.handler_timing(on);
    }
    let server = TestServer::new(builder.build());
    let mut peer = server.peer().unwrap();
    for _ in 0..3 {
        peer.call(Message::new(MessageType::REQUEST_URI, "echo", "x"))
            .await
            .unwrap();
    }
    let recorded = log.lock().unwrap().clone();
    recorded
        .into_iter()
        .filter(|r| r.starts_with("framewire_handler_duration_seconds"))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn handlers_are_timed_by_default_under_their_route() {
    let got = handler_recordings(None).await;
    assert_eq!(
        got,
        vec!["framewire_handler_duration_seconds route=REQUEST_URI echo"; 3]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn handler_timing_off_records_nothing() {
    assert!(handler_recordings(Some(false)).await.is_empty());
    assert_eq!(handler_recordings(Some(true)).await.len(), 3);
}
