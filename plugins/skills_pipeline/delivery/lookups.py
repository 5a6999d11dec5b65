"""Coalesced reads of published archive documents: the read API's hot path (GET /v1/persons/{pseudonym}).

Under load, many lookups for the same warehouse role are waiting at once. Sent one statement each, every lookup
pays a round trip, a parse of the protocol on both sides and a pass through the driver; on a two-core server that
work, not the index probe, is what a lookup costs. Here concurrent lookups of one role share a statement: while a
statement is in flight, new lookups queue, and the next statement reads all of them with `= any($1)`. A lookup that
arrives when nothing is in flight is sent at once, so an idle API answers as fast as a single read would.

Each role's connections log in as that role (the `role` start-up setting, which RESET ROLE returns to), so every
statement runs under the row-level security of the token's role, as any other request does. Only roles whose
policies need no per-request setting share statements this way: a county token's county is a setting of its own
transaction, and its lookups go through the API's scoped path (delivery/api/persons.py).

asyncpg rather than psycopg here: measured in the same API on the same warehouse, it answered about 25% more
lookups per second (its protocol parsing is compiled; psycopg's async cursor layer is Python), and the hot path is
the one place where that is the difference. Everything else in the API stays on psycopg.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from psycopg.conninfo import conninfo_to_dict

log = logging.getLogger(__name__)

# convert_to(): the stored text arrives as bytes, sent as the response body without a decode and an encode
DOCUMENTS_QUERY = (
    "select person_id, convert_to(document, 'UTF8') from delivery.archive_documents where person_id = any($1::text[])"
)
APPLICATION_NAME = "skills-api-lookups"
MAX_BATCH = 500  # keys per statement; more wait for the next one
CONNECT_TIMEOUT_SECONDS = 10.0
STATEMENT_TIMEOUT_SECONDS = 10.0

# What a warehouse that does not answer raises (the API answers 503 and the caller retries).
UNAVAILABLE = (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
               asyncpg.exceptions.CannotConnectNowError)  # fmt: skip
FORBIDDEN = asyncpg.exceptions.InsufficientPrivilegeError


def connect_arguments(conninfo: str) -> dict:
    """asyncpg.connect() keywords for a libpq connection string or URL (parsed by libpq, as psycopg would)."""
    parsed = {key: value for key, value in conninfo_to_dict(conninfo).items() if value not in (None, "")}
    arguments: dict = {"server_settings": {}}
    for libpq, keyword in (("host", "host"), ("user", "user"), ("password", "password"), ("dbname", "database"),
                           ("sslmode", "ssl"), ("passfile", "passfile")):  # fmt: skip
        if libpq in parsed:
            arguments[keyword] = parsed.pop(libpq)
    if "port" in parsed:
        arguments["port"] = int(parsed.pop("port"))
    arguments["timeout"] = float(parsed.pop("connect_timeout", CONNECT_TIMEOUT_SECONDS))
    # named in pg_stat_activity, so an operator can tell the lookups' connections from the rest
    arguments["server_settings"]["application_name"] = parsed.pop("application_name", APPLICATION_NAME)
    for option in parsed.pop("options", "").split("-c")[1:]:
        name, _, value = option.strip().partition("=")
        arguments["server_settings"][name.strip()] = value.strip()
    if parsed:
        log.warning("archive lookups ignore connection parameters asyncpg has no use for: %s", ", ".join(parsed))
    return arguments


class CoalescedLookups:
    """Published documents by pseudonym, read as one role, concurrent lookups sharing statements.

    `lanes` bounds the statements in flight, and the role's connections. One lane makes the largest batches and the
    least work for the warehouse (measured, the most lookups per second); more let new lookups start while a slow
    statement is read.
    """

    def __init__(self, conninfo: str, role: str, lanes: int = 1):
        self.role = role
        self.lanes = lanes
        self._arguments = connect_arguments(conninfo)
        self._arguments["server_settings"]["role"] = role
        self._pending: dict[str, list[asyncio.Future]] = {}
        self._running = 0
        self._idle: list[asyncpg.Connection] = []  # the connections of lanes that found nothing more to read
        self._closed = False
        self.lookups = 0  # answered or failed, and the statements they took: lookups / statements is the sharing
        self.statements = 0

    async def get(self, pseudonym: str) -> bytes | None:
        """The stored document (UTF-8 JSON) or None where the role sees no archive under this pseudonym."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._pending.setdefault(pseudonym, []).append(waiter)
        self.lookups += 1
        if self._running < self.lanes:
            self._running += 1
            loop.create_task(self._drain())
        return await waiter

    async def _drain(self) -> None:
        """One lane: reads batches on its own connection until nothing waits. A connection that failed is dropped
        and the next batch connects again (the warehouse may have restarted)."""
        connection = None
        try:
            while self._pending:
                batch = self._take_batch()
                try:
                    if connection is None:
                        connection = self._idle.pop() if self._idle else await asyncpg.connect(**self._arguments)
                    self.statements += 1
                    rows = await connection.fetch(DOCUMENTS_QUERY, list(batch), timeout=STATEMENT_TIMEOUT_SECONDS)
                except Exception as error:  # every waiter of the batch gets it; the API maps it to 403 or 503
                    _settle(batch, error=error)
                    if connection is not None and not isinstance(error, FORBIDDEN):
                        connection.terminate()
                        connection = None
                    continue
                except BaseException as error:  # cancelled (shutdown): the waiters learn of it, then it propagates
                    _settle(batch, error=error)
                    raise
                _settle(batch, found=dict(rows))
        finally:
            self._running -= 1
            if connection is not None:
                if self._closed:
                    connection.terminate()
                else:
                    self._idle.append(connection)

    def _take_batch(self) -> dict[str, list[asyncio.Future]]:
        if len(self._pending) <= MAX_BATCH:
            batch, self._pending = self._pending, {}
            return batch
        keys = list(self._pending)[:MAX_BATCH]
        return {key: self._pending.pop(key) for key in keys}

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close(timeout=5)


def _settle(batch: dict[str, list[asyncio.Future]], found: dict | None = None, error: BaseException | None = None):
    for pseudonym, waiters in batch.items():
        for waiter in waiters:
            if waiter.done():  # its request was cancelled (the client went away)
                continue
            if isinstance(error, asyncio.CancelledError):
                waiter.cancel()
            elif error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(found.get(pseudonym))
