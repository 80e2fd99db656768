"""Naming a mission: the handles spec-kitty accepts, and the usage errors that list the candidates.

A mission is named by a *handle*, as spec-kitty accepts them (``resolve``): the full slug, its numeric
prefix (``082``), the slug without that prefix, or the first 8 characters of its ``mission_id``. The
mission is never guessed from modification times: with one mission it is the default; with several, a
command that acts on one mission needs ``--mission``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from orchestrator.errors import MissionChoiceError, MissionError
from orchestrator.home.paths import SPECS_DIR
from orchestrator.missions.folders import ID_PREFIX, list_missions
from orchestrator.missions.read import mission_id_of
from states import catalog
from states.contract import NAME as SLUG

NUMBERED = re.compile(r"([0-9]+)-(.+)")


def describe(folder: Path) -> str:
    """``slug (id prefix)``: how a list of candidate missions names each one."""
    mission_id = mission_id_of(folder)
    return f"{folder.name} ({mission_id[:ID_PREFIX]})" if mission_id else folder.name


def candidates(folders: Iterable[Path]) -> list[dict[str, str | None]]:
    """Missions as JSON-friendly records (``--json`` errors list them)."""
    out: list[dict[str, str | None]] = []
    for folder in folders:
        mission_id = mission_id_of(folder)
        out.append({"slug": folder.name, "mission_id": mission_id})
    return out


def _matches(folder: Path, handle: str) -> bool:
    numbered = NUMBERED.fullmatch(folder.name)
    if numbered is not None:
        number, rest = numbered.groups()
        if handle.isascii() and handle.isdigit() and int(handle) == int(number):
            return True
        if handle == rest:
            return True
    if len(handle) >= ID_PREFIX and handle.isascii() and handle.isalnum():
        mission_id = mission_id_of(folder)
        if mission_id and mission_id.upper().startswith(handle.upper()):
            return True
    return False


def resolve(root: Path | None, handle: str) -> Path:
    """The mission a handle names; an unknown or ambiguous handle is a usage error listing candidates."""
    if root is None or not (root / SPECS_DIR).is_dir():
        raise MissionError(catalog.NO_SPECS_FOLDER.format(specs=SPECS_DIR))
    folders = list_missions(root)
    exact = [f for f in folders if f.name == handle]
    if exact:
        return exact[0]
    found = [f for f in folders if _matches(f, handle)]
    if len(found) == 1:
        return found[0]
    if found:
        raise choice_error("mission_ambiguous", catalog.MISSION_AMBIGUOUS.format(handle=handle), found)
    if not folders:
        raise choice_error("mission_unknown", catalog.NO_MISSIONS.format(path=root / SPECS_DIR), [])
    raise choice_error("mission_unknown", catalog.MISSION_UNKNOWN.format(handle=handle, path=root / SPECS_DIR),
                       folders)


def choice_error(code: str, headline: str, folders: list[Path]) -> MissionChoiceError:
    """The headline, then one line per candidate mission (``slug (id prefix)``)."""
    lines = [headline, *(catalog.MISSION_CANDIDATE.format(name=describe(f)) for f in folders)]
    return MissionChoiceError(code, "\n".join(lines), headline, folders)


def require_one(root: Path | None, handle: str | None) -> None:
    """For commands that act on one mission: several missions and no ``--mission`` is a usage error."""
    if handle:
        return
    folders = list_missions(root)
    if len(folders) > 1:
        raise choice_error("mission_required", catalog.MISSION_REQUIRED.format(count=len(folders)), folders)


def resolve_slug(root: Path | None, option: str | None, cwd: Path, bound: Iterable[str] = ()) -> str:
    """Never empty: the mission ``--mission`` names (taken as given where there are no missions to
    resolve it against), the only mission, else the repository folder's name.

    With several missions and no ``--mission`` (commands that can cover every mission), the first bound
    mission in slug order, else the first mission in slug order: the one the Unbound wording names.
    """
    folders = list_missions(root)
    if option:  # a repository without missions (the quickstart's `git init` folder) binds by its name
        return resolve(root, option).name if folders else option
    if len(folders) == 1:
        return folders[0].name
    if folders:
        names = [f.name for f in folders]
        bound_set = set(bound)
        return next((name for name in names if name in bound_set), names[0])
    return (root or cwd).resolve().name or "default"


def mission_dir(root: Path | None, slug: str) -> Path:
    """The folder of an existing mission; refuses anything that is not a folder under ``kitty-specs/``."""
    if root is None or not (root / SPECS_DIR).is_dir():
        raise MissionError(catalog.NO_SPECS_FOLDER.format(specs=SPECS_DIR))
    if not SLUG.fullmatch(slug) or not (root / SPECS_DIR / slug).is_dir():
        raise MissionError(catalog.NO_SUCH_MISSION.format(slug=slug, path=root / SPECS_DIR))
    return root / SPECS_DIR / slug

