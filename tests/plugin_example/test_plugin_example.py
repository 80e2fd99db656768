"""An example downstream suite: it uses only the ``spec_kitty`` pytest plugin's fixtures.

Copy these tests as a starting point. Nothing here imports the project's test helpers; the fixtures
come from the ``pytest11`` entry point that installing ``spec-kitty-sync`` registers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devsaas.testing import DevSaas
from spec_kitty_testing.plugin import ReadinessDriver, SpecKittyHome, StealthGuard


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A repository with one spec-kitty mission."""
    root = (tmp_path / "shop").resolve()
    (root / "kitty-specs" / "001-checkout").mkdir(parents=True)
    return root


# --- readiness: the machine alone ---------------------------------------------------------------------


def test_the_machine_settles_in_the_first_missing_prerequisite(readiness: ReadinessDriver) -> None:
    assert readiness() == "Ready"
    assert readiness(rollout_enabled=False) == "Disabled"
    assert readiness(has_token=False, host_url=None) == "Unauthed"
    assert readiness(host_url=None) == "NoHost"
    assert readiness(is_bound=False) == "Unbound"


def test_daemon_policy_decides_before_any_probe(readiness: ReadinessDriver) -> None:
    def no_probe() -> None:
        pytest.fail("manual policy must not probe the host")

    verdict = readiness.settle(intent="remote-required", daemon_policy="manual", on_probe=no_probe)
    assert verdict.state == "Daemon_manual"
    assert verdict.outcome is not None
    assert verdict.outcome.exit_code == 0
    assert readiness(intent="remote-required", reachable=False) == "Unreachable"
    assert readiness(intent="remote-required") == "Daemon_auto"


def test_every_gap_is_visible_at_once(readiness: ReadinessDriver) -> None:
    checks = readiness.checks(has_token=False, is_bound=False)
    assert [(c.prerequisite.state, c.holds) for c in checks] == [
        ("Disabled", True), ("Unauthed", False), ("NoHost", True), ("Unbound", False)]


def test_live_facts_follow_the_isolated_home(
    spec_kitty_home: SpecKittyHome, readiness: ReadinessDriver, project: Path
) -> None:
    spec_kitty_home.enable_sync()
    assert readiness.live(cwd=project).state == "Unauthed"
    spec_kitty_home.write_token("a-token", "https://saas.example")
    assert readiness.live(cwd=project).state == "NoHost"
    spec_kitty_home.set_config("sync.server_url", "https://saas.example")
    assert readiness.live(cwd=project).state == "Unbound"
    spec_kitty_home.bind(project, project_slug="shop")
    assert readiness.live(cwd=project).state == "Ready"


# --- stealth_guard: the installed CLI, watched --------------------------------------------------------


def test_with_the_flag_off_nothing_hosted_exists_or_happens(
    spec_kitty_home: SpecKittyHome, stealth_guard: StealthGuard, project: Path
) -> None:
    helped = stealth_guard("--help", cwd=project)
    assert helped.exit_code == 0, helped.describe()
    assert helped.clean, helped.describe()
    assert "tracker" not in helped.stdout
    assert "sync" not in helped.stdout
    refused = stealth_guard("tracker", "status", cwd=project)
    assert refused.exit_code == 2
    assert "No such command 'tracker'." in refused.stderr
    assert refused.clean, refused.describe()


def test_a_failure_prints_one_next_action_and_touches_nothing(
    spec_kitty_home: SpecKittyHome, stealth_guard: StealthGuard, project: Path
) -> None:
    spec_kitty_home.enable_sync()
    ran = stealth_guard("tracker", "status", cwd=project)
    assert ran.stdout == "No SaaS authentication token is present.\n\nRun `spec-kitty auth login`.\n"
    assert ran.exit_code == 1
    assert ran.clean, ran.describe()


def test_config_set_writes_only_its_own_file(
    spec_kitty_home: SpecKittyHome, stealth_guard: StealthGuard, project: Path
) -> None:
    ran = stealth_guard("config", "set", "sync.server_url", "https://saas.example", cwd=project)
    assert ran.exit_code == 0, ran.describe()
    assert not ran.network
    assert not ran.processes
    assert ran.writes
    assert all(e["path"].startswith(str(spec_kitty_home.path)) for e in ran.writes)


# --- dev_saas: a real server on loopback --------------------------------------------------------------


@pytest.mark.dev_saas(auto_approve=False)
def test_a_device_code_waits_for_approval(dev_saas: DevSaas) -> None:
    status, grant = dev_saas.request("POST", "/oauth/device", form={"client_id": "cli_native"})
    assert status == 200
    poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": grant["device_code"],
            "client_id": "cli_native"}
    status, answer = dev_saas.request("POST", "/oauth/token", form=poll)
    assert (status, answer["error"]) == (400, "authorization_pending")
    dev_saas.approve(grant["user_code"], login="ada")
    status, answer = dev_saas.request("POST", "/oauth/token", form=poll)
    assert status == 200
    status, me = dev_saas.request("GET", "/api/v1/me", token=answer["access_token"])
    assert (status, me["email"]) == (200, "ada@dev-saas.spec-kitty.invalid")


def test_login_and_bind_against_the_dev_saas(
    spec_kitty_home: SpecKittyHome, stealth_guard: StealthGuard, dev_saas: DevSaas, project: Path
) -> None:
    spec_kitty_home.enable_sync()
    login = stealth_guard("auth", "login", "--host", dev_saas.url, "--with-token", cwd=project,
                          stdin=dev_saas.issue_token(login="ada"))
    assert login.stdout == f"Logged in to {dev_saas.url} as ada@dev-saas.spec-kitty.invalid.\n", login.describe()
    bind = stealth_guard("tracker", "bind", cwd=project)
    assert bind.exit_code == 0, bind.describe()
    assert dev_saas.stats()["bindings"] == 1
    explained = stealth_guard("sync", "explain", cwd=project)
    assert "State: Ready\n" in explained.stdout, explained.describe()
    assert explained.clean, explained.describe()
