"""The daemon's retry policy and its error contract with the CLI, checked in-process (no timing).

Background syncs run every 30 s while things are fine and back off exponentially while the host is
down; a failure reported by the daemon must reach the operator exactly as `sync run` would print it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.daemon import client, server
from orchestrator.daemon.lock import DaemonLock
from orchestrator.errors import CatalogFailure, SpecKittyError
from states import catalog


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[server.Daemon]:
    made = server.Daemon(DaemonLock(tmp_path / "sync-daemon.lock"))
    yield made
    made.executor.shutdown()


def test_background_retries_back_off_exponentially_and_reset_on_success(daemon: server.Daemon) -> None:
    target = daemon.targets.setdefault(key := server.TargetKey("/repo", "001-demo"), server.Target(key))
    unreachable = CatalogFailure(catalog.UNREACHABLE)
    waits = []
    for _ in range(7):
        before = time.monotonic()
        daemon._record_failure(target, unreachable)
        waits.append(round(target.due - before))
    assert waits == [30, 60, 120, 240, 480, 600, 600]
    assert daemon.last_error is not None and daemon.last_error["message"] == catalog.UNREACHABLE.message

    daemon._record_success(target, {"pushed": 2, "pulled": 0, "queued": 0})
    assert round(target.due - time.monotonic()) == server.SYNC_INTERVAL
    assert (target.failures, target.last_error) == (0, None)
    assert daemon.last_sync is not None and daemon.last_sync["pushed"] == 2


def test_a_target_whose_repository_is_gone_is_dropped(daemon: server.Daemon, tmp_path: Path) -> None:
    key = server.TargetKey(str(tmp_path / "removed-checkout"), "001-demo")
    target = daemon.targets.setdefault(key, server.Target(key))
    with pytest.raises(server.TargetGone) as gone:
        server.sync_blocking(key)
    daemon._record_failure(target, gone.value)
    assert key not in daemon.targets


@pytest.mark.parametrize("failure", [catalog.SESSION_EXPIRED, catalog.UNREACHABLE, catalog.DAEMON_MANUAL])
def test_a_failure_reported_by_the_daemon_renders_as_in_process(failure: catalog.Failure) -> None:
    again = client.error_from_json(server.describe_error(CatalogFailure(failure)))
    assert isinstance(again, CatalogFailure)
    assert (again.failure.render(), again.exit_code) == (failure.render(), failure.exit_code)


def test_plain_errors_keep_their_line_and_crashes_or_retiring_mean_daemon_trouble() -> None:
    plain = client.error_from_json(server.describe_error(SpecKittyError("disk full")))
    assert type(plain) is SpecKittyError and str(plain) == "disk full"
    for trouble in (KeyError("bug"), server.Stopping("idle for 900s")):
        assert isinstance(client.error_from_json(server.describe_error(trouble)), client.DaemonUnavailable)
