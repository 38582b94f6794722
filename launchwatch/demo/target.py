"""A sample subscription dashboard to monitor, with a few deliberate flaws.

The flaws give the demo something to find. The billing API returns data
without a session and the reports API is slow. One endpoint fails every
third request. The login cookie lacks the Secure flag, and HTTPS responses
carry no Strict-Transport-Security header.
"""

from __future__ import annotations

import asyncio
import secrets

from aiohttp import web

SESSION_COOKIE = "coachly_session"
DEMO_USER = "coach@example.test"
DEMO_PASSWORD = "demo-password"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - Coachly</title>
<script src="/static/app.js" defer></script></head>
<body><h1>{title}</h1>{body}</body></html>
"""

# A made-up key that a frontend bundle should never carry.
_BUNDLE = """// Coachly dashboard bundle
const config = { apiBase: "/api", billingKey: "sk_live_DEMO0000000000000000000000" };
export function loadDashboard() { return fetch(config.apiBase + "/dashboard"); }
"""


SESSIONS = web.AppKey("sessions", set[str])
FLAKY_CALLS = web.AppKey("flaky_calls", list[int])


def create_target_app() -> web.Application:
    app = web.Application()
    app[SESSIONS] = set()
    # A one-item list, because the app's own values are frozen once it starts.
    app[FLAKY_CALLS] = [0]
    app.router.add_get("/", _landing)
    app.router.add_get("/login", _login_form)
    app.router.add_post("/login", _login)
    app.router.add_get("/dashboard", _dashboard_page)
    app.router.add_get("/api/dashboard", _api_dashboard)
    app.router.add_get("/api/billing", _api_billing)
    app.router.add_get("/api/reports", _api_reports)
    app.router.add_get("/api/flaky", _api_flaky)
    app.router.add_get("/static/app.js", _bundle)
    app.router.add_get("/healthz", _healthz)
    return app


def create_redirector_app(https_port: int) -> web.Application:
    """Plain HTTP that sends every request to HTTPS, as a load balancer would."""

    async def redirect(request: web.Request) -> web.Response:
        host = request.host.rsplit(":", 1)[0]
        raise web.HTTPMovedPermanently(f"https://{host}:{https_port}{request.path_qs}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    return app


def _has_session(request: web.Request) -> bool:
    return request.cookies.get(SESSION_COOKIE) in request.app[SESSIONS]


async def _landing(request: web.Request) -> web.Response:
    body = '<p>Coaching programs that fit your week.</p><p><a href="/login">Log in</a></p>'
    return web.Response(text=_PAGE.format(title="Welcome to Coachly", body=body), content_type="text/html")


async def _login_form(request: web.Request) -> web.Response:
    body = (
        '<form method="post" action="/login">'
        '<label>Email <input name="email" type="email"></label>'
        '<label>Password <input name="password" type="password"></label>'
        '<button type="submit">Log in</button></form>'
    )
    return web.Response(text=_PAGE.format(title="Log in", body=body), content_type="text/html")


async def _login(request: web.Request) -> web.Response:
    form = await request.post()
    if form.get("email") != DEMO_USER or form.get("password") != DEMO_PASSWORD:
        return web.Response(status=401, text=_PAGE.format(title="Log in", body="<p>Wrong email or password.</p>"), content_type="text/html")
    token = secrets.token_urlsafe(24)
    request.app[SESSIONS].add(token)
    response = web.HTTPSeeOther("/dashboard")
    # Deliberate flaw: no Secure flag.
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Lax")
    return response


async def _dashboard_page(request: web.Request) -> web.Response:
    if not _has_session(request):
        raise web.HTTPFound("/login")
    return web.Response(text=_PAGE.format(title="Dashboard", body="<p>3 clients, 2 sessions this week.</p>"), content_type="text/html")


async def _api_dashboard(request: web.Request) -> web.Response:
    if not _has_session(request):
        return web.json_response({"error": "login required"}, status=401)
    return web.json_response({"clients": 3, "sessions_this_week": 2})


async def _api_billing(request: web.Request) -> web.Response:
    # Deliberate flaw: billing data without a session.
    return web.json_response({"plan": "pro", "next_invoice": "2027-01-01", "amount_eur": 49})


async def _api_reports(request: web.Request) -> web.Response:
    await asyncio.sleep(0.8)
    return web.json_response({"reports": []})


async def _api_flaky(request: web.Request) -> web.Response:
    calls = request.app[FLAKY_CALLS]
    calls[0] += 1
    if calls[0] % 3 == 0:
        return web.json_response({"error": "upstream unavailable"}, status=503)
    return web.json_response({"ok": True})


async def _bundle(request: web.Request) -> web.Response:
    return web.Response(text=_BUNDLE, content_type="application/javascript")


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")
