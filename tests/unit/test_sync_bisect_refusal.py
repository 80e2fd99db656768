"""Issue 16 item 10: a host that refuses every request with 400 during a bisect never parks the queue.

Given rows queued and a host that answers 400 to every upload (the empty probe upload included), when a
sync splits the refused batch to find the bad row, then it sees the host refuses requests, not rows: the
original refusal is raised, nothing is parked, and every row stays queued for the next run. (Replacing
the re-raise in ``sync._bisect`` with ``pass`` used to leave every sync test green.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.loopback_saas import LoopbackSaas

from orchestrator.saas.errors import RequestFailed
from orchestrator.sync.deadletters import DeadLetters
from orchestrator.sync.queue import EventQueue
from tests.unit.test_sync import fixture_lines, key_of, sync_with, write_lines


def test_a_host_refusing_every_upload_parks_nothing_and_keeps_every_row(saas: LoopbackSaas, repo: Path,
                                                                      queue: EventQueue) -> None:
    write_lines(repo, fixture_lines(12))
    saas.faults.refuse_uploads_from = 0
    with pytest.raises(RequestFailed) as refused:
        sync_with(saas, queue, repo, batch_size=4)
    assert refused.value.status == 400
    assert DeadLetters(queue).parked(key_of(saas)) == []
    assert queue.count(key_of(saas)) == 12
    saas.faults.refuse_uploads_from = None
    result = sync_with(saas, queue, repo, batch_size=4)
    assert (result.pushed, result.queued, result.parked) == (12, 0, 0)
