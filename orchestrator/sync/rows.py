"""What a log row is to the queue: usable (its ``event_id`` and exact text), or parked with the reason why.

A row is uploaded byte for byte as the log holds it, so the checks here read it without rewriting it:
JSON object, an ``event_id``, small enough for one request, and a ``wp_id`` the SaaS accepts. Used by
the log scan (``scan``), ``wp move``'s enqueue (``queue``) and ``sync retry`` (``deadletters``); never
raises on a bad line, so one bad line can never stop the rows after it. Standard library only.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from states.contract import WP_ID as WP_ID_ASCII  # ASCII digits, bounded: what the SaaS accepts

# One row must fit one request as an envelope: the hosted ingress refuses a batch over 512 KiB decompressed
# (the reference client's sync/sync_dispatch_core.py cites its limits.py); a bigger row is parked at scan.
MAX_ROW_BYTES = 500 * 1024

_ENCODE = json.JSONEncoder(sort_keys=True).encode  # built once: ``json.dumps(..., sort_keys=True)`` builds one per row


def event_row_text(row: dict[str, Any]) -> str:
    """A row as spec-kitty writes it to the log (``json.dumps(row, sort_keys=True)``), so a row queued
    straight from ``wp move`` uploads the same bytes a later log scan would have read."""
    return _ENCODE(row)


def event_id_of(row: object) -> str | None:
    """The idempotency key, if the row has a usable one (the server refuses a whole batch otherwise)."""
    if isinstance(row, dict):
        event_id = row.get("event_id")
        if isinstance(event_id, str) and event_id:
            return event_id
    return None


class Parked(NamedTuple):
    """A row that cannot be uploaded as it is, kept with why (the dead-letter table's row)."""

    ref: str  # its event_id, or ``line@<byte offset>`` in the log for a row without one
    text: str
    reason: str


def classify(text: str, ref: str) -> tuple[str, str] | Parked:
    """``(event_id, text)`` for a row the SaaS can take, else a :class:`Parked` saying why not.

    Never raises: a line nested too deep for the JSON parser (RecursionError) is malformed like any
    other, so one bad line can never stop the rows after it."""
    return _classify(text, ref)[0]


_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # json.loads' own C scanner, set at init


def _classify(text: str, ref: str) -> tuple[tuple[str, str] | Parked, Any]:
    """``classify``, and the parsed row (None when the text is not JSON).

    A row as spec-kitty writes it (``{`` first, nothing after the object) goes straight to the C
    scanner ``json.loads`` ends in (the same parser on the same text, without its Python layers);
    anything else, errors included, is read by ``json.loads`` itself."""
    try:
        if text[:1] != "{":
            raise ValueError
        row, end = _SCAN(text, 0)
        if end != len(text):
            raise ValueError
    except (ValueError, StopIteration, RecursionError):
        try:
            row = json.loads(text)
        except (ValueError, RecursionError) as exc:
            from states import catalog

            return Parked(ref, text, catalog.PARK_REASON_NOT_JSON.format(error=type(exc).__name__)), None
    return _classify_row(row, text, ref), row


def _classify_row(row: Any, text: str, ref: str) -> tuple[str, str] | Parked:
    """The checks of ``classify`` on a parsed row (the catalog is imported only to park one)."""
    if not isinstance(row, dict):
        from states import catalog

        return Parked(ref, text, catalog.PARK_REASON_NOT_OBJECT)
    event_id = row.get("event_id")
    if not (isinstance(event_id, str) and event_id):
        from states import catalog

        return Parked(ref, text, catalog.PARK_REASON_NO_EVENT_ID)
    if len(text) > MAX_ROW_BYTES // 4 and len(text.encode("utf-8", "surrogatepass")) > MAX_ROW_BYTES:
        from states import catalog

        size = len(text.encode("utf-8", "surrogatepass"))
        return Parked(event_id, text, catalog.PARK_REASON_TOO_LARGE.format(size=size, limit=MAX_ROW_BYTES))
    if "wp_id" in row and "to_lane" in row and not ("kind" in row or "event_type" in row or "type" in row):
        wp_id = row["wp_id"]
        if not (isinstance(wp_id, str) and wp_id.isascii() and WP_ID_ASCII.fullmatch(wp_id)):
            from states import catalog

            return Parked(event_id, text, catalog.PARK_REASON_BAD_WP)
    return event_id, text


def parse_lines(chunk: bytes, offset: int,
                 rows: list[dict[str, Any]] | None = None) -> tuple[list[tuple[str, str]], list[Parked]]:
    """Usable rows and parked ones among the complete lines of ``chunk`` (which starts at ``offset``).

    With ``rows``, every line that ``json.loads`` (of the line's bytes, as the lane fold reads it)
    makes an object is also appended there, in log order, parked or not: the sync folds lanes from
    the same parse (see ``scan_log``)."""
    found: list[tuple[str, str]] = []
    parked: list[Parked] = []
    position = offset
    for raw in chunk.split(b"\n"):
        at, position = position, position + len(raw) + 1
        if not raw.strip():
            continue
        ref = f"line@{at}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            parked.append(Parked(ref, raw.decode("utf-8", "replace"), _not_json("UnicodeDecodeError")))
            if rows is not None:
                _object_of(raw, rows)
            continue
        outcome, row = _classify(text, ref)
        (parked if isinstance(outcome, Parked) else found).append(outcome)  # type: ignore[arg-type]
        if rows is not None:
            if isinstance(row, dict):
                rows.append(row)
            elif row is None:  # not JSON as UTF-8 text; json.loads of the bytes may still read it
                _object_of(raw, rows)  # (a UTF-8 BOM, UTF-16): the fold's reader does
    return found, parked


def _object_of(raw: bytes, rows: list[dict[str, Any]]) -> None:
    try:
        row = json.loads(raw)
    except (ValueError, RecursionError):
        return
    if isinstance(row, dict):
        rows.append(row)


def _not_json(error: str) -> str:
    from states import catalog

    return catalog.PARK_REASON_NOT_JSON.format(error=error)


def complete_object(raw: bytes) -> bool:
    """Whether a last line without its newline is already a whole JSON object (an editor's last line),
    rather than a row still being written: only then is it queued before its newline arrives."""
    if not raw.strip().endswith(b"}"):
        return False
    try:
        return isinstance(json.loads(raw), dict)
    except (ValueError, RecursionError):
        return False

