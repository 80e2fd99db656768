"""How fast the background daemon comes up, and what a command costs once it runs.

Measured against a real dev SaaS on loopback with the installed ``spec-kitty``, in a throwaway home:

- *cold start*: from invoking ``spec-kitty tracker sync run`` with no daemon running until the new
  daemon answers ``GET /health`` (target: median ≤ 0.5 s), plus that command's whole wall time;
- *warm command*: ``spec-kitty tracker sync run`` while the daemon runs, beside the in-process one-shot
  ``spec-kitty sync run`` and ``python -c pass`` of the same interpreter;
- *floors*: the interpreter importing what a daemon needs before it can answer (the lock, then aiohttp),
  so the cold-start number can be read against what no code change can remove; a stdlib
  ``http.server`` floor is shown beside it for comparison.

Cases are interleaved so drift hits all alike; medians and ratios come from one run.
Run: ``.venv/bin/python benchmarks/bench_daemon.py [--runs 9]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devsaas.testing import start_dev_saas  # stdlib only, like this script

SPEC_KITTY = str(Path(sys.executable).parent / "spec-kitty")
MISSION = "001-demo"


def health_answers(state_file: Path, previous_pid: int | None) -> bool:
    """Whether a daemon other than ``previous_pid`` published its state and answers health."""
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return False
    if state.get("pid") == previous_pid:
        return False
    conn = http.client.HTTPConnection("127.0.0.1", int(state["port"]), timeout=0.5)
    try:
        conn.request("GET", "/health", headers={"Authorization": f"Bearer {state['secret']}"})
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def run(argv: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, input=stdin, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed ({done.returncode}): {done.stdout}{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-daemon-"))
    saas = start_dev_saas(db=work / "saas.sqlite3")
    user_home = work / "operator"
    home = user_home / ".spec-kitty"
    repo = work / "bench-repo"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPEC_KITTY_", "PYTHON"))}
    env.update(SPEC_KITTY_HOME=str(home), HOME=str(user_home), SPEC_KITTY_ENABLE_SAAS_SYNC="1",
               GIT_CONFIG_GLOBAL=os.devnull, NO_COLOR="1")
    state_file = home / "sync-daemon"
    try:
        user_home.mkdir()
        (repo / "kitty-specs" / MISSION).mkdir(parents=True)
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        run([SPEC_KITTY, "auth", "login", "--host", saas.url, "--with-token"], env, repo, saas.issue_token("bench"))
        run([SPEC_KITTY, "tracker", "bind"], env, repo)
        stop = [SPEC_KITTY, "sync", "daemon", "stop"]
        sync_via_daemon = [SPEC_KITTY, "tracker", "sync", "run"]

        cases: dict[str, list[float]] = {name: [] for name in (
            "cold: invoke -> daemon answers health", "cold: whole command", "warm: tracker sync run",
            "one-shot: sync run", "python -c pass", "floor: python + fasteners",
            "floor: python + fasteners + aiohttp.web", "floor: python + fasteners + http.server")}
        floors = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "floor: python + fasteners": [sys.executable, "-c", "import fasteners"],
            "floor: python + fasteners + aiohttp.web": [sys.executable, "-c", "import fasteners, aiohttp.web"],
            "floor: python + fasteners + http.server": [sys.executable, "-c", "import fasteners, http.server"],
        }
        run(sync_via_daemon, env, repo)  # warm-up: .pyc files, page cache
        for _ in range(args.runs):
            run(stop, env, repo)
            start = time.perf_counter()
            command = subprocess.Popen(sync_via_daemon, env=env, cwd=repo, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            while not health_answers(state_file, None):
                if command.poll() not in (None, 0):
                    raise SystemExit("tracker sync run failed during the cold start")
                time.sleep(0.002)
            cases["cold: invoke -> daemon answers health"].append(time.perf_counter() - start)
            command.wait()
            cases["cold: whole command"].append(time.perf_counter() - start)
            cases["warm: tracker sync run"].append(run(sync_via_daemon, env, repo))
            cases["one-shot: sync run"].append(run([SPEC_KITTY, "sync", "run"], env, repo))
            for name, argv in floors.items():
                cases[name].append(run(argv, env, repo))
        run(stop, env, repo)

        medians = {name: statistics.median(times) for name, times in cases.items()}
        print(f"runs: {args.runs} (median), python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        for name, value in medians.items():
            print(f"  {name:<44}{value * 1000:>8.0f} ms")
        cold = medians["cold: invoke -> daemon answers health"]
        print(f"cold start to health: {cold * 1000:.0f} ms (target <= 500 ms: {'met' if cold <= 0.5 else 'MISSED'})")
        warm = medians["warm: tracker sync run"]
        print(f"warm command / one-shot sync run: {warm / medians['one-shot: sync run']:.2f}")
        print(f"cold command / warm command: {medians['cold: whole command'] / warm:.2f}")
        print(f"warm command / python -c pass: {warm / medians['python -c pass']:.2f}")
    finally:
        subprocess.run([SPEC_KITTY, "sync", "daemon", "stop"], env=env, cwd=repo if repo.exists() else work,
                       capture_output=True)
        saas.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
