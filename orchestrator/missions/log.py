"""A mission's ``status.events.jsonl`` line by line: what a row is, and which lines are unusable.

Rows keyed ``kind``, ``event_type`` or ``type`` are other event kinds (the fold skips them); a malformed
line is reported with its file and line and skipped, never fatal. The log is read only when it is a
regular file (``open_regular``): a FIFO or a link to ``/dev/zero`` committed in its place is reported.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from stat import S_ISREG
from typing import Any, BinaryIO, NamedTuple, TypedDict, cast

from states import catalog


class StatusRow(TypedDict, total=False):
    """One lane-transition row of the log, keys as spec-kitty's ``agent status emit`` writes them (a move
    of ours writes every key but ``review_result`` and ``mission_id``, which it writes when it has them).

    A row *read* from a log is untrusted JSON typed as this: any key may be missing or hold another
    type, and other event kinds carry ``kind``, ``event_type`` or ``type``. So a reader checks each
    value it uses before trusting it (``fold.Fold.add``)."""

    actor: Any  # an agent's name, or spec-kitty's structured actor (role, profile, tool, model)
    at: str  # ISO 8601 with its offset: rows are ordered by (at, event_id)
    event_id: str  # a ULID; the first row with an id wins, repeats are merge debris
    evidence: dict[str, Any] | None
    execution_mode: str
    force: bool
    from_lane: str
    mission_id: str
    mission_slug: str
    policy_metadata: dict[str, Any] | None
    reason: str | None
    review_ref: str | None
    review_result: dict[str, Any] | None
    to_lane: str
    wp_id: str


# NamedTuple and a plain class rather than dataclasses: `status` imports this module on every run, and
# generating a dataclass costs ~3.6M instructions (plus ~3.4M for the dataclasses module itself).
class Problem(NamedTuple):
    path: Path
    line: int
    reason: str


def problem_line(problem: Problem) -> str:
    """The warning a reader prints for ``problem``: a skipped line, or (line 0) a log that is not a
    regular file and was not read at all."""
    if problem.line == 0:
        return catalog.LOG_NOT_REGULAR.format(path=problem.path)
    return catalog.MALFORMED_LINE.format(path=problem.path, line=problem.line, reason=problem.reason)


class Log:
    """The parsed rows of one mission's event log, with any malformed lines noted."""

    def __init__(self) -> None:
        self.rows: list[StatusRow] = []
        self.problems: list[Problem] = []


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


def parse_line(raw: bytes) -> tuple[StatusRow | None, str | None]:
    """One log line as a row, or the reason it is unusable.

    ``RecursionError`` is caught beside ``ValueError``: a 2 KB line nested 1,000 levels deep makes the
    json module recurse past the interpreter's limit, and one such line must not end the command.
    """
    try:
        row = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return None, catalog.MALFORMED_REASON_JSON.format(error=exc.__class__.__name__)
    if not isinstance(row, dict):
        return None, catalog.MALFORMED_REASON_NOT_OBJECT
    return cast(StatusRow, row), None


def read_log(path: Path) -> Log:
    """Every row of the log at ``path`` through ``json.loads`` (the reference the streamed fold of
    ``fold.fold_lines`` is tested against); no log is no rows."""
    log = Log()
    try:
        handle = open_regular(path)
    except (FileNotFoundError, NotADirectoryError):
        return log
    except NotARegularFile:
        log.problems.append(Problem(path, 0, ""))
        return log
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            row, reason = parse_line(raw)
            if row is None:
                log.problems.append(Problem(path, number, reason or ""))
                continue
            log.rows.append(row)
    return log


def is_rollback(row: StatusRow) -> bool:
    """A reviewer sending work back: to ``in_progress`` from ``in_review``, or from ``for_review`` with a
    ``review_ref``. At the same ``at`` it beats a forward move of the same work package."""
    if row.get("to_lane") != "in_progress":
        return False
    return row.get("from_lane") == "in_review" or (row.get("from_lane") == "for_review"
                                                    and bool(row.get("review_ref")))
