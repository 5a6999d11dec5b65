"""Who the caller is, and how their requests reach the warehouse.

Every request with a token runs in its own transaction as the warehouse role its token maps to (delivery/tokens.py),
set with set_config('role', ..., true); a county token also sets skills.api_county for that transaction, which
access.login_region() hands to the row-level security policies. The county scope is therefore the database's, as it
is for a county analyst's own login: no route filters anything by county itself.

One ApiWarehouse per application (app.state.warehouse): the token cache, the pool of the ordinary requests, and the
asynchronous connections of the document lookups, which belong to the event loop that opened them.
"""

import asyncio
import logging
import threading
import time
from contextlib import contextmanager
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from skills_pipeline.delivery import lookups, tokens
from skills_pipeline.delivery.api.http import problem

log = logging.getLogger(__name__)

TOKEN_CACHE_SECONDS = 10.0  # a revoked token stops working within this time
# A request's role and county, for its transaction only (is_local = true): the row-level security reads them.
SCOPE_QUERY = "select set_config('role', %s, true), set_config('skills.api_county', %s, true)"
FORBIDDEN = (psycopg.errors.InsufficientPrivilege, lookups.FORBIDDEN)
WAREHOUSE_ERRORS = (*FORBIDDEN, psycopg.OperationalError, *lookups.UNAVAILABLE)

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


def scope_of(grant: tokens.Grant) -> tuple[str, str]:
    """SCOPE_QUERY's parameters for a grant: its role and its county ('' for none)."""
    return grant.role, grant.region_code or ""


def warehouse_problem(error: Exception) -> HTTPException:
    """403 where the token's role may not read; 503 (retry shortly) where the warehouse does not answer."""
    if isinstance(error, FORBIDDEN):
        return problem(403, "this token's role may not read this resource")
    log.warning("warehouse unavailable: %s", type(error).__name__)
    return problem(503, "the warehouse is not answering; try again shortly", {"Retry-After": "5"})


class ApiWarehouse:
    """The application's connections. `conninfo` defaults to the API's warehouse URL (SKILLS_API_WAREHOUSE_URL or
    the warehouse); `pool_size` bounds the connections of the ordinary requests; `lookup_lanes` the statements in
    flight per role on the lookups' hot path (delivery/lookups.py). Everything opens on first use (also when the app
    is driven without its lifespan, as test clients may)."""

    def __init__(self, conninfo: str | None, pool_size: int, lookup_lanes: int):
        self.conninfo, self.pool_size, self.lookup_lanes = conninfo, pool_size, lookup_lanes
        self.tokens = TokenCache()
        self._pool = None
        self._opening = threading.Lock()
        self._per_loop: tuple[object, dict] | None = None

    def _url(self) -> str:
        from skills_pipeline import warehouse

        return self.conninfo or warehouse.api_url()

    def _loop_connections(self) -> dict:
        """Async connections belong to the loop that opened them: a server has one loop per worker; a test client
        starts a loop per session, and gets connections of its own."""
        loop = asyncio.get_running_loop()
        if self._per_loop is None or self._per_loop[0] is not loop:
            self._per_loop = (loop, {"lookups": {}, "scoped": None})
        return self._per_loop[1]

    def role_lookups(self, role: str) -> lookups.CoalescedLookups:
        """Documents read as `role`, concurrent lookups sharing statements (delivery/lookups.py)."""
        registry = self._loop_connections()["lookups"]
        if role not in registry:
            registry[role] = lookups.CoalescedLookups(self._url(), role, lanes=self.lookup_lanes)
        return registry[role]

    async def scoped_pool(self):
        """A county token's lookups: a connection that becomes the token's role, with its county, per transaction."""
        connections = self._loop_connections()
        if connections["scoped"] is None:
            from psycopg_pool import AsyncConnectionPool

            candidate = AsyncConnectionPool(
                self._url(), min_size=1, max_size=self.pool_size, kwargs={"autocommit": True}, open=False,
                name="api-scoped-lookups",
            )  # fmt: skip
            await candidate.open()
            if connections["scoped"] is None:
                connections["scoped"] = candidate
            else:  # another request opened one meanwhile
                await candidate.close()
        return connections["scoped"]

    def pool(self):
        with self._opening:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self._pool = ConnectionPool(
                    self._url(), min_size=min(2, self.pool_size), max_size=self.pool_size,
                    kwargs={"autocommit": True}, open=True, name="api",
                )  # fmt: skip
            return self._pool

    @contextmanager
    def connection(self, grant: tokens.Grant | None):
        """A pooled connection in a transaction as the grant's role and county (the API's own login for None)."""
        try:
            with self.pool().connection(timeout=10) as conn, conn.transaction():
                if grant is not None:
                    conn.execute(SCOPE_QUERY, scope_of(grant))
                yield conn
        except WAREHOUSE_ERRORS as error:
            raise warehouse_problem(error) from None

    def grant_of(self, token: str) -> tokens.Grant | None:
        with self.connection(None) as conn:
            return tokens.lookup(conn, token)

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._per_loop is not None:
            loop, connections = self._per_loop
            self._per_loop = None
            if loop is asyncio.get_running_loop():
                for each in connections["lookups"].values():
                    await each.close()
                if connections["scoped"] is not None:
                    await connections["scoped"].close()


def warehouse_of(request: Request) -> ApiWarehouse:
    return request.app.state.warehouse


async def _warehouse(request: Request) -> ApiWarehouse:
    # async: FastAPI runs a sync dependency on its thread pool, a hop per request for an attribute read
    return warehouse_of(request)


async def authorised(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> tokens.Grant:
    # async: a cached grant is answered on the event loop, without a hop to the thread pool that every sync
    # dependency costs (a third of a lookup's CPU under load); only a cache miss goes to a thread.
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise problem(401, "missing token: send Authorization: Bearer <token>", challenge)
    token = credentials.credentials
    warehouse = warehouse_of(request)
    grant = warehouse.tokens.get(token)
    if grant is None:
        grant = await run_in_threadpool(warehouse.grant_of, token)
        if grant is None:
            raise problem(401, "unknown or revoked token", challenge)
        warehouse.tokens.put(token, grant)
    return grant


Token = Annotated[tokens.Grant, Depends(authorised)]
Warehouse = Annotated[ApiWarehouse, Depends(_warehouse)]


def require_region(grant: tokens.Grant, region: str | None) -> None:
    """A county token reads its own county: asking for another region is refused (403), not answered empty."""
    if grant.region_code is not None and region is not None and region != grant.region_code:
        raise problem(
            403,
            f"this token is for county {grant.region_code}; it may not read region {region} "
            f"(ask for region={grant.region_code}, or leave region out)",
        )
