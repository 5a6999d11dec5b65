"""What a person sees at the terminal: progress and summaries on the console, everything else in a log file.

Library chatter (lineage notices, per-model Asset updates, temporary-directory lines) is written to the log file
only; warnings and errors from anything else still reach the console, so a real problem is never hidden.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import sys
from contextlib import contextmanager
from pathlib import Path

from skills_pipeline import settings

# Messages that are expected on every run and say nothing an operator acts on; the log file keeps them.
KNOWN_NOISE = (
    "openlineage",  # Cosmos and Airflow: lineage is not configured (no OpenLineage provider)
    "Openlineage",
    "OpenLineage",
    "AssetModel",  # Airflow: Cosmos declares an Asset per dbt model that no DAG schedules on
    "Unavailable conversion function",  # Cosmos cannot draw dbt's on-run-start hook as a task; dbt runs it
    "Callback requested, but dag didn't have any",  # Airflow, when no failure e-mail is configured
    "temporary directory",  # GX: its ephemeral Data Docs site
    "generic SQLDatasource",
    "XDG_RUNTIME_DIR",
    "DeprecationWarning",  # libraries' own deprecations: for their maintainers, not for operators
    "ResourceWarning",
)
# A log record as Airflow's structlog renders it ("2026-06-01T02:00:00.000000Z [warning  ] ...") or as logging does.
LOG_RECORD = re.compile(r"^\S*\d{4}-\d{2}-\d{2}[T ][\d:.,]+Z?\s+\[(\w+)\s*\]|^(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")
terminal: io.TextIOBase | None = None  # the real terminal, once the tee is installed
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
    return path


class _Tee(io.TextIOBase):
    """Stands in for stdout and stderr: everything goes to the log file; the terminal gets error records and
    warnings that are not known chatter, with their continuation lines (tracebacks)."""

    def __init__(self, log: io.TextIOBase, terminal: io.TextIOBase):
        self.log, self.terminal = log, terminal
        self.pending = ""
        self.showing = False
        self.in_frames = False  # inside a traceback's frames: the log file has them, the terminal gets the error

    @property
    def encoding(self) -> str:
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.log.fileno()

    def write(self, text: str) -> int:
        self.log.write(text)
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self._route(line)
        return len(text)

    def _route(self, line: str) -> None:
        record = LOG_RECORD.match(line)
        if record:
            level = (record.group(1) or record.group(2)).lower()
            noise = any(marker in line for marker in KNOWN_NOISE)
            self.showing = level in ("error", "critical", "exception") or (level.startswith("warn") and not noise)
            self.in_frames = False
        elif line.startswith("Traceback (most recent call last)"):
            self.in_frames = True
            return
        elif self.in_frames:
            if line[:1].isspace() or not line:
                return  # a frame: file, code line or caret marks
            self.in_frames = False  # the exception itself, then its message's lines
        if self.showing:
            self.terminal.write(line + "\n")
            self.terminal.flush()

    def flush(self) -> None:
        self.log.flush()
        self.terminal.flush()


def install_tee() -> None:
    """From here on, library output (Airflow's task logs, dbt, GX) goes to the log file; call before importing
    Airflow, whose logging keeps the stdout it finds at import. say() still reaches the terminal."""
    global terminal
    if terminal is not None or current_log is None:
        return
    terminal = sys.stdout
    log = open(current_log, "a", encoding="utf-8", buffering=1)  # noqa: SIM115  (lives as long as the process)
    sys.stdout = sys.stderr = _Tee(log, terminal)


def say(text: str = "") -> None:
    """A progress or summary line for the person at the terminal."""
    print(text, file=terminal or sys.stdout, flush=True)


@contextmanager
def on_terminal():
    """Print straight to the terminal inside this block (the summary)."""
    if terminal is None:
        yield
        return
    saved = sys.stdout
    sys.stdout = terminal
    try:
        yield
    finally:
        sys.stdout = saved


def command_name() -> str:
    """How to type `skills-pipeline` here: the bare name when it is on PATH, else the project's entry point by its
    path (`.venv/bin/skills-pipeline` after `make run`, which does not activate the environment)."""
    import shutil
    import sys
    from pathlib import Path

    entry = Path(sys.executable).with_name("skills-pipeline")
    on_path = shutil.which("skills-pipeline")
    if on_path and (not entry.exists() or Path(on_path).resolve() == entry.resolve()):
        return "skills-pipeline"
    if not entry.exists():
        return "skills-pipeline"
    try:
        return str(entry.relative_to(Path.cwd()))
    except ValueError:
        return str(entry)
