"""Split a batch body into its envelopes, keeping each one's exact text.

A hand-written walker over the outer JSON object; each element is parsed in place by the C scanner.
Used by the batch endpoint (``split_envelopes``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from devsaas.api import ApiError

# The batch endpoint's cap (specify_cli/sync/queue.py and delivery send at most 1000 per request).
MAX_ENVELOPES_PER_BATCH = 1000

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

    def event_rows(self, limit: int) -> list[tuple[Any, str]]:
        """Each element of the array as (parsed value, exact text); 413 ``request_too_large`` past ``limit``.

        The hot loop of an upload, hence the local aliases and the inlined whitespace skips.
        """
        self.take("[")
        rows: list[tuple[Any, str]] = []
        if self.peek() == "]":
            self.i += 1
            return rows
        text, skip, decode = self.text, _WS.match, _DECODER.raw_decode
        i = self.i
        try:
            while True:
                if len(rows) == limit:
                    raise ApiError(413, "request_too_large", f"at most {limit} events per request")
                start = skip(text, i).end()  # type: ignore[union-attr]
                row, i = decode(text, start)
                rows.append((row, text[start:i]))
                i = skip(text, i).end()  # type: ignore[union-attr]
                if text[i : i + 1] != ",":
                    break
                i += 1
        except json.JSONDecodeError as exc:
            raise ApiError(400, "invalid_request", f"body is not JSON: {exc}") from None
        self.i = i
        self.take("]")
        return rows


def split_envelopes(text: str) -> list[tuple[Any, str]]:
    """The batch endpoint's `{"events": [...]}` as (parsed element, exact text); at most 1000 elements.

    No element is judged here: the batch handler answers each one on its own (success, duplicate or
    rejected), and only an element it cannot even name turns the request into a 400 with details.
    """
    return _events_array(text, MAX_ENVELOPES_PER_BATCH)


def _events_array(text: str, limit: int) -> list[tuple[Any, str]]:
    """Parse `{"events": [...]}` into (element, raw element text) pairs.

    Envelopes are stored as the exact text the client sent. Rather than parse the whole body and
    re-dump every element (slower, and not byte-identical: escapes, float spelling, spacing), this walks
    the outer object by hand and lets the C scanner (`raw_decode`) parse each element in place, so an
    element's text is simply the slice the scanner consumed. Each element is still fully parsed.
    Other top-level keys are parsed and ignored; a repeated `events` key wins last, as in `json.loads`.
    """
    scan = _Scanner(text)
    rows: list[tuple[Any, str]] | None = None
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
                rows = scan.event_rows(limit)
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
