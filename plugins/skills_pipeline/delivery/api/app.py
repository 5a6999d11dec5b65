"""The application: the routers, the offline portal, problem documents, gzip, and the hot path in front."""

import json
import logging
import re
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse

from skills_pipeline.delivery import portal, problems
from skills_pipeline.delivery.api import change_feed, health, metrics, persons
from skills_pipeline.delivery.api.access import ApiWarehouse
from skills_pipeline.delivery.api.http import GZIP_MINIMUM_BYTES, hot_path_response
from skills_pipeline.delivery.api.schemas import PSEUDONYM_PATTERN, document_components

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"
PSEUDONYM_SYNTAX = re.compile(PSEUDONYM_PATTERN)
DESCRIPTION = (
    "Read access to the lifelong skills archive (人人持证、技能山西): one person's archive document "
    "(person-archive-1), the change feed, and the employment-rate and skilled-share metrics. "
    "Send `Authorization: Bearer <token>`; what a token sees is decided by the warehouse's row-level "
    "security for the role it maps to."
)


class ArchiveAPI(FastAPI):
    """FastAPI with a hot path in front: a found archive document is sent straight from its lookup, ahead of the
    middleware, routing, dependency injection and validation that a request through FastAPI costs (measured on
    this lookup: three quarters of its CPU). Whatever the hot path does not answer goes through FastAPI as usual."""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            body = await self.stored_document(scope)
            if body is not None:
                status, headers, body = hot_path_response(scope, body)
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await super().__call__(scope, receive, send)

    async def stored_document(self, scope: dict) -> bytes | str | None:
        """The hot path's answer to GET /v1/persons/{pseudonym}, or None to leave the request to the route.

        It answers only what needs no judgement: a well-formed pseudonym, a token whose grant is cached and needs
        no per-request setting (archive, province), a document found. Everything else (a bad pseudonym or token, a
        county token, a cache miss, no such archive, a warehouse error) goes on to the route, which checks again
        and says what is wrong; so every answer other than a found document has one source, the route."""
        path = scope["path"]
        if scope["method"] != "GET" or not path.startswith(persons.PERSONS_PATH):
            return None
        pseudonym = path[len(persons.PERSONS_PATH) :]
        if not PSEUDONYM_SYNTAX.fullmatch(pseudonym):
            return None
        for name, value in scope["headers"]:
            if name == b"authorization":
                # as HTTPBearer reads it: the scheme, one space, the rest is the token
                scheme, _, token = value.decode("latin-1").partition(" ")
                break
        else:
            return None
        warehouse: ApiWarehouse = self.state.warehouse
        grant = warehouse.tokens.get(token) if scheme.lower() == "bearer" else None
        if grant is None or grant.region_code is not None:
            return None
        try:
            return await warehouse.role_lookups(grant.role).get(pseudonym)
        except Exception:  # the route reads again and answers 403 or 503 itself
            return None

    def openapi(self) -> dict:
        if self.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            document = get_openapi(
                title=self.title, version=self.version, description=self.description, routes=self.routes
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(document_components())
            schemas["Problem"] = problems.PROBLEM_SCHEMA
            # FastAPI documents its own 422 shape; every error here is a problem document (delivery/problems.py).
            for operation in (op for path in document["paths"].values() for op in path.values()):
                if "422" in operation["responses"]:
                    operation["responses"]["422"] = problems.problem_responses(422)[422]
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            self.openapi_schema = document
        return self.openapi_schema


def create_app(conninfo: str | None = None, pool_size: int = 8, lookup_lanes: int = 1) -> ArchiveAPI:
    """The application; `conninfo` defaults to the API's warehouse URL (SKILLS_API_WAREHOUSE_URL or the warehouse).
    `pool_size` bounds the connections of the other requests; `lookup_lanes` the statements in flight per role on
    the lookups' hot path (delivery/lookups.py)."""
    warehouse = ApiWarehouse(conninfo, pool_size, lookup_lanes)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            yield
        finally:
            await warehouse.close()

    app = ArchiveAPI(
        title="Skills Shanxi archive API", version=API_VERSION, description=DESCRIPTION, lifespan=lifespan,
        docs_url=None, redoc_url=None,
    )  # fmt: skip
    app.state.warehouse = warehouse
    problems.install(app)
    portal.mount(app)
    # Pages of changes and metrics are large and repetitive JSON (a page of 1,000 documents: 867 KB, ~60 KB gzipped).
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES)
    for module in (health, persons, change_feed, metrics):
        app.include_router(module.router)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # Logged without the request's headers (they carry the token).
        log.exception("unexpected failure on %s %s", request.method, request.url.path)
        return problems.problem_response(500, "unexpected failure; it has been logged", None, request.url.path)

    return app


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
