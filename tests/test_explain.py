"""``spec-kitty sync explain``: every prerequisite, where it comes from, the state, the one next action.

Given a home folder and environment in each readiness state, when the installed ``spec-kitty sync
explain`` runs under the stealth guard, then it prints exactly the explanation, exits 0, and (without
``--probe``) opens no socket, starts no process and writes nothing under the home folder.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from support.cli import run_on_terminal

from devsaas.testing import DevSaas
from spec_kitty_testing.plugin import Guarded, SpecKittyHome, StealthGuard
from states import catalog

SPEC_KITTY = str(Path(sys.executable).parent / "spec-kitty")
DEAD_URL = "http://127.0.0.1:9"  # discard port: nothing answers on loopback


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A project with one mission (``001-demo``)."""
    root = (tmp_path / "demo-repo").resolve()
    (root / "kitty-specs" / "001-demo").mkdir(parents=True)
    return root


@pytest.fixture
def home(spec_kitty_home: SpecKittyHome) -> SpecKittyHome:
    spec_kitty_home.enable_sync()
    return spec_kitty_home


def explain(stealth_guard: StealthGuard, repo: Path, *args: str, **kw: object) -> Guarded:
    return stealth_guard("sync", "explain", *args, cwd=repo, **kw)  # type: ignore[arg-type]


def expected(home: SpecKittyHome, repo: Path, marks: str, host: str, state: str, tail: str,
             policy: str = "default") -> str:
    a, t, h, b = marks
    if host == f"{home.path}/config.toml [sync].server_url":  # issue 19: set nowhere is said, not a key
        host = catalog.SOURCE_HOST_NOT_SET.format(path=home.path / "config.toml")
    return (
        "Hosted sync readiness for mission `001-demo`:\n"
        f"  {a} hosted sync enabled  env SPEC_KITTY_ENABLE_SAAS_SYNC\n"
        f"  {t} auth token present   {home.path}/auth.json\n"
        f"  {h} host URL configured  {host}\n"
        f"  {b} mission bound        {repo}/.kittify/config.yaml tracker:\n"
        "  · host answers         not probed (add --probe)\n"
        "\n"
        f"Background daemon policy: auto ({policy})\n"
        + catalog.EXPLAIN_EVENTS.format(endpoint=(host.split(" = ")[-1] if "://" in host else "<host>").rstrip("/")
                                        + "/api/v1/events/batch/", protocol="2.0") + "\n"
        "\n"
        f"State: {state}\n"
        f"{tail}\n"
    )


def assert_stealthy(ran: Guarded) -> None:
    assert ran.clean, ran.describe()


def test_unauthed_lists_every_gap_and_the_one_next_action(home: SpecKittyHome, stealth_guard: StealthGuard,
                                                          repo: Path) -> None:
    ran = explain(stealth_guard, repo)
    assert ran.stdout == expected(home, repo, "✓✗✗✗", f"{home.path}/config.toml [sync].server_url", "Unauthed",
                                  "No SaaS authentication token is present.\n\nRun `spec-kitty auth login`.")
    assert (ran.exit_code, ran.stderr) == (0, "")
    assert_stealthy(ran)


def test_no_host_names_the_config_key_to_set(home: SpecKittyHome, stealth_guard: StealthGuard,
                                             repo: Path) -> None:
    home.write_token()
    ran = explain(stealth_guard, repo)
    assert ran.stdout == expected(
        home, repo, "✓✓✗✗", f"{home.path}/config.toml [sync].server_url", "NoHost",
        "No SaaS host URL is configured.\n\nRun `spec-kitty config set sync.server_url <url>`.")
    assert ran.exit_code == 0
    assert_stealthy(ran)


def test_unbound_says_the_host_came_from_the_environment(home: SpecKittyHome, stealth_guard: StealthGuard,
                                                         repo: Path) -> None:
    home.write_token(server_url="https://from-env.example")  # sessions are per host: this host's one
    home.set_config("sync.server_url", "https://configured.example")
    ran = explain(stealth_guard, repo, env={"SPEC_KITTY_SAAS_URL": "https://from-env.example"})
    assert ran.stdout == expected(
        home, repo, "✓✓✓✗", "env SPEC_KITTY_SAAS_URL = https://from-env.example", "Unbound",
        "No tracker binding exists for feature `001-demo`.\n\nRun `spec-kitty tracker bind`.")
    assert_stealthy(ran)


def test_ready_without_probe_touches_no_network(home: SpecKittyHome, stealth_guard: StealthGuard,
                                                repo: Path) -> None:
    home.write_token(server_url=DEAD_URL)
    home.set_config("sync.server_url", DEAD_URL)
    home.bind(repo)
    ran = explain(stealth_guard, repo)
    assert ran.stdout == expected(
        home, repo, "✓✓✓✓", f"{home.path}/config.toml [sync].server_url = {DEAD_URL}", "Ready",
        "Hosted sync is ready for mission `001-demo`.\n\nRun `spec-kitty sync run` to sync now.")
    assert_stealthy(ran)


def test_explain_agrees_with_what_a_gated_command_does(home: SpecKittyHome, stealth_guard: StealthGuard,
                                                       repo: Path) -> None:
    home.write_token()
    status = stealth_guard("tracker", "status", cwd=repo)
    assert (status.stdout, status.exit_code) == (catalog.NO_HOST.render() + "\n", 1)
    assert "State: NoHost\n" in explain(stealth_guard, repo).stdout


def test_mission_option_picks_the_mission(home: SpecKittyHome, stealth_guard: StealthGuard, repo: Path) -> None:
    (repo / "kitty-specs" / "002-other").mkdir()
    ran = explain(stealth_guard, repo, "--mission", "002-other")
    assert ran.stdout.startswith("Hosted sync readiness for mission `002-other`:\n")
    assert f"{repo}/.kittify/config.yaml tracker:" in ran.stdout  # the binding is the repository's


def test_json_carries_the_same_picture(home: SpecKittyHome, stealth_guard: StealthGuard, repo: Path) -> None:
    home.write_token()
    ran = explain(stealth_guard, repo, "--json")
    data = json.loads(ran.stdout)
    assert data["state"] == "NoHost"
    assert data["ready"] is False
    assert data["mission"] == "001-demo"
    assert [(p["state"], p["ok"]) for p in data["prerequisites"]] == [
        ("Disabled", True), ("Unauthed", True), ("NoHost", False), ("Unbound", False)]
    assert data["prerequisites"][1]["source"] == str(home.auth_file)
    assert data["probe"] == {"probed": False, "reachable": None, "source": "not probed (add --probe)"}
    assert data["daemon"]["policy"] == "auto"
    assert data["daemon"]["disabled_by_env"] is False
    assert (data["message"], data["next_action"]) == (catalog.NO_HOST.message, catalog.NO_HOST.next_action)
    assert_stealthy(ran)


def test_a_malformed_token_file_is_reported_once(home: SpecKittyHome, stealth_guard: StealthGuard,
                                                 repo: Path) -> None:
    home.path.mkdir(parents=True)
    home.auth_file.write_text("{not json")
    ran = explain(stealth_guard, repo)
    assert ran.stderr == f"warning: {home.auth_file} is malformed and was ignored.\n"
    assert "State: Unauthed\n" in ran.stdout


def test_diagram_mermaid_highlights_the_settled_state(home: SpecKittyHome, stealth_guard: StealthGuard,
                                                      repo: Path) -> None:
    home.write_token()
    ran = explain(stealth_guard, repo, "--diagram", "mermaid")
    assert ran.stdout.startswith("---\ntitle: Hosted sync readiness\n---\nstateDiagram-v2\n")
    assert "  Class NoHost s_active\n" in ran.stdout
    assert ran.stdout.count(" s_active\n") == 1
    assert_stealthy(ran)


def test_diagram_svg_or_how_to_get_it(home: SpecKittyHome, stealth_guard: StealthGuard, repo: Path) -> None:
    from orchestrator.svg import graphviz_available

    ran = explain(stealth_guard, repo, "--diagram", "svg")
    if graphviz_available():
        assert ran.exit_code == 0
        assert ran.stdout.startswith("<?xml")
        node = ran.stdout[ran.stdout.index("<title>cluster_Unauthed</title>"):]  # a composite: its cluster
        assert "darksalmon" in node[: node.index("</g>")]
    else:
        assert (ran.exit_code, ran.stdout) == (1, "")
        assert ran.stderr == f"Error: {catalog.DIAGRAM_NEEDS_GRAPHVIZ}\n"


def test_diagram_and_json_do_not_mix(home: SpecKittyHome, stealth_guard: StealthGuard, repo: Path) -> None:
    ran = explain(stealth_guard, repo, "--diagram", "mermaid", "--json")
    assert ran.exit_code == 2
    assert ran.stderr.endswith(f"Error: {catalog.EXPLAIN_DIAGRAM_WITH_JSON}\n")


def test_flag_off_the_command_does_not_exist(spec_kitty_home: SpecKittyHome, stealth_guard: StealthGuard,
                                             repo: Path) -> None:
    ran = explain(stealth_guard, repo)
    assert ran.exit_code == 2
    assert "No such command 'sync'." in ran.stderr
    assert "explain" not in ran.stdout + ran.stderr.replace("sync explain", "")
    assert_stealthy(ran)


def test_ascii_terminal_gets_ascii_marks(home: SpecKittyHome, stealth_guard: StealthGuard, repo: Path) -> None:
    ran = explain(stealth_guard, repo, env={"LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii"})
    assert "  + hosted sync enabled" in ran.stdout
    assert "  x auth token present" in ran.stdout
    assert "  - host answers" in ran.stdout


def _run_on_a_tty(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run the console script with a pseudo-terminal as stdout; return what the terminal showed."""
    shown, _ = run_on_terminal(args, cwd=cwd, env=env, timeout=30)
    return shown


@pytest.mark.parametrize(("no_color", "coloured"), [(None, True), ("1", False)])
def test_colour_only_on_a_terminal_without_no_color(home: SpecKittyHome, repo: Path, no_color: str | None,
                                                    coloured: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"LC_ALL": "C.UTF-8", "TERM": "xterm"}
    if no_color is not None:
        env["NO_COLOR"] = no_color
    shown = _run_on_a_tty([SPEC_KITTY, "sync", "explain"], repo, env)
    assert ("\x1b[" in shown) is coloured
    assert "State: " in shown


def test_piped_output_is_plain_even_without_no_color(home: SpecKittyHome, stealth_guard: StealthGuard,
                                                     repo: Path) -> None:
    ran = explain(stealth_guard, repo, env={"NO_COLOR": None, "TERM": "xterm-256color"})
    assert "\x1b" not in ran.stdout
    assert "State: Unauthed\n" in ran.stdout


def test_probe_against_a_dead_host_says_unreachable(home: SpecKittyHome, stealth_guard: StealthGuard,
                                                    repo: Path) -> None:
    home.write_token(server_url=DEAD_URL)
    home.set_config("sync.server_url", DEAD_URL)
    home.bind(repo)
    ran = explain(stealth_guard, repo, "--probe")
    assert f"  ✗ host answers         probe {DEAD_URL}\n" in ran.stdout, ran.describe()
    assert ran.stdout.endswith(f"State: Unreachable\n{catalog.UNREACHABLE_REFUSED.render().format(url=DEAD_URL)}\n")
    assert ran.exit_code == 0


def test_probe_against_the_dev_saas_says_it_answers(home: SpecKittyHome, stealth_guard: StealthGuard,
                                                    repo: Path, dev_saas: DevSaas) -> None:
    url = dev_saas.url
    home.write_token(dev_saas.issue_token(), url)
    home.set_config("sync.server_url", url)
    ran = explain(stealth_guard, repo, "--probe")
    assert f"  ✓ host answers         probe {url}\n" in ran.stdout, ran.describe()
    assert f"  ✓ session accepted     GET {url}/api/v1/me\n" in ran.stdout, ran.describe()  # issue 19
    assert "State: Unbound\n" in ran.stdout  # probing is reported, but the machine still stops at Unbound
    assert ran.network, "a probe must show up as network use"


# --- the pure part: what explain asks the machine -----------------------------------------------------


def test_checks_use_the_machines_own_conditions() -> None:
    from states.explain import check_prerequisites
    from states.facts import StaticFacts

    checks = check_prerequisites(StaticFacts(has_token=False, host_url="", is_bound=False))
    assert [(c.prerequisite.fact, c.holds) for c in checks] == [
        ("rollout_enabled", True), ("has_token", False), ("has_host", False), ("is_bound", False)]


@pytest.mark.parametrize(("probe", "facts", "state", "found", "probes"), [
    (False, {}, "Ready", None, 0),
    (True, {}, "Ready", True, 1),
    (True, {"reachable": False}, "Unreachable", False, 1),
    (True, {"is_bound": False}, "Unbound", None, 0),  # stops before the host is needed: explain probes itself
])
def test_explain_reuses_the_machines_probe(probe: bool, facts: dict[str, bool], state: str,
                                           found: bool | None, probes: int) -> None:
    """The facts remember what the machine's probe found; explain's own question then costs nothing."""
    from states.explain import explain_need
    from states.facts import StaticFacts
    from states.machine import settle

    static = StaticFacts(**facts)  # type: ignore[arg-type]
    verdict = settle(static, explain_need(probe))
    assert (verdict.state, static.probed, static.probe_calls) == (state, found, probes)
    if probes:
        assert static.host_reachable() is found
        assert static.probe_calls == probes
