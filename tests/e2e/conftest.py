"""Given a throwaway home and a real dev SaaS on loopback, run the installed `spec-kitty`.

The operator's shell is the suite's one harness (``support.shell``): every command runs under the
stealth guard, with the rollout flag on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.projects import git_init
from support.shell import Shell

from devsaas.testing import DevSaas, start_dev_saas


@pytest.fixture
def saas(tmp_path: Path) -> Iterator[DevSaas]:
    with start_dev_saas(auto_approve=True, db=tmp_path / "saas.sqlite3") as handle:
        yield handle


@pytest.fixture
def operator(tmp_path: Path) -> Shell:
    return Shell(tmp_path).flag("1")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh `git init` folder with one empty mission."""
    root = git_init(tmp_path / "demo-repo")
    (root / "kitty-specs" / "001-demo").mkdir(parents=True)
    return root
