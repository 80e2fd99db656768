"""The repository's tracker binding, where spec-kitty keeps it: the ``tracker:`` block of ``.kittify/config.yaml``.

A binding ties the *repository* (its ``project:`` identity) to one resource of one tracker the host
fronts; every mission of the repository syncs through it. spec-kitty-cli 3.2.7 writes the block as
``tracker/config.py``'s ``TrackerProjectConfig.to_dict`` does, and so do we, key for key and in its
order (keys we do not know first, then)::

    tracker:
      provider: github
      binding_ref: br_…
      project_slug: my-repo
      display_label: dev-saas/issues
      provider_context:
        resource: dev-saas/issues
      workspace:
      ownership:
        mode: spec_kitty_authoritative
        field_owners: {}

(plus ``egress`` when the file records one). The rest of the file and its comments stay as they were:
a ruamel.yaml round-trip, written whole to a temp file and renamed, under the file's lock.

A block counts (the readiness fact "bound") when its provider is one of the SaaS-backed ones (the host
fronts the tracker; ``beads``/``fp`` are local trackers spec-kitty drives itself) and it names a
``binding_ref`` or a ``project_slug`` to route by: spec-kitty's ``is_configured``. The block names no
host: a binding the session's host does not know is refused by that host (``binding_not_found``),
and its answer says to bind again.

The older layouts of ``.kittify/config.toml`` (``[[tracker.binding]]`` per mission, or ``[tracker]
project``) are read once more: a repository bound that way stays bound, and the next write of the
binding (``tracker bind``, ``tracker unbind``, or the sync converting it) removes them, with one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from orchestrator.home import paths

SAAS_PROVIDERS = ("github", "gitlab", "jira", "linear")  # spec-kitty's SAAS_PROVIDERS, in a fixed order
OWNERSHIP_MODES = ("spec_kitty_authoritative", "external_authoritative", "split_ownership")
DEFAULT_MODE = "spec_kitty_authoritative"  # the mission log wins a conflict (our rule before modes existed)
_KNOWN = ("provider", "binding_ref", "project_slug", "display_label", "provider_context", "workspace",
          "ownership", "doctrine", "egress")


class Binding(NamedTuple):  # not a dataclass: read on every hosted command's start-up
    provider: str
    binding_ref: str | None
    project_slug: str | None
    display_label: str | None
    ownership_mode: str = DEFAULT_MODE
    field_owners: tuple[tuple[str, str], ...] = ()
    legacy_project: str | None = None  # read from `.kittify/config.toml`'s old tables, not converted yet

    @property
    def legacy(self) -> bool:
        return self.legacy_project is not None

    @property
    def label(self) -> str:
        return self.display_label or self.binding_ref or self.project_slug or self.legacy_project or "?"

    def routing(self) -> dict[str, str]:
        """spec-kitty's routing keys: ``binding_ref`` when known, else ``project_slug``."""
        if self.binding_ref:
            return {"binding_ref": self.binding_ref}
        return {"project_slug": self.project_slug or ""}

    def status_owner(self) -> str:
        """Who owns a work package's status: ``external`` (the tracker), ``local`` (the log) or ``shared``
        (``split_ownership`` without an owner for ``status``: the log keeps its lane on a conflict)."""
        if self.ownership_mode == "external_authoritative":
            return "external"
        if self.ownership_mode == "split_ownership":
            return dict(self.field_owners).get("status", "shared")
        return "local"


def config_yaml(repo_root: Path) -> Path:
    return repo_root / ".kittify" / "config.yaml"


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _ownership(block: dict[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The mode and field owners, from ``ownership`` (or the retired ``doctrine`` key), spec-kitty's way."""
    for key in ("ownership", "doctrine"):
        found = block.get(key)
        if isinstance(found, dict):
            mode = _text(found.get("mode")) or "external_authoritative"  # spec-kitty's reading of a bare block
            owners = found.get("field_owners")
            pairs = tuple((str(k), str(v)) for k, v in owners.items() if str(k).strip() and str(v).strip()) \
                if isinstance(owners, dict) else ()
            return mode, pairs
    return DEFAULT_MODE, ()


def parse_block(block: object) -> Binding | None:
    """The binding a ``tracker:`` block records, or None when it records none we sync through."""
    if not isinstance(block, dict):
        return None
    provider = _text(block.get("provider"))
    ref, slug = _text(block.get("binding_ref")), _text(block.get("project_slug"))
    if provider not in SAAS_PROVIDERS or not (ref or slug):
        return None
    mode, owners = _ownership(block)
    return Binding(str(provider), ref, slug, _text(block.get("display_label")), mode, owners)


def _has_tracker_key(path: Path) -> bool:
    """Cheap pre-check (no YAML parser): does any line open a top-level ``tracker`` key?"""
    try:
        with open(path, "rb") as handle:
            return any(line.startswith((b"tracker:", b"tracker :", b'"tracker"', b"'tracker'")) for line in handle)
    except (FileNotFoundError, NotADirectoryError):
        return False


def read_block(repo_root: Path) -> object:
    """The ``tracker:`` value of ``.kittify/config.yaml`` (None when absent); an unreadable file raises."""
    path = config_yaml(repo_root)
    if not _has_tracker_key(path):
        return None
    from orchestrator.project.identity import load_document

    document = load_document(path)
    return document.get("tracker") if document else None


def legacy_project(repo_root: Path) -> str | None:
    """The project key of an old ``.kittify/config.toml`` binding (either layout), else None."""
    from orchestrator.home.config import read_toml

    tracker = read_toml(paths.repo_config_file(repo_root)).get("tracker")
    if not isinstance(tracker, dict):
        return None
    entries = tracker.get("binding")
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("mission"):
            return str(entry.get("project") or repo_root.name)
    if isinstance(tracker.get("missions"), dict) and tracker["missions"]:
        return str(tracker.get("project") or repo_root.name)
    if isinstance(tracker.get("project"), str) and tracker["project"]:
        return str(tracker["project"])
    return None


def read_binding(repo_root: Path) -> Binding | None:
    """The repository's binding: the ``tracker:`` block, else an old ``config.toml`` one (read once more)."""
    found = parse_block(read_block(repo_root))
    if found is not None:
        return found
    old = legacy_project(repo_root)
    return Binding("", None, None, None, legacy_project=old) if old else None


def _block(existing: object, provider: str, binding_ref: str, project_slug: str | None, display_label: str | None,
           provider_context: dict[str, str] | None, mode: str | None) -> dict[str, Any]:
    """The block spec-kitty's ``_persist_binding`` + ``to_dict`` write: unknown keys first, then its keys
    in its order; an existing block's mode, owners and ``egress`` carried over (``mode`` overrides)."""
    old = existing if isinstance(existing, dict) else {}
    same = _text(old.get("provider")) == provider
    kept_mode, owners = _ownership(old) if old else (DEFAULT_MODE, ())
    block: dict[str, Any] = {key: value for key, value in old.items() if key not in _KNOWN}
    block.update({
        "provider": provider,
        "binding_ref": binding_ref,
        "project_slug": project_slug or (_text(old.get("project_slug")) if same else None),
        "display_label": display_label if display_label is not None else (
            _text(old.get("display_label")) if same else None),
        "provider_context": dict(provider_context) if provider_context else None,
        "workspace": _text(old.get("workspace")) if same else None,
        "ownership": {"mode": mode or kept_mode, "field_owners": dict(owners)},
    })
    if "egress" in old:
        block["egress"] = old["egress"]
    return block


def binding_hosts_file() -> Path:
    return paths.home() / "tracker-hosts.json"


def bound_on(binding_ref: str | None) -> str | None:
    """The origin of the host that confirmed ``binding_ref`` through this tool, or None when unknown (a
    binding spec-kitty wrote names no host: it counts wherever the operator syncs, as spec-kitty's does)."""
    import json

    from orchestrator.home.fsutil import read_small

    if not binding_ref:
        return None
    try:
        found = json.loads(read_small(binding_hosts_file()) or b"{}")
    except (OSError, ValueError):
        return None
    where = found.get(binding_ref) if isinstance(found, dict) else None
    return where if isinstance(where, str) else None


def _remember_host(binding_ref: str, host: str) -> None:
    """``.kittify/config.yaml``'s ``tracker:`` block names no host (spec-kitty's layout), yet a binding_ref
    is one host's: remember which, beside the sessions, so another host never sees it as bound there."""
    import json

    from orchestrator.home.fsutil import atomic_write_text, interprocess_lock, read_small
    from orchestrator.sessions.store import origin

    path = binding_hosts_file()
    with interprocess_lock(paths.lock_file_for(path)):
        try:
            found = json.loads(read_small(path) or b"{}")
        except (OSError, ValueError):
            found = {}
        found = found if isinstance(found, dict) else {}
        found[binding_ref] = origin(host)
        atomic_write_text(path, json.dumps(found, indent=2, sort_keys=True) + "\n")


def write_binding(repo_root: Path, provider: str, binding_ref: str, project_slug: str | None,
                  display_label: str | None, provider_context: dict[str, str] | None,
                  mode: str | None, *, host: str | None = None) -> tuple[Binding, bool]:
    """Record the binding in ``tracker:`` (every other key and comment kept), and which ``host`` confirmed
    it; returns it and whether an old ``config.toml`` binding was converted (removed) on the way."""
    if host:
        _remember_host(binding_ref, host)
    from orchestrator.home.fsutil import interprocess_lock
    from orchestrator.project.identity import load_document, write_document

    path = config_yaml(repo_root)
    with interprocess_lock(paths.lock_file_for(path)):
        document = load_document(path)
        from ruamel.yaml.comments import CommentedMap

        if document is None:
            document = CommentedMap()
        document["tracker"] = _block(document.get("tracker"), provider, binding_ref, project_slug, display_label,
                                     provider_context, mode)
        write_document(path, document)
        written = parse_block(document["tracker"])
    assert written is not None
    return written, drop_legacy(repo_root)


def remove_binding(repo_root: Path) -> tuple[Binding | None, bool]:
    """Remove the ``tracker:`` block (keeping a recorded ``egress`` decision, as spec-kitty's
    ``clear_tracker_config`` does) and any old ``config.toml`` binding; (what was there, old removed)."""
    from orchestrator.home.fsutil import interprocess_lock
    from orchestrator.project.identity import load_document, write_document

    path = config_yaml(repo_root)
    removed: Binding | None = None
    if _has_tracker_key(path):
        with interprocess_lock(paths.lock_file_for(path)):
            document = load_document(path)
            if document is not None and "tracker" in document:
                block = document["tracker"]
                removed = parse_block(block)
                if isinstance(block, dict) and "egress" in block:
                    document["tracker"] = {"egress": block["egress"]}
                else:
                    del document["tracker"]
                write_document(path, document)
    return removed, drop_legacy(repo_root)


def drop_legacy(repo_root: Path) -> bool:
    """Remove the old layouts' keys from ``.kittify/config.toml`` (other ``[tracker]`` keys stay)."""
    if legacy_project(repo_root) is None:
        return False
    from orchestrator.home.config import edit_document

    def change(doc: Any) -> bool:
        tracker = doc.get("tracker")
        if tracker is None:
            return False
        for old in ("project", "missions", "binding"):
            if old in tracker:
                del tracker[old]
        if not tracker:
            del doc["tracker"]
        return True

    edit_document(paths.repo_config_file(repo_root), change, mode=0o644)
    return True
