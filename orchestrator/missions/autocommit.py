"""Commit a move's files where the project asks for it, as spec-kitty does.

spec-kitty 3.2.7 reads ``.kittify/config.yaml`` (``agents.auto_commit``, or ``tools.auto_commit`` in
projects migrated to that name, or a top-level ``auto_commit``); with it on, ``agent status emit``
commits the mission's ``status.events.jsonl`` and ``status.json`` (and nothing else) in the checkout
that holds them, with the message ``chore(spec-kitty): status transition <WP>``. A move of ours in such
a project does the same, so the operator's tree looks as if spec-kitty had moved the work package.
Where the setting is absent or off, the working tree is the operator's and is left alone (spec-kitty
itself defaults to on, but a repository without its config is not one it manages).

Files staged by the operator stay staged and out of the commit (``git commit --only``). A commit that
fails (no git identity, a hook refusing it) leaves the move recorded and says so in one warning line.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from orchestrator.home.paths import EVENTS_FILE
from states import catalog

CONFIG_YAML = Path(".kittify") / "config.yaml"
SNAPSHOT = "status.json"


def enabled(repo_root: Path) -> bool:
    """Whether ``.kittify/config.yaml`` turns auto-commit on (explicitly ``true``; anything else: off)."""
    try:
        text = (repo_root / CONFIG_YAML).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(text)
    except (YAMLError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    section = data.get("agents") or data.get("tools") or {}
    value = section.get("auto_commit") if isinstance(section, dict) else None
    if value is None:
        value = data.get("auto_commit")
    return value is True


def commit_move(primary: Path, wp_id: str) -> str | None:
    """Commit the log and ``status.json`` of the mission (``primary``: its ``kitty-specs/`` folder) when
    the project asks for it; a warning line when that failed, else None."""
    from orchestrator.missions.folders import status_folder

    if not enabled(primary.parent.parent):
        return None
    folder = status_folder(primary)
    files = [name for name in (EVENTS_FILE, SNAPSHOT) if (folder / name).exists()]
    message = catalog.AUTO_COMMIT_MESSAGE.format(wp_id=wp_id)
    for argv in (["add", "--", *files], ["commit", "--quiet", "-m", message, "--only", "--", *files]):
        try:
            done = subprocess.run(["git", "-C", str(folder), *argv], capture_output=True, text=True, timeout=60,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as exc:
            return catalog.AUTO_COMMIT_FAILED.format(error=exc, paths=" ".join(str(folder / f) for f in files))
        if done.returncode != 0:
            error = ((done.stderr or done.stdout).strip().splitlines() or ["git failed"])[-1]
            return catalog.AUTO_COMMIT_FAILED.format(error=error, paths=" ".join(str(folder / f) for f in files))
    return None
