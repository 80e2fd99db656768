"""The saved fold of a big mission log, so a command reads only the rows appended since the last read.

spec-kitty logs only grow (rows are appended), and the fold (``fold.Fold``) does not depend on row
order, so a fold saved with the byte offset it covers, plus the rows after that offset, gives exactly
the snapshot a fold of the whole log gives: rows appended with an earlier ``at``, or repeating an
``event_id`` already folded, land where a full fold puts them.

Where: ``<repo>/.kittify/cache/missions/`` (the folder ``.kittify/cache/`` carries its own ``.gitignore``
with ``*``, as pytest's and ruff's caches do); never under the home dir, so it is written with the
rollout flag off too. Only logs of at least ``CACHE_MIN_BYTES`` are cached: below that a full fold
costs less than the cache's own bookkeeping, and small repositories stay free of cache folders.

Per mission: ``<slug>.json`` (the fold's small state, the offset and line count it covers, the
malformed lines found so far, and the SHA-256 of the log prefix it covers, hashed as the fold read it)
and ``<slug>.<id>.ids`` (the event-id table of ``eventids.EventIds``, mapped read-only when loaded; ids
seen since are listed in the JSON until they are many enough to be worth writing a new table).

Trust (``orchestrator.missions.logproof``): a log's identity is its content, never its inode (git hands a
checked-out file back with the same inode). The saved fold is used only once the log's bytes before its
offset hash as the ones it folded did, or when the log's whole ``stat`` proves it unwritten since the
fold read it; anything else (a rewritten, truncated or replaced log, another branch's log of the same
size, a corrupt or missing cache file, another version) means a fold from scratch. Writers take a
non-blocking ``flock`` per mission (a busy lock means another process is saving: skip), write temp
files and ``os.replace`` them, and make the table durable before the JSON that names it. A cache
failure never fails a command.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, cast

from orchestrator.home.paths import EVENTS_FILE
from orchestrator.missions import logproof
from orchestrator.missions.eventids import EventIds
from orchestrator.missions.fold import Fold, fold_lines, fold_tail
from orchestrator.missions.log import NotARegularFile, Problem, StatusRow, open_regular

VERSION = 3  # 2: id tables of any number of slots (``ids.slots``), not a power of two; 3: content-proven prefix
CACHE_MIN_BYTES = 2 << 20  # ~3k rows of spec-kitty's mean 684 B
EDGE = 64 << 10  # bytes sampled to estimate the rows of a log
DELTA_MAX = 4096  # ids listed in the JSON before a new table file is worth writing
CACHE_DIR = (".kittify", "cache")


def cache_dir(folder: Path, view: str = "missions") -> Path:
    """``<repo>/.kittify/cache/<view>`` for ``<repo>/kitty-specs/<slug>`` (``missions``: the fold
    ``status`` shows; ``held``: the sync's fold of the rows the server holds)."""
    return folder.parent.parent.joinpath(*CACHE_DIR, view)


def real_folders(where: Path) -> bool:
    """Whether ``<repo>/.kittify``, its ``cache`` and ``where`` are each a real folder or absent, never a
    link: a ``.kittify/cache`` committed as a link to a folder outside the repository must not let a
    read of the log write files there, or delete them. Otherwise the cache is done without."""
    from stat import S_ISDIR

    repo = where.parent.parent.parent
    for folder in (repo / CACHE_DIR[0], repo.joinpath(*CACHE_DIR), where):
        try:
            if not S_ISDIR(os.lstat(folder).st_mode):
                return False
        except FileNotFoundError:
            return True  # the writer creates the rest as real folders
        except OSError:
            return False
    return True


def _nothing() -> None:
    return None


def fold_mission(folder: Path, *, save: bool, view: str = "missions", end: int | None = None,
                 admit: Callable[[dict[str, Any]], bool] | None = None,
                 exclude: Collection[str] = ()) -> tuple[Fold, list[Problem], Callable[[], None]]:
    """The mission's fold, its malformed lines, and a function that saves the fold (a no-op when there
    is nothing worth saving). With ``save`` the fold is saved before returning; without, the caller saves
    later (the append under the log's lock: only once its move succeeded).

    The sync folds another view of the log: only ``[0, end)`` (what it scanned), only rows ``admit``
    takes, never a row whose ``event_id`` is in ``exclude`` (not held by the server). A saved fold that
    holds an excluded id is not used, and a fold that excluded rows is not saved: rows excluded now may
    be held later, and a saved fold can only grow.
    """
    path = folder / EVENTS_FILE
    try:
        handle = open_regular(path)
    except (FileNotFoundError, NotADirectoryError):
        return Fold(folder.name), [], _nothing
    except NotARegularFile:
        return Fold(folder.name), [Problem(path, 0, "")], _nothing  # line 0: the whole file (see log.problem_line)
    where = cache_dir(folder, view)
    with handle:
        fd = handle.fileno()
        stat = os.fstat(fd)
        seen = logproof.seen(stat)  # before the first byte is read
        limit = stat.st_size if end is None else min(end, stat.st_size)
        big = limit >= CACHE_MIN_BYTES
        loaded = _load(where, folder, fd, stat, limit) if big else None
        if loaded is not None and (loaded.offset > limit or any(i in loaded.fold.seen for i in exclude)):
            loaded.fold.seen.close()
            loaded = None
        running: Any = None
        if loaded is None:
            fold = Fold(folder.name, EventIds(_expected_rows(handle, limit)))
            offset, line = 0, 0
            problems: list[Problem] = []
            running = logproof.new_hash() if big else None
        else:
            fold, offset, line, problems, running = loaded
            handle.seek(offset)
        add = fold.add
        if admit is not None or exclude:
            def add(row: StatusRow) -> None:
                if (admit is None or admit(cast("dict[str, Any]", row))) and row.get("event_id") not in exclude:
                    fold.add(row)
        lines: Iterable[bytes] = handle if end is None else _bounded(handle, offset, limit)
        if running is not None:
            lines = _hashed(lines, running)
        line, tail = fold_lines(add, lines, path, line, problems)
        done = (handle.tell() if end is None else limit) - len(tail)
        saving = _nothing
        if running is not None and not tail and not exclude and (loaded is None or done > offset):
            digest = running.digest()

            def saving() -> None:
                _save(where, folder, fold, seen, done, line, problems, digest)
        if save:
            saving()
            saving = _nothing
        if tail:  # a line still being written: folded for this read, never saved (it may yet change)
            fold_tail(add, tail, path, line + 1, problems)
    return fold, problems, saving


def _hashed(lines: Iterable[bytes], running: Any) -> Iterator[bytes]:
    """``lines``, each complete one (ending in a newline) added to the running prefix hash as it is read:
    the digest saved with the fold covers exactly the bytes it folded, at no second read."""
    update = running.update
    for raw in lines:
        if raw[-1:] == b"\n":
            update(raw)
        yield raw


class Growing:
    """A view's saved fold, grown by rows another reader parsed: the sync's log scan hands it the rows
    of each step it commits, so a first sync parses each row once, not once to queue and once to fold.

    Grows from the start of the log, or from where the saved fold stops when the scan's hash of the
    bytes before its first step is the saved fold's (the scan proved that prefix: no read here), and
    only with the steps that follow each other from there; anything else (another file, a gap, another
    prefix) and it stops growing (``held_lanes`` then folds the rest itself). Never raises: it is an
    optimisation."""

    def __init__(self, folder: Path, view: str, admit: Callable[[dict[str, Any]], bool]) -> None:
        self.folder, self.where, self.admit = folder, cache_dir(folder, view), admit
        self.fold: Fold | None = None
        self.live = False  # whether feeding may still grow a fold
        self.start = self.offset = self.expected = 0
        self.seen: logproof.Seen | None = None
        self.digest = b""
        try:
            with open_regular(folder / EVENTS_FILE) as handle:
                stat = os.fstat(handle.fileno())
                if stat.st_size < CACHE_MIN_BYTES:
                    return
                self.expected = _expected_rows(handle, stat.st_size)
        except OSError:
            return
        self.live = True

    def _begin(self, start: int, before: bytes) -> bool:
        """The fold the first step grows: a fresh one at offset 0, else the saved one ending at ``start``
        whose prefix hash is ``before``."""
        if start == 0:
            self.fold = Fold(self.folder.name, EventIds(self.expected))
        else:
            state = _read_state(self.where, self.folder) if real_folders(self.where) else None
            if state is None or state["log"]["offset"] != start or state["log"]["digest"] != before.hex():
                return False
            opened = _open_state(state, self.where, self.folder)
            if opened is None:
                return False
            self.fold = opened[0]
        self.start = self.offset = start
        return True

    def feed(self, seen: logproof.Seen, start: int, end: int, rows: list[dict[str, Any]], before: bytes,
             after: bytes) -> None:
        if not self.live:
            return
        try:
            if self.fold is None and not self._begin(start, before):
                self.close()
                return
        except Exception:  # noqa: BLE001 - a saved fold that cannot be read whole is never grown
            self.close()
            return
        if start != self.offset or (self.seen is not None and (seen.dev, seen.ino) != (self.seen.dev, self.seen.ino)):
            self.close()
            return
        assert self.fold is not None
        self.seen, self.digest = seen, after
        add, admit = self.fold.add, self.admit
        for row in rows:
            if admit(row):
                add(cast(StatusRow, row))
        self.offset = end

    def save(self) -> None:
        """Save what was grown (only up to a newline: a last line without one is read again later)."""
        if self.fold is None or self.seen is None or self.offset <= self.start:
            return
        try:
            with open_regular(self.folder / EVENTS_FILE) as handle:
                if os.pread(handle.fileno(), 1, self.offset - 1) != b"\n":
                    return
        except OSError:
            return
        _save(self.where, self.folder, self.fold, self.seen, self.offset, 0, [], self.digest)

    def close(self) -> None:
        self.live = False
        if self.fold is not None:
            self.fold.seen.close()
        self.fold = None


def _bounded(handle: Any, position: int, limit: int) -> Iterator[bytes]:
    """The lines of ``handle`` from ``position`` up to byte ``limit`` (a line crossing it is cut there)."""
    for raw in handle:
        if position + len(raw) >= limit:
            if limit > position:
                yield raw[: limit - position]
            return
        position += len(raw)
        yield raw


def _expected_rows(handle: Any, size: int) -> int:
    """Rows in the log, estimated from its first 64 KiB (sizes the id table once, no regrowth)."""
    sample = handle.read(EDGE)
    handle.seek(0)
    lines = sample.count(b"\n")
    if not lines or size <= len(sample):
        return lines + 1
    return int(size / (len(sample) / lines) * 1.05) + 16


class Loaded(NamedTuple):
    """A saved fold proven to describe ``[0, offset)`` of the log, and the running hash of that prefix."""

    fold: Fold
    offset: int
    lines: int
    problems: list[Problem]
    running: Any


def _read_state(where: Path, folder: Path) -> dict[str, Any] | None:
    """The saved fold's JSON when it is of this version and mission (not yet proven), else None."""
    try:
        state = json.loads((where / f"{folder.name}.json").read_bytes())
        if state["version"] != VERSION or state["slug"] != folder.name:
            return None
        log = state["log"]
        if not (isinstance(log["offset"], int) and isinstance(log["digest"], str)):
            return None
        return state if isinstance(state, dict) else None
    except Exception:  # noqa: BLE001 - a cache that cannot be read whole is never trusted: fold from scratch
        return None


def _load(where: Path, folder: Path, fd: int, stat: os.stat_result, limit: int) -> Loaded | None:
    """The saved fold when it still describes a prefix of this very log's content, else None.

    Proven by the log's ``stat`` (unwritten since the fold read it: no read) or by hashing the prefix it
    covers. A fold trusted by ``stat`` that must grow gets its running hash by that hashing too."""
    state = _read_state(where, folder) if real_folders(where) else None
    if state is None:
        return None
    try:
        log = state["log"]
        offset, digest = int(log["offset"]), bytes.fromhex(str(log["digest"]))
        if not 0 < offset <= stat.st_size:
            return None
        same = logproof.Seen(int(log["dev"]), int(log["ino"]), int(log["size"]), int(log["mtime_ns"]),
                             int(log["ctime_ns"]), bool(log["settled"])).same_file(stat)
        running = None
        if not same or limit > offset:
            running = logproof.prove(fd, offset, digest)
            if running is None:
                return None
        opened = _open_state(state, where, folder)
        if opened is None:
            return None
        fold, lines, problems = opened
        return Loaded(fold, offset, lines, problems, running)
    except Exception:  # noqa: BLE001 - a cache that cannot be read whole is never trusted: fold from scratch
        return None


def _open_state(state: dict[str, Any], where: Path, folder: Path) -> tuple[Fold, int, list[Problem]] | None:
    """The fold, line count and malformed lines a saved state holds (its id table mapped), else None."""
    ids_state = state["ids"]
    table = where / str(ids_state["file"])
    if table.parent != where or not table.name.startswith(f"{folder.name}."):
        return None
    slots = int(ids_state["slots"])
    table_fd = os.open(table, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        if slots <= 0 or os.fstat(table_fd).st_size != 16 * slots:
            return None
        ids = EventIds.over_file(table_fd, slots, int(ids_state["used"]), list(ids_state["strings"]),
                                 list(ids_state["delta"]))
        ids.base_name = table.name
    finally:
        os.close(table_fd)
    fold = Fold.from_state(folder.name, state["fold"], ids)
    path = folder / EVENTS_FILE
    problems = [Problem(path, int(number), str(reason)) for number, reason in state["problems"]]
    return fold, int(state["log"]["lines"]), problems


def _save(where: Path, folder: Path, fold: Fold, seen: logproof.Seen, offset: int, lines: int,
          problems: list[Problem], digest: bytes) -> None:
    """Save the fold covering ``[0, offset)`` of the log (``digest``: the hash of those bytes as folded,
    ``seen``: the log's stat before they were read); any failure leaves the old cache (or none)."""
    with contextlib.suppress(OSError):
        _write(where, folder, fold, seen, offset, lines, problems, digest)


def _write(where: Path, folder: Path, fold: Fold, seen: logproof.Seen, offset: int, lines: int,
           problems: list[Problem], digest: bytes) -> None:
    from orchestrator.missions.ulid import new_ulid

    if not real_folders(where):
        return
    where.mkdir(parents=True, exist_ok=True)
    if not real_folders(where):  # a link swapped in while the folders were made
        return
    ignore = where.parent / ".gitignore"
    if not ignore.exists():
        _replace(ignore, b"# spec-kitty-sync's cache: never committed\n*\n")
    lock_fd = os.open(where / f"{folder.name}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another process is saving this mission's fold right now
        ids = fold.seen
        name = None
        if (ids.base is not None and len(ids.delta) <= max(DELTA_MAX, ids.base_used // 8)
                and (where / ids.base_name).is_file()):
            name = ids.base_name  # tables are never rewritten in place: the one we mapped is still right
        if name is None:
            ids.merge_base()
            name = f"{folder.name}.{new_ulid()}.ids"
            _replace(where / name, ids.table_bytes(), durable=True)
        state = {
            "version": VERSION, "slug": folder.name,
            "log": {"dev": seen.dev, "ino": seen.ino, "size": seen.size, "mtime_ns": seen.mtime_ns,
                    "ctime_ns": seen.ctime_ns, "settled": seen.settled, "offset": offset, "lines": lines,
                    "digest": digest.hex()},
            "ids": {"file": name, "slots": ids.base_slots if ids.base is not None else ids.slots,
                    "used": ids.base_used if ids.base is not None else ids.used,
                    "strings": sorted(ids.strings), "delta": sorted(ids.delta)},
            "fold": fold.state(),
            "problems": [[problem.line, problem.reason] for problem in problems],
        }
        _replace(where / f"{folder.name}.json", json.dumps(state, separators=(",", ":")).encode())
        for old in where.glob(f"{folder.name}.*.ids"):
            if old.name != name:
                with contextlib.suppress(OSError):
                    old.unlink()
    finally:
        os.close(lock_fd)


def _replace(path: Path, data: bytes | memoryview, *, durable: bool = False) -> None:
    """Temp file beside ``path`` then ``os.replace``: readers see the old file or the new one."""
    from orchestrator.home.fsutil import atomic_write_bytes

    atomic_write_bytes(path, data, mode=0o644, durable=durable)
