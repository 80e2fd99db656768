"""Every decision through the machine (issue 12): the daemon, `sync explain` and the probe ask `settle`.

Given a home and environment, when the daemon asks whether it may live (every tick) or sync a target
(before each run), then the readiness machine answers, so `SPEC_KITTY_SYNC_DISABLE` and the manual
policy stop it exactly as they stop `spec-kitty tracker sync run`. Given facts, when the machine is
asked twice (or the machine, then `sync explain`), then the host is probed once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.context import Context
from orchestrator.daemon import server, targets
from orchestrator.daemon.lock import DaemonLock
from orchestrator.daemon.settings import Settings, read_settings
from orchestrator.errors import CatalogFailure
from orchestrator.tracker.binding import write_binding
from states import catalog
from states import machine as sm
from states.diagram import COMPOSITES, drawn_states, mermaid
from states.facts import Intent, Need, StaticFacts
from tests.support.projects import make_project, write_auth, write_config

HOST = "https://saas.example"
FLAG_ON = {catalog.SAAS_SYNC_ENV_VAR: "1"}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv(catalog.HOME_ENV_VAR, str(folder))
    for name in (catalog.SYNC_DISABLE_ENV_VAR, catalog.SAAS_URL_ENV_VAR, "SPEC_KITTY_SAAS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(catalog.SAAS_SYNC_ENV_VAR, "1")
    return folder


@pytest.fixture
def bound_repo(home: Path, tmp_path: Path) -> Path:
    """Ready: a session and a host in the home, and a repository whose one mission is bound there."""
    write_auth(home, server_url=HOST)
    write_config(home, f'[sync]\nserver_url = "{HOST}"\n')
    repo = make_project(tmp_path / "repo", ["082-x"])
    write_binding(repo, "github", "br_1", "prj", "dev-saas/issues", None, None)
    return repo


# --- the daemon's life ------------------------------------------------------------------------------
@pytest.mark.parametrize(("env", "config", "retire"), [
    pytest.param(FLAG_ON, "", None, id="auto"),
    pytest.param({**FLAG_ON, catalog.SYNC_DISABLE_ENV_VAR: "1"}, "", "SPEC_KITTY_SYNC_DISABLE is set",
                 id="sync-disable"),
    pytest.param(FLAG_ON, '[sync]\nbackground_daemon = "manual"\n', "the policy is now manual", id="manual"),
    pytest.param({**FLAG_ON, catalog.SYNC_DISABLE_ENV_VAR: "1"}, '[sync]\nbackground_daemon = "manual"\n',
                 "SPEC_KITTY_SYNC_DISABLE is set", id="both: the switch wins"),
    pytest.param({}, "", "hosted sync is not enabled", id="flag-off"),
])
def test_given_a_home_when_the_daemon_asks_whether_it_may_live_then_the_machine_answers(
        home: Path, env: dict[str, str], config: str, retire: str | None) -> None:
    if config:
        write_config(home, config)
    assert read_settings(env) == Settings(retire, 900)


def test_given_sync_disable_when_a_running_daemon_ticks_then_it_retires(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(catalog.SYNC_DISABLE_ENV_VAR, "1")
    lock = DaemonLock(home / "sync-daemon.lock")
    assert lock.try_acquire()
    try:
        daemon = server.Daemon(lock, clock=lambda: 1000.0)  # the real settings: the machine decides
        daemon.tick(1000.0)
        assert (daemon.stopping.is_set(), daemon.stop_reason) == (True, "SPEC_KITTY_SYNC_DISABLE is set")
        daemon.scheduler.executor.shutdown()
    finally:
        lock.release()


@pytest.mark.parametrize(("env", "config", "failure"), [
    pytest.param({catalog.SYNC_DISABLE_ENV_VAR: "1"}, "", catalog.DAEMON_DISABLED, id="sync-disable"),
    pytest.param({}, 'background_daemon = "manual"\n', catalog.DAEMON_MANUAL, id="manual"),
])
def test_given_a_policy_that_forbids_the_daemon_when_it_would_sync_a_target_then_it_answers_like_the_cli(
        bound_repo: Path, home: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], config: str,
        failure: catalog.Failure) -> None:
    """A job that reaches the daemon as the policy turns gets the CLI's own wording (exit 0), not a sync."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    write_config(home, f'[sync]\nserver_url = "{HOST}"\n{config}')
    with pytest.raises(CatalogFailure) as refused:
        targets.sync_blocking(targets.TargetKey(str(bound_repo), "082-x"))
    assert refused.value.failure == failure
    assert int(refused.value.exit_code) == 0


@pytest.mark.e2e
def test_given_sync_disable_when_a_daemon_process_starts_then_it_retires_by_itself(home: Path) -> None:
    """Through the real daemon process: it takes its lock, asks the machine, and leaves only its lock file
    (never removed: spec-kitty leaves it too)."""
    env = {**os.environ, **FLAG_ON, catalog.SYNC_DISABLE_ENV_VAR: "1", catalog.HOME_ENV_VAR: str(home)}
    done = subprocess.run([sys.executable, "-P", "-m", "orchestrator.daemon"], env=env, cwd=home,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "retiring: SPEC_KITTY_SYNC_DISABLE is set" in (home / "sync-daemon.log").read_text()
    assert sorted(p.name for p in home.iterdir()) == ["sync-daemon.lock", "sync-daemon.log"]  # the lock stays


# --- asked twice, probed once -------------------------------------------------------------------------
@pytest.mark.parametrize("intent", [Intent.ONE_SHOT, Intent.REMOTE_REQUIRED])
def test_given_static_facts_when_the_machine_is_asked_twice_then_it_probes_once(intent: Intent) -> None:
    facts = StaticFacts()
    need = Need(hosted=True, state="Ready", intent=intent)
    assert sm.settle(facts, need) == sm.settle(facts, need)
    assert facts.probe_calls == 1


def test_given_live_facts_when_the_machine_then_explain_ask_then_one_socket_is_opened(
        bound_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import orchestrator.saas.probe

    probes: list[str] = []
    monkeypatch.setattr(orchestrator.saas.probe, "probe", lambda url, timeout=2.0: probes.append(url) or "timeout")
    facts = Context(cwd=bound_repo).facts()
    need = Need(hosted=True, state="Ready", intent=Intent.ONE_SHOT)
    assert sm.settle(facts, need).state == sm.settle(facts, need).state == "Unreachable"
    assert facts.host_reachable() is False
    assert probes == [HOST]


# --- the Unauthed variants and the paths drawn ---------------------------------------------------------
@pytest.mark.parametrize("variant", list(sm.UNAUTHED_VARIANTS))
@pytest.mark.parametrize("intent", list(Intent), ids=lambda i: i.name)
def test_given_each_unauthed_variant_when_settling_then_its_own_wording_and_no_probe(
        variant: str, intent: Intent) -> None:
    facts = StaticFacts(has_token=False, auth_variant=variant)
    verdict = sm.settle(facts, Need(hosted=True, state="Ready", intent=intent))
    assert (verdict.state, verdict.proceed, facts.probe_calls) == ("Unauthed", False, 0)
    want = sm.UNAUTHED_VARIANTS[variant]
    assert verdict.outcome is not None
    assert verdict.outcome.message == want.message.format(url=HOST)
    assert verdict.outcome.next_action == want.next_action.format(url=HOST)


def test_every_intent_names_its_triggers_in_the_table() -> None:
    assert set(sm.INTENT_TRIGGERS) == set(Intent)
    fired = {t for triggers in sm.INTENT_TRIGGERS.values() for t in triggers}
    assert fired == {row["trigger"] for row in sm.TRANSITIONS} - {sm.ADVANCE}


def test_the_diagram_draws_composites_and_the_endings_met_while_running() -> None:
    text = mermaid()
    assert "state Daemon {" in text
    assert "state Unauthed {" in text
    for parent, children in COMPOSITES.items():
        for child in children:
            assert f'state "{child}" as {parent}_{child}' in text
    for outcome in sm.RUN_OUTCOMES:
        assert outcome.name in drawn_states()
        for source in sm.RUN_SOURCES:
            assert f"{source} --> {outcome.name}: run [{outcome.event}]" in text
    assert [line for line in text.splitlines() if "classDef" in line] == ["  classDef s_default fill:white,color:black"]


@pytest.mark.parametrize("state", ["Daemon_manual", "NoHost"])
def test_the_highlight_reaches_a_composites_child(state: str) -> None:
    lines: list[Any] = mermaid(state).splitlines()
    assert f"Class {state} s_active" in [line.strip() for line in lines]
