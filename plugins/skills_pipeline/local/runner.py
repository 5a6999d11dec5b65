"""The main job: run the nightly DAGs through Airflow for a range of data dates, then print a summary.

Airflow, GX and dbt cost ~20 s of imports per process, so every date runs in this one process with
`dag.test()` (real task instances, metadata in a local SQLite database) instead of one CLI call per date.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from skills_pipeline import console, schedule, settings, warehouse
from skills_pipeline.local import embedded

log = logging.getLogger(__name__)

DEMO_START = dt.date(2026, 6, 1)
DEMO_END = dt.date(2026, 6, 7)


def configure_airflow() -> Path:
    """Point Airflow at this repository and a local metadata database; returns AIRFLOW_HOME."""
    home = settings.state_dir() / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    root = settings.project_root()
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        # Cosmos keeps dbt's partial-parse state for the next task in a cache folder, /tmp/cosmos by default. That
        # state is only valid for one warehouse (dbt hashes the connection into it): two runs on one machine with
        # different warehouses (the test workers, `make run` beside them) made each other's tasks parse from scratch.
        "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
        # The console is for the run's own progress lines; task logs stay in Airflow's log folder.
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        # dag.test runs no scheduler or triggerer: the DAGs leave their deadline alerts out (operations.py).
        "SKILLS_LOCAL_RUNNER": "1",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    return home


def announce_local_alerts() -> None:
    """With alerts configured, a failed run's e-mail is sent here as under the scheduler; deadline alerts are not:
    they are checked by the scheduler and sent by the triggerer, neither of which runs in dag.test. Said, not
    silently dropped (make stack runs both)."""
    from skills_pipeline import operations

    if operations.alert_emails():
        console.say(
            f"alerts: a failed run e-mails {', '.join(operations.alert_emails())}; deadline alerts are left out "
            "here (they need the scheduler and triggerer: make stack, or a deployment)"
        )


def ensure_local_pseudonym_key() -> None:
    """Local runs without a configured key get a random one under the state folder (never in the repository)."""
    from skills_pipeline.ingest import pseudonyms

    if os.environ.get(pseudonyms.KEY_ENV) or os.environ.get(pseudonyms.KEY_FILE_ENV):
        return
    path = settings.state_dir() / "pseudonym.key"
    if not path.exists():
        import secrets

        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
        console.say(f"no {pseudonyms.KEY_ENV} configured: created a local key in {path} (for this machine only)")
    os.environ[pseudonyms.KEY_FILE_ENV] = str(path)


def ensure_local_archive_exports() -> None:
    """Local runs deliver the changed archives under the state folder, signed with a local key made on first use."""
    from skills_pipeline.delivery import signing

    os.environ.setdefault(settings.ARCHIVE_EXPORT_ROOT_ENV, str(settings.state_dir() / "exports" / "archive"))
    if signing.configured():
        return
    path = settings.state_dir() / "export-signing.pem"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_bytes(signing.new_private_key_pem())
        console.say(f"no {signing.KEY_FILE_ENV} configured: created a local signing key in {path}")
    os.environ[signing.KEY_FILE_ENV] = str(path)


def migrate_airflow_metadata(home: Path) -> None:
    """`airflow db migrate` once per metadata database (it takes ~20 s; later runs only check a stamp), and the
    heavy-load pool the DAGs' big tasks run in."""
    stamp = home / ".migrated"
    if stamp.exists():
        ensure_heavy_pool()
        return
    console.say("preparing Airflow's metadata database (first run only) ...")
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, stdout=subprocess.DEVNULL, env=os.environ.copy())
    stamp.touch()
    ensure_heavy_pool()


def ensure_heavy_pool() -> None:
    from airflow.models.pool import Pool

    from skills_pipeline.operations import HEAVY_POOL, HEAVY_POOL_SLOTS

    Pool.create_or_update_pool(HEAVY_POOL, HEAVY_POOL_SLOTS, "social-security loads and dbt models", False)


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(settings.project_root() / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag.dags[dag_id]


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """Keep what this process holds out of the garbage collector's full passes during a DAG run. Cosmos calls
    gc.collect() after every dbt command (to release dbt's semaphores); in one process that has loaded Airflow, Great
    Expectations and dbt, each pass walked the whole heap, and together they were a third of a run's time (py-spy).
    Collected once, frozen for the run, unfrozen after it: nothing alive before stays uncollectable for good."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_dag_for_dates(dag_id: str, dates: list[dt.date], run_conf: dict | None = None) -> dict[dt.date, str]:
    """Run one DAG for each data date in order, in this process; returns each run's final state."""
    import pendulum

    dag = load_dag(dag_id)
    states = {}
    for day in dates:
        # Data date D runs at 02:00 (Beijing) on D + 1 — exactly when the scheduler runs it.
        logical_date = pendulum.instance(schedule.nightly_run_time(day))
        started = time.perf_counter()
        with _heap_frozen():
            run = dag.test(logical_date=logical_date, run_conf=run_conf or {})
        state = str(getattr(run, "state", "unknown"))
        states[day] = state
        console.say(f"  {dag_id} {day}: {state} in {time.perf_counter() - started:.0f}s")
    return states


def deliver_late_files(landing_root: Path) -> list[dt.date]:
    """Move the demo's late files into the landing root; returns the (already processed) dates they belong to."""
    from skills_pipeline.local.generator import sidecar_of

    late_root = sidecar_of(landing_root) / "late"
    dates = set()
    for path in sorted(late_root.glob("*/*/*")) if late_root.exists() else []:
        feed, day = path.parent.parent.name, path.parent.name
        target = landing_root / feed / day / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), target)
        dates.add(dt.date.fromisoformat(day))
    return sorted(dates)


def generate_demo(landing_root: Path, persons: int) -> None:
    from skills_pipeline.local.generator import GeneratorConfig, generate, sidecar_of

    if (sidecar_of(landing_root) / "manifest.json").exists():
        console.say(f"demo feeds already generated under {landing_root}")
        return
    console.say(f"generating a demo: {persons:,} people, {DEMO_START} to {DEMO_END} with 6 months of history ...")
    config = GeneratorConfig(out=landing_root, persons=persons, start=DEMO_START, end=DEMO_END, history_months=6)
    manifest = generate(config)
    rows = sum(f["rows"] for f in manifest["files"])
    console.say(f"  wrote {len(manifest['files'])} files, {rows:,} rows")


def import_demo_targets(landing_root: Path) -> None:
    """The demo's year has no target in the policy documents: import the generator's, as a bureau would
    (skills-pipeline targets import, docs/targets.md), so the reports show pace against them."""
    from skills_pipeline.local.generator import sidecar_of
    from skills_pipeline.reports import targets

    for path in sorted(sidecar_of(landing_root).glob("targets-*.csv")):
        with warehouse.connect() as conn:
            result = targets.import_file(conn, path)
        console.say(f"  imported {result.rows} demo target(s) from {path.name} (as `skills-pipeline targets import`)")


def files_not_examined(landing_root: str, dates: list[dt.date]) -> dict[dt.date, list[str]]:
    """Per data date, the delivered files the ledger has no sighting of. Checked independently of the DAG runs,
    so that a run that did nothing (a date outside the DAGs' range, a task that skipped) is never a success."""
    from skills_pipeline import feeds
    from skills_pipeline.ingest import ledger
    from skills_pipeline.ingest.landing import Landing

    landing = Landing(landing_root)
    missing: dict[dt.date, list[str]] = {}
    with warehouse.connect() as conn:
        for day in dates:
            for feed in feeds.FEEDS:
                seen = ledger.seen_paths(conn, feed, day)
                unseen = [d.url for d in landing.deliveries(feed, day) if d.url not in seen]
                if unseen:
                    missing.setdefault(day, []).extend(unseen)
    return missing


def run_main_job(
    landing_root: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    persons: int = 20_000,
) -> int:
    from skills_pipeline.ingest import pseudonyms
    from skills_pipeline.ingest.landing import Landing
    from skills_pipeline.local.summary import print_summary

    started = time.perf_counter()
    # Everything a person can get wrong is checked before anything starts (no server, no Airflow, no dbt).
    demo = landing_root is None and not os.environ.get(settings.LANDING_ROOT_ENV)
    if demo:
        root = str(settings.state_dir() / "demo_landing")
        start, end = start or DEMO_START, end or DEMO_END
    else:
        root = landing_root or settings.landing_root()
        start = start or dt.date.today() - dt.timedelta(days=1)
        end = end or start
    dates = schedule.data_dates(start, end)
    if not demo:
        Landing(root).require()
    settings.max_bad_row_share()
    schedule.time_schedules_enabled()
    ensure_local_pseudonym_key()
    pseudonyms.load_key()
    ensure_local_archive_exports()
    if console.current_log:
        console.say(f"full log: {console.current_log}")
        console.install_tee()
    # The main job is the local entry point: with no warehouse configured it asks for the embedded one.
    url = embedded.local_url()
    console.say(f"warehouse: {warehouse.redacted(url)}")
    home = configure_airflow()
    announce_local_alerts()
    # The console is for the summary: dbt prints only errors here (deployed task logs keep dbt's full output).
    os.environ.setdefault("DBT_QUIET", "true")
    if demo:
        generate_demo(Path(root), persons)
    os.environ[settings.LANDING_ROOT_ENV] = str(root)
    migrate_airflow_metadata(home)
    from skills_pipeline import dbt_build

    if embedded.uses_embedded_server():
        warehouse.apply_roles()  # the embedded warehouse is ours to administer; a real one is set up at deploy
    dbt_build.export_profile_env(url)
    dbt_build.parse()  # the build_archive DAG renders from this manifest
    console.say(f"running ingest_feeds for {len(dates)} data date(s), {dates[0]} to {dates[-1]} ...")
    states = run_dag_for_dates("ingest_feeds", dates)
    if demo:
        late_dates = [d for d in deliver_late_files(Path(root)) if d in states]
        if late_dates:
            console.say(f"late files arrived for {', '.join(map(str, late_dates))}; re-running those dates ...")
            states.update(run_dag_for_dates("ingest_feeds", late_dates))
    unexamined = files_not_examined(root, dates)
    for day, paths in unexamined.items():
        states[day] = f"failed: {len(paths)} delivered file(s) were not examined"
    if demo:
        import_demo_targets(Path(root))
    console.say(f"running build_archive (dbt through Cosmos) after {dates[-1]} ...")
    archive_state = run_dag_for_dates("build_archive", [dates[-1]])[dates[-1]]
    # The month before the last data date: the demo's data is from 2026, whatever today's date is.
    period = (dates[-1].replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    console.say(f"running settle_subsidies (draft settlement of {period}) ...")
    settle_state = run_dag_for_dates("settle_subsidies", [dates[-1]], run_conf={"period": period})[dates[-1]]
    with console.on_terminal():
        print_summary(dates, elapsed=time.perf_counter() - started, states=states, archive_state=archive_state)
    succeeded = all(state.endswith("success") for state in [*states.values(), archive_state, settle_state])
    return 0 if succeeded else 1
