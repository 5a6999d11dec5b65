"""Every error the read API returns, in one format: RFC 9457 problem details (application/problem+json).

{"type": "about:blank", "title": "Forbidden", "status": 403, "detail": "what went wrong and what to do",
 "instance": "/v1/metrics/skilled-shares"}, and for malformed parameters an `errors` list naming each parameter.
`type` stays about:blank (RFC 9457 §4.2.1): the status and its title say what kind of problem it is; `detail`
says what to do about it."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "about:blank: the status says the kind of problem"},
        "title": {"type": "string", "description": "the status's reason phrase", "example": "Forbidden"},
        "status": {"type": "integer", "example": 403},
        "detail": {"type": "string", "description": "what went wrong and what to do",
                   "example": "this token is for county 141125; it may not read region 141000"},
        "instance": {"type": "string", "description": "the path the problem occurred on"},
        "errors": {
            "type": "array",
            "description": "422 only: each malformed parameter",
            "items": {"type": "object", "required": ["parameter", "message"], "properties": {
                "parameter": {"type": "string", "example": "query.from_month"},
                "message": {"type": "string"},
            }},
        },
    },
}  # fmt: skip

# The statuses the API documents for its operations, with what each means here.
PROBLEM_STATUSES = {
    401: "missing, unknown or revoked token (send Authorization: Bearer <token>)",
    403: "the token's scope does not cover this resource (its role, or its county)",
    404: "nothing under this identifier that the token may see",
    422: "a malformed parameter or body; `errors` names each",
    503: "the warehouse is not answering; retry after the Retry-After seconds",
}


def problem_body(status: int, detail: str, instance: str | None = None, **extensions) -> dict:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return body


def problem_response(status: int, detail: str, headers: dict | None = None, instance: str | None = None,
                     **extensions) -> JSONResponse:  # fmt: skip
    return JSONResponse(
        problem_body(status, detail, instance, **extensions), status_code=status, headers=headers,
        media_type=PROBLEM_JSON,
    )  # fmt: skip


def problem_responses(*statuses: int) -> dict:
    """OpenAPI `responses` entries for these statuses, each a problem document."""
    return {
        status: {"description": PROBLEM_STATUSES[status],
                 "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for status in statuses
    }  # fmt: skip


def install(app: FastAPI) -> None:
    """Answer every HTTP error and every validation error of `app` as a problem document."""

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(request: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = error.detail if isinstance(error.detail, str) else HTTPStatus(error.status_code).description
        return problem_response(error.status_code, detail, error.headers, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def validation_problem(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"parameter": ".".join(str(part) for part in item.get("loc", ())), "message": item.get("msg", "")}
            for item in error.errors()
        ]
        named = "; ".join(f"{e['parameter']}: {e['message']}" for e in errors[:5])
        return problem_response(422, f"malformed request ({named})", None, request.url.path, errors=errors)
