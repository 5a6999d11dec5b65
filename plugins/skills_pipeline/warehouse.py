"""The PostgreSQL warehouse: how to reach it, its migrations, roles and logins.

Production code reaches the configured server only. The embedded server of local runs lives in
skills_pipeline.local.embedded, which starts it and points SKILLS_WAREHOUSE_URL at it for this process and its children.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

import psycopg

from skills_pipeline import settings

log = logging.getLogger(__name__)


def warehouse_url() -> str:
    """SKILLS_WAREHOUSE_URL; else, inside Airflow, the connection `skills_warehouse` (so a secrets backend can hold
    it). Never the embedded server: a deployed worker that cannot resolve its warehouse must fail, not load into a
    private database nobody will read. (SKILLS_WAREHOUSE_URL=embedded is a request to the skills-pipeline command,
    which starts the local server and replaces the value with its URL before any work.)"""
    configured = os.environ.get(settings.WAREHOUSE_URL_ENV)
    if configured == settings.EMBEDDED_WAREHOUSE:
        raise settings.ConfigurationError(
            f"{settings.WAREHOUSE_URL_ENV}={settings.EMBEDDED_WAREHOUSE} is started by the local tools (the "
            "skills-pipeline command, make run, the tests), not by a deployed worker: give the worker its server's URL"
        )
    if configured:
        return configured
    from_airflow, reason = _airflow_connection_url()
    if from_airflow:
        return from_airflow
    raise settings.ConfigurationError(
        f"no warehouse configured: set {settings.WAREHOUSE_URL_ENV}=postgresql://user:password@host:5432/database, "
        f"or define the Airflow connection '{settings.AIRFLOW_CONNECTION_ID}' (any secrets backend){reason}; "
        f"for the local embedded server, set {settings.WAREHOUSE_URL_ENV}={settings.EMBEDDED_WAREHOUSE}"
    )


def _airflow_connection_url() -> tuple[str | None, str]:
    """The warehouse connection from Airflow's connections and secrets backends, when running under Airflow; else
    None and why not (for the error message)."""
    if "airflow" not in sys.modules:  # never import Airflow just to find out (CLI and tests stay light)
        return None, ""
    try:
        from airflow.sdk import BaseHook

        connection = BaseHook.get_connection(settings.AIRFLOW_CONNECTION_ID)
    except Exception as error:  # not defined, or the secrets backend is down: the caller fails with this reason
        log.debug("no Airflow connection %s: %s", settings.AIRFLOW_CONNECTION_ID, error)
        return None, f" (looking it up failed: {type(error).__name__})"
    return connection.get_uri().replace("postgres://", "postgresql://", 1), ""


def check_connection() -> None:
    """Connect once, so a wrong URL or a server that is down is one clear line before any work starts."""
    url = warehouse_url()
    try:
        psycopg.connect(url, connect_timeout=10).close()
    except psycopg.Error as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise settings.ConfigurationError(
            f"cannot connect to the warehouse {redacted(url)}: {reason}; check {settings.WAREHOUSE_URL_ENV} "
            f"(or the Airflow connection '{settings.AIRFLOW_CONNECTION_ID}') and that the server is running"
        ) from None


def with_database(url: str, database: str) -> str:
    """The same server URL (TCP or socket) pointing at another database."""
    base, _, query = url.partition("?")
    base = base.rsplit("/", 1)[0] + f"/{database}"
    return f"{base}?{query}" if query else base


def sqlalchemy_url(url: str | None = None) -> str:
    """The same database as a SQLAlchemy URL with the psycopg 3 driver (GX connects through SQLAlchemy)."""
    url = url or warehouse_url()
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme in ("postgresql", "postgres") else url


def redacted(url: str) -> str:
    """The URL with its password masked, for printing."""
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def transformer_url() -> str:
    """Where dbt and settlement runs connect: SKILLS_TRANSFORMER_URL (a login in skills_transformer) when a
    deployment separates the services' logins, else the warehouse URL."""
    return os.environ.get(settings.TRANSFORMER_URL_ENV) or warehouse_url()


def api_url() -> str:
    """The read API's login: SKILLS_API_WAREHOUSE_URL (a member of archive_api), else the warehouse URL."""
    return os.environ.get(settings.API_WAREHOUSE_URL_ENV) or warehouse_url()


class WarehouseUnreachable(psycopg.OperationalError):
    """The warehouse was never reached (no such host, nothing listening, refused): nothing was done. A subclass of
    OperationalError, so code that treats a lost connection as retryable treats this alike."""


def where(url: str) -> str:
    """HOST:PORT of a libpq URL or conninfo (a socket folder stands for the host)."""
    params = psycopg.conninfo.conninfo_to_dict(url)
    return f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"


def open_connection(url: str, **kwargs) -> psycopg.Connection:
    """psycopg.connect, whose failure to reach the server says where it tried and what to check."""
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as error:
        reason = " ".join(str(error).split())
        raise WarehouseUnreachable(
            f"cannot connect to the warehouse at {where(url)} ({reason}); check {settings.WAREHOUSE_URL_ENV} (or "
            "the service's own login setting) and that PostgreSQL is running there"
        ) from error


@contextmanager
def connect(autocommit: bool = False, as_transformer: bool = False) -> Iterator[psycopg.Connection]:
    with open_connection(transformer_url() if as_transformer else warehouse_url(), autocommit=autocommit) as conn:
        yield conn


# ANALYZE a table when a write adds more than this share of the rows its statistics describe (autovacuum's default).
STALE_STATISTICS_SHARE = 0.1


def analyze_if_outgrown(conn: psycopg.Connection, table: str, added_rows: int) -> bool:
    """ANALYZE `table` (schema-qualified, trusted) when `added_rows` just committed make its statistics stale: it has
    none yet, or the rows added exceed STALE_STATISTICS_SHARE of what they describe. Autovacuum would do the same,
    but up to a minute later, and the dbt build that follows a first load plans its joins in that minute: without
    statistics on the vault's pseudonyms, one model took minutes instead of seconds. A role that does not own the
    table gets PostgreSQL's warning and no error. Returns whether it analyzed."""
    if added_rows <= 0:
        return False
    row = conn.execute("select reltuples from pg_class where oid = to_regclass(%s)", (table,)).fetchone()
    if row is None or 0 <= row[0] and added_rows <= STALE_STATISTICS_SHARE * row[0]:
        return False
    conn.execute(f"analyze {table}")
    conn.commit()
    log.debug("analyzed %s after %d new rows", table, added_rows)
    return True


MIGRATIONS = (
    "001_ingest.sql",
    "002_settlement.sql",
    "003_ledger_outcomes.sql",
    "004_settlement_chain.sql",
    "005_money_type.sql",
    "006_archive_changes.sql",
    "007_archive_delivery.sql",
    "008_raw_append_only.sql",
    "009_archive_documents.sql",
    "010_imported_targets.sql",
    "011_payment_exports.sql",
    "012_voucher_write_offs.sql",
    "013_pseudonymised_records.sql",
)


def _migration_sql(name: str) -> str:
    return resources.files("skills_pipeline.sql").joinpath(name).read_text(encoding="utf-8")


def migrate() -> None:
    """Apply the schema migrations not yet applied in their current form; runs at the start of each load.

    Every statement is idempotent, but DDL needs the schema owner's rights: once the administrator has applied a
    migration, the loader and transformer roles (which may not alter what they do not own) skip it by checksum.
    """
    wanted = {name: hashlib.sha256(_migration_sql(name).encode()).hexdigest() for name in MIGRATIONS}
    with connect() as conn:
        # One migrator at a time: parallel feed tasks all call this on start-up.
        conn.execute("select pg_advisory_xact_lock(hashtext('skills_pipeline.migrate'))")
        applied = {}
        if conn.execute("select to_regclass('ingest.schema_migrations')").fetchone()[0]:
            applied = dict(conn.execute("select name, sha256 from ingest.schema_migrations").fetchall())
        pending = [name for name in MIGRATIONS if applied.get(name) != wanted[name]]
        for name in pending:
            try:
                conn.execute(_migration_sql(name))
            except psycopg.errors.InsufficientPrivilege as error:
                raise PermissionError(
                    f"migration {name} is not applied and role {conn.info.user!r} may not apply it ({error}); "
                    "run `skills-pipeline warehouse roles` as the warehouse administrator (it applies the "
                    "migrations, then the roles)"
                ) from None
        if pending:
            conn.execute(
                "create table if not exists ingest.schema_migrations "
                "(name text primary key, sha256 char(64) not null, applied_at timestamptz not null default now())"
            )
            for name in pending:
                conn.execute(
                    "insert into ingest.schema_migrations (name, sha256) values (%s, %s) "
                    "on conflict (name) do update set sha256 = excluded.sha256, applied_at = now()",
                    (name, wanted[name]),
                )


def apply_roles() -> None:
    """Create the warehouse roles and their grants (sql/roles.sql); needs an administrator (CREATEROLE, owner)."""
    migrate()
    with connect() as conn:
        conn.execute("select pg_advisory_xact_lock(hashtext('skills_pipeline.migrate'))")
        conn.execute(_migration_sql("roles.sql"))


def register_county_analyst(login: str, county: str) -> None:
    """Create (if needed) a county analyst login and map it to its county; row-level security does the rest."""
    with connect() as conn:
        conn.execute("select access.register_county_analyst(%s, %s)", (login, county))


def add_login(login: str, group: str, password: str) -> None:
    """A service's own login in one group role (the services never use the administrator's login)."""
    from psycopg import sql

    with connect(autocommit=True) as conn:
        if not conn.execute("select 1 from pg_roles where rolname = %s", (login,)).fetchone():
            conn.execute(sql.SQL("create role {} login").format(sql.Identifier(login)))
        conn.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(login), sql.Literal(password)))
        conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(group), sql.Identifier(login)))
