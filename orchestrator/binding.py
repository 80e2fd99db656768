"""Tracker bindings, stored in the repository at ``.kittify/config.toml`` under ``[tracker]``.

Layout (tomlkit keeps whatever else the file holds)::

    [tracker]
    project = "my-repo"

    [tracker.missions."082-my-mission"]
    server_url = "https://…"
    binding_id = "…"
    bound_at = "2026-…Z"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from orchestrator import paths
from orchestrator.config import edit_document, read_toml


class Binding(NamedTuple):  # not a dataclass: read on every hosted command's start-up
    project: str
    mission: str
    server_url: str
    binding_id: str
    bound_at: str


def read_binding(repo_root: Path, slug: str) -> Binding | None:
    tracker = read_toml(paths.repo_config_file(repo_root)).get("tracker")
    if not isinstance(tracker, dict):
        return None
    entry = (tracker.get("missions") or {}).get(slug)
    if not isinstance(entry, dict):
        return None
    return Binding(
        project=str(tracker.get("project") or repo_root.name),
        mission=slug,
        server_url=str(entry.get("server_url") or ""),
        binding_id=str(entry.get("binding_id") or ""),
        bound_at=str(entry.get("bound_at") or ""),
    )


def write_binding(repo_root: Path, binding: Binding) -> None:
    """Record the binding in one locked, atomic edit (the repo file is shared: mode 0644)."""
    import tomlkit

    def change(doc: Any) -> bool:
        tracker = doc.setdefault("tracker", tomlkit.table())
        tracker["project"] = binding.project
        missions = tracker.setdefault("missions", tomlkit.table(is_super_table=True))
        entry = tomlkit.table()
        entry.update({"server_url": binding.server_url, "binding_id": binding.binding_id,
                      "bound_at": binding.bound_at})
        missions[binding.mission] = entry
        return True

    edit_document(paths.repo_config_file(repo_root), change, mode=0o644)


def remove_binding(repo_root: Path, slug: str) -> bool:
    """Forget the mission's binding; returns whether there was one (idempotent)."""
    target = paths.repo_config_file(repo_root)
    removed = False

    def change(doc: Any) -> bool:
        nonlocal removed
        missions = doc.get("tracker", {}).get("missions")
        if isinstance(missions, dict) and slug in missions:
            del missions[slug]
            removed = True
        return removed

    if target.exists():
        edit_document(target, change, mode=0o644)
    return removed
