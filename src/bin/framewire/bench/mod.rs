//! `framewire bench`: a load generator for any netaio-compatible server,
//! run against framewire and against a bare baseline server in the same
//! process and run, so every figure comes with its ratio.
//!
//! `servers.rs` starts each server as a child process (so its CPU time is
//! its own), `load.rs` generates the load, `peers.rs` the same fan-out
//! load on redis-server and nats-server (`--peers`), `cluster.rs` the cross-instance
//! fan-out, `client.rs` the client's own cost, `idle.rs` measures a child's
//! memory, `scenarios.rs` turns repeated measurements into figures,
//! `report.rs` prints them as a table or JSON lines; this file runs each
//! scenario against each target.

mod client;
mod cluster;
mod idle;
mod load;
mod node;
mod peer_client;
mod peers;
mod report;
mod scenarios;
mod servers;
pub(crate) mod tls;

use std::time::Duration;

use crate::auth::Auth;

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
    /// UDP echo: `framewire node` beside the bench's UDP baseline.
    Node,
    /// TLS handshakes per second, full and resumed (needs --tls).
    Handshake,
    /// framewire's own `Client`: C (= --depth) tasks sharing one client,
    /// one request at a time, a `Subscription` stream and `send`, each
    /// beside a raw client in the same run.
    Client,
    /// Fan-out across three instances on a Redis backplane (redis-server
    /// on the PATH) beside fan-out on one instance: deliveries/s, latency.
    Cluster,
    /// Echo, pipeline and fanout (and handshake with --tls).
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
    /// CSV instead of the table.
    pub csv: bool,
    /// Run each measurement to this many messages instead of `duration`.
    pub messages: Option<u64>,
    pub runs: usize,
    /// Everything over TLS, with the bench's own certificates.
    pub tls: Option<tls::BenchTls>,
    /// Fan-out also against `redis-server` and `nats-server` children.
    pub peers: bool,
    /// Worker threads of every server child (default: each server's own).
    pub server_threads: Option<usize>,
}

impl Settings {
    /// How long each measurement runs.
    fn budget(&self) -> load::Budget {
        load::Budget {
            duration: self.duration,
            messages: self.messages,
        }
    }

    /// ", N messages a run" in count mode, for the notes.
    fn count_note(&self) -> String {
        self.messages
            .map(|n| format!(", {n} messages a run"))
            .unwrap_or_default()
    }
}

/// Runs the benchmark and prints the table (or JSON lines).
pub async fn run(s: Settings) -> Result<(), String> {
    if let Some(n) = s.server_threads {
        servers::set_threads(n);
    }
    let ticks_at_start = servers::host_ticks();
    let framewire = servers::Server::framewire(&s.auth, s.tls.as_ref()).await?;
    let baseline = servers::Server::baseline(&s.auth, s.tls.as_ref()).await?;
    let mut targets = vec![
        scenarios::Target::of("framewire", &framewire, 0),
        scenarios::Target::of("baseline", &baseline, 0),
    ];
    if let Some(t) = &s.target {
        targets.push(scenarios::Target::external(t, 0));
    }
    let scenarios: &[Scenario] = match s.scenario {
        Scenario::All if s.tls.is_some() => &[
            Scenario::Echo,
            Scenario::Pipeline,
            Scenario::Fanout,
            Scenario::Handshake,
        ],
        Scenario::All => &[Scenario::Echo, Scenario::Pipeline, Scenario::Fanout],
        ref one => std::slice::from_ref(one),
    };
    // Peers take part in fan-out only (they speak their own protocols), so
    // they are started only when fan-out is run.
    let mut peer_servers = Vec::new();
    if s.peers && scenarios.contains(&Scenario::Fanout) {
        if s.auth.is_some() || s.tls.is_some() {
            return Err("--peers compares plain pub/sub: not with a secret or --tls".into());
        }
        for proto in [peers::Proto::Redis, peers::Proto::Nats] {
            peer_servers.push((proto, proto.start().await?));
        }
    }
    let peer_targets: Vec<_> = peer_servers
        .iter()
        .map(|(proto, server)| scenarios::Target::peer(*proto, server, 0))
        .collect();
    let mut rows = Vec::new();
    for scenario in scenarios {
        if *scenario == Scenario::Idle {
            rows.push(scenarios::idle(&s).await?);
            continue;
        }
        if *scenario == Scenario::Node {
            rows.extend(node::run(&s).await?);
            continue;
        }
        if *scenario == Scenario::Client {
            rows.extend(client::run(&s, &framewire).await?);
            continue;
        }
        if *scenario == Scenario::Cluster {
            rows.extend(cluster::run(&s, &framewire).await?);
            continue;
        }
        if *scenario == Scenario::Handshake {
            for target in &targets {
                load::progress(&format!("handshakes against {}...", target.name));
                rows.extend(scenarios::handshake(&s, *target).await?);
            }
            continue;
        }
        let peers = match scenario {
            Scenario::Fanout => &peer_targets[..],
            _ => &[],
        };
        for &size in &s.sizes {
            for target in targets.iter().chain(peers) {
                load::progress(&format!("{scenario:?} {size} B against {}...", target.name));
                let at = target.at_size(size);
                rows.extend(match scenario {
                    Scenario::Echo => scenarios::echo(&s, at).await?,
                    Scenario::Pipeline => scenarios::pipeline(&s, at).await?,
                    Scenario::Fanout => scenarios::fanout(&s, at).await?,
                    Scenario::Idle
                    | Scenario::Node
                    | Scenario::Handshake
                    | Scenario::Client
                    | Scenario::Cluster
                    | Scenario::All => Vec::new(),
                });
            }
        }
    }
    load::progress("");
    let format = if s.json {
        report::Format::Json
    } else if s.csv {
        report::Format::Csv
    } else {
        report::Format::Table
    };
    let steal = ticks_at_start
        .zip(servers::host_ticks())
        .and_then(|(from, to)| servers::steal_percent(from, to));
    report::print(
        &rows,
        format,
        s.auth.is_some(),
        s.tls.is_some(),
        s.runs.max(1),
    );
    if let (Some(pct), report::Format::Table) = (steal, format) {
        println!(
            "(host steal: {pct:.1} % of CPU time during the run: the hypervisor's share; \
             above a few %, absolute rates drop and runs spread, ratios still compare)"
        );
    }
    Ok(())
}
