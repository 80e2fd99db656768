"""The HTML a person sees: the device-login page and its form, where a login is approved or denied."""

from __future__ import annotations

import html

from aiohttp import web

from devsaas.api import CONFIG, DEFAULT_LOGIN, STORE, ApiError, now, valid_name
from devsaas.auth import decide_device, normalize_user_code

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spec-kitty dev SaaS</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto}}
label{{display:block;margin:.5rem 0}}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""

_FORM = """<p>Approve the spec-kitty CLI login showing this code.</p>
<form method="post" action="/device">
<label>User code <input name="user_code" value="{user_code}" autocomplete="off" required></label>
<label>Login <input name="login" value="{login}" required></label>
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny">Deny</button>
</form>
"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(text=_PAGE.format(title=html.escape(title), body=body), status=status, content_type="text/html")


async def device_page(request: web.Request) -> web.Response:
    user_code = normalize_user_code(request.query.get("user_code", ""))
    return _page("Device login", _FORM.format(user_code=html.escape(user_code), login=DEFAULT_LOGIN))


async def device_form(request: web.Request) -> web.Response:
    if request.app[CONFIG].allow_remote:  # anyone who reaches /device could otherwise mint any login
        return _page("Not approved", "<p>This server is reachable from other machines: an operator approves "
                     "device codes through the loopback admin endpoint.</p>", status=403)
    form = await request.post()
    user_code = str(form.get("user_code", ""))
    login = str(form.get("login", "")).strip() or DEFAULT_LOGIN
    approve = str(form.get("action", "approve")) != "deny"
    try:
        valid_name(login, "login")
        decide_device(request.app[STORE], user_code, login, approve, now(request))
    except ApiError as exc:
        again = _FORM.format(user_code=html.escape(user_code), login=html.escape(login))
        return _page("Not approved", f"<p>{html.escape(exc.detail)}</p>{again}", status=exc.status)
    if approve:
        return _page("Device approved", "<p>Approved. You can return to your terminal.</p>")
    return _page("Device denied", "<p>Denied. The CLI login will fail.</p>")
