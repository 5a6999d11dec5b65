"""Where things live and which environment variables configure them (all documented in the README)."""

from __future__ import annotations

import os
from pathlib import Path

WAREHOUSE_URL_ENV = "SKILLS_WAREHOUSE_URL"
LANDING_ROOT_ENV = "SKILLS_LANDING_ROOT"
STATE_DIR_ENV = "SKILLS_STATE_DIR"
MAX_BAD_ROW_SHARE_ENV = "SKILLS_MAX_BAD_ROW_SHARE"
EXPORT_ROOT_ENV = "SKILLS_EXPORT_ROOT"
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


def data_docs_dir() -> Path:
    return state_dir() / "data_docs"


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
