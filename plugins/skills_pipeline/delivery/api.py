"""The archive read API (FastAPI on uvicorn; `skills-pipeline api`, `make api`; OpenAPI in docs/openapi.json).

Every request with a token runs in its own transaction as the warehouse role its token maps to (delivery/tokens.py),
set with set_config('role', ..., true); a county token also sets skills.api_county for that transaction, which
access.login_region() hands to the row-level security policies. The county scope is therefore the database's, as it
is for a county analyst's own login: this module filters nothing by county itself.

Bad input is a 4xx with a reason (422 for malformed parameters, 401 without a valid token, 403 where the token's
role or county may not read, 404 for an archive the token cannot see); a warehouse that does not answer is a 503.
Every error is an RFC 9457 problem document (delivery/problems.py). Documents and pages carry an ETag (a request
with If-None-Match gets 304 when nothing changed) and are gzipped for clients that accept it. /docs and /redoc are
served offline (delivery/portal.py).
"""

import asyncio
import datetime as dt
import gzip
import hashlib
import json
import logging
import re
import threading
import time
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated

import psycopg
from fastapi import Body, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import StringConstraints

from skills_pipeline.delivery import changes, documents, lookups, portal, problems, tokens

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"
MAX_CHANGES = 1_000
MAX_METRIC_ROWS = 5_000
TOKEN_CACHE_SECONDS = 10.0  # a revoked token stops working within this time
PSEUDONYM_PATTERN = r"^[0-9a-f]{32}$"
PERSONS_PATH = "/v1/persons/"
# [0-9], not \d: \d also matches other scripts' digits, which no date or region code is written in
MONTH_PATTERN = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$"
REGION_PATTERN = r"^14[0-9]{4}$"
OCCUPATION_PATTERN = r"^[0-9]-[0-9]{2}-[0-9]{2}-[0-9]{2}$"
TALENT_CURSOR_PATTERN = r"^[0-9a-f]{32}:[0-9]-[0-9]{2}-[0-9]{2}-[0-9]{2}$"
DOCUMENT_SCHEMA_REF = "#/components/schemas/PersonArchive"
JSON = "application/json"
MAX_BATCH = 100
GZIP_MINIMUM_BYTES = 1_000  # below this, gzip's header and the CPU cost more than the bytes saved
# Answers may be kept by the client but checked again each time (ETag): a document changes when a night publishes.
CACHE_CONTROL = "private, no-cache"

bearer = HTTPBearer(auto_error=False, description="a token from `skills-pipeline api token issue`")


class TokenCache:
    """Grants by token hash for a few seconds: one warehouse round trip saved per request."""

    def __init__(self, seconds: float = TOKEN_CACHE_SECONDS):
        self.seconds = seconds
        self._grants: dict[str, tuple[float, tokens.Grant]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> tokens.Grant | None:
        key = tokens.token_hash(token)
        with self._lock:
            hit = self._grants.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        return None

    def put(self, token: str, grant: tokens.Grant) -> None:
        with self._lock:
            if len(self._grants) > 10_000:
                self._grants.clear()
            self._grants[tokens.token_hash(token)] = (time.monotonic() + self.seconds, grant)


def _problem(status: int, detail: str, headers: dict | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=detail, headers=headers)


# A request's role and county, for its transaction only (is_local = true): the row-level security reads them.
SCOPE_QUERY = "select set_config('role', %s, true), set_config('skills.api_county', %s, true)"
DOCUMENT_QUERY = "select document from delivery.archive_documents where person_id = %s"
FORBIDDEN = (psycopg.errors.InsufficientPrivilege, lookups.FORBIDDEN)
WAREHOUSE_ERRORS = (*FORBIDDEN, psycopg.OperationalError, *lookups.UNAVAILABLE)


def _scope(grant: tokens.Grant) -> tuple[str, str]:
    return grant.role, grant.region_code or ""


def _warehouse_problem(error: Exception) -> HTTPException:
    """403 where the token's role may not read; 503 (retry shortly) where the warehouse does not answer."""
    if isinstance(error, FORBIDDEN):
        return _problem(403, "this token's role may not read this resource")
    log.warning("warehouse unavailable: %s", type(error).__name__)
    return _problem(503, "the warehouse is not answering; try again shortly", {"Retry-After": "5"})


BATCH_QUERY = "select person_id, document from delivery.archive_documents where person_id = any(%s)"

HEALTH_SCHEMA = {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}
BATCH_SCHEMA = {
    "type": "object", "required": ["documents", "missing"],
    "properties": {
        "documents": {"type": "array", "items": {"$ref": DOCUMENT_SCHEMA_REF}},
        "missing": {"type": "array", "items": {"type": "string"}, "description": "not found or not visible"},
    },
}  # fmt: skip
CHANGES_SCHEMA = {
    "type": "object", "required": ["changes", "next_after"],
    "properties": {
        "changes": {"type": "array", "items": {
            "type": "object", "required": ["change_id", "pseudonym", "document"],
            "properties": {
                "change_id": {"type": "integer"},
                "pseudonym": {"type": "string"},
                "document": {"anyOf": [{"$ref": DOCUMENT_SCHEMA_REF}, {"type": "null"}]},
            },
        }},
        "next_after": {"type": "integer", "description": "send as `after` to get the next page"},
    },
}  # fmt: skip
_DATE = {"type": "string", "format": "date"}
_COUNT = {"type": "integer", "minimum": 0}
_SHARE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_TEXT = {"type": "string"}
_MAYBE_TEXT = {"type": ["string", "null"]}
_REGION = {"type": "string", "pattern": REGION_PATTERN}
_REGION_LEVEL = {"type": "string", "enum": ["province", "city", "county"]}
# Each metric row, column by column (the marts' columns; docs/archive-and-metrics.md describes them).
EMPLOYMENT_RATE_ROW = {
    "completion_month": _DATE, "region_level": _REGION_LEVEL, "region_code": _REGION,
    "employed_trainees": _COUNT, "employment_rate_denominator": _COUNT, "employment_rate": _SHARE,
    "employment_rate_target": _SHARE, "certified_trainees": _COUNT, "completed_trainees": _COUNT,
    "certification_rate": _SHARE, "latest_window_end_date": {"type": ["string", "null"], "format": "date"},
    "as_of_date": _DATE,
    "rate_status": {"type": "string", "enum": ["final", "provisional"]},
}  # fmt: skip
SKILLED_SHARE_ROW = {
    "employment_month": _DATE, "region_level": _REGION_LEVEL, "region_code": _REGION, "employed_persons": _COUNT,
    "skilled_persons": _COUNT, "skilled_share": _SHARE, "skilled_share_target": _SHARE,
    "high_skilled_persons": _COUNT, "high_skilled_share": _SHARE, "high_skilled_share_target": _SHARE,
}  # fmt: skip
TALENT_POOL_ROW = {
    "pseudonym": {"type": "string", "pattern": PSEUDONYM_PATTERN}, "region_code": _MAYBE_TEXT,
    "occupation_code": {"type": "string", "pattern": OCCUPATION_PATTERN}, "occupation_name": _MAYBE_TEXT,
    "skill_rank": {"type": "integer", "minimum": 4, "maximum": 8}, "level_name": _MAYBE_TEXT, "attained_date": _DATE,
    "evidence_kind": {"type": "string", "enum": ["certificate", "competition"]}, "evidence_id": _TEXT,
}  # fmt: skip


def rows_schema(columns: dict, paged: bool = False) -> dict:
    row = {"type": "object", "required": list(columns), "properties": columns}
    schema = {"type": "object", "required": ["rows"], "properties": {"rows": {"type": "array", "items": row}}}
    if paged:
        schema["required"].append("next_after")
        schema["properties"]["next_after"] = {
            "type": ["string", "null"],
            "description": "send as `after` for the next page; null on the last",
        }
    return schema


def etag_of(body: bytes | str) -> str:
    """A strong validator of a response body: 128 bits of BLAKE2b (a few microseconds for a document)."""
    data = body.encode() if isinstance(body, str) else body
    return '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: a list of validators or *, compared weakly (W/ prefixes ignored)."""
    if not if_none_match:
        return False
    wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in wanted or etag in wanted


def conditional(request: Request, body: bytes | str) -> Response:
    """The JSON body with its ETag, or 304 Not Modified when the client already holds it (If-None-Match)."""
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=JSON, headers=headers)


def require_region(grant: tokens.Grant, region: str | None) -> None:
    """A county token reads its own county: asking for another region is refused (403), not answered empty."""
    if grant.region_code is not None and region is not None and region != grant.region_code:
        raise _problem(
            403,
            f"this token is for county {grant.region_code}; it may not read region {region} "
            f"(ask for region={grant.region_code}, or leave region out)",
        )


def _openapi_components() -> dict:
    """The archive document's JSON Schema as OpenAPI components ($defs moved under components/schemas)."""
    schema = json.loads(json.dumps(documents.schema()))
    text = json.dumps(schema).replace('"#/$defs/', '"#/components/schemas/PersonArchive_')
    schema = json.loads(text)
    definitions = schema.pop("$defs", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    components = {f"PersonArchive_{name}": value for name, value in definitions.items()}
    components["PersonArchive"] = schema
    return components


def create_app(conninfo: str | None = None, pool_size: int = 8, lookup_lanes: int = 1) -> "ArchiveAPI":
    """The application; `conninfo` defaults to the API's warehouse URL (SKILLS_API_WAREHOUSE_URL or the warehouse).
    `pool_size` bounds the connections of the other requests; `lookup_lanes` the statements in flight per role on
    the lookups' hot path (delivery/lookups.py)."""
    from psycopg_pool import ConnectionPool

    cache = TokenCache()
    state: dict = {}

    opening = threading.Lock()

    def per_loop() -> dict:
        """Async connections belong to the loop that opened them: a server has one loop per worker; a test client
        starts a loop per session, and gets connections of its own."""
        loop = asyncio.get_running_loop()
        if state.get("per_loop", (None, None))[0] is not loop:
            state["per_loop"] = (loop, {"lookups": {}, "scoped": None})
        return state["per_loop"][1]

    def role_lookups(role: str) -> lookups.CoalescedLookups:
        """Documents read as `role`, concurrent lookups sharing statements (delivery/lookups.py)."""
        registry = per_loop()["lookups"]
        if role not in registry:
            from skills_pipeline import warehouse

            registry[role] = lookups.CoalescedLookups(conninfo or warehouse.api_url(), role, lanes=lookup_lanes)
        return registry[role]

    async def scoped_pool():
        """A county token's lookups: a connection that becomes the token's role, with its county, per transaction."""
        connections = per_loop()
        if connections["scoped"] is None:
            from psycopg_pool import AsyncConnectionPool

            from skills_pipeline import warehouse

            candidate = AsyncConnectionPool(
                conninfo or warehouse.api_url(), min_size=1, max_size=pool_size, kwargs={"autocommit": True},
                open=False, name="api-scoped-lookups",
            )  # fmt: skip
            await candidate.open()
            if connections["scoped"] is None:
                connections["scoped"] = candidate
            else:  # another request opened one meanwhile
                await candidate.close()
        return connections["scoped"]

    def pool() -> ConnectionPool:
        """Opened on first use (also when the app is driven without its lifespan, as test clients may)."""
        with opening:
            if "pool" not in state:
                from skills_pipeline import warehouse

                state["pool"] = ConnectionPool(
                    conninfo or warehouse.api_url(), min_size=min(2, pool_size), max_size=pool_size,
                    kwargs={"autocommit": True}, open=True, name="api",
                )  # fmt: skip
            return state["pool"]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            yield
        finally:
            if "pool" in state:
                state.pop("pool").close()
            if "per_loop" in state:
                loop, connections = state.pop("per_loop")
                if loop is asyncio.get_running_loop():
                    for each in connections["lookups"].values():
                        await each.close()
                    if connections["scoped"] is not None:
                        await connections["scoped"].close()

    app = ArchiveAPI(
        title="Skills Shanxi archive API",
        version=API_VERSION,
        description=(
            "Read access to the lifelong skills archive (人人持证、技能山西): one person's archive document "
            "(person-archive-1), the change feed, and the employment-rate and skilled-share metrics. "
            "Send `Authorization: Bearer <token>`; what a token sees is decided by the warehouse's row-level "
            "security for the role it maps to."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    problems.install(app)
    portal.mount(app)
    # Pages of changes and metrics are large and repetitive JSON (a page of 1,000 documents: 867 KB, ~60 KB gzipped).
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES)

    @contextmanager
    def connection(grant: tokens.Grant | None):
        try:
            with pool().connection(timeout=10) as conn, conn.transaction():
                if grant is not None:
                    conn.execute(SCOPE_QUERY, _scope(grant))
                yield conn
        except WAREHOUSE_ERRORS as error:
            raise _warehouse_problem(error) from None

    async def published_document(grant: tokens.Grant, pseudonym: str) -> bytes | str | None:
        """One stored document, read as the token's role on the event loop. An archive or province token's lookup
        shares a statement with the other lookups of its role (delivery/lookups.py). A county token's county is a
        setting of its own transaction: the four statements (begin, the role and county, the read, commit) go out
        in one pipeline, one round trip; an error in any of them aborts the rest and the pool rolls back."""
        try:
            if grant.region_code is None:
                return await role_lookups(grant.role).get(pseudonym)
            async with (await scoped_pool()).connection(timeout=10) as conn, conn.pipeline() as pipeline:
                await conn.execute("begin read only")
                await conn.execute(SCOPE_QUERY, _scope(grant))
                read = await conn.execute(DOCUMENT_QUERY, (pseudonym,))
                await conn.execute("commit")
                await pipeline.sync()
                row = await read.fetchone()
        except WAREHOUSE_ERRORS as error:
            raise _warehouse_problem(error) from None
        return row[0] if row else None

    def lookup(token: str) -> tokens.Grant | None:
        with connection(None) as conn:
            return tokens.lookup(conn, token)

    async def authorised(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> tokens.Grant:
        # async: a cached grant is answered on the event loop, without a hop to the thread pool that every sync
        # dependency costs (a third of a lookup's CPU under load); only a cache miss goes to a thread.
        challenge = {"WWW-Authenticate": "Bearer"}
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise _problem(401, "missing token: send Authorization: Bearer <token>", challenge)
        token = credentials.credentials
        grant = cache.get(token)
        if grant is None:
            grant = await run_in_threadpool(lookup, token)
            if grant is None:
                raise _problem(401, "unknown or revoked token", challenge)
            cache.put(token, grant)
        return grant

    Token = Annotated[tokens.Grant, Depends(authorised)]

    @app.get(
        "/healthz",
        tags=["operations"],
        summary="liveness and warehouse reachability",
        responses={200: {"content": {JSON: {"schema": HEALTH_SCHEMA}}}, **problems.problem_responses(503)},
    )
    def healthz() -> dict:
        with connection(None) as conn:
            conn.execute("select 1")
        return {"status": "ok"}

    @app.get(
        "/v1/persons/{pseudonym}",
        tags=["archive"],
        summary="one person's archive document (person-archive-1)",
        responses={
            200: {"description": "the document as last published; ETag for If-None-Match",
                  "content": {JSON: {"schema": {"$ref": DOCUMENT_SCHEMA_REF}}}},
            304: {"description": "not modified: the document is the one whose ETag you sent"},
            **problems.problem_responses(401, 403, 404, 422, 503),
        },
    )  # fmt: skip
    async def person(
        request: Request,
        pseudonym: Annotated[str, Path(pattern=PSEUDONYM_PATTERN, description="32 lowercase hex characters")],
        grant: Token,
    ) -> Response:
        # The document as published after the last build, served as stored: one indexed read, nothing decoded.
        found = await published_document(grant, pseudonym)
        if found is None:
            raise _problem(404, f"no archive for {pseudonym} that this token may see")
        return conditional(request, found)

    @app.post(
        "/v1/persons/batch",
        tags=["archive"],
        summary=f"up to {MAX_BATCH} persons' archive documents in one request; the pseudonyms not found (or not "
                "visible to the token) are listed under missing",
        responses={
            200: {"content": {JSON: {"schema": BATCH_SCHEMA}}},
            **problems.problem_responses(401, 403, 422, 503),
        },
    )  # fmt: skip
    def person_batch(
        request: Request,
        grant: Token,
        pseudonyms: Annotated[
            list[Annotated[str, StringConstraints(pattern=PSEUDONYM_PATTERN)]],
            Body(embed=True, min_length=1, max_length=MAX_BATCH, description="pseudonyms, each once"),
        ],
    ) -> Response:
        wanted = list(dict.fromkeys(pseudonyms))
        with connection(grant) as conn:
            found = dict(conn.execute(BATCH_QUERY, (wanted,)).fetchall())
        body = (
            '{"documents":[' + ",".join(found[p] for p in wanted if p in found) + '],"missing":'
            + json.dumps([p for p in wanted if p not in found]) + "}"
        )  # fmt: skip
        return conditional(request, body)

    @app.get(
        "/v1/changes",
        tags=["archive"],
        summary="archives changed after a watermark, oldest first, each with its last published document",
        responses={
            200: {"content": {JSON: {"schema": CHANGES_SCHEMA}}},
            304: {"description": "not modified: the page is the one whose ETag you sent"},
            **problems.problem_responses(401, 403, 422, 503),
        },
    )  # fmt: skip
    def change_feed(
        request: Request,
        grant: Token,
        after: Annotated[int, Query(ge=0, le=2**63 - 1, description="the last change_id you have read")] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_CHANGES, description=f"page size, at most {MAX_CHANGES}")] = 100,
    ) -> Response:
        with connection(grant) as conn:
            page = changes.documents_after(conn, after, limit)
        return conditional(request, changes.page_json(page, after))

    def _months(from_month: str | None, to_month: str | None) -> tuple[dt.date, dt.date]:
        first = dt.date.fromisoformat(f"{from_month}-01") if from_month else dt.date(1, 1, 1)
        last = dt.date.fromisoformat(f"{to_month}-01") if to_month else dt.date(9999, 12, 1)
        if first > last:
            raise _problem(422, f"from_month {from_month} is after to_month {to_month}")
        return first, last

    Region = Annotated[str | None, Query(pattern=REGION_PATTERN, description="province, city or county code")]
    Month = Annotated[str | None, Query(pattern=MONTH_PATTERN, description="YYYY-MM")]
    Limit = Annotated[int, Query(ge=1, le=MAX_METRIC_ROWS)]

    def _rows(conn: psycopg.Connection, sql: str, params: tuple) -> list[dict]:
        cursor = conn.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def _metric_response(request: Request, rows: list[dict], **more) -> Response:
        return conditional(request, json.dumps({"rows": rows, **more}, ensure_ascii=False, default=_plain))

    metric_responses = {304: {"description": "not modified"}, **problems.problem_responses(401, 403, 422, 503)}

    @app.get(
        "/v1/metrics/employment-rates",
        tags=["metrics"],
        summary="trainee employment and certification rates by completion month and region (001 §一), each "
        "with its as-of date and status: final once every window closed (docs/time.md)",
        responses={200: {"content": {JSON: {"schema": rows_schema(EMPLOYMENT_RATE_ROW)}}}, **metric_responses},
    )
    def employment_rates(
        request: Request, grant: Token, region: Region = None, from_month: Month = None, to_month: Month = None,
        limit: Limit = 1_000,
    ) -> Response:  # fmt: skip
        require_region(grant, region)
        first, last = _months(from_month, to_month)
        with connection(grant) as conn:
            rows = _rows(
                conn,
                "select completion_month, breakdown as region_level, breakdown_value as region_code, "
                "employed_trainees, employment_rate_denominator, employment_rate, employment_rate_target, "
                "certified_trainees, completed_trainees, certification_rate, latest_window_end_date, as_of_date, "
                "rate_status from metrics.trainee_outcome_rates where breakdown in ('province', 'city', 'county') "
                "and (%s::text is null or breakdown_value = %s) and completion_month between %s and %s "
                "order by completion_month, breakdown_value limit %s",
                (region, region, first, last, limit),
            )
        return _metric_response(request, rows)

    @app.get(
        "/v1/metrics/skilled-shares",
        tags=["metrics"],
        summary="skilled and high-skilled shares of insured employed persons by month and region",
        responses={200: {"content": {JSON: {"schema": rows_schema(SKILLED_SHARE_ROW)}}}, **metric_responses},
    )
    def skilled_shares(
        request: Request, grant: Token, region: Region = None, from_month: Month = None, to_month: Month = None,
        limit: Limit = 1_000,
    ) -> Response:  # fmt: skip
        require_region(grant, region)
        first, last = _months(from_month, to_month)
        with connection(grant) as conn:
            rows = _rows(
                conn,
                "select employment_month, region_level, region_code, employed_persons, skilled_persons, "
                "skilled_share, skilled_share_target, high_skilled_persons, high_skilled_share, "
                "high_skilled_share_target from metrics.skilled_talent_shares "
                "where (%s::text is null or region_code = %s) and employment_month between %s and %s "
                "order by employment_month, region_code limit %s",
                (region, region, first, last, limit),
            )
        return _metric_response(request, rows)

    @app.get("/v1/talent-pool", tags=["metrics"],
             summary="the high-skilled talent pool (高技能人才库, 002 §(十)): one row per person and occupation at the "
                     "highest level reached, by certificate or competition promotion; filtered and paged by "
                     "pseudonym and occupation (send next_after back as after)",
             responses={200: {"content": {JSON: {"schema": rows_schema(TALENT_POOL_ROW, paged=True)}}},
                        **metric_responses})  # fmt: skip
    def talent_pool(
        request: Request,
        grant: Token,
        region: Region = None,
        occupation: Annotated[str | None, Query(pattern=OCCUPATION_PATTERN, description="D-DD-DD-DD")] = None,
        min_rank: Annotated[int, Query(ge=4, le=8, description="lowest skill rank: 4 高级工 … 8 首席技师")] = 4,
        after: Annotated[
            str | None, Query(pattern=TALENT_CURSOR_PATTERN, description="next_after of the last page")
        ] = None,
        limit: Limit = 1_000,
    ) -> Response:
        require_region(grant, region)
        after_person, after_occupation = after.split(":") if after else ("", "")
        with connection(grant) as conn:
            rows = _rows(
                conn,
                "select person_id as pseudonym, region_code, occupation_code, occupation_name, skill_rank, "
                "level_name, attained_date, evidence_kind, evidence_id from metrics.high_skilled_talent_pool "
                "where (%(region)s::text is null or region_code = %(region)s "
                "or left(region_code, 4) || '00' = %(region)s or left(region_code, 2) || '0000' = %(region)s) "
                "and (%(occupation)s::text is null or occupation_code = %(occupation)s) and skill_rank >= %(rank)s "
                "and (person_id, occupation_code) > (%(person)s, %(after_occupation)s) "
                "order by person_id, occupation_code limit %(limit)s",
                {"region": region, "occupation": occupation, "rank": min_rank, "person": after_person,
                 "after_occupation": after_occupation, "limit": limit},
            )  # fmt: skip
        next_after = f"{rows[-1]['pseudonym']}:{rows[-1]['occupation_code']}" if len(rows) == limit else None
        return _metric_response(request, rows, next_after=next_after)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # Logged without the request's headers (they carry the token).
        log.exception("unexpected failure on %s %s", request.method, request.url.path)
        return problems.problem_response(500, "unexpected failure; it has been logged", None, request.url.path)

    def openapi() -> dict:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(_openapi_components())
            schemas["Problem"] = problems.PROBLEM_SCHEMA
            # FastAPI documents its own 422 shape; every error here is a problem document (delivery/problems.py).
            for operation in (op for path in document["paths"].values() for op in path.values()):
                if "422" in operation["responses"]:
                    operation["responses"]["422"] = problems.problem_responses(422)[422]
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi

    async def stored_document(scope: dict) -> bytes | None:
        """The hot path's answer to GET /v1/persons/{pseudonym}, or None to leave the request to the route.

        It answers only what needs no judgement: a well-formed pseudonym, a token whose grant is cached and needs
        no per-request setting (archive, province), a document found. Everything else (a bad pseudonym or token, a
        county token, a cache miss, no such archive, a warehouse error) goes on to the route, which checks again
        and says what is wrong; so every answer other than a found document has one source, the route."""
        path = scope["path"]
        if scope["method"] != "GET" or not path.startswith(PERSONS_PATH):
            return None
        pseudonym = path[len(PERSONS_PATH) :]
        if not PSEUDONYM_SYNTAX.fullmatch(pseudonym):
            return None
        for name, value in scope["headers"]:
            if name == b"authorization":
                # as HTTPBearer reads it: the scheme, one space, the rest is the token
                scheme, _, token = value.decode("latin-1").partition(" ")
                break
        else:
            return None
        grant = cache.get(token) if scheme.lower() == "bearer" else None
        if grant is None or grant.region_code is not None:
            return None
        try:
            return await role_lookups(grant.role).get(pseudonym)
        except Exception:  # the route reads again and answers 403 or 503 itself
            return None

    app.stored_document = stored_document
    return app


PSEUDONYM_SYNTAX = re.compile(PSEUDONYM_PATTERN)
JSON_HEADER = (b"content-type", JSON.encode())


class ArchiveAPI(FastAPI):
    """FastAPI with a hot path in front: a found archive document is sent straight from its lookup, ahead of the
    middleware, routing, dependency injection and validation that a request through FastAPI costs (measured on
    this lookup: three quarters of its CPU). Whatever the hot path does not answer goes through FastAPI as usual."""

    stored_document = None  # create_app's stored_document(scope)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and self.stored_document is not None:
            body = await self.stored_document(scope)
            if body is not None:
                status, headers, body = hot_path_response(scope, body)
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await super().__call__(scope, receive, send)


def hot_path_response(scope, body: bytes | str) -> tuple[int, list, bytes]:
    """What the route would answer for a found document, without the route: its ETag (304 to a matching
    If-None-Match) and gzip for a client that accepts it, as conditional() and the GZip middleware do."""
    data = body.encode() if isinstance(body, str) else body
    etag = etag_of(data)
    if_none_match = accept_encoding = None
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            if_none_match = value.decode("latin-1")
        elif name == b"accept-encoding":
            accept_encoding = value.decode("latin-1")
    headers = [(b"etag", etag.encode()), (b"cache-control", CACHE_CONTROL.encode())]
    if etag_matches(if_none_match, etag):
        return 304, headers, b""
    headers.append(JSON_HEADER)
    if accept_encoding and "gzip" in accept_encoding.lower() and len(data) >= GZIP_MINIMUM_BYTES:
        data = gzip.compress(data, compresslevel=5, mtime=0)
        headers += [(b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding")]
    headers.append((b"content-length", str(len(data)).encode()))
    return 200, headers, data


def _plain(value):
    """JSON for what PostgreSQL returns: dates as ISO text, numerics as numbers."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return float(value)


def openapi_document() -> str:
    """The committed docs/openapi.json: the document the app serves, stably formatted."""
    return json.dumps(create_app("postgresql://unused").openapi(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def serve(host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    # access_log off: the log would carry every pseudonym looked up; errors are still logged. Nothing reads the
    # client's address, so X-Forwarded-* headers are not parsed (proxy_headers), and no Server header names uvicorn.
    uvicorn.run(
        "skills_pipeline.delivery.api:create_app", factory=True, host=host, port=port, workers=workers,
        access_log=False, log_level="warning", proxy_headers=False, server_header=False,
    )  # fmt: skip
