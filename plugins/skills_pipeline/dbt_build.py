"""Run the dbt project against the warehouse: profile fields come from SKILLS_WAREHOUSE_URL, never from files."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from skills_pipeline import settings


def project_dir() -> Path:
    return settings.project_root() / "dbt_project"


def manifest_path() -> Path:
    return project_dir() / "target" / "manifest.json"


def profile_env(url: str | None = None) -> dict[str, str]:
    """SKILLS_DBT_* variables read by dbt_project/profiles.yml, from a PostgreSQL URL (socket URLs included)."""
    from skills_pipeline import warehouse  # psycopg stays out of DAG parsing

    parts = urlsplit(url or warehouse.transformer_url())
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "localhost"])[0]
    return {
        "SKILLS_DBT_HOST": host,
        "SKILLS_DBT_PORT": str(parts.port or query.get("port", ["5432"])[0]),
        "SKILLS_DBT_USER": unquote(parts.username or "postgres"),
        "SKILLS_DBT_PASSWORD": unquote(parts.password or ""),
        "SKILLS_DBT_DBNAME": (parts.path or "/postgres").lstrip("/") or "postgres",
    }


def export_profile_env(url: str | None = None) -> None:
    os.environ.update(profile_env(url))
    os.environ.setdefault("DBT_PROFILES_DIR", str(project_dir()))


def run(*args: str) -> None:
    """Invoke dbt in this process (no CLI start-up cost); raises with dbt's own message on failure."""
    from dbt.cli.main import dbtRunner

    if args[0] != "parse":  # parsing reads no data: it needs no warehouse (profiles.yml has local defaults)
        export_profile_env()
    command = [*args, "--project-dir", str(project_dir()), "--profiles-dir", str(project_dir())]
    result = dbtRunner().invoke(command)
    if not result.success:
        raise RuntimeError(f"dbt {' '.join(args)} failed: {result.exception or 'see the dbt log above'}")


def parse() -> Path:
    """Re-parse the project (a few seconds): the build_archive DAG renders from this manifest."""
    run("parse", "--quiet")
    return manifest_path()
