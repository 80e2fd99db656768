"""Through the installed command: Ctrl-C is an answer, not a crash.

Given a long `sync run` against a real dev SaaS on loopback, when SIGINT arrives while batches are on the
wire (the host then answers 503 to every later batch, so the run cannot finish before the signal lands,
however fast this machine is), then the command says how many events are still queued (the count the
queue file holds), in one line, and exits 130; the next `sync run` sends the rest.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

import pytest
from support.shell import Shell
from support.wait import wait_for

from devsaas.testing import DevSaas
from orchestrator.missions.ulid import new_ulid

MISSION = "001-demo"
pytestmark = pytest.mark.e2e


def test_ctrl_c_during_a_long_sync_run_says_what_is_still_queued(operator: Shell, saas: DevSaas,
                                                                  repo: Path) -> None:
    operator.log_in_and_bind(saas.url, repo)
    rows = 60_000
    with (repo / "kitty-specs" / MISSION / "status.events.jsonl").open("w", encoding="utf-8") as out:
        for i in range(rows):
            out.write(json.dumps({"event_id": new_ulid(), "wp_id": f"WP{i % 50 + 1:02d}", "to_lane": "planned",
                                  "from_lane": "planned", "at": "2026-01-01T00:00:00+00:00",
                                  "reason": "x" * 300}, sort_keys=True) + "\n")
    running = operator.popen("sync", "run", cwd=repo)
    assert wait_for(lambda: saas.stats()["envelopes"] > 0, 60)  # batches are on the wire
    saas.arm_fault(503, count=10**6)  # and the rest wait: the client retries, backing off
    running.send_signal(signal.SIGINT)
    out, err = running.communicate(timeout=60)
    with sqlite3.connect(operator.home / "sync-queue.sqlite3") as db:
        queued = db.execute("SELECT COUNT(*) FROM pending").fetchone()[0]
    assert (out, err, running.returncode) == ("", f"Interrupted; {queued} events still queued.\n", 130)
    stored = len(saas.row_ids(MISSION))
    assert 0 < stored < rows
    saas.clear_faults()
    rest = operator.run("sync", "run", cwd=repo, timeout=300)
    assert rest.exit_code == 0, rest.describe()
    assert len(saas.row_ids(MISSION)) == rows
