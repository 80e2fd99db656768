"""Shared fixtures: an operator's throwaway home and a shell that runs the installed ``spec-kitty``.

Fixtures here are opt-in (no autouse) because suites owned by others live under ``tests/`` too. Test
modules import helpers from ``support``, never from this file (pytest may re-import ``conftest``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.shell import Shell


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    """A fresh operator shell with the rollout flag unset."""
    return Shell(tmp_path)
