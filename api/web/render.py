"""Templates and their filters, and the headers every page is sent with.

Autoescaping is on for every template: anything the ledger holds (rationales, names,
statements) is free text and is shown as text. The few filters that return markup build it
with `markupsafe.escape` around every piece of data.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import secrets
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# Nothing is loaded from elsewhere, no inline script runs, and no other site may frame a page.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def security_headers(*, private: bool) -> dict[str, str]:
    """Headers for an HTML page; a private page is never stored by the browser or a proxy."""
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store" if private else "no-cache",
        "Vary": "Cookie",
    }


# --- filters ------------------------------------------------------------------------------------


def _parse_moment(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    if moment.tzinfo is None:
        return None  # never guess a zone: a moment without one is shown as the text it is
    return moment.astimezone(UTC)


def utc_text(moment: datetime) -> str:
    """``2026-01-05 16:00:00 UTC``."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


# The views' fixed-width UTC moments (and the records' ISO 8601 ones with a Z): digits only.
_UTC_TEXT = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(:\d\d)(?:\.\d+)?(?:Z|\+00:00)")


def moment_html(value: Any) -> Markup:
    """A moment as ``<time>``: UTC in the page (and on hover); app.js shows it in local time."""
    if isinstance(value, str):
        # The common case, read without a parse: a UTC moment, all digits (nothing to escape).
        match = _UTC_TEXT.fullmatch(value)
        if match is not None:
            day, minutes, seconds = match.groups()
            return Markup(  # noqa: S704 (the regex let through digits, '-' and ':' only)
                f'<time class="moment" datetime="{day}T{minutes}{seconds}Z" '
                f'title="{day} {minutes}{seconds} UTC">{day} {minutes} UTC</time>'
            )
    moment = _parse_moment(value)
    if moment is None:
        return (
            Markup('<span class="none">not recorded</span>')
            if value in (None, "")
            else (escape(str(value)))
        )
    iso = moment.isoformat().replace("+00:00", "Z")
    text = moment.strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time class="moment" datetime="{}" title="{}">{}</time>').format(
        iso, utc_text(moment), text
    )


def form_moment(moment: datetime | None) -> str:
    """A moment as a form field shows it: ISO 8601 in UTC with its zone (``Z``), to the second.

    The field sends it back as it is, and the console reads it under the one rule for moments
    (`domain.commands.parse_moment`): a moment carries its time zone.
    """
    if moment is None:
        return ""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return (text.removesuffix(":00") if text.endswith(":00") else text) + "Z"


def day_html(value: Any) -> Markup:
    """A calendar day as ``<time>`` (a day has no time zone: shown as recorded)."""
    if value is None or value == "":
        return Markup('<span class="none">none</span>')
    text = value.isoformat() if isinstance(value, date) else str(value)
    return Markup('<time datetime="{}">{}</time>').format(text, text)


def pct(value: float | None, digits: int = 1) -> str:
    """A proportion as a percentage, or ``n/a``."""
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def num(value: float | None, digits: int = 2) -> str:
    """A number with fixed decimals, or ``n/a``."""
    return "n/a" if value is None else f"{value:.{digits}f}"


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@functools.lru_cache(maxsize=4096)
def _human(text: str) -> str:
    if "_" in text or text.islower():
        return text.replace("_", " ")
    words = _CAMEL.sub(" ", text).split(" ")
    return " ".join([words[0], *(word.lower() for word in words[1:])])


def human(value: Any) -> str:
    """``retired_with_extended_access`` and ``AccessPolicySet`` as words."""
    return _human(str(value))


def size_text(value: int | None) -> str:
    """A byte count for people (1 KiB = 1024 bytes), with the exact count for small values."""
    if value is None:
        return "n/a"
    amount = float(value)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{value:,} bytes" if unit == "bytes" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value:,} bytes"  # unreachable


def key_fingerprint(verifier: str) -> dict[str, str] | None:
    """The parts of a verifier key a reader compares: name, key ID, SHA-256 of the public key.

    The fingerprint is the SHA-256 of the 32-byte Ed25519 public key in hex, in groups of four;
    verify.js computes the same for the key a browser pins.
    """
    try:
        name, key_id, data = verifier.strip().split("+", 2)
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        return None
    if len(raw) != 33 or raw[0] != 0x01:
        return None
    digest = hashlib.sha256(raw[1:]).hexdigest()
    grouped = " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))
    return {"name": name, "key_id": key_id, "fingerprint": grouped, "key": verifier.strip()}


def svg_data_uri(svg: bytes) -> str:
    """An SVG as a ``data:`` URI for ``<img>`` (an image cannot run scripts)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


# --- URLs ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _path_part(text: str) -> str:
    return quote(text, safe="")


def path_part(value: Any) -> str:
    """A value as one path segment."""
    return _path_part(str(value))


def with_query(path: str, params: dict[str, Any]) -> str:
    """``path?params`` without the empty ones."""
    kept = {key: value for key, value in params.items() if value not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


# --- the environment ----------------------------------------------------------------------------


def _static_versions() -> dict[str, str]:
    """A short digest of each static file, so a changed file gets a new URL."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in STATIC.iterdir()
        if path.is_file()
    }


def build_environment() -> jinja2.Environment:
    """The templates, autoescaped, with the console's filters and globals."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    versions = _static_versions()

    def static(name: str) -> str:
        return f"/web/static/{name}?v={versions.get(name, '0')}"

    environment.globals.update(
        static=static,
        path_part=path_part,
        with_query=with_query,
        form_moment=form_moment,
        # A form's own random value, rendered afresh with each form: its command is recorded
        # once however often the form is sent (`api.web.forms.record`).
        form_once=lambda: secrets.token_urlsafe(18),
    )
    environment.filters.update(
        moment=moment_html,
        day=day_html,
        pct=pct,
        num=num,
        human=human,
        size=size_text,
        path_part=path_part,
    )
    return environment


class Renderer:
    """Renders a template to an HTML response with the security headers."""

    def __init__(self) -> None:
        self.environment = build_environment()

    def page(
        self,
        request: Request,
        name: str,
        context: dict[str, Any],
        *,
        status: int = 200,
        private: bool = True,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        """The page ``name`` with ``context`` (and the request) as an HTML response."""
        template = self.environment.get_template(name)
        body = template.render({"request": request, **context})
        response = HTMLResponse(body, status_code=status)
        response.headers.update(security_headers(private=private))
        if headers:
            response.headers.update(headers)
        return response


# --- an error met outside a page ----------------------------------------------------------------


def standalone_error_page(
    status: int, title: str, message: str, *, request_id: str | None = None
) -> HTMLResponse:
    """An error page that needs no template, session or service: what the console shows for
    an error met before a page's own handling or beneath it (a body too large, a URL that is
    not UTF-8, a failure nobody foresaw), when whatever failed may be what a page needs.

    The request id, when given, is the one the service's log names the failure by.
    """
    reference = (
        Markup("<p>If you report this, quote the request id <code>{}</code>.</p>").format(
            request_id
        )
        if request_id
        else Markup("")
    )
    body = Markup(
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>{title} · Reliquary</title>\n"
        '<link rel="stylesheet" href="/web/static/style.css">\n</head>\n<body>\n'
        '<header class="site"><a class="brand" href="/web/">Reliquary</a></header>\n'
        '<main id="main">\n<h1>{title}</h1>\n<p class="error" role="alert">{message}</p>\n'
        '{reference}<p><a href="/web/">Back to the overview</a></p>\n</main>\n</body>\n</html>\n'
    ).format(title=title, message=message, reference=reference)
    response = HTMLResponse(str(body), status_code=status)
    response.headers.update(security_headers(private=True))
    return response
