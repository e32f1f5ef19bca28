//! The server's counters through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`): every [`Stats`](super::Stats) counter is
//! also a Prometheus-style metric for whatever recorder the application
//! installs (none: nothing is recorded; without the feature these calls
//! compile to nothing). Names follow Prometheus conventions: `framewire_`
//! prefix, `_total` counters, seconds. Labels have fixed, small value sets;
//! the handler histogram is labelled with the *registered* route, never a
//! peer's uri.
//!
//! The list is in the `server` module docs ("Metrics").

#[cfg(feature = "metrics")]
mod on {
    pub(crate) fn counter(name: &'static str, n: u64) {
        metrics::counter!(name).increment(n);
    }

    pub(crate) fn counter_with(name: &'static str, key: &'static str, value: &'static str, n: u64) {
        metrics::counter!(name, key => value).increment(n);
    }

    pub(crate) fn gauge(name: &'static str, value: f64) {
        metrics::gauge!(name).set(value);
    }

    pub(crate) fn histogram(name: &'static str, value: f64) {
        metrics::histogram!(name).record(value);
    }

    pub(crate) fn handler_seconds(route: std::sync::Arc<str>, secs: f64) {
        // The label shares the route's Arc: no copy of it per call.
        let route = metrics::SharedString::from_shared(route);
        metrics::histogram!("framewire_handler_duration_seconds", "route" => route).record(secs);
    }
}

#[cfg(not(feature = "metrics"))]
mod on {
    pub(crate) fn counter(_: &'static str, _: u64) {}
    pub(crate) fn counter_with(_: &'static str, _: &'static str, _: &'static str, _: u64) {}
    pub(crate) fn gauge(_: &'static str, _: f64) {}
    pub(crate) fn histogram(_: &'static str, _: f64) {}
    pub(crate) fn handler_seconds(_: std::sync::Arc<str>, _: f64) {}
}

pub(crate) use on::{counter, counter_with, gauge, handler_seconds, histogram};

/// Whether handler timing is worth the clock reads.
pub(crate) const TIMED: bool = cfg!(feature = "metrics");

#[cfg(all(test, feature = "metrics", feature = "cli"))]
mod tests {
    /// Each call records its metric, with its label, in the installed
    /// recorder.
    #[test]
    fn every_call_reaches_the_recorder() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            super::counter("t_plain_total", 2);
            super::counter_with("t_labelled_total", "kind", "x", 3);
            super::gauge("t_gauge", 4.0);
            super::histogram("t_histogram", 5.0);
            super::handler_seconds("route/a".into(), 0.5);
        });
        let text = handle.render();
        for line in [
            "t_plain_total 2",
            "t_labelled_total{kind=\"x\"} 3",
            "t_gauge 4",
            "t_histogram_count 1",
            "framewire_handler_duration_seconds_count{route=\"route/a\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
