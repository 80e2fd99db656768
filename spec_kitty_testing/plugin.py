"""pytest plugin for suites that drive spec-kitty-sync (registered through the ``pytest11`` entry point).

Fixtures (documented in ``docs/pytest-plugin.md``):

- ``spec_kitty_home``: an isolated ``SPEC_KITTY_HOME`` with helpers to set config, write a token and
  bind a mission;
- ``dev_saas``: a real dev SaaS on a free loopback port, stopped afterwards, failing the test if its
  process outlived it;
- ``readiness``: settle the readiness machine on given facts, for tests that only care about states;
- ``stealth_guard``: run a command under the no-socket / no-process / no-write guard and get back what
  it recorded.

Every pytest run in an environment with this package imports this module, so it imports only the
standard library and pytest at module level; each fixture imports what it drives when it runs.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from spec_kitty_testing.guard.runner import Guarded, run_guarded
from states.catalog import HOME_ENV_VAR, SAAS_SYNC_ENV_VAR

if TYPE_CHECKING:
    from devsaas.testing import DevSaas
    from orchestrator.tracker.binding import Binding
    from states.explain import Check
    from states.facts import Intent, Need, StaticFacts
    from states.machine import Verdict

HOME_ENV = HOME_ENV_VAR
DEV_SAAS_MARKER = "dev_saas"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{DEV_SAAS_MARKER}(**options): options for the dev_saas fixture, passed to start_dev_saas "
        "(auto_approve=False, device_expiry=SECONDS, env={...})",
    )


# --- spec_kitty_home ------------------------------------------------------------------------------------


@dataclass
class SpecKittyHome:
    """An isolated ``~/.spec-kitty`` (``SPEC_KITTY_HOME``), written through the project's own code.

    Helpers go through ``orchestrator`` (config validation, 0600 token file, the binding format) so
    a test sets up state exactly as the CLI would have left it.
    """

    path: Path
    monkeypatch: pytest.MonkeyPatch = field(repr=False)

    @property
    def config_file(self) -> Path:
        return self.path / "config.toml"

    @property
    def auth_file(self) -> Path:
        return self.path / "auth.json"

    def set_config(self, key: str, value: str) -> None:
        """``spec-kitty config set KEY VALUE`` (validated; unknown keys raise ``ConfigError``)."""
        from orchestrator.home.config import set_value

        set_value(key, value, self.config_file)

    def write_token(self, token: str = "test-token", server_url: str = "", *, login: str | None = "tester",
                    expires_at: str | None = None) -> Path:
        """Store a session the way ``auth login`` does (mode 0600): a device-flow session with its account
        and a private team; returns the auth file."""
        from orchestrator.sessions.store import Session, write_session

        team = {"id": "t-1", "name": login or "tester", "role": "owner", "slug": f"{login or 'tester'}-private",
                "is_private_teamspace": True}
        write_session(Session(token, server_url, expires_at, login, session_id="test-session", user_id=login,
                              teams=(team,), grant="device"), self.auth_file)
        return self.auth_file

    def bind(self, repo_root: Path, *, provider: str = "github", binding_ref: str = "test-binding",
             project_slug: str | None = None, display_label: str | None = None,
             ownership_mode: str | None = None) -> Binding:
        """Record a tracker binding in ``repo_root/.kittify/config.yaml`` (its ``tracker:`` block, as
        spec-kitty writes it; local only: no SaaS call)."""
        from orchestrator.tracker.binding import write_binding

        binding, _ = write_binding(repo_root, provider, binding_ref, project_slug or repo_root.name, display_label,
                                   None, ownership_mode)
        return binding

    def enable_sync(self, enabled: bool = True) -> None:
        """Turn the rollout flag on (or off) for this test's process and its children."""
        self.monkeypatch.setenv(SAAS_SYNC_ENV_VAR, "1" if enabled else "0")

    def set_env(self, name: str, value: str | None) -> None:
        """Set (or with None, unset) an environment variable for this test only."""
        if value is None:
            self.monkeypatch.delenv(name, raising=False)
        else:
            self.monkeypatch.setenv(name, value)


@pytest.fixture
def spec_kitty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SpecKittyHome:
    """A throwaway ``HOME`` holding the ``SPEC_KITTY_HOME`` (``$HOME/.spec-kitty``, not yet created).

    Both are replaced, so code that ignores ``SPEC_KITTY_HOME`` still cannot reach the real home, and
    every other ``SPEC_KITTY_*`` variable is unset: the test starts from a fresh machine. The
    ``.spec-kitty`` folder is not created, because a fresh machine has none and reads must not need it.
    """
    for name in [n for n in os.environ if n.startswith("SPEC_KITTY_")]:
        monkeypatch.delenv(name)
    user_home = tmp_path / "home"
    user_home.mkdir()
    monkeypatch.setenv("HOME", str(user_home))
    home = user_home / ".spec-kitty"
    monkeypatch.setenv(HOME_ENV, str(home))
    return SpecKittyHome(home, monkeypatch)


# --- dev_saas -------------------------------------------------------------------------------------------


@pytest.fixture
def dev_saas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DevSaas]:
    """A dev SaaS process on a free loopback port with its database in ``tmp_path``.

    Yields ``devsaas.testing.DevSaas``: ``.url``, ``.approve(user_code)``,
    ``.issue_token()``, ``.envelopes(project_uuid=...)``, ``.issues(project, mission)``, ``.stop()``,
    ``.kill()``, ``.restart()``. Options come from ``@pytest.mark.dev_saas(...)`` (default:
    ``auto_approve=True``). After the test the server is stopped; if its process is still alive the
    test fails, because a leaked server would hold a port and a database for the rest of the run.
    """
    from devsaas.testing import start_dev_saas
    from orchestrator.daemon.state import pid_alive

    marker = request.node.get_closest_marker(DEV_SAAS_MARKER)
    options: dict[str, Any] = {"auto_approve": True, "db": tmp_path / "dev-saas.sqlite3"}
    if marker is not None:
        options.update(marker.kwargs)
    saas = start_dev_saas(**options)
    pids = {saas.pid}
    try:
        yield saas
        if saas.running:
            pids.add(saas.pid)  # a restart() in the test gets a new process
    finally:
        saas.close()
    leaked = sorted(pid for pid in pids if pid_alive(pid))
    if leaked:
        import signal

        for pid in leaked:  # report it, but do not let it hold its port for the rest of the run
            os.kill(pid, signal.SIGKILL)
        pytest.fail(f"dev SaaS process(es) {leaked} outlived the dev_saas fixture")


# --- readiness ------------------------------------------------------------------------------------------


def _hosted_need(state: str, intent: Intent | str | None) -> Need:
    """A hosted command's need; ``intent`` by value (``"one-shot"``) or member, default local-only."""
    from states.facts import Intent, Need

    chosen = Intent(intent) if isinstance(intent, str) else intent or Intent.LOCAL_ONLY
    return Need(hosted=True, state=state, intent=chosen)


class ReadinessDriver:
    """Settle the readiness machine the CLI uses, on facts you choose.

    ``readiness(has_token=False)`` returns the settled state (``"Unauthed"``); ``settle`` returns the
    whole verdict (state, whether a command with that need proceeds, the catalog outcome);
    ``live`` gathers the real facts (env, ``SPEC_KITTY_HOME``, the repo at ``cwd``) like the CLI does.
    """

    def facts(self, **overrides: Any) -> StaticFacts:
        """``StaticFacts`` (every prerequisite met, host reachable) with ``overrides`` applied."""
        from states.facts import StaticFacts

        return StaticFacts(**overrides)

    def settle(self, need: str = "Ready", intent: Intent | str | None = None, **facts: Any) -> Verdict:
        """The machine's verdict for a hosted command needing ``need`` with ``intent``."""
        from states.machine import settle

        return settle(self.facts(**facts), _hosted_need(need, intent))

    def __call__(self, need: str = "Ready", intent: Intent | str | None = None, **facts: Any) -> str:
        return self.settle(need, intent, **facts).state

    def checks(self, **facts: Any) -> tuple[Check, ...]:
        """Every prerequisite and whether it holds (what ``sync explain`` shows)."""
        from states.explain import check_prerequisites

        return check_prerequisites(self.facts(**facts))

    def live(self, need: str = "Ready", intent: Intent | str | None = None, *, cwd: Path | None = None,
             mission: str | None = None) -> Verdict:
        """Settle on the facts of this process's environment and files, as the CLI would."""
        from orchestrator.context import Context
        from states.machine import settle

        return settle(Context(cwd=cwd).facts(mission), _hosted_need(need, intent))


@pytest.fixture
def readiness() -> ReadinessDriver:
    """Drive the readiness machine directly: no subprocess, no files unless you ask for ``live``."""
    return ReadinessDriver()


# --- stealth_guard --------------------------------------------------------------------------------------


class StealthGuard:
    """Runs commands in a subprocess with the guard's ``sitecustomize`` first on ``PYTHONPATH``.

    Writes are watched under ``HOME`` and ``SPEC_KITTY_HOME`` (both from ``spec_kitty_home``), plus any
    folders passed as ``watch``. The environment is this test's (so ``spec_kitty_home`` settings apply)
    without inherited ``PYTHON*`` variables, with ``NO_COLOR=1`` and a UTF-8 locale; ``env`` overrides
    (a ``None`` value unsets).
    """

    def __init__(self, home: SpecKittyHome, scratch: Path) -> None:
        self.home = home
        self.scratch = scratch
        self.runs = 0

    def __call__(self, *args: str, cwd: Path | None = None, env: Mapping[str, str | None] | None = None,
                 stdin: str | None = None, watch: Sequence[Path] = (), timeout: float = 60) -> Guarded:
        """``spec-kitty ARGS`` with the installed console script."""
        script = Path(sys.executable).parent / "spec-kitty"
        return self.run([str(script), *args], cwd=cwd, env=env, stdin=stdin, watch=watch, timeout=timeout)

    def run(self, argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str | None] | None = None,
            stdin: str | None = None, watch: Sequence[Path] = (), timeout: float = 60) -> Guarded:
        """Any command; only Python processes started with this ``PYTHONPATH`` are guarded."""
        self.runs += 1
        record = self.scratch / f"guard-{self.runs}.jsonl"
        child = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        watched = [self.home.path, *([Path(child["HOME"])] if child.get("HOME") else []), *watch]
        child.update({"NO_COLOR": "1", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"})  # output does not vary by machine
        for key, value in (env or {}).items():
            if value is None:
                child.pop(key, None)
            else:
                child[key] = value
        return run_guarded(argv, env=child, cwd=cwd, record=record, watch=watched, stdin=stdin, timeout=timeout)


@pytest.fixture
def stealth_guard(spec_kitty_home: SpecKittyHome) -> Iterator[StealthGuard]:
    """``stealth_guard("status")`` runs ``spec-kitty status`` guarded and returns a ``Guarded`` record.

    The record file lives outside every watched folder (the guard's own writes must not count).
    """
    with tempfile.TemporaryDirectory(prefix="spec-kitty-guard-") as scratch:
        yield StealthGuard(spec_kitty_home, Path(scratch))
