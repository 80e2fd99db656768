"""Issue 19 item 4: the guide starts from nothing, and its commands run as written.

Given a fresh, empty folder and a home of its own (this venv's ``bin`` on ``PATH``, as step 1 leaves it),
when every ``bash`` block of ``docs/getting-started.md`` runs in one shell, top to bottom, then each
succeeds (``set -e``), the dev SaaS holds the guide's events, and nothing is left running.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "getting-started.md"
SKIP = "<!-- getting-started: skip"

pytestmark = pytest.mark.e2e


def guide_blocks() -> list[str]:
    """The guide's ``bash`` blocks in order, without the ones marked to skip (the install step)."""
    text = GUIDE.read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"(<!--[^\n]*-->\n)?```bash\n(.*?)```", text, flags=re.S):
        if not (match.group(1) or "").startswith(SKIP):
            blocks.append(match.group(2))
    return blocks


def test_the_readme_links_the_guide_first() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = re.search(r"\]\(([^)]+\.md)\)", readme)
    assert first is not None
    assert first.group(1) == "docs/getting-started.md"


def test_the_guide_covers_the_journey() -> None:
    script = "\n".join(guide_blocks())
    for step in ("spec-kitty-dev-saas serve", "auth login", "wp move", "sync run", "sync status", "sync explain",
                 "sync daemon status", "SPEC_KITTY_SAAS_TOKEN", "SECOND_URL",
                 "seed-mission kitty-specs/900-big --rows"):
        assert step in script, step


def test_the_guides_commands_run_as_written_in_a_fresh_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    work = tmp_path / "fresh"
    home.mkdir()
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPEC_KITTY_", "_SPEC_KITTY_", "PYTHON"))}
    env.update(HOME=str(home), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", NO_COLOR="1", LC_ALL="C.UTF-8")
    # the harness, not the guide: stop whatever a failed step left running
    harness = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
    script = harness + "\n".join(guide_blocks())
    done = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
    assert "Synced mission `001-first-mission`" in done.stdout
    assert "Checked with the host: the session is valid." in done.stdout
    assert "The active host stays" in done.stdout
    assert (work / "my-project" / "kitty-specs" / "900-big" / "status.events.jsonl").is_file()
    assert not (home / ".spec-kitty" / "sync-daemon.lock").exists() or "stopped" in done.stdout
