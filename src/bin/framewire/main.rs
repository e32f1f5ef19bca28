//! `framewire`: serve netaio-compatible frames, and poke at servers.
//!
//! Run `framewire --help` (or `cargo run --release -- --help`).

mod baseline;
mod bench;
mod output;
mod routes;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use framewire::client::{Client, ClientError, Reconnect};
use framewire::server::Server;
use framewire::{Message, MessageType, NetaioHmac, PluginLayer, Profile};

#[derive(Parser)]
#[command(
    name = "framewire",
    version,
    about = "Framed binary messaging, wire-compatible with netaio 0.0.9"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve netaio's readme route contract: echo, an in-memory key-value
    /// store, subscribe / publish / broadcast.
    Serve {
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8888")]
        addr: SocketAddr,
        /// Sign and verify every message with netaio's HMAC (replay
        /// protection on).
        #[arg(long)]
        secret: Option<String>,
        /// Frame profile: netaio (default) or wide.
        #[arg(long, default_value = "netaio")]
        profile: Profile,
    },
    /// Send one message (default REQUEST_URI) and print the reply's content.
    /// Exit status: 0 success, 1 error reply, 2 usage, connection or timeout.
    Request {
        #[command(flatten)]
        conn: ConnArgs,
        /// The uri.
        uri: String,
        /// Message type: a netaio name (REQUEST_URI, CREATE_URI, ...) or a number.
        #[arg(long = "type", default_value = "REQUEST_URI", value_parser = parse_type)]
        message_type: MessageType,
        /// Content as text.
        #[arg(long, conflicts_with = "content_file")]
        content: Option<String>,
        /// Content read from a file.
        #[arg(long)]
        content_file: Option<PathBuf>,
        /// Print the reply as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Publish CONTENT to TOPIC (PUBLISH_URI `pub/TOPIC`).
    Publish {
        #[command(flatten)]
        conn: ConnArgs,
        /// The topic.
        topic: String,
        /// The content.
        content: String,
    },
    /// Subscribe to TOPIC and print each notification's content as it arrives.
    Subscribe {
        #[command(flatten)]
        conn: ConnArgs,
        /// The topic.
        topic: String,
        /// Exit after this many notifications.
        #[arg(long)]
        count: Option<u64>,
        /// Print each notification as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Load-test framewire against a bare baseline server in the same run
    /// (and optionally an external server), printing figures and ratios.
    Bench(BenchArgs),
}

/// `framewire bench` options.
#[derive(Args)]
struct BenchArgs {
    /// What to measure.
    #[arg(long, value_enum, default_value = "all")]
    scenario: bench::Scenario,
    /// Payload sizes in bytes (repeat or comma-separate).
    #[arg(long = "size", value_delimiter = ',', default_values_t = [64usize, 1024])]
    sizes: Vec<usize>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Connections (pipeline), or connections to hold (idle).
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Frames in flight per connection (pipeline).
    #[arg(long, default_value_t = 64)]
    depth: usize,
    /// Subscriber connections (fanout).
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Sign and verify everything with netaio's HMAC, on every server.
    #[arg(long)]
    secret: Option<String>,
    /// Also measure this external server (e.g. a netaio server), HOST:PORT.
    #[arg(long)]
    target: Option<String>,
    /// Repeat each measurement and report the median.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// One JSON object per figure.
    #[arg(long)]
    json: bool,
}

/// Where and how to connect.
#[derive(Args)]
struct ConnArgs {
    /// Server address, HOST:PORT.
    addr: String,
    /// Sign and verify with netaio's HMAC using this secret.
    #[arg(long)]
    secret: Option<String>,
    /// Seconds to wait for the connection and for each reply.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Frame profile: netaio (default) or wide.
    #[arg(long, default_value = "netaio")]
    profile: Profile,
}

fn parse_type(s: &str) -> Result<MessageType, String> {
    MessageType::from_name(s).ok_or_else(|| format!("unknown message type {s:?}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("framewire: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve {
                addr,
                secret,
                profile,
            } => serve(addr, secret, profile).await,
            Command::Request {
                conn,
                uri,
                message_type,
                content,
                content_file,
                json,
            } => {
                let content = match (content, content_file) {
                    (Some(text), _) => Bytes::from(text),
                    (None, Some(path)) => std::fs::read(&path)
                        .map(Bytes::from)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
                    (None, None) => Bytes::new(),
                };
                request(conn, message_type, uri, content, json).await
            }
            Command::Publish {
                conn,
                topic,
                content,
            } => {
                let uri = format!("pub/{topic}");
                request(conn, MessageType::PUBLISH_URI, uri, content.into(), false).await
            }
            Command::Subscribe {
                conn,
                topic,
                count,
                json,
            } => subscribe(conn, topic, count, json).await,
            Command::Bench(b) => {
                if !(b.duration.is_finite() && b.duration > 0.0 && b.duration <= 3600.0) {
                    return Err(format!("invalid --duration {}", b.duration));
                }
                bench::run(bench::Settings {
                    scenario: b.scenario,
                    sizes: b.sizes,
                    duration: Duration::from_secs_f64(b.duration),
                    connections: b.connections.max(1),
                    depth: b.depth.max(1),
                    subscribers: b.subscribers.max(1),
                    secret: b.secret,
                    target: b.target,
                    json: b.json,
                    runs: b.runs,
                })
                .await
                .map(|()| ExitCode::SUCCESS)
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("framewire: {e}");
            ExitCode::from(2)
        }
    }
}

async fn serve(
    addr: SocketAddr,
    secret: Option<String>,
    profile: Profile,
) -> Result<ExitCode, String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let mut builder = routes::routes(Server::builder()).profile(profile);
    if let Some(secret) = secret {
        builder = builder.plugins(PluginLayer::new().with_auth(NetaioHmac::new(secret)));
    }
    let server = builder.build();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {local}")
            .and_then(|_| out.flush())
            .map_err(|e| e.to_string())?;
    }
    server
        .serve(listener, shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

async fn connect(conn: &ConnArgs) -> Result<Client, String> {
    if !(conn.timeout.is_finite() && conn.timeout > 0.0) {
        return Err(format!("invalid --timeout {}", conn.timeout));
    }
    let timeout = Duration::from_secs_f64(conn.timeout);
    let mut builder = Client::builder(conn.addr.clone())
        .profile(conn.profile)
        .request_timeout(timeout)
        .connect_timeout(timeout)
        .reconnect(Reconnect::disabled());
    if let Some(secret) = &conn.secret {
        builder = builder.plugins(PluginLayer::new().with_auth(NetaioHmac::new(secret)));
    }
    builder.connect().await.map_err(|e| e.to_string())
}

/// Prints a reply and picks the exit status.
fn report(result: Result<Message, ClientError>, json: bool) -> Result<ExitCode, String> {
    match result {
        Ok(reply) => {
            output::print(&reply, json).map_err(|e| e.to_string())?;
            Ok(if output::is_success(reply.message_type) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(e) => match e.reply() {
            Some(reply) => {
                if json {
                    output::print(reply, true).map_err(|e| e.to_string())?;
                }
                let unverified = matches!(
                    e,
                    ClientError::AuthRejected {
                        verified: false,
                        ..
                    }
                );
                eprintln!(
                    "framewire: {}{}: {}",
                    reply.message_type,
                    if unverified {
                        " (unverified: the reply failed our auth check; check the secret)"
                    } else {
                        ""
                    },
                    String::from_utf8_lossy(reply.content())
                );
                Ok(ExitCode::from(1))
            }
            None => Err(e.to_string()),
        },
    }
}

async fn request(
    conn: ConnArgs,
    message_type: MessageType,
    uri: String,
    content: Bytes,
    json: bool,
) -> Result<ExitCode, String> {
    let client = connect(&conn).await?;
    let result = client.call(message_type, uri, content, None).await;
    client.close().await;
    report(result, json)
}

async fn subscribe(
    conn: ConnArgs,
    topic: String,
    count: Option<u64>,
    json: bool,
) -> Result<ExitCode, String> {
    // Notifications may be far apart: no timeout applies between them; the
    // client's keepalive watches the connection instead.
    let client = connect(&conn).await?;
    let mut sub = match client.subscribe(topic).await {
        Ok(s) => s,
        Err(e) => return report(Err(e), json),
    };
    let mut seen = 0u64;
    while count.is_none_or(|n| seen < n) {
        tokio::select! {
            note = sub.next() => match note {
                Some(note) => {
                    output::print(&note, json).map_err(|e| e.to_string())?;
                    seen += 1;
                }
                None => return Err("connection lost".into()),
            },
            _ = shutdown_signal() => break,
        }
    }
    drop(sub);
    client.close().await;
    Ok(ExitCode::SUCCESS)
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
