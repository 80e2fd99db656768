"""Cost against log size, through the installed ``spec-kitty`` command, as ratios to floors from the same run.

Real repositories keep their mission logs forever and the daemon syncs every 30 s, so what a sync costs
must follow the *new* work, not the size of the log. For each log size this measures, side by side:

- **cold ``sync run``** (empty queue, whole log to upload) in events/s, run under a pseudo-terminal so
  the progress bar is drawn exactly as an operator sees it; the floor is a bare aiohttp client posting
  the same rows as the same envelopes in gzip batches of 500 to the same dev SaaS's batch endpoint
  (envelopes and bodies built before the clock starts);
- **``sync run`` with nothing new** and **with one new row**, as a ratio to ``sync run`` on an empty
  mission (the command's own start-up and round-trip floor);
- **peak RSS** (``wait4``'s rusage) of ``status --json``, cold ``sync run`` and the no-op ``sync run``;
- **``status --json`` CPU** (user + system) as a ratio to a process that only ``json.loads`` every line;
- **one ``wp move``** at this size as a ratio to the same move on a 1k-row log;
- **queue file size** after a full drain as a share of the log's size.

Rows are real spec-kitty rows (every lane-transition row of ``tests/fixtures/missions`` except the two
300-600 KB outliers) re-keyed with fresh ULIDs, so size and shape match what spec-kitty writes.

Run: ``.venv/bin/python benchmarks/bench_scale.py [--sizes 10000 100000 1000000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from statistics import median
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_sync import fixture_rows  # noqa: E402  (benchmarks share their payload)

from orchestrator.missions.ulid import new_ulid  # noqa: E402

BIN = Path(sys.executable).parent
SPEC_KITTY = str(BIN / "spec-kitty")
BATCH = 500
SMALL = 1_000  # the `wp move` reference log


class Run(NamedTuple):
    seconds: float
    cpu: float  # user + system of the child
    rss_mib: float
    output: str


def run(argv: Sequence[str], *, cwd: Path, env: dict[str, str], stdin: bytes | None = None) -> str:
    """A set-up step (not measured): its output, or the benchmark stops with it."""
    done = subprocess.run(argv, cwd=cwd, env=env, input=stdin, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout.decode()}{done.stderr.decode()}")
    return done.stdout.decode()


# Peak RSS: Linux starts a child's ``ru_maxrss`` at the RSS of the process that forked it, so children
# forked by this benchmark (which holds a whole log for the floor) would all report its size. They are
# forked by this small helper instead, started before anything big is loaded; every figure (floors
# included) therefore carries the helper's ~10 MiB as a floor of its own.
SPAWNER = r"""
import json, os, pty, subprocess, sys, tempfile, time
for request in sys.stdin:
    argv, cwd, env, tty = json.loads(request)
    start = time.perf_counter()
    if tty:
        master, slave = pty.openpty()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                data = b""
            if not data:
                break
            chunks.append(data)
        os.close(master)
        _, status, usage = os.wait4(proc.pid, 0)
        text = b"".join(chunks).decode("utf-8", "replace")
    else:
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            out.seek(0)
            text = out.read().decode("utf-8", "replace")
    elapsed = time.perf_counter() - start
    print(json.dumps([elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text,
                      os.waitstatus_to_exitcode(status)]), flush=True)
"""
_spawner: subprocess.Popen[str] | None = None


def start_spawner() -> None:
    global _spawner
    _spawner = subprocess.Popen([sys.executable, "-c", SPAWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)


def spawn(argv: Sequence[str], *, cwd: Path, env: dict[str, str], tty: bool = False) -> Run:
    """One measured process, from spawn to exit, with its own rusage (CPU and peak RSS) from ``wait4``.

    With ``tty`` it runs on a pseudo-terminal, so the command draws its progress bar as it does for an
    operator; the terminal is drained as it goes so the bar never blocks on a full buffer."""
    if _spawner is None:
        start_spawner()
    assert _spawner is not None
    assert _spawner.stdin is not None
    assert _spawner.stdout is not None
    _spawner.stdin.write(json.dumps([list(argv), str(cwd), env, tty]) + "\n")
    _spawner.stdin.flush()
    elapsed, cpu, rss, text, code = json.loads(_spawner.stdout.readline())
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} exited {code}:\n{text[-2000:]}")
    return Run(elapsed, cpu, rss, text)


def write_log(path: Path, n: int, mission: str, base: list[dict[str, object]]) -> int:
    """A log of ``n`` re-keyed real rows; returns its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            row = dict(base[i % len(base)], event_id=new_ulid(), mission_slug=mission)
            out.write(json.dumps(row, sort_keys=True) + "\n")
    return path.stat().st_size


@contextmanager
def dev_saas(work: Path) -> Iterator[tuple[str, str]]:
    from devsaas.testing import start_dev_saas

    with start_dev_saas(db=work / "saas.sqlite3") as saas:
        yield saas.url, saas.issue_token("bench")


def floor_events_per_s(url: str, token: str, log: Path, mission: str) -> float:
    """A bare aiohttp client posting the log's rows as the same envelopes, in gzip batches of 500, to the
    batch endpoint (envelopes and bodies prepared beforehand, under a project uuid of its own)."""
    import uuid

    import aiohttp

    from orchestrator.sync.envelopes import EnvelopeContext, build, lane_row

    context = EnvelopeContext(str(uuid.uuid4()), "floor", "b805cd5cee74", str(uuid.uuid4()), "bench-private",
                              "main", None, None)
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
    rows = [row for row in rows if lane_row(row)]  # what travels: annotations stay local
    texts = [build(context, row, str(row["event_id"]), n + 1, mission).text for n, row in enumerate(rows)]
    bodies = [gzip.compress(('{"events":[' + ",".join(texts[i:i + BATCH]) + "]}").encode(), compresslevel=3)
              for i in range(0, len(texts), BATCH)]
    headers = {"Authorization": f"Bearer {token}", "Content-Encoding": "gzip", "Content-Type": "application/json",
               "X-Spec-Kitty-Sync-Protocol": "2.0"}

    async def post_all() -> float:
        async with aiohttp.ClientSession() as session:
            start = time.perf_counter()
            for body in bodies:
                async with session.post(f"{url}/api/v1/events/batch/", data=body, headers=headers) as r:
                    r.raise_for_status()
                    await r.read()
            return time.perf_counter() - start

    return len(rows) / asyncio.run(post_all())


def floor_json_loads(log: Path, env: dict[str, str]) -> Run:
    code = ("import json,sys\n"
            "with open(sys.argv[1],'rb') as f:\n"
            "    for line in f:\n"
            "        line.strip() and json.loads(line)\n")
    return spawn([sys.executable, "-c", code, str(log)], cwd=log.parent, env=env)


class Repo(NamedTuple):
    root: Path
    env: dict[str, str]


def new_repo(work: Path, name: str, url: str, token: str, mission: str, rows: int,
             base: list[dict[str, object]]) -> tuple[Repo, int]:
    """A repository with one mission of ``rows`` rows and its own SPEC_KITTY_HOME (no binding: event sync
    needs none)."""
    root = work / name
    (root / ".git").mkdir(parents=True)
    size = write_log(root / "kitty-specs" / mission / "status.events.jsonl", rows, mission, base)
    home = work / f"{name}-home"
    home.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPEC_KITTY_")}
    env.update(SPEC_KITTY_HOME=str(home), SPEC_KITTY_ENABLE_SAAS_SYNC="1", HOME=str(work),
               SPEC_KITTY_SYNC_DISABLE="1", COLUMNS="100")
    repo = Repo(root, env)
    run([SPEC_KITTY, "config", "set", "sync.server_url", url], cwd=root, env=env)
    run([SPEC_KITTY, "auth", "login", "--with-token"], cwd=root, env=env, stdin=token.encode() + b"\n")
    return repo, size


def queue_bytes(repo: Repo) -> int:
    home = Path(repo.env["SPEC_KITTY_HOME"])
    return sum(p.stat().st_size for p in home.glob("sync-queue.sqlite3*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    start_spawner()  # before anything big is loaded (see SPAWNER)
    base = fixture_rows(every_row=False)
    mean_row = statistics.mean(len(json.dumps(r, sort_keys=True)) + 1 for r in base)
    print(f"rows: {len(base)} distinct real rows re-keyed, mean {mean_row:.0f} B; python {sys.version.split()[0]}; "
          f"{os.cpu_count()} cores; medians of {args.repeat}")
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        with dev_saas(work) as (url, token):
            empty, _ = new_repo(work, "empty", url, token, "m-empty", 0, base)
            small, _ = new_repo(work, "small", url, token, "m-small", SMALL, base)
            spawn([SPEC_KITTY, "sync", "run", "--mission", "m-small"], cwd=small.root, env=small.env)
            for size in args.sizes:
                row: dict[str, object] = {"size": size}
                cold, floor, cold_rss, noop, noop_rss, one, start, status_cpu, json_cpu = ([] for _ in range(9))
                status_rss: list[float] = []
                moves, moves_small, queue_share = [], [], []
                for attempt in range(args.repeat):
                    name = f"r{size}-{attempt}"
                    mission = f"m-{name}"
                    repo, log_size = new_repo(work, name, url, token, mission, size, base)
                    log = repo.root / "kitty-specs" / mission / "status.events.jsonl"
                    floor.append(floor_events_per_s(url, token, log, mission))
                    cold_run = spawn([SPEC_KITTY, "sync", "run", "--mission", mission], cwd=repo.root,
                                     env=repo.env, tty=True)
                    cold.append(size / cold_run.seconds)
                    cold_rss.append(cold_run.rss_mib)
                    queue_share.append(queue_bytes(repo) / log_size)
                    # the no-op and one-new-row syncs, interleaved with the empty-mission floor
                    start.append(spawn([SPEC_KITTY, "sync", "run", "--mission", "m-empty"], cwd=empty.root,
                                       env=empty.env).seconds)
                    nothing = spawn([SPEC_KITTY, "sync", "run", "--mission", mission], cwd=repo.root, env=repo.env)
                    noop.append(nothing.seconds)
                    noop_rss.append(nothing.rss_mib)
                    with log.open("a", encoding="utf-8") as out:
                        out.write(json.dumps(dict(base[0], event_id=new_ulid(), mission_slug=mission),
                                             sort_keys=True) + "\n")
                    one.append(spawn([SPEC_KITTY, "sync", "run", "--mission", mission], cwd=repo.root,
                                     env=repo.env).seconds)
                    status = spawn([SPEC_KITTY, "status", "--json", "--mission", mission], cwd=repo.root,
                                   env=repo.env)
                    status_cpu.append(status.cpu)
                    status_rss.append(status.rss_mib)
                    json_cpu.append(floor_json_loads(log, repo.env).cpu)
                    wp = f"WP{100 + 10 * args.sizes.index(size) + attempt}"  # genesis -> planned on both logs
                    moves_small.append(spawn([SPEC_KITTY, "wp", "move", wp, "--to", "planned", "--mission",
                                              "m-small"], cwd=small.root, env=small.env).seconds)
                    moves.append(spawn([SPEC_KITTY, "wp", "move", wp, "--to", "planned", "--mission", mission],
                                       cwd=repo.root, env=repo.env).seconds)
                    shutil.rmtree(repo.root)
                row.update(
                    cold_evs=median(cold), floor_evs=median(floor), cold_ratio=median(cold) / median(floor),
                    cold_rss=max(cold_rss), noop_s=median(noop), one_s=median(one), start_s=median(start),
                    noop_ratio=median(noop) / median(start), one_ratio=median(one) / median(start),
                    noop_rss=max(noop_rss), status_rss=max(status_rss), status_cpu=median(status_cpu),
                    json_cpu=median(json_cpu), status_ratio=median(status_cpu) / median(json_cpu),
                    move_s=median(moves), move_small_s=median(moves_small),
                    move_ratio=median(moves) / median(moves_small), queue_share=median(queue_share),
                )
                results.append(row)
                print(json.dumps(row), flush=True)
    print()
    print("| rows | cold sync ev/s (× floor) | floor ev/s | no-op sync s (× empty) | one new row s (× empty) "
          "| peak RSS MiB: sync cold / no-op / status | status --json CPU × json.loads | wp move × 1k log "
          "| queue / log |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['size']:,} | {r['cold_evs']:,.0f} ({r['cold_ratio']:.2f}×) | {r['floor_evs']:,.0f} "
              f"| {r['noop_s']:.2f} ({r['noop_ratio']:.2f}×) | {r['one_s']:.2f} ({r['one_ratio']:.2f}×) "
              f"| {r['cold_rss']:.0f} / {r['noop_rss']:.0f} / {r['status_rss']:.0f} "
              f"| {r['status_ratio']:.2f}× | {r['move_ratio']:.2f}× ({r['move_s']:.2f} s) "
              f"| {r['queue_share']:.1%} |")


if __name__ == "__main__":
    main()
