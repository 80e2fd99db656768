"""The repository's identity as spec-kitty records it, and the machine's lamport clock.

Every envelope the host receives names its project (``project_uuid``, ``project_slug``), the machine
(``node_id``) and the build (``build_id``). spec-kitty's ``init`` writes them into the ``project:``
block of ``.kittify/config.yaml``; we read them from there, so both tools sync one project under one
identity. A repository without the block (the quickstart's bare ``git init`` folder) gets one written
in spec-kitty's layout (``uuid``, ``slug``, ``node_id``, ``build_id``) with the same derivations its
``identity/project.py`` uses (node id from host and user name, build id a uuid5 of uuid and node),
through a YAML round-trip (ruamel.yaml) so every other key and comment of the file stays as it was.
A file that cannot be understood is never written over: one line, and the operator decides.

The lamport clock is spec-kitty's ``~/.spec-kitty/clock.json`` (``value``, ``node_id``,
``updated_at``), shared so events of both tools on this machine order on one clock. It never goes
backwards for us across crashes: a sync *reserves* a block of values by writing the clock's new high
mark durably (temp file, fsync, rename) under a lock before any of them is used; a crash after the
write only skips values.

Imported on hosted remote paths only (ruamel.yaml is not cheap to import).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, NamedTuple

from orchestrator.errors import SpecKittyError
from orchestrator.home import paths
from orchestrator.home.fsutil import atomic_write_text, interprocess_lock
from states import catalog

CONFIG_YAML = Path(".kittify") / "config.yaml"
_BUILD_NAMESPACE_NAME = "spec-kitty:identity:build_id"  # spec-kitty's identity/project.py
_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")


class ProjectIdentity(NamedTuple):
    uuid: str
    slug: str
    node_id: str
    build_id: str
    repo_slug: str | None = None


class IdentityError(SpecKittyError):
    """``.kittify/config.yaml`` exists but cannot be understood, so it is neither used nor written over."""


def config_yaml(repo_root: Path) -> Path:
    return repo_root / CONFIG_YAML


def node_id() -> str:
    """spec-kitty's machine id: the first 12 hex digits of sha256("<hostname>:<user>")."""
    import getpass
    import hashlib
    import socket  # gethostname only: no socket is opened

    return hashlib.sha256(f"{socket.gethostname()}:{getpass.getuser()}".encode()).hexdigest()[:12]


def build_id(project_uuid: str, node: str) -> str:
    """spec-kitty's deterministic build id: uuid5 of "<uuid>:<node_id>" in its own namespace."""
    from uuid import NAMESPACE_URL, uuid5

    return str(uuid5(uuid5(NAMESPACE_URL, _BUILD_NAMESPACE_NAME), f"{project_uuid}:{node}"))


def project_slug(repo_root: Path) -> str:
    """spec-kitty's slug: the git remote ``origin``'s repository name, else the folder's, kebab-cased."""
    import subprocess

    name = repo_root.name
    try:
        url = subprocess.run(["git", "remote", "get-url", "origin"], cwd=repo_root, capture_output=True,
                             text=True, errors="replace", check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        url = ""
    if url:
        url = url.removesuffix(".git")
        if ":" in url and "@" in url:
            url = url.split(":")[-1]
        name = url.split("/")[-1] or name
    return name.lower().replace("_", "-").replace(" ", "-")


def _text(value: object) -> str | None:
    """A recorded value as text (YAML may have typed an all-digit node id as an int); None if absent."""
    if value is None or isinstance(value, dict | list | set | tuple):
        return None
    return str(value).strip() or None


def _load(path: Path) -> Any:
    """The round-trip document of ``path`` (None when absent or empty); refuses what it cannot read."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        with open(path, encoding="utf-8") as handle:
            document = YAML().load(handle)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, YAMLError) as error:
        raise IdentityError(catalog.PROJECT_CONFIG_UNREADABLE.format(
            path=path, error=str(error).splitlines()[0] if str(error) else type(error).__name__)) from None
    if document is not None and not isinstance(document, dict):
        raise IdentityError(catalog.PROJECT_CONFIG_UNREADABLE.format(path=path, error="not a mapping"))
    return document


def _recorded(document: Any, path: Path) -> dict[str, str | None]:
    block = document.get("project") if document else None
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise IdentityError(catalog.PROJECT_CONFIG_UNREADABLE.format(path=path, error="'project' is not a mapping"))
    found = {key: _text(block.get(key)) for key in ("uuid", "slug", "node_id", "build_id", "repo_slug")}
    if found["uuid"] is not None and not _UUID.fullmatch(found["uuid"]):
        raise IdentityError(catalog.PROJECT_CONFIG_UNREADABLE.format(path=path, error="project.uuid is not a UUID"))
    return found


def read_identity(repo_root: Path) -> ProjectIdentity | None:
    """The complete identity recorded in the repository, or None (nothing is written)."""
    path = config_yaml(repo_root)
    found = _recorded(_load(path), path)
    if not all(found.get(key) for key in ("uuid", "slug", "node_id", "build_id")):
        return None
    return ProjectIdentity(str(found["uuid"]).lower(), str(found["slug"]), str(found["node_id"]),
                           str(found["build_id"]), found.get("repo_slug"))


def ensure_identity(repo_root: Path) -> ProjectIdentity:
    """The recorded identity, completing (or creating) the ``project:`` block as spec-kitty would.

    Fields already recorded are kept; missing ones are derived as spec-kitty derives them. The file is
    rewritten only when something was missing, under a lock, temp file then rename; every other key
    and comment is kept by the round-trip.
    """
    identity = read_identity(repo_root)
    if identity is not None:
        return identity
    path = config_yaml(repo_root)
    with interprocess_lock(paths.lock_file_for(path)):
        document = _load(path)
        found = _recorded(document, path)
        if all(found.get(key) for key in ("uuid", "slug", "node_id", "build_id")):
            return read_identity(repo_root) or _missing(path)
        import uuid as uuids

        project_uuid = (found.get("uuid") or str(uuids.uuid4())).lower()
        node = found.get("node_id") or node_id()
        block = {
            "uuid": project_uuid,
            "slug": found.get("slug") or project_slug(repo_root),
            "node_id": node,
            "build_id": found.get("build_id") or build_id(project_uuid, node),
        }
        if found.get("repo_slug"):
            block["repo_slug"] = str(found["repo_slug"])
        _write_block(path, document, block)
    return read_identity(repo_root) or _missing(path)


def _missing(path: Path) -> ProjectIdentity:
    raise IdentityError(catalog.PROJECT_CONFIG_UNREADABLE.format(path=path, error="project block incomplete"))


def load_document(path: Path) -> Any:
    """The round-trip document of a ``config.yaml`` (None when absent or empty); refuses what it cannot read."""
    return _load(path)


def _write_block(path: Path, document: Any, block: dict[str, str]) -> None:
    """Set ``project:`` in the round-trip document and write it back whole (temp file, rename)."""
    from ruamel.yaml.comments import CommentedMap

    if document is None:
        document = CommentedMap()
    existing = document.get("project")
    if isinstance(existing, dict):
        for key, value in block.items():
            existing[key] = value
    else:
        document["project"] = block
    write_document(path, document)


def write_document(path: Path, document: Any) -> None:
    """Write a round-trip document back whole, as spec-kitty's ruamel ``YAML()`` dumps it (quotes kept),
    to a temp file then renamed; an existing file keeps its mode. The caller holds the file's lock."""
    import io

    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    out = io.StringIO()
    yaml.dump(document, out)
    try:  # an existing file keeps its mode; a new one is born 0600, as spec-kitty's mkstemp makes it
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    atomic_write_text(path, out.getvalue(), mode=mode)


# --- the lamport clock --------------------------------------------------------------------------------
def clock_file() -> Path:
    return paths.home() / "clock.json"


def reserve_clock(count: int, node: str) -> int:
    """Reserve ``count`` consecutive lamport values; returns the first. Durable before it returns.

    The clock file is read, advanced by ``count`` and written back (fsync, rename) under a lock, so
    values handed out are never handed out again, by us or after a crash. A value spec-kitty wrote
    meanwhile is respected (its ``tick`` only ever raises the file's value), and a missing or
    unreadable file starts from 0 as spec-kitty's own loader does.
    """
    from datetime import UTC, datetime

    path = clock_file()
    with interprocess_lock(paths.lock_file_for(path)):
        value, recorded_node = 0, node
        try:
            data = json.loads(path.read_bytes())
            if isinstance(data, dict):
                found = data.get("value")
                value = found if isinstance(found, int) and not isinstance(found, bool) and found > 0 else 0
                recorded_node = str(data.get("node_id") or node)
        except (OSError, ValueError):
            pass
        high = value + max(count, 0)
        atomic_write_text(path, json.dumps({"value": high, "node_id": recorded_node,
                                            "updated_at": datetime.now(UTC).isoformat()}, indent=2), mode=0o600)
    return value + 1


def git_state(repo_root: Path) -> tuple[str | None, str | None]:
    """(branch, head commit) of the repository, None where git has no answer (no commit yet, no git)."""
    import subprocess

    def ask(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=repo_root, capture_output=True, text=True, errors="replace",
                                 timeout=10, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
        except (OSError, subprocess.SubprocessError):
            return None
        text = out.stdout.strip()
        return text if out.returncode == 0 and text and text != "HEAD" else None

    return ask("symbolic-ref", "--short", "-q", "HEAD"), ask("rev-parse", "-q", "--verify", "HEAD")
