"""Tracker bindings, stored in the repository at ``.kittify/config.toml``: one per mission *and host*.

Each binding records its own project key, host and server binding id, so binding one mission never
touches another's, a binding made on host A does not count on host B, and ``unbind`` deletes exactly
the server binding it made. Layout (tomlkit keeps whatever else the file holds)::

    [[tracker.binding]]
    mission = "082-my-mission"
    project = "my-repo"
    server_url = "https://…"
    binding_id = "…"
    bound_at = "2026-…Z"

The layout written before (one repo-wide ``[tracker] project`` plus ``[tracker.missions."<slug>"]``)
is still read; the next write converts it, each old entry keeping the project it was made with.
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


def _legacy(tracker: dict[str, Any], repo_root: Path) -> list[Binding]:
    project = str(tracker.get("project") or repo_root.name)
    missions = tracker.get("missions")
    if not isinstance(missions, dict):
        return []
    return [
        Binding(project, slug, str(entry.get("server_url") or ""), str(entry.get("binding_id") or ""),
                str(entry.get("bound_at") or ""))
        for slug, entry in missions.items() if isinstance(entry, dict)
    ]


def _parse(tracker: object, repo_root: Path) -> list[Binding]:
    if tracker is None:
        return []
    if not isinstance(tracker, dict):  # a bind could not record itself there: say so before any call
        from orchestrator.errors import ConfigError
        from states.catalog import CONFIG_NOT_A_TABLE

        raise ConfigError(CONFIG_NOT_A_TABLE.format(table="tracker", path=paths.repo_config_file(repo_root)))
    entries = tracker.get("binding")
    found = [Binding(str(e.get("project") or repo_root.name), str(e["mission"]), str(e.get("server_url") or ""),
                     str(e.get("binding_id") or ""), str(e.get("bound_at") or ""))
             for e in (entries if isinstance(entries, list) else []) if isinstance(e, dict) and e.get("mission")]
    return found + _legacy(tracker, repo_root)


def read_bindings(repo_root: Path) -> list[Binding]:
    """Every binding in the repository, new layout first, then the old one's entries."""
    return _parse(read_toml(paths.repo_config_file(repo_root)).get("tracker"), repo_root)


def check_host(repo_root: Path, binding: Binding) -> None:
    """Refuse a binding whose host URL breaks the rules every host URL follows, naming file and mission."""
    from orchestrator.config import validate_source
    from states.catalog import BINDING_HOST_SOURCE

    if binding.server_url:
        validate_source(binding.server_url, BINDING_HOST_SOURCE.format(
            path=paths.repo_config_file(repo_root), mission=binding.mission))


def read_binding(repo_root: Path, slug: str, host: str) -> Binding | None:
    """The mission's binding on ``host``'s origin (its URL validated like every other host URL)."""
    from orchestrator.auth import origin

    want = origin(host) if host else None
    for binding in read_bindings(repo_root):
        if binding.mission != slug:
            continue
        check_host(repo_root, binding)
        if want is None or origin(binding.server_url) == want:
            return binding
    return None


def _rewrite(doc: Any, keep: list[Binding]) -> None:
    """Replace both layouts with ``keep`` in the new one (other ``[tracker]`` keys stay)."""
    import tomlkit

    tracker = doc.setdefault("tracker", tomlkit.table())
    for old in ("project", "missions", "binding"):
        if old in tracker:
            del tracker[old]
    if keep:
        table = tomlkit.aot()
        for binding in keep:
            entry = tomlkit.table()
            entry.update({"mission": binding.mission, "project": binding.project, "server_url": binding.server_url,
                          "binding_id": binding.binding_id, "bound_at": binding.bound_at})
            table.append(entry)
        tracker["binding"] = table


def _same(a: Binding, b: Binding) -> bool:
    from orchestrator.auth import origin

    return a.mission == b.mission and origin(a.server_url) == origin(b.server_url)


def write_binding(repo_root: Path, binding: Binding) -> None:
    """Record (or replace) the binding for its mission and host, in one locked, atomic edit."""

    def change(doc: Any) -> bool:
        current = read_bindings_from(doc, repo_root)
        _rewrite(doc, [b for b in current if not _same(b, binding)] + [binding])
        return True

    edit_document(paths.repo_config_file(repo_root), change, mode=0o644)


def read_bindings_from(doc: Any, repo_root: Path) -> list[Binding]:
    """``read_bindings`` over a tomlkit document being edited (so the edit sees what it replaces)."""
    import tomllib

    import tomlkit

    return _parse(tomllib.loads(tomlkit.dumps(doc)).get("tracker"), repo_root)


def remove_binding(repo_root: Path, binding: Binding) -> bool:
    """Forget exactly this mission's binding on this host; returns whether there was one (idempotent)."""
    target = paths.repo_config_file(repo_root)
    removed = False

    def change(doc: Any) -> bool:
        nonlocal removed
        current = read_bindings_from(doc, repo_root)
        keep = [b for b in current if not _same(b, binding)]
        removed = len(keep) != len(current)
        if removed:
            _rewrite(doc, keep)
        return removed

    if target.exists():
        edit_document(target, change, mode=0o644)
    return removed
