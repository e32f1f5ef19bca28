//! Smoke test of `framewire bench`: every scenario runs for a fraction of a
//! second and reports figures with ratios (no timing is asserted).
#![cfg(feature = "cli")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn bench(args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_framewire"));
    cmd.arg("bench").args(args);
    let (ok, out, err) = run_bounded(cmd, Duration::from_secs(120));
    assert!(ok, "bench {args:?} failed:\n{out}\n{err}");
    out
}

#[test]
fn every_scenario_reports_framewire_and_baseline() {
    let out = bench(&[
        "--scenario",
        "all",
        "--duration",
        "0.2",
        "--size",
        "64",
        "--subscribers",
        "5",
    ]);
    for scenario in ["echo", "pipeline", "fanout"] {
        let rows: Vec<&str> = out.lines().filter(|l| l.starts_with(scenario)).collect();
        assert!(
            rows.iter().any(|l| l.contains("framewire")),
            "{scenario}: {out}"
        );
        assert!(
            rows.iter()
                .any(|l| l.contains("baseline") && l.contains("1.00x")),
            "{scenario}: {out}"
        );
    }
    assert!(out.contains("0 lost"), "{out}");
}

#[test]
fn json_output_with_hmac_and_several_connections() {
    let out = bench(&[
        "--scenario",
        "pipeline",
        "--duration",
        "0.2",
        "--size",
        "64,1024",
        "--connections",
        "4",
        "--secret",
        "s",
        "--json",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    for l in lines {
        assert!(
            l.starts_with("{\"scenario\":\"pipeline\"") && l.contains("\"hmac\":true"),
            "{l}"
        );
        let value: f64 = l
            .split("\"value\":")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(value > 0.0, "{l}");
    }
}

#[test]
fn idle_connections_memory() {
    let out = bench(&["--scenario", "idle", "--connections", "200"]);
    assert!(out.contains("RSS bytes/conn"), "{out}");
}

#[test]
fn against_a_netaio_target() {
    let Some(python) = netaio_python() else {
        return;
    };
    let (_srv, addr) = netaio_server(&python, None);
    let out = bench(&[
        "--scenario",
        "echo",
        "--duration",
        "0.3",
        "--size",
        "64",
        "--target",
        &addr,
    ]);
    assert!(
        out.lines().any(|l| l.contains(&format!("target {addr}"))),
        "{out}"
    );
}
