"""The codebase stays ruff-clean and mypy-clean: a regression fails the suite, not a reviewer's patience.

Neither check may skip itself: both tools come with the `test` extra, so a missing one is a broken
install, and a test that skips on a broken install would pass a red tree.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("command", [["ruff", "check", "."], ["mypy"]], ids=["ruff", "mypy"])
def test_check_is_clean(command: list[str]) -> None:
    tool = BIN / command[0]
    assert tool.exists(), f"{command[0]} is missing from {BIN}: install the `test` extra"
    done = subprocess.run([str(tool), *command[1:]], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
