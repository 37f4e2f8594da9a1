"""Errors as RFC 9457 problem details (``application/problem+json``), one stable type per rule.

A `LedgerError`'s ``rule`` slug becomes the problem's ``type`` (``urn:reliquary:problem:<slug>``),
so clients branch on the type, not on the wording; the status follows the error's kind
(`STATUS_BY_KIND`). Nothing the caller sends produces a 500; a failure nobody foresaw is a 500
``internal-error`` naming the request id its log record carries (`api.http.limits`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain import errors

PROBLEM = "application/problem+json"
TYPE_PREFIX = "urn:reliquary:problem:"

# The problems of the HTTP layer itself, answered by the request guard (`api.http.limits`)
# before a route does any work.
BODY_TOO_LARGE = "body-too-large"
INVALID_URL_ENCODING = "invalid-url-encoding"
DUPLICATE_JSON_KEY = "duplicate-json-key"
INTERNAL_ERROR = "internal-error"
STORE_UNAVAILABLE = "store-unavailable"

# The status follows the error's kind, never its slug or wording.
STATUS_BY_KIND = {
    errors.Kind.INVALID: 422,
    errors.Kind.NOT_FOUND: 404,
    errors.Kind.CONFLICT: 409,
    errors.Kind.REFUSED: 403,
    errors.Kind.DAMAGED: 500,
    errors.Kind.UNAVAILABLE: 503,
}


class Problem(Exception):
    """An HTTP-level problem (authentication, permission, idempotency, bad header)."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem details response."""
    body = {"type": TYPE_PREFIX + slug, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def response_of(problem: Problem) -> JSONResponse:
    """The problem response of a `Problem` (a 401 names the scheme: ``WWW-Authenticate``)."""
    headers = {
        **problem.headers,
        **({"WWW-Authenticate": "Bearer"} if problem.status == 401 else {}),
    }
    return problem_response(
        problem.status, problem.slug, problem.title, problem.detail, headers, **problem.extra
    )


def status_of(error: errors.LedgerError) -> int:
    """The HTTP status of a ledger error: the one its kind says."""
    return STATUS_BY_KIND[error.kind]


def jsonable_facts(error: errors.LedgerError) -> dict[str, Any]:
    """The facts an error names, as JSON values."""
    return {
        key: value
        if isinstance(value, str | int | float | bool | None)
        else {str(k): str(v) for k, v in value.items()}
        if isinstance(value, dict)  # a rejected command's problems, by field
        else str(value)
        for key, value in error.facts.items()
    }


def ledger_problem(error: errors.LedgerError) -> JSONResponse:
    """The problem response of a ledger error: its kind's status, its slug, its facts."""
    return problem_response(
        status_of(error),
        error.rule,
        type(error).__name__,
        str(error),
        facts=jsonable_facts(error),
    )


def install(app: FastAPI) -> None:
    """Map every error the service can meet onto a problem response."""

    @app.exception_handler(errors.LedgerError)
    async def ledger_error(_: Request, error: errors.LedgerError) -> JSONResponse:
        return ledger_problem(error)

    @app.exception_handler(Problem)
    async def http_problem(_: Request, problem: Problem) -> JSONResponse:
        return response_of(problem)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": ".".join(str(part) for part in detail.get("loc", ())),
                "problem": str(detail.get("msg", "")),
            }
            for detail in error.errors()
        ]
        first = problems[0] if problems else {"field": "", "problem": "invalid request"}
        return problem_response(
            422,
            errors.CommandRejected.rule,
            "Invalid request",
            f"{first['field']}: {first['problem']}",
            errors=problems[:20],
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
        return problem_response(
            error.status_code, slug, str(error.detail), str(error.detail), dict(error.headers or {})
        )
