//! `framewire bench`: a load generator for any netaio-compatible server,
//! run against framewire and against a bare baseline server in the same
//! process and run, so every figure comes with its ratio.
//!
//! `load.rs` generates the load, `idle.rs` measures a child's memory,
//! `scenarios.rs` turns repeated measurements into figures, `report.rs`
//! prints them as a table or JSON lines; this file starts the servers and
//! runs each scenario against each target.

mod idle;
mod load;
mod report;
mod scenarios;

use std::net::SocketAddr;
use std::time::Duration;

use framewire::server::{readme_routes, Limits, Server};
use tokio::net::TcpListener;

use crate::auth::Auth;
use crate::baseline;

/// Which measurements to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Sequential round trips on one connection: latency percentiles.
    Echo,
    /// Many frames in flight per connection: throughput.
    Pipeline,
    /// One publisher, many subscribers: deliveries per second.
    Fanout,
    /// Idle connections held by a `framewire serve` child: RSS per connection.
    Idle,
    /// Echo, pipeline and fanout.
    All,
}

/// Settings shared by every scenario.
pub struct Settings {
    pub scenario: Scenario,
    pub sizes: Vec<usize>,
    pub duration: Duration,
    pub connections: usize,
    pub depth: usize,
    pub subscribers: usize,
    pub auth: Option<Auth>,
    pub target: Option<String>,
    pub json: bool,
    pub runs: usize,
}

async fn start_framewire(auth: &Option<Auth>) -> Result<String, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut b = readme_routes(Server::builder()).limits(Limits::default().max_connections(20_000));
    if let Some(a) = auth {
        b = b.plugins(a.layer());
    }
    tokio::spawn(b.build().serve(listener, std::future::pending()));
    Ok(addr.to_string())
}

async fn start_baseline(auth: &Option<Auth>) -> Result<String, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(baseline::serve(listener, auth.as_ref().map(Auth::plugin)));
    Ok(addr.to_string())
}

/// Runs the benchmark and prints the table (or JSON lines).
pub async fn run(s: Settings) -> Result<(), String> {
    let mut targets = vec![
        ("framewire".to_owned(), start_framewire(&s.auth).await?),
        ("baseline".to_owned(), start_baseline(&s.auth).await?),
    ];
    if let Some(t) = &s.target {
        targets.push((format!("target {t}"), t.clone()));
    }
    let scenarios: &[Scenario] = match s.scenario {
        Scenario::All => &[Scenario::Echo, Scenario::Pipeline, Scenario::Fanout],
        ref one => std::slice::from_ref(one),
    };
    let mut rows = Vec::new();
    for scenario in scenarios {
        if *scenario == Scenario::Idle {
            rows.push(scenarios::idle(&s).await?);
            continue;
        }
        for &size in &s.sizes {
            for (name, addr) in &targets {
                load::progress(&format!("{scenario:?} {size} B against {name}..."));
                let at = scenarios::Target { name, addr, size };
                rows.extend(match scenario {
                    Scenario::Echo => scenarios::echo(&s, at).await?,
                    Scenario::Pipeline => scenarios::pipeline(&s, at).await?,
                    Scenario::Fanout => scenarios::fanout(&s, at).await?,
                    Scenario::Idle | Scenario::All => Vec::new(),
                });
            }
        }
    }
    load::progress("");
    report::print(&rows, s.json, s.auth.is_some(), s.runs.max(1));
    Ok(())
}
