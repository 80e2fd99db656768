"""The daemon's retry policy and its error contract with the CLI, checked in-process (no timing).

Background syncs run every 30 s while things are fine and back off exponentially while the host is
down; a failure reported by the daemon must reach the operator exactly as `sync run` would print it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.clock import HandClock as Clock

from orchestrator.daemon import client, jobs, scheduler, server, targets
from orchestrator.daemon.lock import DaemonLock
from orchestrator.daemon.settings import Settings
from orchestrator.errors import CatalogFailure, SpecKittyError
from states import catalog


@pytest.fixture
def clock() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def own_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DaemonLock]:
    """The daemon lock of a throwaway ``SPEC_KITTY_HOME``, held by this test as a daemon would."""
    monkeypatch.setenv(catalog.HOME_ENV_VAR, str(tmp_path))
    lock = DaemonLock(tmp_path / "sync-daemon.lock")
    assert lock.try_acquire()
    yield lock
    lock.release()


@pytest.fixture
def plan(clock: Clock) -> Iterator[scheduler.Scheduler]:
    made = scheduler.Scheduler(clock=clock)
    yield made
    made.executor.shutdown()


def test_background_retries_back_off_exponentially_and_reset_on_success(plan: scheduler.Scheduler,
                                                                         clock: Clock) -> None:
    target = plan.target(targets.TargetKey("/repo", "001-demo"))
    unreachable = CatalogFailure(catalog.UNREACHABLE)
    waits = []
    for _ in range(7):
        plan.record_failure(target, unreachable)
        waits.append(target.due - clock.now)
    assert waits == [30, 60, 120, 240, 480, 600, 600]
    assert plan.last_error is not None
    assert plan.last_error["message"] == catalog.UNREACHABLE.message

    plan.record_success(target, {"pushed": 2, "pulled": 0, "queued": 0})
    assert target.due - clock.now == scheduler.SYNC_INTERVAL
    assert (target.failures, target.last_error) == (0, None)
    assert plan.last_sync is not None
    assert plan.last_sync["pushed"] == 2


def test_a_target_whose_repository_is_gone_is_dropped(plan: scheduler.Scheduler, tmp_path: Path) -> None:
    key = targets.TargetKey(str(tmp_path / "removed-checkout"), "001-demo")
    target = plan.target(key)
    with pytest.raises(targets.TargetGone) as gone:
        targets.sync_blocking(key)
    plan.record_failure(target, gone.value)
    assert key not in plan.targets


def test_an_idle_daemon_retires_once_its_idle_period_has_passed_on_its_clock(own_lock: DaemonLock,
                                                                              clock: Clock) -> None:
    """Idle retirement is decided on the daemon's clock, so no test has to wait out the idle period."""
    daemon = server.Daemon(own_lock, settings=lambda: Settings(None, 5), clock=clock)
    clock.now += 4.9
    daemon.tick(clock.now)
    assert not daemon.stopping.is_set()
    clock.now += 0.1
    daemon.tick(clock.now)
    assert (daemon.stopping.is_set(), daemon.stop_reason) == (True, "idle for 5s")
    daemon.scheduler.executor.shutdown()


def test_a_daemon_retires_when_the_policy_turns_manual(own_lock: DaemonLock, clock: Clock) -> None:
    daemon = server.Daemon(own_lock, settings=lambda: Settings("the policy is now manual", 900), clock=clock)
    daemon.tick(clock.now)
    assert (daemon.stopping.is_set(), daemon.stop_reason) == (True, "the policy is now manual")
    daemon.scheduler.executor.shutdown()


def test_a_daemon_whose_lock_file_was_removed_retires(own_lock: DaemonLock, clock: Clock) -> None:
    daemon = server.Daemon(own_lock, settings=lambda: Settings(None, 900), clock=clock)
    own_lock.path.unlink()
    daemon.tick(clock.now)
    assert daemon.stop_reason == "its lock or state file was removed or replaced"
    daemon.scheduler.executor.shutdown()


@pytest.mark.parametrize("failure", [catalog.SESSION_EXPIRED, catalog.UNREACHABLE, catalog.DAEMON_MANUAL])
def test_a_failure_reported_by_the_daemon_renders_as_in_process(failure: catalog.Failure) -> None:
    again = client.error_from_json(jobs.describe_error(CatalogFailure(failure)))
    assert isinstance(again, CatalogFailure)
    assert (again.failure.render(), again.exit_code) == (failure.render(), failure.exit_code)


def test_plain_errors_keep_their_line_and_crashes_or_retiring_mean_daemon_trouble() -> None:
    plain = client.error_from_json(jobs.describe_error(SpecKittyError("disk full")))
    assert type(plain) is SpecKittyError
    assert str(plain) == "disk full"
    for trouble in (KeyError("bug"), jobs.Stopping("idle for 900s")):
        assert isinstance(client.error_from_json(jobs.describe_error(trouble)), client.DaemonUnavailable)
