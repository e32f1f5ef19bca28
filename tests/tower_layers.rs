//! tower on both sides: each of tower's timeout, concurrency limit, rate
//! limit and load shedding behind `ServerBuilder::layer`, a tower service
//! as a handler, and a `Client` as a tower service. In memory through
//! `framewire::testing` (no sockets), so virtual time is exact.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use framewire::handler::HandlerError;
use framewire::server::tower::{service, HandlerRequest};
use framewire::server::{Server, ServerBuilder};
use framewire::testing::{TestPeer, TestServer};
use framewire::{Message, MessageType};
use tokio::sync::Notify;
use tokio::time::Instant;
use tower::limit::{ConcurrencyLimitLayer, RateLimitLayer};
use tower::load_shed::LoadShedLayer;
use tower::timeout::TimeoutLayer;
use tower::{Service, ServiceBuilder, ServiceExt};

const WAIT: Duration = Duration::from_secs(10);

fn ask(uri: &'static str) -> Message {
    Message::new(MessageType::REQUEST_URI, uri, "")
}

fn text(m: &Message) -> String {
    String::from_utf8_lossy(m.content()).into_owned()
}

/// A route that sleeps `d` (virtual time) and answers, and one whose
/// handler answers NOT_FOUND itself.
fn slow_and_missing(d: Duration) -> ServerBuilder {
    Server::builder()
        .on(
            (MessageType::REQUEST_URI, "slow"),
            move |_m: Message| async move {
                tokio::time::sleep(d).await;
                Message::respond("slow", "done")
            },
        )
        .on((MessageType::REQUEST_URI, "missing"), |_m: Message| async {
            Err::<Message, _>(HandlerError::not_found("no such thing"))
        })
        .subscriptions()
}

#[tokio::test(start_paused = true)]
async fn a_timeout_layer_answers_error_at_its_deadline_and_keeps_handler_errors() {
    let server = TestServer::new(
        slow_and_missing(Duration::from_secs(30))
            .layer(TimeoutLayer::new(Duration::from_secs(2)))
            .build(),
    )
    .timeout(Duration::from_secs(60));
    let mut peer = server.peer().unwrap();
    let started = Instant::now();
    let reply = peer.call(ask("slow")).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(
        (reply.message_type, text(&reply).as_str()),
        (MessageType::ERROR, "request timed out")
    );
    // A handler's own NOT_FOUND keeps its type through the layer.
    let reply = peer.call(ask("missing")).await.unwrap();
    assert_eq!(
        (reply.message_type, text(&reply).as_str()),
        (MessageType::NOT_FOUND, "no such thing")
    );
    // Sync routes (subscriptions) are wrapped too, and still answer.
    let sub = peer
        .call(Message::new(MessageType::SUBSCRIBE_URI, "t", ""))
        .await
        .unwrap();
    assert_eq!(sub.message_type, MessageType::CONFIRM_SUBSCRIBE);
    // A route added while serving gets the layer as well.
    server
        .handle()
        .on((MessageType::REQUEST_URI, "late"), |_m: Message| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Message::respond("late", "done")
        });
    let reply = peer.call(ask("late")).await.unwrap();
    assert_eq!(text(&reply), "request timed out");
}

/// How many calls of the gated route run, the most that ran at once, how
/// many finished, and the gate each waits at.
#[derive(Default, Clone)]
struct Gate {
    active: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
    go: Arc<Notify>,
}

impl Gate {
    fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }
    fn finished(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }
}

/// A route whose calls each wait for `gate.go`.
fn gated(gate: Gate) -> ServerBuilder {
    Server::builder().on((MessageType::REQUEST_URI, "work"), move |_m: Message| {
        let g = gate.clone();
        async move {
            let now = g.active.fetch_add(1, Ordering::SeqCst) + 1;
            g.most.fetch_max(now, Ordering::SeqCst);
            g.go.notified().await;
            g.active.fetch_sub(1, Ordering::SeqCst);
            g.finished.fetch_add(1, Ordering::SeqCst);
            Message::respond("work", "done")
        }
    })
}

fn spawn_call(mut peer: TestPeer, msg: Message) -> tokio::task::JoinHandle<Message> {
    tokio::spawn(async move {
        tokio::time::timeout(WAIT, peer.call(msg))
            .await
            .unwrap()
            .unwrap()
    })
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{what}: not within the bound");
}

#[tokio::test]
async fn a_concurrency_limit_layer_runs_one_call_at_a_time() {
    let gate = Gate::default();
    let server = TestServer::new(
        gated(gate.clone())
            .layer(ConcurrencyLimitLayer::new(1))
            .build(),
    );
    let calls: Vec<_> = (0..4)
        .map(|_| spawn_call(server.peer().unwrap(), ask("work")))
        .collect();
    for done in 0..4 {
        until("a call started", || gate.active() == 1).await;
        // The others wait for the permit: one runs.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(gate.active(), 1, "after {done} done");
        gate.go.notify_one();
        until("it finished", || gate.finished() == done + 1).await;
    }
    for c in calls {
        assert_eq!(text(&c.await.unwrap()), "done");
    }
    assert_eq!(gate.most.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_load_shed_layer_refuses_what_the_limit_cannot_take_now() {
    let gate = Gate::default();
    let server = TestServer::new(
        gated(gate.clone())
            .layer(ConcurrencyLimitLayer::new(1))
            .layer(LoadShedLayer::new())
            .build(),
    );
    let first = spawn_call(server.peer().unwrap(), ask("work"));
    until("the first call runs", || gate.active() == 1).await;
    let mut second = server.peer().unwrap();
    let shed = tokio::time::timeout(WAIT, second.call(ask("work")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (shed.message_type, text(&shed).as_str()),
        (MessageType::ERROR, "service overloaded")
    );
    gate.go.notify_one();
    assert_eq!(text(&first.await.unwrap()), "done");
    // Once the first is done, the next is served.
    let again = spawn_call(second, ask("work"));
    until("the next call runs", || gate.active() == 1).await;
    gate.go.notify_one();
    assert_eq!(text(&again.await.unwrap()), "done");
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_layer_delays_calls_past_its_rate() {
    let server = TestServer::new(
        Server::builder()
            .on((MessageType::REQUEST_URI, "tick"), |_m: Message| async {
                Message::respond("tick", "")
            })
            .layer(RateLimitLayer::new(2, Duration::from_secs(1)))
            .build(),
    )
    .timeout(Duration::from_secs(60));
    let started = Instant::now();
    let mut peer = server.peer().unwrap();
    let mut at = Vec::new();
    for _ in 0..5 {
        peer.call(ask("tick")).await.unwrap();
        at.push(started.elapsed().as_secs());
    }
    // Two a second: 0, 0, then the next window, and the next.
    assert_eq!(at, [0, 0, 1, 1, 2]);
}

#[tokio::test]
async fn a_tower_service_is_a_handler() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let echo = tower::service_fn(move |req: HandlerRequest| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            if req.msg.content().is_empty() {
                return Err::<Option<Message>, tower::BoxError>("empty".into());
            }
            Ok(Some(Message::respond("echo", req.msg.content().clone())))
        }
    });
    let server = TestServer::new(
        Server::builder()
            .on((MessageType::REQUEST_URI, "echo"), service(echo))
            .build(),
    );
    let mut peer = server.peer().unwrap();
    let reply = peer
        .call(Message::new(MessageType::REQUEST_URI, "echo", "hi"))
        .await
        .unwrap();
    assert_eq!(text(&reply), "hi");
    let reply = peer.call(ask("echo")).await.unwrap();
    assert_eq!(
        (reply.message_type, text(&reply).as_str()),
        (MessageType::ERROR, "empty")
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn services_and_failures_print_what_they_are() {
    use framewire::server::tower::{HandlerFailure, HandlerService};
    let svc = HandlerService::new(|_m: Message| async { Message::respond("x", "") });
    assert_eq!(format!("{svc:?}"), "HandlerService");
    let wrapped = service(svc);
    assert_eq!(format!("{wrapped:?}"), "ServiceHandler");
    let failure = HandlerFailure(HandlerError::from("it broke"));
    assert_eq!(
        failure.to_string(),
        HandlerError::from("it broke").to_string()
    );
    assert!(failure.to_string().contains("it broke"), "{failure}");
}

#[tokio::test(start_paused = true)]
async fn a_client_is_a_tower_service_that_layers_wrap() {
    let server = TestServer::new(slow_and_missing(Duration::from_secs(30)).build())
        .timeout(Duration::from_secs(60));
    let client = server
        .client()
        .request_timeout(Duration::from_secs(60))
        .connect()
        .await
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .timeout(Duration::from_secs(1))
        .service(client.clone());
    let mut plain = client.clone();
    let reply = plain
        .ready()
        .await
        .unwrap()
        .call(Message::new(MessageType::SUBSCRIBE_URI, "t", ""))
        .await;
    assert_eq!(reply.unwrap().message_type, MessageType::CONFIRM_SUBSCRIBE);
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(ask("missing"))
        .await
        .unwrap_err();
    let client_error = err.downcast::<framewire::client::ClientError>().unwrap();
    assert!(client_error.is_not_found());
    // Last: the server answers this connection's requests in order.
    let started = Instant::now();
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(ask("slow"))
        .await
        .unwrap_err();
    assert!(err.is::<tower::timeout::error::Elapsed>(), "{err}");
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    client.close().await;
}
