//! How figures are printed: an aligned table with ratios to the baseline
//! of the same run, or one JSON object per figure.

use crate::output::quote;

/// One measured figure.
pub(super) struct Row {
    pub(super) scenario: &'static str,
    pub(super) size: usize,
    pub(super) target: String,
    pub(super) metric: &'static str,
    pub(super) value: f64,
    /// Whether a larger value is better (throughput) or smaller (latency).
    pub(super) higher_is_better: bool,
    pub(super) extra: String,
}

/// How `print` writes the rows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Table,
    Json,
    Csv,
}

/// A CSV field: quoted when it holds a comma, quote or newline.
fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

pub(super) fn print(rows: &[Row], format: Format, hmac: bool, tls: bool, runs: usize) {
    let ratio_of = |r: &Row| {
        rows.iter()
            .find(|b| {
                b.target == "baseline"
                    && b.scenario == r.scenario
                    && b.size == r.size
                    && b.metric == r.metric
            })
            .map(|b| b.value)
            // A baseline that measured 0 (CPU time below the clock's
            // resolution in a short run) has no ratio: `inf` is not JSON.
            .and_then(|b| Some(r.value / b).filter(|x| x.is_finite()))
    };
    if format == Format::Csv {
        println!("scenario,size,target,metric,value,ratio_to_baseline,hmac,tls,runs,note");
        for r in rows {
            let ratio = ratio_of(r).map_or(String::new(), |x| format!("{x:.3}"));
            println!(
                "{},{},{},{},{:.3},{ratio},{hmac},{tls},{runs},{}",
                r.scenario,
                r.size,
                csv(&r.target),
                csv(r.metric),
                r.value,
                csv(&r.extra)
            );
        }
        return;
    }
    if format == Format::Json {
        for r in rows {
            let ratio = ratio_of(r).map_or("null".to_owned(), |x| format!("{x:.3}"));
            println!(
                "{{\"scenario\":{},\"size\":{},\"target\":{},\"metric\":{},\"value\":{:.3},\"ratio_to_baseline\":{},\"hmac\":{},\"tls\":{},\"runs\":{},\"note\":{}}}",
                quote(r.scenario),
                r.size,
                quote(&r.target),
                quote(r.metric),
                r.value,
                ratio,
                hmac,
                tls,
                runs,
                quote(&r.extra)
            );
        }
        return;
    }
    println!(
        "{:<9} {:>6}  {:<28} {:<14} {:>12}  {:>8}  notes",
        "scenario", "bytes", "server", "metric", "value", "ratio"
    );
    for r in rows {
        let ratio = ratio_of(r).map_or("-".to_owned(), |x| {
            format!(
                "{x:.2}x{}",
                if r.higher_is_better { "" } else { " (lower)" }
            )
        });
        println!(
            "{:<9} {:>6}  {:<28} {:<14} {:>12.1}  {:>8}  {}",
            r.scenario, r.size, r.target, r.metric, r.value, ratio, r.extra
        );
    }
    println!(
        "(medians of {runs} run(s); ratio = server / baseline from this same run; hmac: {hmac}; tls: {tls})"
    );
}
