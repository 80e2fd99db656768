"""The old per-mission event upload (the tracker itself moved to ``trackerapi``)."""

from __future__ import annotations

from aiohttp import web

from devsaas.api import (
    STORE,
    authorize,
    body_text,
    now,
    scope,
)
from devsaas.rows import split_event_rows


async def events_upload(request: web.Request) -> web.Response:
    project, mission = scope(request)
    authorize(request, project, claim=True)  # the first uploader owns the project
    store = request.app[STORE]
    rows = split_event_rows(await body_text(request))
    stored = store.insert_events(project, mission, rows, now(request))
    acked = list(dict.fromkeys(event_id for event_id, _ in rows))
    return web.json_response({"acked": acked, "stored": stored, "duplicates": len(rows) - stored})
