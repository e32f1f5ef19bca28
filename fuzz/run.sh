#!/usr/bin/env bash
# Runs every fuzz target for a while on stable Rust (no cargo-fuzz needed)
# and prints one line per target:
#
#   fuzz <target>: <execs> execs in <s> s, 0 crashes
#
# Usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  default 20
#   TARGET...           default: every target in fuzz/Cargo.toml
#
# Each target runs with `-s none` (no sanitizer: that needs nightly; memory
# is bounded by fuzz/checks/alloc.rs instead). Its working
# corpus is fuzz/corpus/<target> (git-ignored); fuzz/seeds/<target> and
# fuzz/regressions/<target> are read as extra corpus dirs and never written.
# A crash leaves its input in fuzz/artifacts/<target>/ and makes the script
# exit non-zero (after running the other targets); see
# fuzz/regressions/README.md for what to do with it.
set -u
cd "$(dirname "$0")/.."

secs=${1:-20}
shift || true
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=(decode_frame codec_stream auth_fields roundtrip server_stream pack_value service_routes users_file client_stream server_auth metrics_head node_datagrams backplane_envelope typed_content store_ops)
fi
case "$secs" in
    '' | *[!0-9]*) echo "fuzz/run.sh: seconds must be a whole number, got '$secs'" >&2; exit 2 ;;
esac

# Built as `cargo fuzz build -s none` (cargo-fuzz 0.13) builds them, with
# its flags written out here, so CI need not compile cargo-fuzz itself (1.5
# to 3 minutes on two cores): libFuzzer's coverage instrumentation, `--cfg
# fuzzing`, one codegen unit, release with debug info, for the host triple
# (so the flags reach no build script). `cargo fuzz run <target>` works the
# same where cargo-fuzz is installed.
triple=$(rustc -vV | sed -n 's/^host: //p')
flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
flags="$flags -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
flags="$flags -Cllvm-args=-sanitizer-coverage-pc-table"
flags="$flags -Cllvm-args=-sanitizer-coverage-trace-compares"
flags="$flags -Cllvm-args=-simplifycfg-branch-fold-threshold=0 --cfg fuzzing -Clink-dead-code"
case "$triple" in *-linux-*) flags="$flags -Cllvm-args=-sanitizer-coverage-stack-depth" ;; esac
flags="$flags -Ccodegen-units=1"
# Build all targets first so the time budget below is spent fuzzing.
if ! RUSTFLAGS="$flags" cargo build --manifest-path fuzz/Cargo.toml --target "$triple" \
    --release --config profile.release.debug=true --bins >/dev/null 2>fuzz/build.log; then
    cat fuzz/build.log >&2
    echo "fuzz/run.sh: build failed" >&2
    exit 2
fi
rm -f fuzz/build.log
bin="fuzz/target/$triple/release"

status=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    log=$(mktemp)
    start=$(date +%s)
    "$bin/$t" -artifact_prefix="fuzz/artifacts/$t/" \
        "fuzz/corpus/$t" "fuzz/seeds/$t" "fuzz/regressions/$t" \
        -max_total_time="$secs" -timeout=25 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    wall=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
    took=$(sed -n 's/^Done [0-9][0-9]* runs in \([0-9][0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    if [ "$rc" -eq 0 ] && [ -n "$execs" ]; then
        echo "fuzz $t: $execs execs in ${took:-$wall} s, 0 crashes"
    else
        status=1
        echo "fuzz $t: FAILED (exit $rc) after ${execs:-?} execs in $wall s"
        grep -E 'panicked at|^==[0-9]+== ERROR|Test unit written to|Reproduce with' "$log" | head -n 20
        echo "--- last lines of the libFuzzer log:"
        tail -n 40 "$log"
    fi
    rm -f "$log"
done
exit "$status"
