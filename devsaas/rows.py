"""Split an upload body into its event rows, keeping each row's exact text.

A hand-written walker over the outer JSON object; each row is parsed in place by the C scanner.
"""

from __future__ import annotations

import json
import re
from typing import Any

from devsaas.api import MAX_EVENTS_PER_REQUEST, ApiError

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")


class _Scanner:
    """Just enough of a JSON walker to find where each element of `events` starts and ends."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def peek(self) -> str:
        self.i = _WS.match(self.text, self.i).end()  # type: ignore[union-attr]  # `*` always matches
        return self.text[self.i : self.i + 1]

    def take(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.text[self.i]) if self.i < len(self.text) else "the end of the body"
            raise ApiError(400, "invalid_request", f"expected {char!r} at offset {self.i}, found {found}")
        self.i += 1

    def value(self) -> tuple[Any, str]:
        """The next JSON value, parsed by the C scanner, and the exact text it came from."""
        self.peek()
        start = self.i
        try:
            parsed, self.i = _DECODER.raw_decode(self.text, start)
        except json.JSONDecodeError as exc:
            raise ApiError(400, "invalid_request", f"body is not JSON: {exc}") from None
        return parsed, self.text[start : self.i]

    def event_rows(self) -> list[tuple[str, str]]:
        """The hot loop of an upload, hence the local aliases and the inlined whitespace skips."""
        self.take("[")
        rows: list[tuple[str, str]] = []
        if self.peek() == "]":
            self.i += 1
            return rows
        text, skip, decode = self.text, _WS.match, _DECODER.raw_decode
        i = self.i
        try:
            while True:
                if len(rows) == MAX_EVENTS_PER_REQUEST:
                    raise ApiError(413, "too_large", f"at most {MAX_EVENTS_PER_REQUEST} events per request")
                start = skip(text, i).end()  # type: ignore[union-attr]
                row, i = decode(text, start)
                if type(row) is not dict:
                    raise ApiError(400, "invalid_event", f"row {len(rows)}: not a JSON object")
                event_id = row.get("event_id")
                if type(event_id) is not str or not event_id:
                    raise ApiError(400, "invalid_event", f"row {len(rows)}: event_id must be a non-empty string")
                rows.append((event_id, text[start:i]))
                i = skip(text, i).end()  # type: ignore[union-attr]
                if text[i : i + 1] != ",":
                    break
                i += 1
        except json.JSONDecodeError as exc:
            raise ApiError(400, "invalid_request", f"body is not JSON: {exc}") from None
        self.i = i
        self.take("]")
        return rows


def split_event_rows(text: str) -> list[tuple[str, str]]:
    """Parse `{"events": [...]}` into (event_id, raw row text) pairs, validating each row.

    Rows are stored as the exact text the client sent. Rather than parse the whole body and re-dump
    every row (slower, and not byte-identical: escapes, float spelling, spacing), this walks the outer
    object by hand and lets the C scanner (`raw_decode`) parse each row in place, so a row's text is
    simply the slice the scanner consumed. Each row is still fully parsed, which is what validates it.
    Other top-level keys are parsed and ignored; a repeated `events` key wins last, as in `json.loads`.
    """
    scan = _Scanner(text)
    rows: list[tuple[str, str]] | None = None
    scan.take("{")
    if scan.peek() == "}":
        scan.i += 1
    else:
        while True:
            if scan.peek() != '"':
                scan.take('"')  # raises with the offset
            key, _ = scan.value()
            scan.take(":")
            if key == "events":
                if scan.peek() != "[":
                    raise ApiError(400, "invalid_request", "'events' must be an array")
                rows = scan.event_rows()
            else:
                scan.value()
            if scan.peek() == "}":
                scan.i += 1
                break
            scan.take(",")
    if scan.peek():
        raise ApiError(400, "invalid_request", f"unexpected data after the JSON object at offset {scan.i}")
    if rows is None:
        raise ApiError(400, "invalid_request", "'events' is required")
    return rows
