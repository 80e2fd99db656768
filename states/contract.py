"""The names both ends of the wire agree on: project keys and mission slugs, work-package ids, lanes.

The runtime (``orchestrator.missions.folders``, ``orchestrator.missions.moves``, ``orchestrator.sync.rows``,
``states.lanes``) and the dev SaaS (``devsaas.api``) import these instead of writing their own, so what the
CLI sends is what the server accepts; ``tests/test_contract.py`` checks both ends use them. Pure data,
like the rest of ``states/``.
"""

from __future__ import annotations

import re

# A project key or a mission slug (docs/api.md): a letter or digit, then up to 127 of letters, digits, `._-`.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

# A work-package id: `WP` and 1 to 4 ASCII digits (spec-kitty numbers them WP01, WP02, ...); `\d` would
# also take other scripts' digits, and an unbounded number would let a typo invent WP0000000001.
WP_ID_DIGITS = 4
WP_ID = re.compile(rf"WP[0-9]{{1,{WP_ID_DIGITS}}}")

# spec-kitty 3.2.7's nine lanes, in its order (tests/fixtures/lane-transitions.json).
LANES: tuple[str, ...] = (
    "planned", "claimed", "in_progress", "for_review", "in_review", "approved", "done", "blocked", "canceled",
)

# The Spec Kitty SaaS event endpoint and the sync protocol version its header names (the reference
# client's delivery/receivers.py); the client sends to it and `sync explain` names it.
EVENTS_BATCH_PATH = "/api/v1/events/batch/"
SYNC_PROTOCOL = "2.0"


def printable(text: str) -> str:
    """``text`` safe to write to a terminal: every character ``str.isprintable`` refuses but a space (C0/C1
    controls such as ESC and newline, bidi overrides and other format characters, line separators) shown as
    its Python escape. A folder name, a log or a host's answer then cannot move the cursor, recolour the
    screen, forge a line or hide a link: the operator sees what the bytes are."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)


def one_line(text: object, limit: int = 200) -> str:
    """A host's words as one printable line: whitespace runs become one space, any other control or format
    character is shown escaped (``printable``: a hostile host must not drive the operator's terminal), and
    a long answer is cut at ``limit`` characters."""
    shown = printable(" ".join(str(text if text is not None else "").split()))
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
