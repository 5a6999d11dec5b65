"""Read-API tokens (access.api_tokens, sql/007_archive_delivery.sql): issued and revoked from the CLI.

A token is shown once, when issued; the warehouse keeps only its SHA-256 (a token carries 256 random bits, so a
fast hash is as safe as a slow one here). Each token maps to a warehouse role, which every request runs as:

    archive   -> archive_reader     every archive, the change feed; no metrics
    province  -> analyst_province   every archive and the province's metrics
    county    -> analyst_county     one county's archives, changes and metrics (row-level security)
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

import psycopg

from skills_pipeline.settings import ConfigurationError

PREFIX = "skp_"
ROLES = {"archive": "archive_reader", "province": "analyst_province", "county": "analyst_county"}
COUNTY_PATTERN = re.compile(r"14\d{4}")


@dataclass(frozen=True)
class Grant:
    token_id: int
    scope: str
    region_code: str | None

    @property
    def role(self) -> str:
        return ROLES[self.scope]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue(conn: psycopg.Connection, label: str, scope: str, county: str | None = None) -> tuple[int, str]:
    """A new token: (token_id, the token). The token is not stored and cannot be shown again."""
    if scope not in ROLES:
        raise ConfigurationError(f"scope {scope!r}: expected one of {', '.join(ROLES)}")
    if (scope == "county") != (county is not None):
        raise ConfigurationError("a county token needs --county CODE, and only a county token takes one")
    if county is not None and not COUNTY_PATTERN.fullmatch(county):
        raise ConfigurationError(f"--county {county!r}: expected a 6-digit Shanxi county code such as 141125")
    if not label.strip():
        raise ConfigurationError("--label is empty: name who holds the token, e.g. 'city of Lüliang HR office'")
    token = PREFIX + secrets.token_urlsafe(32)
    token_id = conn.execute(
        "insert into access.api_tokens (token_sha256, label, scope, region_code) values (%s, %s, %s, %s) "
        "returning token_id",
        (token_hash(token), label.strip(), scope, county),
    ).fetchone()[0]
    return token_id, token


def revoke(conn: psycopg.Connection, token_id: int) -> bool:
    """Revoke a token (effective within the API's cache time); False if no such live token."""
    return (
        conn.execute(
            "update access.api_tokens set revoked_at = now() where token_id = %s and revoked_at is null", (token_id,)
        ).rowcount
        == 1
    )


def listing(conn: psycopg.Connection) -> list[tuple]:
    """(token_id, label, scope, county, created_at, revoked_at) of every token; never the token or its hash."""
    return conn.execute(
        "select token_id, label, scope, region_code, created_at, revoked_at from access.api_tokens order by token_id"
    ).fetchall()


def lookup(conn: psycopg.Connection, token: str) -> Grant | None:
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    row = conn.execute(
        "select token_id, scope, region_code from access.api_tokens where token_sha256 = %s and revoked_at is null",
        (token_hash(token),),
    ).fetchone()
    return Grant(*row) if row else None
