"""Given an operator with a throwaway home, logged in and bound against a real dev SaaS on loopback.

No daemon is mocked: tests run the installed ``spec-kitty`` under the stealth guard (the suite's one
harness, ``support.shell``), and it spawns the real daemon process.
Each test's daemons are killed when it ends, and a session-wide safety net kills any daemon whose
home lies under this run's temp folder, so the suite never leaves an orphan behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import MISSION, Operator, daemon_processes, kill_daemons
from support.projects import git_init

from devsaas.testing import DevSaas, start_dev_saas

LINUX_ONLY = pytest.mark.skipif(not Path("/proc/self/environ").exists(),
                                reason="Linux only: the suite finds daemon processes through /proc")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The daemon itself is portable; these tests find and kill its processes through /proc."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(LINUX_ONLY)


@pytest.fixture(scope="session", autouse=True)
def no_orphan_daemons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    base = tmp_path_factory.getbasetemp()
    yield
    kill_daemons(under=base)
    assert not daemon_processes(under=base)


@pytest.fixture(scope="session")
def daemon_saas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevSaas]:
    """One dev SaaS for the suite; tests isolate themselves by repository (= project) name."""
    with start_dev_saas(db=tmp_path_factory.mktemp("daemon-saas") / "saas.sqlite3") as server:
        yield server


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[Operator]:
    shell = Operator(tmp_path)
    yield shell
    kill_daemons(home=shell.home)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh ``git init`` folder (its name becomes the project key) with one empty mission."""
    root = git_init(tmp_path / f"repo-{tmp_path.name}"[:60])
    (root / "kitty-specs" / MISSION).mkdir(parents=True)
    return root


@pytest.fixture
def ready(operator: Operator, repo: Path, daemon_saas: DevSaas) -> Operator:
    """Scenario 2 done: logged in (token via stdin, like `gh auth login --with-token`) and bound."""
    token = daemon_saas.issue_token("daemon-tester")
    login = operator.run("auth", "login", "--host", daemon_saas.url, "--with-token", cwd=repo, stdin=token)
    assert login.exit_code == 0, login.describe()
    bound = operator.run("tracker", "bind", cwd=repo)
    assert bound.exit_code == 0, bound.describe()
    return operator
