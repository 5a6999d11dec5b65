#!/usr/bin/env bash
# Creates .venv and installs the pinned dependencies plus this project: requirements/local.txt, which is what a
# deployed worker installs (requirements/worker.txt) plus the local tools (embedded PostgreSQL, tests, linters).
# Re-runs are cheap: it reinstalls only when the pins or pyproject.toml changed since the last successful install.
# Needs npm (Node.js) for the Data Docs assets: see plugins/skills_pipeline/ingest/data_docs.py.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
       && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python_bin="$candidate"; break
    fi
  done
fi
if [ -z "$python_bin" ]; then
  echo "bootstrap: Python 3.11 is required (Airflow 3.3 + dbt 1.11 are pinned for it); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

stamp_file=.venv/.installed-from
# The stamp also names how the install is made (bytecode-compiled since it was added), so older venvs redo it.
install_recipe="compiled-bytecode"
wanted_stamp="$(cat requirements/local.txt requirements/worker.txt pyproject.toml <(echo "$install_recipe") \
  | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp_file" ] || [ "$(cat "$stamp_file")" != "$wanted_stamp" ]; then
  echo "bootstrap: installing dependencies into .venv (first run takes a few minutes)" >&2
  [ -x .venv/bin/python ] || "$python_bin" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.8"
  .venv/bin/uv pip install --quiet --python .venv/bin/python -r requirements/local.txt
  .venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .
  # Compile every installed module to bytecode now: with PYTHONDONTWRITEBYTECODE set (as on the team's machines)
  # nothing caches it later, and every Airflow task process, Celery worker and CLI call would compile Airflow's,
  # dbt's and Great Expectations' sources again on import (a third of each dbt task's time under Celery, py-spy).
  # A few packages ship templates named .py that are not Python; compileall reports those, which is expected.
  echo "bootstrap: compiling the installed packages to bytecode" >&2
  .venv/bin/python -m compileall -q -j 0 .venv/lib/python3.11/site-packages >/dev/null 2>&1 || true
  echo "$wanted_stamp" > "$stamp_file"
fi
# The Data Docs' stylesheets and scripts, served from disk rather than public CDNs (an intranet has none): fetched
# from the npm registry once, checked against pinned hashes, into .venv/share/ (quiet when already there).
.venv/bin/python -m skills_pipeline.ingest.data_docs install
# The build_archive DAG renders its dbt tasks from the manifest; `skills-pipeline run` and `stack` parse again.
[ -f dbt_project/target/manifest.json ] || \
  .venv/bin/dbt parse --quiet --project-dir dbt_project --profiles-dir dbt_project
