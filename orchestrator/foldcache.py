"""The saved fold of a big mission log, so a command reads only the rows appended since the last read.

spec-kitty logs only grow (rows are appended), and the fold (``missions.Fold``) does not depend on row
order, so a fold saved with the byte offset it covers, plus the rows after that offset, gives exactly
the snapshot a fold of the whole log gives: rows appended with an earlier ``at``, or repeating an
``event_id`` already folded, land where a full fold puts them.

Where: ``<repo>/.kittify/cache/missions/`` (the folder ``.kittify/cache/`` carries its own ``.gitignore``
with ``*``, as pytest's and ruff's caches do); never under the home dir, so it is written with the
rollout flag off too. Only logs of at least ``CACHE_MIN_BYTES`` are cached: below that a full fold
costs less than the cache's own bookkeeping, and small repositories stay free of cache folders.

Per mission: ``<slug>.json`` (the fold's small state, the offset and line count it covers, the
malformed lines found so far, and a fingerprint of the log prefix it covers) and ``<slug>.<id>.ids``
(the event-id table of ``eventids.EventIds``, mapped read-only when loaded; ids seen since are listed in
the JSON until they are many enough to be worth writing a new table).

Trust: the saved fold is used only if the log is the same file (device, inode), at least as long as
the offset, and the prefix still has the same fingerprint (CRC-32 of its first and last 64 KiB and of
32 blocks of 4 KiB spread over it) and, when it has not grown since, the same modification time;
anything else (a rewritten, truncated or replaced log, a corrupt or
missing cache file, another version) means a fold from scratch. Writers take a non-blocking ``flock``
per mission (a busy lock means another process is saving: skip), write temp files and ``os.replace``
them, and make the table durable before the JSON that names it. A cache failure never fails a command.
(Not detected: an edit in place that keeps the inode, grows the file and leaves every fingerprinted
block as it was; spec-kitty appends, and git replaces the file with new content.)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any, BinaryIO

from orchestrator.eventids import EventIds
from orchestrator.paths import EVENTS_FILE

if TYPE_CHECKING:
    from orchestrator.missions import Fold, Problem

VERSION = 2  # 2: id tables of any number of slots (``ids.slots``), not a power of two
CACHE_MIN_BYTES = 2 << 20  # ~3k rows of spec-kitty's mean 684 B
EDGE = 64 << 10
BLOCK = 4 << 10
SAMPLES = 32
DELTA_MAX = 4096  # ids listed in the JSON before a new table file is worth writing
CACHE_DIR = (".kittify", "cache")


def cache_dir(folder: Path, view: str = "missions") -> Path:
    """``<repo>/.kittify/cache/<view>`` for ``<repo>/kitty-specs/<slug>`` (``missions``: the fold
    ``status`` shows; ``held``: the sync's fold of the rows the server holds)."""
    return folder.parent.parent.joinpath(*CACHE_DIR, view)


def _nothing() -> None:
    return None


class NotARegularFile(OSError):
    """A mission log that is a FIFO, a device (a link to /dev/zero) or a folder: never read."""


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading only when it is a regular file: a FIFO would block the open until a
    writer comes, and a device such as /dev/zero would feed the reader forever. The open does not wait
    (``O_NONBLOCK``), ``fstat`` of the opened file decides, so a swap between a look and the open cannot
    slip one in."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not S_ISREG(os.fstat(fd).st_mode):
            raise NotARegularFile(errno.EINVAL, "not a regular file", os.fspath(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


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
    from orchestrator.missions import Fold, Problem, fold_lines, fold_tail

    path = folder / EVENTS_FILE
    try:
        handle = open_regular(path)
    except (FileNotFoundError, NotADirectoryError):
        return Fold(folder.name), [], _nothing
    except NotARegularFile:
        return Fold(folder.name), [Problem(path, 0, "")], _nothing  # line 0: the whole file (see missions)
    where = cache_dir(folder, view)
    with handle:
        fd = handle.fileno()
        stat = os.fstat(fd)
        limit = stat.st_size if end is None else min(end, stat.st_size)
        big = limit >= CACHE_MIN_BYTES
        loaded = _load(where, folder, fd, stat) if big else None
        if loaded is not None and (loaded[1] > limit or any(i in loaded[0].seen for i in exclude)):
            loaded[0].seen.close()
            loaded = None
        if loaded is None:
            fold = Fold(folder.name, EventIds(_expected_rows(handle, limit)))
            offset, line = 0, 0
            problems: list[Problem] = []
        else:
            fold, offset, line, problems = loaded
            handle.seek(offset)
        add = fold.add
        if admit is not None or exclude:
            def add(row: dict[str, Any]) -> None:
                if (admit is None or admit(row)) and row.get("event_id") not in exclude:
                    fold.add(row)
        lines = handle if end is None else _bounded(handle, offset, limit)
        line, tail = fold_lines(add, lines, path, line, problems)
        done = (handle.tell() if end is None else limit) - len(tail)
        saving = _nothing
        if big and not tail and not exclude and (loaded is None or done > offset):
            def saving() -> None:
                _save(where, folder, fold, stat, done, line, problems)
        if save:
            saving()
            saving = _nothing
        if tail:  # a line still being written: folded for this read, never saved (it may yet change)
            fold_tail(add, tail, path, line + 1, problems)
    return fold, problems, saving


class Growing:
    """A view's saved fold, grown by rows another reader parsed: the sync's log scan hands it the rows
    of each step it commits, so a first sync parses each row once, not once to queue and once to fold.

    Grows only from where the saved fold stops, and only with the steps of the same file that follow
    each other from there; anything else (another file, a gap) and it stops growing (``held_lanes``
    then folds the rest itself). Never raises: it is an optimisation."""

    def __init__(self, folder: Path, view: str, admit: Callable[[dict[str, Any]], bool]) -> None:
        from orchestrator.missions import Fold

        self.folder, self.where, self.admit = folder, cache_dir(folder, view), admit
        self.fold: Fold | None = None
        self.start = self.offset = 0
        self.stat: os.stat_result | None = None
        try:
            with open_regular(folder / EVENTS_FILE) as handle:
                stat = os.fstat(handle.fileno())
                if stat.st_size < CACHE_MIN_BYTES:
                    return
                loaded = _load(self.where, folder, handle.fileno(), stat)
                if loaded is None:
                    self.fold = Fold(folder.name, EventIds(_expected_rows(handle, stat.st_size)))
                else:
                    self.fold, self.start = loaded[0], loaded[1]
        except OSError:
            return
        self.offset = self.start

    def feed(self, stat: os.stat_result, start: int, end: int, rows: list[dict[str, Any]]) -> None:
        if self.fold is None:
            return
        if start != self.offset or (self.stat is not None and (stat.st_dev, stat.st_ino) != (
                self.stat.st_dev, self.stat.st_ino)):
            self.close()
            return
        self.stat = stat
        add, admit = self.fold.add, self.admit
        for row in rows:
            if admit(row):
                add(row)
        self.offset = end

    def save(self) -> None:
        """Save what was grown (only up to a newline: a last line without one is read again later)."""
        if self.fold is None or self.stat is None or self.offset <= self.start:
            return
        try:
            with open_regular(self.folder / EVENTS_FILE) as handle:
                if os.pread(handle.fileno(), 1, self.offset - 1) != b"\n":
                    return
        except OSError:
            return
        _save(self.where, self.folder, self.fold, self.stat, self.offset, 0, [])

    def close(self) -> None:
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


def fingerprint(fd: int, offset: int) -> list[int]:
    """CRC-32s of the prefix ``[0, offset)``: its first and last 64 KiB and 32 blocks of 4 KiB spread over it."""
    import zlib  # only cached (big) logs are fingerprinted

    spans = [(0, min(EDGE, offset)), (max(0, offset - EDGE), min(EDGE, offset))]
    for k in range(1, SAMPLES + 1):
        start = (offset * k) // (SAMPLES + 1)
        spans.append((start, min(BLOCK, offset - start)))
    return [zlib.crc32(os.pread(fd, length, start)) if length > 0 else 0 for start, length in spans]


def _load(where: Path, folder: Path, fd: int, stat: os.stat_result) -> tuple[Fold, int, int, list[Problem]] | None:
    """The saved fold when it still describes a prefix of this very log, else None (fold from scratch)."""
    from orchestrator.missions import Fold, Problem

    try:
        state = json.loads((where / f"{folder.name}.json").read_bytes())
        log, ids_state = state["log"], state["ids"]
        if (state["version"] != VERSION or state["slug"] != folder.name or log["dev"] != stat.st_dev
                or log["ino"] != stat.st_ino):
            return None
        if stat.st_size == log["size"] and stat.st_mtime_ns != log["mtime_ns"]:
            return None  # changed without growing: rewritten, not appended
        offset = int(log["offset"])
        if not 0 < offset <= stat.st_size or os.pread(fd, 1, offset - 1) != b"\n":
            return None
        if fingerprint(fd, offset) != log["print"]:
            return None
        table = where / str(ids_state["file"])
        if table.parent != where or not table.name.startswith(f"{folder.name}."):
            return None
        slots = int(ids_state["slots"])
        table_fd = os.open(table, os.O_RDONLY)
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
        return fold, offset, int(log["lines"]), problems
    except Exception:  # a cache that cannot be read whole is never trusted: fold from scratch
        return None


def _save(where: Path, folder: Path, fold: Fold, stat: os.stat_result, offset: int, lines: int,
          problems: list[Problem]) -> None:
    """Save the fold covering ``[0, offset)`` of the log; any failure leaves the old cache (or none)."""
    with contextlib.suppress(OSError):
        _write(where, folder, fold, stat, offset, lines, problems)


def _write(where: Path, folder: Path, fold: Fold, stat: os.stat_result, offset: int, lines: int,
           problems: list[Problem]) -> None:
    from orchestrator.ulid import new_ulid

    where.mkdir(parents=True, exist_ok=True)
    ignore = where.parent / ".gitignore"
    if not ignore.exists():
        _replace(ignore, b"# spec-kitty-sync's cache: never committed\n*\n")
    lock_fd = os.open(where / f"{folder.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
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
        with open_regular(folder / EVENTS_FILE) as log:
            now = os.fstat(log.fileno())
            if (now.st_dev, now.st_ino) != (stat.st_dev, stat.st_ino) or now.st_size < offset:
                return  # replaced meanwhile: this fold describes a file that is gone
            printed = fingerprint(log.fileno(), offset)
        state = {
            "version": VERSION, "slug": folder.name,
            "log": {"dev": stat.st_dev, "ino": stat.st_ino, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                    "offset": offset, "lines": lines, "print": printed},
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
    from orchestrator.fsutil import atomic_write_bytes

    atomic_write_bytes(path, data, mode=0o644, durable=durable)
