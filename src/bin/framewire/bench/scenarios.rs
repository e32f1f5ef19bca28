//! Each scenario measured `runs` times against one target and reduced to
//! its figures (medians), as rows for the report.

use super::peers::{self, Proto};
use super::report::Row;
use super::servers::Server;
use super::{idle, load, Settings};

/// One server under measurement at one payload size.
#[derive(Clone, Copy)]
pub(super) struct Target<'a> {
    pub(super) name: &'a str,
    pub(super) addr: &'a str,
    pub(super) size: usize,
    /// The server's process, when it is the bench's child (for its CPU).
    server: Option<&'a Server>,
    /// A pub/sub peer (fan-out only), reached through its own protocol;
    /// `None` for a netaio-compatible server.
    peer: Option<Proto>,
}

impl<'a> Target<'a> {
    pub(super) fn of(name: &'a str, server: &'a Server, size: usize) -> Self {
        Target {
            name,
            addr: &server.addr,
            size,
            server: Some(server),
            peer: None,
        }
    }

    /// A peer server child (`redis-server`, `nats-server`).
    pub(super) fn peer(proto: Proto, server: &'a Server, size: usize) -> Self {
        Target {
            peer: Some(proto),
            ..Target::of(proto.name(), server, size)
        }
    }

    pub(super) fn external(addr: &'a str, size: usize) -> Self {
        Target {
            name: "target",
            addr,
            size,
            server: None,
            peer: None,
        }
    }

    pub(super) fn at_size(&self, size: usize) -> Self {
        Target { size, ..*self }
    }

    /// How the load generator reaches it under settings `s`.
    fn dial<'s>(&'s self, s: &'s Settings) -> load::Dial<'s> {
        load::Dial {
            addr: self.addr,
            tls: s.tls.as_ref().map(|t| &t.client),
        }
    }

    fn label(&self) -> String {
        match self.server {
            Some(_) => self.name.to_owned(),
            None => format!("target {}", self.addr),
        }
    }

    pub(super) fn row(&self, scenario: &'static str, metric: &'static str, value: f64) -> Row {
        Row {
            scenario,
            size: self.size,
            target: self.label(),
            metric,
            value,
            higher_is_better: true,
            extra: String::new(),
        }
    }

    fn cpu(&self) -> Option<f64> {
        self.server.and_then(Server::cpu_secs)
    }

    /// The row of server CPU per message (median over runs, in seconds).
    pub(super) fn cpu_row(&self, scenario: &'static str, per_message: Vec<f64>) -> Option<Row> {
        if per_message.is_empty() {
            return None;
        }
        let runs = per_message.len();
        let mut row = self.row(scenario, "server µs CPU/msg", median(per_message) * 1e6);
        row.higher_is_better = false;
        row.extra = format!("user + system time of the server process, median of {runs}");
        Some(row)
    }
}

/// Runs `f` and returns its result and the CPU the target used meanwhile.
async fn with_cpu<T>(t: &Target<'_>, f: impl std::future::Future<Output = T>) -> (T, Option<f64>) {
    let before = t.cpu();
    let out = f.await;
    let used = t.cpu().zip(before).map(|(a, b)| a - b);
    (out, used)
}

pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Every run's figure, for a note: a median hides a slow run.
fn each_run(v: &[f64]) -> String {
    if v.len() < 2 {
        return String::new();
    }
    let runs: Vec<String> = v.iter().map(|r| format!("{:.0}", r)).collect();
    format!(", runs {}", runs.join(" / "))
}

/// Sequential round trips: p50 latency (with p99, p999) and the rate.
pub(super) async fn echo(s: &Settings, t: Target<'_>) -> Result<Vec<Row>, String> {
    let (mut rate, mut p50, mut p99, mut p999) = (vec![], vec![], vec![], vec![]);
    for _ in 0..s.runs.max(1) {
        let (r, p) = load::echo(t.dial(s), t.size, s.budget(), &s.auth).await?;
        rate.push(r);
        p50.push(p[0]);
        p99.push(p[1]);
        p999.push(p[2]);
    }
    let mut latency = t.row("echo", "p50 µs", median(p50));
    latency.higher_is_better = false;
    latency.extra = format!("p99 {:.0} µs, p999 {:.0} µs", median(p99), median(p999));
    let mut rate = t.row("echo", "round trips/s", median(rate));
    rate.extra = s.count_note();
    Ok(vec![latency, rate])
}

/// Pipelined echo: replies per second (only echo replies count).
pub(super) async fn pipeline(s: &Settings, t: Target<'_>) -> Result<Vec<Row>, String> {
    let (mut rate, mut refused, mut cpu) = (vec![], 0, vec![]);
    for _ in 0..s.runs.max(1) {
        let load = load::pipeline(
            t.dial(s),
            t.size,
            s.budget(),
            s.connections,
            s.depth,
            &s.auth,
        );
        let (r, used) = with_cpu(&t, load).await;
        let (r, n) = r?;
        rate.push(r);
        refused += n;
        if let Some(u) = used {
            cpu.push(u / s.budget().count_at(r).max(1.0));
        }
    }
    let cpu_row = t.cpu_row("pipeline", cpu);
    let runs = each_run(&rate);
    let mut row = t.row("pipeline", "msgs/s", median(rate));
    row.extra = format!(
        "{} conns × {} in flight, {:.1} MB/s",
        s.connections,
        s.depth,
        row.value * t.size as f64 / 1e6
    );
    row.extra.push_str(&s.count_note());
    row.extra.push_str(&runs);
    if refused > 0 {
        row.extra
            .push_str(&format!(", {refused} non-echo replies (e.g. AUTH_ERROR)"));
    }
    Ok([Some(row), cpu_row].into_iter().flatten().collect())
}

/// One publisher, many subscribers: deliveries per second, losses.
pub(super) async fn fanout(s: &Settings, t: Target<'_>) -> Result<Vec<Row>, String> {
    let (mut rate, mut lost, mut cpu) = (vec![], 0, vec![]);
    for _ in 0..s.runs.max(1) {
        let load = async {
            match t.peer {
                None => load::fanout(t.dial(s), t.size, s.budget(), s.subscribers, &s.auth).await,
                Some(p) => peers::fanout(p, t.addr, t.size, s.budget(), s.subscribers).await,
            }
        };
        let (r, used) = with_cpu(&t, load).await;
        let (r, l) = r?;
        rate.push(r);
        lost += l;
        if let Some(u) = used {
            // Deliveries: each message once per subscriber.
            let deliveries = match s.messages {
                Some(n) => (n * s.subscribers as u64) as f64,
                None => r * s.duration.as_secs_f64(),
            };
            cpu.push(u / deliveries.max(1.0));
        }
    }
    let cpu_row = t.cpu_row("fanout", cpu);
    let runs = each_run(&rate);
    let mut row = t.row("fanout", "deliveries/s", median(rate));
    row.extra = format!(
        "{} subscribers, {lost} lost{}{runs}",
        s.subscribers,
        s.count_note()
    );
    Ok([Some(row), cpu_row].into_iter().flatten().collect())
}

/// Memory per idle connection of a `framewire serve` child.
pub(super) async fn idle(s: &Settings) -> Result<Row, String> {
    let per = idle::rss_per_connection(s.connections, s.tls.as_ref()).await?;
    let tls = if s.tls.is_some() { " (TLS)" } else { "" };
    Ok(Row {
        scenario: "idle",
        size: 0,
        target: "framewire".into(),
        metric: "RSS bytes/conn",
        value: per,
        higher_is_better: false,
        extra: format!("{} connections{tls}", s.connections),
    })
}

/// TLS handshakes per second, full and resumed (`--tls` only).
pub(super) async fn handshake(s: &Settings, t: Target<'_>) -> Result<Vec<Row>, String> {
    let tls = s.tls.as_ref().ok_or("--scenario handshake needs --tls")?;
    let mut rows = Vec::new();
    for (metric, config) in [("full conn/s", &tls.full), ("resumed conn/s", &tls.client)] {
        let (mut rate, mut resumed, mut total) = (vec![], 0u64, 0f64);
        for _ in 0..s.runs.max(1) {
            let (r, n) = load::handshakes(t.addr, s.duration, s.connections, config).await?;
            rate.push(r);
            resumed += n;
            total += r * s.duration.as_secs_f64();
        }
        let mut row = t.row("handshake", metric, median(rate));
        row.extra = format!(
            "handshake + 1 echo, {} at a time, {resumed} of ~{total:.0} resumed",
            s.connections
        );
        rows.push(row);
    }
    Ok(rows)
}
