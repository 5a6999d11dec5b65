"""What a person sees at the terminal: progress and summaries on the console, everything else in a log file.

Library chatter (lineage notices, per-model Asset updates, temporary-directory lines) is written to the log file
only; warnings and errors from anything else still reach the console, so a real problem is never hidden.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import warnings
from pathlib import Path

from skills_pipeline import settings

# Messages that are expected on every run and say nothing an operator acts on; the log file keeps them.
KNOWN_NOISE = (
    "openlineage",  # Cosmos: dbt nodes without an OpenLineage namespace
    "OpenLineage",
    "asset",  # Airflow: every Cosmos model task updates an Asset
    "Asset",
    "on-run-start",  # Cosmos cannot render dbt's on-run-start hook as a task: it runs inside dbt anyway
    "on_run_start",
    "temporary directory",  # GX: its ephemeral Data Docs site
    "generic SQLDatasource",
    "XDG_RUNTIME_DIR",
    "FAB",
    "is deprecated",
    "Deprecat",
)
current_log: Path | None = None  # the log file of this process, once set up
NOISY_LOGGERS = ("great_expectations", "cosmos", "airflow", "pgserver", "dbt", "alembic", "py.warnings")


class _ConsoleFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(NOISY_LOGGERS):
            return True
        message = record.getMessage()
        return not any(marker in message for marker in KNOWN_NOISE)


def log_file(command: str) -> Path:
    folder = settings.state_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{command}-{dt.datetime.now():%Y%m%d-%H%M%S}.log"


def setup(command: str, verbose: bool = False) -> Path:
    """Full logs (INFO and up, tracebacks included) to a file; the console gets warnings that matter."""
    global current_log
    path = current_log = log_file(command)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(to_file)
    to_console = logging.StreamHandler(sys.stderr)
    to_console.setLevel(logging.INFO if verbose else logging.WARNING)
    to_console.addFilter(_ConsoleFilter())
    to_console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root.addHandler(to_console)
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    return path
