//! The OpenTelemetry bridge (feature `otel`): a client call inside an
//! OTel span and the server handler's span are one trace, the handler's
//! span a child of the caller's. In memory through `framewire::testing`.
//!
//! Alone in its own test binary on purpose: `tracing` caches each
//! callsite's interest process-wide, computed once by the first thread
//! that reaches it. Beside other tests (in `trace_context.rs` it failed
//! about one run in three) a sibling thread with no subscriber reached
//! `framewire.handler` first, cached "never", and this test's scoped
//! subscriber saw no handler span at all. One test in the process, on one
//! current-thread runtime, leaves no other thread to get there first.

use std::time::Duration;

use framewire::client::Client;
use framewire::server::{Context, Server};
use framewire::testing::TestServer;
use framewire::{Message, MessageType};

const WAIT: Duration = Duration::from_secs(10);

/// A server whose `work` handler notifies `news` (the notification carries
/// the trace on); subscriptions on.
fn server() -> Server {
    Server::builder()
        .subscriptions()
        .on(
            (MessageType::REQUEST_URI, "work"),
            |msg: Message, ctx: Context| async move {
                let note = Message::notify("news", msg.content().clone());
                ctx.server().notify("news", note).unwrap();
                Message::respond("work", "done")
            },
        )
        .build()
}

/// The OpenTelemetry bridge: a client call inside an OTel span and the
/// server handler's span are one trace, the handler's span a child of the
/// caller's.
#[test]
fn the_otel_bridge_joins_both_sides_into_one_trace() {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use tracing_subscriber::layer::SubscriberExt;

    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use tracing::Instrument;
        let server = TestServer::new(server());
        let (tx, mut notified) = tokio::sync::mpsc::channel(1);
        let subscriber = server
            .client()
            .on(MessageType::NOTIFY_URI, move |m: Message, _c: Client| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(m).await;
                }
            })
            .connect()
            .await
            .unwrap();
        subscriber
            .call(Message::new(MessageType::SUBSCRIBE_URI, "news", ""))
            .await
            .unwrap();
        let client = server.client().connect().await.unwrap();
        client
            .request("work", "x")
            .instrument(tracing::info_span!("caller"))
            .await
            .unwrap();
        tokio::time::timeout(WAIT, notified.recv())
            .await
            .unwrap()
            .unwrap();
        client.close().await;
        subscriber.close().await;
    });
    drop(_guard);
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let caller = spans
        .iter()
        .find(|s| s.name == "caller")
        .expect("the caller's span");
    let handler = spans
        .iter()
        .find(|s| s.name == "framewire.handler")
        .expect("the handler's span");
    assert_eq!(
        handler.span_context.trace_id(),
        caller.span_context.trace_id(),
        "one trace"
    );
    assert_eq!(
        handler.parent_span_id,
        caller.span_context.span_id(),
        "the caller's child"
    );
}
