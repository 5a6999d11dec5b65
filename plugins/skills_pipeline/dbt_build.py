"""Run the dbt project against the warehouse: profile fields come from SKILLS_WAREHOUSE_URL, never from files."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from skills_pipeline import settings


def project_dir() -> Path:
    return settings.project_root() / "dbt_project"


def target_dir() -> Path:
    """dbt's target folder: DBT_TARGET_PATH (dbt reads it too) when set, else the project's own."""
    configured = os.environ.get("DBT_TARGET_PATH")
    return Path(configured) if configured else project_dir() / "target"


MANIFEST_ENV = "SKILLS_DBT_MANIFEST"
# The nightly build leaves dbt's unit tests out (dbt's own advice for production runs): they check the models' logic
# on fixed inputs, which no night's data changes, and they were about 40% of the dbt time of a small night (py-spy).
# The test suite runs them on every change (tests/integration/test_archive.py); the data tests run every night.
NIGHTLY_EXCLUDED_RESOURCE_TYPE = "unit_test"
NIGHTLY_BUILD_FLAGS = ("--exclude-resource-type", NIGHTLY_EXCLUDED_RESOURCE_TYPE)
# The same for a dbt invocation started without those flags (dbt reads this variable as the flag's default).
NIGHTLY_BUILD_ENV = {"DBT_EXCLUDE_RESOURCE_TYPES": NIGHTLY_EXCLUDED_RESOURCE_TYPE}


def manifest_path() -> Path:
    """The manifest the build_archive DAG renders its dbt tasks from: SKILLS_DBT_MANIFEST (a file no dbt run writes,
    set by the local stack for its processes), else the one in dbt's target folder."""
    configured = os.environ.get(MANIFEST_ENV)
    return Path(configured) if configured else target_dir() / "manifest.json"


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


def quicken_behavior_flags(*_context) -> None:
    """Make dbt's adapter start-up cheap in a process that has imported Airflow and Great Expectations.

    dbt-common names the module behind each of an adapter's behaviour flags with inspect.stack(), on every
    invocation and whether or not the flag names its source. inspect.stack() reads the source lines of every frame,
    and for each frame without a module file (a Jinja template, exec'd code) scans all of sys.modules: run deep
    inside an Airflow task, with some 5,000 modules loaded, that was nearly all of a dbt invocation's time (the
    main job's docs task spent minutes in it, py-spy). This gives the same answer, the first caller outside
    dbt_common.behavior_flags, from the frames' globals. Idempotent; arguments ignored, so it can be an operator's
    pre_execute hook (build_archive's Cosmos tasks)."""
    from dbt_common import behavior_flags

    def caller_module() -> str:
        frame = sys._getframe(1)
        while frame is not None:
            name = frame.f_globals.get("__name__")
            if name and name != behavior_flags.__name__:
                return name
            frame = frame.f_back
        return "Unknown"

    behavior_flags.BehaviorFlagRendered._default_source = staticmethod(caller_module)


def run(*args: str) -> None:
    """Invoke dbt in this process (no CLI start-up cost); raises with dbt's own message on failure."""
    from dbt.cli.main import dbtRunner

    quicken_behavior_flags()

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
