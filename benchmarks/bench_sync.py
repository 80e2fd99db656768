"""Queue enqueue rate and end-to-end drain rate (events/s) against the dev SaaS on loopback.

Payloads are real rows: every lane-transition and annotation row of ``tests/fixtures/missions``,
re-keyed with fresh ULIDs, so the size and shape match what spec-kitty writes. The drain is the
real path: `sync_once` scans the mission log into the sqlite queue, uploads gzip batches of 500 over
HTTP to `spec-kitty-dev-saas serve`, and acks. Medians over ``--repeat`` runs, one run of this script.

Run: ``.venv/bin/python benchmarks/bench_sync.py [--sizes 10000 100000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from devsaas.testing import start_dev_saas
from orchestrator.missions.ulid import new_ulid
from orchestrator.saas.client import SaasClient
from orchestrator.sync.envelopes import EnvelopeContext
from orchestrator.sync.mission_ref import MissionRef
from orchestrator.sync.queue import EventQueue
from orchestrator.sync.run import sync_once
from orchestrator.sync.scan import LogScanner
from orchestrator.sync.target import SyncTarget
from orchestrator.sync.upload import drain

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "missions"


HUGE = 64 * 1024  # two fixture rows carry 300-600 KB of policy metadata: 1% of rows, 85% of bytes


def fixture_rows(*, every_row: bool) -> list[dict[str, object]]:
    """Every fixture row, or (default) the typical ones: all but the two 300-600 KB outliers."""
    lines = [line for f in sorted(FIXTURES.glob("*/status.events.jsonl"))
             for line in f.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines if every_row or len(line) < HUGE]


def real_rows(n: int, mission: str, *, every_row: bool = False) -> list[dict[str, object]]:
    """Real rows cycled and re-keyed with fresh ULIDs (the same shape and size mix as the fixtures)."""
    base = fixture_rows(every_row=every_row)
    return [dict(base[i % len(base)], event_id=new_ulid(), mission_slug=mission) for i in range(n)]


def bench_enqueue(rows: list[dict[str, object]], work: Path) -> float:
    with EventQueue(work / f"enqueue-{new_ulid()}.sqlite3") as queue:
        start = time.perf_counter()
        queue.enqueue("bench", rows)
        return len(rows) / (time.perf_counter() - start)


def bench_drain(rows: list[dict[str, object]], work: Path, url: str, token: str,
                project: str) -> tuple[float, float]:
    """(upload drain ev/s: queued rows to server-acked, whole sync ev/s: log scan + drain + tracker sync)."""
    mission = f"m-{new_ulid().lower()}"
    folder = work / "repo" / "kitty-specs" / mission
    folder.mkdir(parents=True)
    with (folder / "status.events.jsonl").open("w") as out:
        for row in rows:
            out.write(json.dumps(dict(row, event_id=new_ulid()), sort_keys=True) + "\n")
    context = EnvelopeContext(project, "bench", "b805cd5cee74", project, "bench-private", "main", None, None)
    target = SyncTarget(server_url=url, token=token, project=project, mission=mission,
                        repo_root=work / "repo", mission_dir=folder, context=context)

    async def measure() -> tuple[float, float]:
        async with SaasClient(url, token) as client:
            with EventQueue(work / f"drain-{mission}.sqlite3") as queue:
                LogScanner(queue).scan_log(target.key, folder / "status.events.jsonl")
                start = time.perf_counter()
                pushed = await drain(client, queue, target)
                drained = time.perf_counter() - start
                assert pushed == len(rows)
                assert queue.count(MissionRef.at(url, project, mission).key) == 0
            target_b = SyncTarget(server_url=url, token=token, project=project, mission=mission + "-b",
                                  repo_root=target.repo_root, mission_dir=folder,
                                  context=context._replace(project_uuid=str(uuid.uuid4())))
            with EventQueue(work / f"sync-{mission}.sqlite3") as queue:
                start = time.perf_counter()
                result = await sync_once(client, queue, target_b)
                whole = time.perf_counter() - start
                assert result.pushed == len(rows)
            return len(rows) / drained, len(rows) / whole

    return asyncio.run(measure())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--all-rows", action="store_true",
                        help="cycle every fixture row, including the two lane rows with 300-600 KB of metadata")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp, \
            start_dev_saas(db=Path(tmp) / "saas.sqlite3") as saas:
        work = Path(tmp)
        os.environ["SPEC_KITTY_HOME"] = str(work / "home")  # the lamport clock file, never the operator's
        token = saas.issue_token("bench")
        base = fixture_rows(every_row=args.all_rows)
        row_bytes = statistics.mean(len(json.dumps(r)) for r in base)
        kind = "every fixture row" if args.all_rows else "fixture rows except the two 300-600 KB outliers"
        print(f"payload: {kind} ({len(base)} distinct), re-keyed; mean row {row_bytes:.0f} bytes; "
              "batches of 500, gzip")
        print(f"{'events':>8}{'enqueue ev/s':>14}{'upload drain ev/s':>19}{'whole sync ev/s':>17}")
        for size in args.sizes:
            rows = real_rows(size, "bench", every_row=args.all_rows)
            enq = statistics.median(bench_enqueue(rows, work) for _ in range(args.repeat))
            runs = [bench_drain(rows, work, saas.url, token, str(uuid.uuid4())) for _ in range(args.repeat)]
            drn = statistics.median(r[0] for r in runs)
            whole = statistics.median(r[1] for r in runs)
            print(f"{size:>8}{enq:>14,.0f}{drn:>19,.0f}{whole:>17,.0f}")


if __name__ == "__main__":
    main()
