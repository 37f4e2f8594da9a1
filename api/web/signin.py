"""Signing in to the web console and out of it, and sending a reader without a session to sign in.

The records (everything but the public parts: checkpoints, the key, manifests, decisions, the
verify page) are for a reader whose role may read them (`domain.authority.may_read`, checked by
`api.web.context.reader`); any role may sign in, since a signed-in researcher sees the private
values of their own requests opened on the public pages. The console asks once for a token and
keeps a session in an HttpOnly cookie (`api.web.sessions`); both
forms carry a CSRF value, and after signing in the reader goes back to the page they asked for,
never to another site.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.web import sessions as web_sessions
from api.web.context import (
    PageError,
    page,
    renderer_of,
    router,
    services_of,
    sessions_of,
    target,
    viewer,
)
from api.web.render import with_query

MAX_FORM_BYTES = 16 * 1024


def _local_target(value: str | None) -> str:
    """Where to go after signing in: a page of this console, never another site."""
    if not value or "\\" in value or any(ord(c) < 0x20 for c in value):
        return "/web/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not (parts.path == "/web" or parts.path.startswith("/web/")):
        return "/web/"
    return value


def _cookie_flags(request: Request) -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
        "path": web_sessions.COOKIE_PATH,
    }


def _login_page(
    request: Request, next_page: str, message: str = "", status: int = 200, notice: str = ""
) -> HTMLResponse:
    csrf = web_sessions.new_secret()
    response = page(
        request,
        "login.html",
        viewer(request),
        {
            "title": "Sign in",
            "target": next_page,
            "here": next_page,
            "login_csrf": csrf,
            "message": message,
            "notice": notice,
        },
        status=status,
    )
    response.set_cookie(
        web_sessions.LOGIN_CSRF_COOKIE, csrf, max_age=3600, **_cookie_flags(request)
    )
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/web/", signed_out: str = "") -> Response:  # noqa: A002
    """The sign-in form: a token, once."""
    notice = "You are signed out." if signed_out else ""
    return _login_page(request, _local_target(next), notice=notice)


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageError(413, "the form is too large", title="Too large")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise PageError(400, "the form could not be read") from None
    return {name: values[0] for name, values in fields.items()}


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the token; open a session for its actor (what each role reads is decided per page)."""
    form = await _form(request)
    next_page = _local_target(form.get("next"))
    if not web_sessions.same_secret(
        form.get("csrf"), request.cookies.get(web_sessions.LOGIN_CSRF_COOKIE)
    ):
        return _login_page(
            request, next_page, "The sign-in form had expired. Please give your token again.", 400
        )
    token = form.get("token", "").strip()
    actor = services_of(request).actors.actor_for(token) if token else None
    if actor is None:
        return _login_page(request, next_page, "That token is unknown or has been revoked.", 401)
    response = RedirectResponse(next_page, status_code=303)
    response.set_cookie(
        web_sessions.SESSION_COOKIE,
        sessions_of(request).open(token),
        max_age=web_sessions.ABSOLUTE_SECONDS,
        **_cookie_flags(request),
    )
    response.delete_cookie(web_sessions.LOGIN_CSRF_COOKIE, **_cookie_flags(request))
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (the form carries the session's own CSRF value)."""
    form = await _form(request)
    session_id = request.cookies.get(web_sessions.SESSION_COOKIE)
    session = sessions_of(request).get(session_id)
    if session is not None and not web_sessions.same_secret(form.get("csrf"), session.csrf):
        raise PageError(400, "the sign-out form had expired; reload the page and try again")
    sessions_of(request).close(session_id)
    response = RedirectResponse("/web/login?signed_out=1", status_code=303)
    response.delete_cookie(web_sessions.SESSION_COOKIE, **_cookie_flags(request))
    return response


def sign_in_first(request: Request, _: Exception) -> Response:
    """A private page asked for without a session: the sign-in form, then back to the page."""
    here = target(request)
    if request.headers.get("sec-fetch-site") == "cross-site":
        # A link followed from another site arrives without the SameSite=Strict cookie; load
        # the page again from this site, which sends it (and then asks to sign in if need be).
        return renderer_of(request).page(request, "bounce.html", {"target": here}, private=True)
    return RedirectResponse(with_query("/web/login", {"next": here}), status_code=303)
