//! One trace through framewire into OpenTelemetry: a client call made in
//! a span, the server handler's span (its child, across the wire as a W3C
//! `traceparent` header), and the notification the handler sends, whose
//! subscriber's handler joins the same trace.
//!
//! Run: `cargo run --example otel_trace --features otel`
//! (feature `otel`: the tracing-opentelemetry bridge). It prints each
//! span's name, trace id, span id and parent; all share one trace id. In a
//! real service, give `SdkTracerProvider` an OTLP exporter (Jaeger, Tempo)
//! instead of the in-memory one used here.

use framewire::client::Client;
use framewire::server::{Context, Server};
use framewire::testing::TestServer;
use framewire::{Message, MessageType};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("otel_trace")));
    tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(run())
    })?;
    provider.force_flush()?;
    for span in exporter.get_finished_spans()? {
        println!(
            "{:<18} trace {} span {} parent {}",
            span.name,
            span.span_context.trace_id(),
            span.span_context.span_id(),
            span.parent_span_id
        );
    }
    Ok(())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // The server: `report` notifies its subscribers (in memory here; the
    // same over TCP).
    let server = TestServer::new(
        Server::builder()
            .subscriptions()
            .on(
                (MessageType::REQUEST_URI, "report"),
                |msg: Message, ctx: Context| async move {
                    let note = Message::notify("reports", msg.content().clone());
                    ctx.server().notify("reports", note)?;
                    Ok::<_, framewire::server::SendError>(Message::respond("report", "filed"))
                },
            )
            .build(),
    );
    // A subscriber whose handler runs in the trace of each notification.
    let (seen_tx, mut seen) = tokio::sync::mpsc::channel(1);
    let subscriber = server
        .client()
        .on(MessageType::NOTIFY_URI, move |m: Message, _c: Client| {
            let seen_tx = seen_tx.clone();
            async move {
                tracing::info_span!("subscriber.work").in_scope(|| ());
                let _ = seen_tx.send(m).await;
            }
        })
        .connect()
        .await?;
    subscriber
        .call(Message::new(MessageType::SUBSCRIBE_URI, "reports", ""))
        .await?;
    // The caller: its span is the trace's root.
    let caller = server.client().connect().await?;
    caller
        .request("report", "disk 91% full")
        .instrument(tracing::info_span!("caller.report"))
        .await?;
    seen.recv().await;
    caller.close().await;
    subscriber.close().await;
    Ok(())
}
