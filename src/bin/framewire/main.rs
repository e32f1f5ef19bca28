//! `framewire`: serve netaio-compatible frames, and poke at servers.
//!
//! Run `framewire --help` (or `cargo run --release -- --help`).

mod routes;

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use framewire::server::Server;
use framewire::{NetaioHmac, PluginLayer, Profile};

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
