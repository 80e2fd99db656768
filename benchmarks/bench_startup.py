"""Whole-process start-up cost of `spec-kitty --help` and `spec-kitty status`, as a ratio to `python -c pass`.

Machines here are noisy, so every command is measured side by side in one run, interleaved, and we
report medians and ratios (never absolute targets in tests). Peak RSS comes from ``wait4``'s rusage.
Where valgrind is installed, each command's instruction count (callgrind) gives a second ratio that
does not move with the machine's load.

Run: ``.venv/bin/python benchmarks/bench_startup.py [--runs 15]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIXTURE = (Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "missions"
           / "082-stealth-gated-saas-sync-hardening")


def measure(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{argv} exited {proc.returncode}")
    return elapsed, usage.ru_maxrss / 1024


def instructions(argv: list[str], cwd: Path, env: dict[str, str]) -> int | None:
    """Instructions executed (valgrind callgrind): repeatable whatever else the machine is doing."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    done = subprocess.run([valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv], cwd=cwd,
                          env=env, capture_output=True, text=True)
    found = [line for line in done.stderr.splitlines() if "Collected :" in line]
    return int(found[-1].split(":")[-1]) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    bindir = Path(sys.executable).parent
    spec_kitty = str(bindir / "spec-kitty")
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        (work / "kitty-specs").mkdir()
        if FIXTURE.is_dir():
            shutil.copytree(FIXTURE, work / "kitty-specs" / FIXTURE.name)
        env = {k: v for k, v in os.environ.items() if k != "SPEC_KITTY_ENABLE_SAAS_SYNC"}
        env["SPEC_KITTY_HOME"] = str(work / "home")
        env_on = dict(env, SPEC_KITTY_ENABLE_SAAS_SYNC="1")
        cases: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], env),
            # the floor: a click group with a core transitions machine and tomllib
            "floor: click+transitions+tomllib": ([sys.executable, "-c", "import click, transitions, tomllib"], env),
            "spec-kitty --help": ([spec_kitty, "--help"], env),
            "spec-kitty status": ([spec_kitty, "status"], env),
            "spec-kitty status (flag on)": ([spec_kitty, "status"], env_on),
            "spec-kitty config list": ([spec_kitty, "config", "list"], env),
        }
        other = shutil.which("spec-kitty-cli")
        if other:
            cases["spec-kitty-cli --help"] = ([other, "--help"], env)
        times: dict[str, list[float]] = {name: [] for name in cases}
        rss: dict[str, list[float]] = {name: [] for name in cases}
        for argv, e in cases.values():  # warm-up: compile .pyc, fill page cache
            measure(argv, work, e)
        for _ in range(args.runs):
            for name, (argv, e) in cases.items():  # interleaved so drift hits every case alike
                t, r = measure(argv, work, e)
                times[name].append(t)
                rss[name].append(r)
        base = statistics.median(times["python -c pass"])
        counts = {name: instructions(argv, work, e) for name, (argv, e) in cases.items()}
        base_count = counts["python -c pass"]
        rows = {
            name: {
                "median_ms": round(statistics.median(ts) * 1000, 1),
                "ratio": round(statistics.median(ts) / base, 2),
                "peak_rss_mib": round(max(rss[name]), 1),
                "instructions_ratio": round(counts[name] / base_count, 2) if counts[name] and base_count else None,
            }
            for name, ts in times.items()
        }
        if args.json:
            print(json.dumps(rows, indent=2))
            return
        print(f"runs per case: {args.runs} (median), python: {sys.version.split()[0]}")
        print(f"{'command':<34}{'median ms':>10}{'x python':>10}{'x python (instr.)':>19}{'peak RSS MiB':>14}")
        for name, row in rows.items():
            instr = row["instructions_ratio"] if row["instructions_ratio"] is not None else "n/a"
            print(f"{name:<34}{row['median_ms']:>10}{row['ratio']:>10}{instr:>19}{row['peak_rss_mib']:>14}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
