"""The HTTP layer around the Streamlit app (Starlette routes and middleware for ``st.App``).

* ``/api/session?ticket=…``: turns a one-time login ticket into the session cookie
  (HttpOnly, SameSite=Strict; Secure behind HTTPS) and sends the browser to its landing
  page. ``/api/logout`` ends the session and clears the cookie. See
  :mod:`healthmap.sessions`.
* Security headers on every response: no framing by other sites, no MIME sniffing, no
  referrer.
* ``/_stcore/upload_file/…`` only for a logged-in user whose role may upload a file;
  ``/_stcore/metrics`` not served.
* At start (``lifespan``), the pages' first views are read in the background
  (:mod:`warmup`).
"""

from __future__ import annotations

import contextlib
import functools
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.routing import Route

from healthmap import access, pagespec, sessions
from healthmap.config import database_url
from healthmap.db import make_engine

SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


@contextlib.asynccontextmanager
async def lifespan(_app):
    """The server's start and stop: at start, the pages' first views are read in the
    background (:mod:`warmup`), so the first visitor after a restart need not wait."""
    import warmup

    warmup.start(database_url())
    yield


@functools.cache
def _engine(url: str):
    return make_engine(url)


def engine():
    return _engine(database_url())


def _cookie_header(token: str, secure: bool, max_age: int) -> str:
    parts = [f"{sessions.COOKIE}={token}", "Path=/", "HttpOnly", "SameSite=Strict",
             f"Max-Age={max_age}"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def _secure(request) -> bool:
    return request.url.scheme == "https" or \
        request.headers.get("x-forwarded-proto", "").lower() == "https"


async def session_route(request):
    """Redeem a login ticket: set the session cookie, go to the landing page."""
    ticket = request.query_params.get("ticket", "")
    token = await run_in_threadpool(sessions.redeem_ticket, engine(), ticket) if ticket \
        else None
    if token is None:
        return RedirectResponse("/login", status_code=303)
    user, _ = await run_in_threadpool(sessions.validate, engine(), token)
    page = pagespec.BY_KEY[pagespec.landing_page(user["role"] if user else None)]
    response = RedirectResponse(f"/{page.path}", status_code=303)
    response.headers["set-cookie"] = _cookie_header(token, _secure(request),
                                                    int(sessions.ABSOLUTE.total_seconds()))
    response.headers["cache-control"] = "no-store"
    return response


async def logout_route(request):
    """End the session (if any) and clear the cookie."""
    token = request.cookies.get(sessions.COOKIE)
    if token:
        await run_in_threadpool(sessions.end_session, engine(), token, "logout")
    response = RedirectResponse("/login", status_code=303)
    response.headers["set-cookie"] = _cookie_header("", _secure(request), 0)
    return response


def routes() -> list[Route]:
    return [Route("/api/session", session_route), Route("/api/logout", logout_route)]


def _cookie_token(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar = SimpleCookie()
            jar.load(value.decode("latin-1"))
            if sessions.COOKIE in jar:
                return jar[sessions.COOKIE].value
    return None


def may_upload(token: str | None) -> bool:
    """Whether the browser holding this session cookie may send files."""
    user, _ = sessions.validate(engine(), token)
    return user is not None and access.can(access.Actor.from_user(user), "upload")


class GuardMiddleware:
    """Pure ASGI middleware: security headers; uploads only for users who may upload;
    no public metrics."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if path.startswith("/_stcore/metrics"):
            return await PlainTextResponse("not found", 404)(scope, receive, send)
        if path.startswith("/_stcore/upload_file") and scope.get("method") in ("PUT", "POST"):
            allowed = await run_in_threadpool(may_upload, _cookie_token(scope))
            if not allowed:
                return await PlainTextResponse("login required", 403)(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def middleware() -> list[Middleware]:
    return [Middleware(GuardMiddleware)]


def query_ticket(query: str) -> str | None:
    """The ticket of a query string (helper for tests).

    >>> query_ticket("ticket=abc&x=1")
    'abc'
    """
    return (parse_qs(query).get("ticket") or [None])[0]
