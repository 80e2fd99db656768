"""The README's first command: the whole operator quickstart, run literally, must match step by step."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.skipif(shutil.which("git") is None, reason="the quickstart runs `git init`; git is not installed")
def test_the_quickstart_demo_matches_every_step() -> None:
    demo = Path(sys.executable).parent / "spec-kitty-dev-saas"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPEC_KITTY_")}
    done = subprocess.run([str(demo), "demo"], capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert done.stdout.rstrip().endswith("All quickstart steps matched.")
    assert "MISMATCH" not in done.stdout
