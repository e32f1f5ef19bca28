//! Each scenario measured `runs` times against one target and reduced to
//! its figures (medians), as rows for the report.

use super::report::Row;
use super::{idle, load, Settings};

/// One server under measurement at one payload size.
#[derive(Clone, Copy)]
pub(super) struct Target<'a> {
    pub(super) name: &'a str,
    pub(super) addr: &'a str,
    pub(super) size: usize,
}

impl Target<'_> {
    fn row(&self, scenario: &'static str, metric: &'static str, value: f64) -> Row {
        Row {
            scenario,
            size: self.size,
            target: self.name.to_owned(),
            metric,
            value,
            higher_is_better: true,
            extra: String::new(),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Sequential round trips: p50 latency (with p99, p999) and the rate.
pub(super) async fn echo(s: &Settings, t: Target<'_>) -> Result<Vec<Row>, String> {
    let (mut rate, mut p50, mut p99, mut p999) = (vec![], vec![], vec![], vec![]);
    for _ in 0..s.runs.max(1) {
        let (r, p) = load::echo(t.addr, t.size, s.duration, &s.auth).await?;
        rate.push(r);
        p50.push(p[0]);
        p99.push(p[1]);
        p999.push(p[2]);
    }
    let mut latency = t.row("echo", "p50 µs", median(p50));
    latency.higher_is_better = false;
    latency.extra = format!("p99 {:.0} µs, p999 {:.0} µs", median(p99), median(p999));
    Ok(vec![latency, t.row("echo", "round trips/s", median(rate))])
}

/// Pipelined echo: replies per second (only echo replies count).
pub(super) async fn pipeline(s: &Settings, t: Target<'_>) -> Result<Vec<Row>, String> {
    let (mut rate, mut refused) = (vec![], 0);
    for _ in 0..s.runs.max(1) {
        let (r, n) =
            load::pipeline(t.addr, t.size, s.duration, s.connections, s.depth, &s.auth).await?;
        rate.push(r);
        refused += n;
    }
    let mut row = t.row("pipeline", "msgs/s", median(rate));
    row.extra = format!(
        "{} conns × {} in flight, {:.1} MB/s",
        s.connections,
        s.depth,
        row.value * t.size as f64 / 1e6
    );
    if refused > 0 {
        row.extra
            .push_str(&format!(", {refused} non-echo replies (e.g. AUTH_ERROR)"));
    }
    Ok(vec![row])
}

/// One publisher, many subscribers: deliveries per second, losses.
pub(super) async fn fanout(s: &Settings, t: Target<'_>) -> Result<Vec<Row>, String> {
    let (mut rate, mut lost) = (vec![], 0);
    for _ in 0..s.runs.max(1) {
        let (r, l) = load::fanout(t.addr, t.size, s.duration, s.subscribers, &s.auth).await?;
        rate.push(r);
        lost += l;
    }
    let mut row = t.row("fanout", "deliveries/s", median(rate));
    row.extra = format!("{} subscribers, {lost} lost", s.subscribers);
    Ok(vec![row])
}

/// Memory per idle connection of a `framewire serve` child.
pub(super) async fn idle(s: &Settings) -> Result<Row, String> {
    let per = idle::rss_per_connection(s.connections).await?;
    Ok(Row {
        scenario: "idle",
        size: 0,
        target: "framewire".into(),
        metric: "RSS bytes/conn",
        value: per,
        higher_is_better: false,
        extra: format!("{} connections", s.connections),
    })
}
