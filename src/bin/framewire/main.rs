//! `framewire`: serve netaio-compatible frames, and poke at servers.
//!
//! Run `framewire --help` (or `cargo run --release -- --help`).

mod args;
mod auth;
mod backplane;
mod baseline;
mod bench;
mod client;
mod metrics;
mod node;
mod output;
mod serve;
mod tls;

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use framewire::MessageType;

use args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match cli.log_format {
        args::LogFormat::Text => logs.init(),
        args::LogFormat::Json => logs.json().init(),
    }
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
                auth,
                users,
                profile,
                max_connections,
                max_connections_per_address,
                tls,
                cluster,
                metrics,
            } => {
                let limits = framewire::server::Limits::default()
                    .max_connections(max_connections)
                    .max_connections_per_address(max_connections_per_address);
                let options = serve::Options {
                    users: users.as_deref(),
                    profile,
                    limits,
                    tls: &tls,
                    cluster: &cluster,
                    metrics,
                };
                serve::serve(addr, &auth, options).await
            }
            Command::Node(args) => node::node(*args).await,
            Command::BenchBaseline {
                addr,
                auth,
                tls,
                udp: true,
            } => serve::baseline_udp(addr, &auth, &tls).await,
            Command::BenchBaseline {
                addr, auth, tls, ..
            } => serve::baseline(addr, &auth, &tls).await,
            Command::Request {
                conn,
                uri,
                message_type,
                content,
                content_file,
                count,
                json,
            } => {
                let content = match (content, content_file) {
                    (Some(dash), _) if dash == "-" => client::stdin()?,
                    (Some(text), _) => Bytes::from(text),
                    (None, Some(path)) => std::fs::read(&path)
                        .map(Bytes::from)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
                    (None, None) => Bytes::new(),
                };
                client::request(conn, message_type, uri, vec![content], count, 0.0, json).await
            }
            Command::Publish {
                conn,
                topic,
                content,
                lines,
                count,
                interval,
            } => {
                let uri = format!("pub/{topic}");
                let contents = match content {
                    Some(text) if text != "-" => vec![Bytes::from(text)],
                    _ if lines => client::stdin_lines()?,
                    _ => vec![client::stdin()?],
                };
                let kind = MessageType::PUBLISH_URI;
                client::request(conn, kind, uri, contents, count, interval, false).await
            }
            Command::Subscribe {
                conn,
                topics,
                count,
                group,
                json,
                raw,
                timestamp,
            } => {
                let style = client::Style {
                    json,
                    raw,
                    timestamp,
                };
                client::subscribe(conn, topics, count, group, style).await
            }
            Command::Completions { shell } => {
                let mut cmd = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(shell, &mut cmd, "framewire", &mut std::io::stdout());
                Ok(ExitCode::SUCCESS)
            }
            Command::Ping {
                conn,
                count,
                interval,
            } => client::ping(conn, count, interval).await,
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
                    auth: b.auth.resolve()?,
                    target: b.target,
                    json: b.json,
                    csv: b.csv,
                    messages: b.messages.filter(|&n| n > 0),
                    runs: b.runs,
                    tls: b.tls.then(bench::tls::BenchTls::generate).transpose()?,
                    peers: b.peers,
                    server_threads: b.server_threads,
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

/// SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn shutdown_signal() {
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
