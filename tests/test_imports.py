"""Imports are a budget: pin the modules the hot commands load (a module-set test, not a timing).

Given the installed ``spec-kitty`` run under the guard with ``SK_GUARD_MODULES`` (it dumps
``sys.modules`` at exit), when ``--help``, ``status`` or ``config list|get`` run, then nothing
network-related (aiohttp, asyncio, ssl, socket), no writer (tomlkit, fasteners), no diagram/nesting
machinery (``transitions.extensions``) and none of the sync, queue, client, daemon or dev SaaS code is
imported; with the flag off not even the hosted command modules are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from support.projects import make_project, transition, write_auth, write_config, write_log
from support.shell import Shell, parallel

NETWORK = ("aiohttp", "asyncio", "ssl", "_ssl", "socket", "_socket", "selectors", "http.client", "urllib.request")
WRITERS = ("tomlkit", "fasteners", "tempfile", "sqlite3")
HEAVY = ("transitions.extensions", "orchestrator.saas.client", "orchestrator.sync.queue", "orchestrator.daemon",
         "devsaas", "orchestrator.sync.run", "orchestrator.saas.probe", "orchestrator.sessions.login",
         "orchestrator.tracker.service", "orchestrator.svg", "states.diagram", "orchestrator.sync.store",
         "orchestrator.sync.upload", "orchestrator.tracker.exchange", "orchestrator.tracker.ledger")
HOSTED = ("cli.hosted",)


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    flag: str | None
    where: str  # "project" or "elsewhere"
    forbidden: tuple[str, ...] = (*NETWORK, *WRITERS, *HEAVY, *HOSTED)
    required: tuple[str, ...] = field(default=("cli.main", "transitions.core", "states.machine"))


CASES = {
    "help-flag-off": Case(("--help",), None, "elsewhere"),
    "help-flag-on": Case(("--help",), "1", "elsewhere"),
    "status-flag-off": Case(("status",), None, "project", required=("cli.local", "orchestrator.missions.read")),
    # issue 4: with the flag on, status may show a daemon line; its stdlib reader is the only daemon
    # module it loads, and without a state file it opens nothing
    "status-flag-on": Case(("status",), "1", "project", required=("cli.local", "orchestrator.missions.read"),
                           forbidden=(*NETWORK, *WRITERS, *HOSTED,
                                      *(h for h in HEAVY if h != "orchestrator.daemon"),
                                      "orchestrator.daemon.client", "orchestrator.daemon.server",
                                      "orchestrator.daemon.control", "orchestrator.daemon.scheduler",
                                      "orchestrator.daemon.__main__")),
    "status-json-flag-on": Case(("status", "--json"), "1", "project"),
    "config-list": Case(("config", "list"), None, "elsewhere", required=("tomllib",)),
    "config-get-flag-on": Case(("config", "get", "sync.server_url"), "1", "elsewhere", required=("tomllib",)),
    "tracker-refused-flag-off": Case(("tracker", "status"), None, "project"),
    "completion-flag-off": Case((), None, "elsewhere"),
    # failure paths of hosted commands may load their command modules, but nothing network-related
    "tracker-status-unbound-flag-on": Case(("tracker", "status"), "1", "project",
                                           forbidden=(*NETWORK, "tomlkit", "fasteners", "transitions.extensions",
                                                      "orchestrator.saas.client", "devsaas"),
                                           required=("cli.hosted.tracker",)),
}


def loaded(modules: frozenset[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


@pytest.fixture(scope="module")
def module_sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, frozenset[str]]:
    """Run every case once (side by side) in a logged-in, configured home and a bound project."""
    tmp = tmp_path_factory.mktemp("imports")
    shell = Shell(tmp)
    write_auth(shell.home)
    write_config(shell.home, '[sync]\nserver_url = "https://spec-kitty-dev.fly.dev"\n')
    project = make_project(tmp / "demo-repo", ["001-demo"])
    write_log(project / "kitty-specs" / "001-demo",
              [transition("WP01", "planned", event_id="01J0000000000000000000000A", slug="001-demo")])
    completion = {"_SPEC_KITTY_COMPLETE": "bash_complete", "COMP_WORDS": "spec-kitty ", "COMP_CWORD": "1"}
    results = parallel(*(
        shell.later(*case.argv, cwd=project if case.where == "project" else shell.cwd, dump_modules=True,
                    env={"SPEC_KITTY_ENABLE_SAAS_SYNC": case.flag, **(completion if not case.argv else {})})
        for case in CASES.values()))
    sets = {}
    for name, result in zip(CASES, results, strict=True):
        assert result.exit_code in (0, 1, 2), result.describe()
        assert result.events == [], result.describe()
        sets[name] = result.modules
    return sets


@pytest.mark.parametrize("name", CASES)
def test_hot_commands_import_only_their_budget(module_sets: dict[str, frozenset[str]], name: str) -> None:
    case = CASES[name]
    modules = module_sets[name]
    assert modules, "the guard wrote no module list"
    assert loaded(modules, case.forbidden) == []
    missing = [m for m in case.required if m not in modules]
    assert missing == [], f"sanity: expected {missing} to be imported"
