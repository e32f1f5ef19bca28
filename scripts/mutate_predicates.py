#!/usr/bin/env python3
"""Mutation testing of the `is_*` predicates, which cargo-mutants cannot
reach (the `predicates!` macro writes them).

Run from the repository's root:

    python3 scripts/mutate_predicates.py [--test TARGET ...]

It lists every predicate the macro is given in `src/`, builds the
library's tests (and each `--test TARGET`) once with feature
`mutate-predicates`, then runs them once per mutant: each predicate
forced to `true`, then to `false` (`FRAMEWIRE_PREDICATE_MUTANT`). A
mutant is caught when a test fails. Prints one line per missed mutant and
a summary; exits 1 if any was missed.
"""

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

FEATURES = "mutate-predicates,testing"


def predicates(root: Path):
    """(type, predicate) for every `predicates!(Type { is_x => ..., })`."""
    found = []
    for path in sorted(root.glob("src/**/*.rs")):
        text = path.read_text()
        for m in re.finditer(r"predicates!\s*\(\s*(\w+)\s*\{", text):
            depth, i = 1, m.end()
            while depth and i < len(text):
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
            body = text[m.end() : i - 1]
            # Only top-level entries: `is_x =>` at the start of a line.
            for name in re.findall(r"^\s*(is_\w+)\s*=>", body, re.M):
                found.append((m.group(1), name))
    return found


def build(args):
    """The test executables `cargo test --no-run` builds."""
    cmd = ["cargo", "test", "--locked", "--no-run", "--features", FEATURES,
           "--message-format=json", "--lib"]
    for t in args:
        cmd += ["--test", t]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    exes = []
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") \
                and msg.get("profile", {}).get("test"):
            exes.append(msg["executable"])
    return exes


def passes(exes, mutant):
    env = dict(os.environ, FRAMEWIRE_PREDICATE_MUTANT=mutant)
    for exe in exes:
        r = subprocess.run([exe, "-q"], env=env, capture_output=True, timeout=600)
        if r.returncode != 0:
            return False
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--test", action="append", default=[],
                    help="an integration test target to run beside the library's tests")
    ap.add_argument("--only", help="a regular expression the predicate must match")
    args = ap.parse_args()
    root = Path(__file__).resolve().parent.parent
    os.chdir(root)
    preds = predicates(root)
    if args.only:
        preds = [p for p in preds if re.search(args.only, f"{p[0]}::{p[1]}")]
    exes = build(args.test)
    if not passes(exes, "none=true"):
        sys.exit("the unmutated tests fail: fix them first")
    missed = []
    for ty, name in preds:
        for value in ("true", "false"):
            mutant = f"{ty}::{name}={value}"
            if passes(exes, mutant):
                missed.append(mutant)
                print(f"MISSED {mutant}", flush=True)
    total = 2 * len(preds)
    print(f"{len(preds)} predicates, {total} mutants: "
          f"{total - len(missed)} caught, {len(missed)} missed")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
