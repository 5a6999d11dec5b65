"""Where things live and which environment variables configure them (all documented in the README)."""

from __future__ import annotations

import os
from pathlib import Path

WAREHOUSE_URL_ENV = "SKILLS_WAREHOUSE_URL"
LANDING_ROOT_ENV = "SKILLS_LANDING_ROOT"
STATE_DIR_ENV = "SKILLS_STATE_DIR"
MAX_BAD_ROW_SHARE_ENV = "SKILLS_MAX_BAD_ROW_SHARE"
EXPORT_ROOT_ENV = "SKILLS_EXPORT_ROOT"
REPORT_DIR_ENV = "SKILLS_REPORT_DIR"
ARCHIVE_EXPORT_ROOT_ENV = "SKILLS_ARCHIVE_EXPORT_ROOT"
API_HOST_ENV = "SKILLS_API_HOST"
# The read API's own login (a member of archive_api); the warehouse URL when unset.
API_WAREHOUSE_URL_ENV = "SKILLS_API_WAREHOUSE_URL"
API_PORT_ENV = "SKILLS_API_PORT"
# Airflow connection read when SKILLS_WAREHOUSE_URL is unset (e.g. served by a secrets backend).
AIRFLOW_CONNECTION_ID = "skills_warehouse"
# dbt and settlement runs as a login in skills_transformer, where a deployment gives each service its own login.
TRANSFORMER_URL_ENV = "SKILLS_TRANSFORMER_URL"
# SKILLS_WAREHOUSE_URL=embedded asks for the local embedded PostgreSQL (what `make run` uses when nothing is set).
EMBEDDED_WAREHOUSE = "embedded"

# A file whose share of quarantined rows exceeds this is rejected whole: at that rate the export itself is
# suspect (wrong template, shifted columns), and loading its remainder would hide the problem.
DEFAULT_MAX_BAD_ROW_SHARE = 0.05
# Below this many bad rows a file is judged row by row only: in a ten-row file one typo is 10%.
MIN_BAD_ROWS_FOR_SHARE_RULE = 20


class ConfigurationError(ValueError):
    """A setting or argument is wrong or missing. The message is one line: what is wrong and what to do. Raised
    before anything starts, so a misconfigured run never half-runs."""


def project_root() -> Path:
    """The repository root (this package lives in <root>/plugins/skills_pipeline)."""
    return Path(__file__).resolve().parents[2]


def state_dir() -> Path:
    """Local runtime state: embedded warehouse, Airflow home, demo landing root, Data Docs."""
    path = Path(os.environ.get(STATE_DIR_ENV) or project_root() / ".local")
    path.mkdir(parents=True, exist_ok=True)
    return path


def landing_root() -> str:
    """Landing root: a local path or an fsspec URL such as s3://bucket/landing."""
    return os.environ.get(LANDING_ROOT_ENV) or str(state_dir() / "landing")


def export_root() -> str:
    """Where settlement workbooks and payment files are written: a local path or an fsspec URL."""
    return os.environ.get(EXPORT_ROOT_ENV) or str(state_dir() / "exports" / "settlement")


def archive_export_root() -> str | None:
    """Where the nightly signed archive deliveries go (a local path or an fsspec URL); None: no nightly export."""
    return os.environ.get(ARCHIVE_EXPORT_ROOT_ENV) or None


def api_address() -> tuple[str, int]:
    """The read API's host and port (default 127.0.0.1:8000: loopback, until a deployment says otherwise)."""
    host = os.environ.get(API_HOST_ENV) or "127.0.0.1"
    raw = os.environ.get(API_PORT_ENV) or "8000"
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigurationError(f"{API_PORT_ENV}={raw!r}: expected a port number, e.g. 8000")
    return host, int(raw)


def data_docs_dir() -> Path:
    """The GX Data Docs: one site per feed (<feed>/index.html) and the assets they load offline (_assets/)."""
    return state_dir() / "data_docs"


def validation_results_dir() -> Path:
    """Every GX validation result (JSON, counts only), per feed: what the Data Docs sites are built from."""
    return state_dir() / "validation_results"


def dbt_docs_dir() -> Path:
    """Where build_archive writes the dbt docs (static_index.html: one page, no server needed)."""
    return state_dir() / "dbt_docs"


def report_dir() -> Path:
    """Where reports are written (a local folder: Chromium prints the PDF from the page on disk)."""
    return Path(os.environ.get(REPORT_DIR_ENV) or state_dir() / "reports")


def max_bad_row_share() -> float:
    raw = os.environ.get(MAX_BAD_ROW_SHARE_ENV)
    if raw is None:
        return DEFAULT_MAX_BAD_ROW_SHARE
    try:
        share = float(raw)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise ConfigurationError(f"{MAX_BAD_ROW_SHARE_ENV}={raw!r}: expected a share between 0 and 1, e.g. 0.05")
    return share
