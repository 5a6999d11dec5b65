"""The full Airflow stack as local processes: what docker-compose.yml runs, without Docker.

Starts Airflow's api-server, scheduler, dag-processor, triggerer and two Celery workers (CeleryExecutor, Redis as
broker, a PostgreSQL metadata database of its own; the second worker serves the heavy queue), and on request a hot
standby of the warehouse (local/replica.py), drives them only through the public REST API — the way an
operator or another system would — and stops everything it started, whatever happens. Used by `make stack` and
by the test suite, so the nightly DAGs are proven under the real scheduler and distributed executor, not only
through `dag.test`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from skills_pipeline import dbt_build, settings
from skills_pipeline.local.replica import ReplicaError, Standby
from skills_pipeline.schedule import nightly_run_time
from skills_pipeline.warehouse import with_database

log = logging.getLogger(__name__)

METADATA_SERVER_ENV = "SKILLS_STACK_POSTGRES_URL"  # a server where the stack may create its metadata database
BROKER_URL_ENV = "SKILLS_STACK_REDIS_URL"
DEFAULT_METADATA_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
# Two Celery workers, as a fleet has: one for the default queue, one for the heavy queue (the heavy pool's work:
# the social-security load and the dbt models, operations.heavy_task_args) and the default queue too.
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer", "celery-worker", "celery-heavy-worker")
# A worker lost mid-task (killed, its machine gone) leaves its task "running" with no heartbeat and its reserved
# messages unacknowledged: the scheduler fails such a task after this many seconds and it is retried on a worker
# that is alive, and the broker hands the lost worker's messages to another after as long. Airflow's defaults
# (5 minutes; a day for Redis) suit a fleet; the local stack, whose test kills a worker, shortens them.
LOST_WORKER_SECONDS = 60
TERMINAL_STATES = {"success", "failed"}


class StackError(RuntimeError):
    """The stack did not come up, or a DAG run did not finish; the message names the component and its log."""


def _raise_on_sigterm(signum, frame) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LocalStack:
    """One stack: `with LocalStack.start(...) as stack:` guarantees every process and the database are gone after."""

    home: Path
    port: int
    env: dict[str, str]
    metadata_server: str
    metadata_database: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    password: str = ""
    with_standby: bool = False
    killed: set[str] = field(default_factory=set)  # components killed on purpose (kill), not failures
    standby: Standby | None = None  # a hot standby of the warehouse, streaming through the night (local/replica.py)
    _token: str | None = None
    _previous_sigterm: object = None

    @classmethod
    def create(cls, worker_concurrency: int = 2, standby: bool = False) -> LocalStack:
        """`standby`: also start a hot standby of the warehouse, as the read API and the analysts use it past one
        machine (docs/scaling.md)."""
        home = Path(tempfile.mkdtemp(prefix="skills-stack-"))
        port = _free_port()
        server = os.environ.get(METADATA_SERVER_ENV, DEFAULT_METADATA_SERVER)
        database = f"skills_airflow_{uuid.uuid4().hex[:8]}"
        metadata = with_database(server, database).replace("postgresql://", "postgresql+psycopg://", 1)
        password = secrets.token_urlsafe(16)
        (home / "passwords.json").write_text(json.dumps({"admin": password}))
        root = settings.project_root()
        # The DAGs render from a copy of the manifest that no dbt run writes: a worker parses build_archive at every
        # task's start, while the dbt tasks beside it would rewrite a shared target folder's manifest under it.
        manifest = home / "manifest.json"
        if dbt_build.manifest_path().exists():
            shutil.copy(dbt_build.manifest_path(), manifest)
        inherited = {name: value for name, value in os.environ.items()
                     if name not in ("SKILLS_LOCAL_RUNNER", "DBT_TARGET_PATH", "DBT_LOG_PATH")}  # fmt: skip
        env = {
            # Not the local runner's marker: under the scheduler and triggerer the DAGs keep their deadline alerts.
            # Nor a dbt target folder of the caller's: each task's dbt run works in a folder of its own.
            **inherited,
            dbt_build.MANIFEST_ENV: str(manifest),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
            # psycopg 3 serves the async engine too (Airflow would otherwise look for asyncpg).
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata,
            "AIRFLOW__CELERY__BROKER_URL": os.environ.get(BROKER_URL_ENV, DEFAULT_BROKER),
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(worker_concurrency),
            # dbt, Cosmos and the task runner imported once per worker, not once per task (celery_config.py).
            "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "skills_pipeline.celery_config.CELERY_CONFIG",
            # Each stack gets its own Celery queues, so two stacks sharing one Redis never take each other's tasks.
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"skills-{database}",
            "SKILLS_HEAVY_QUEUE": f"skills-{database}-heavy",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(LOST_WORKER_SECONDS),
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": str(LOST_WORKER_SECONDS * 2),
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": str(LOST_WORKER_SECONDS),
            "SKILLS_RETRY_DELAY_SECONDS": "5",
            "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            # Every process must sign and check task tokens with the same secret.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            # Runs come only from the REST API and from Asset events: a cron run for "yesterday" appearing when a DAG
            # is unpaused would only add work (and events) to the night under test. (Airflow's own
            # scheduler.use_job_schedule=False would stop Asset-triggered runs too.)
            "SKILLS_TIME_SCHEDULES": "off",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            # dbt's partial-parse state between tasks is valid for this stack's warehouse only (runner.py says why).
            "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(root / "plugins"), os.environ.get("PYTHONPATH")])),
        }
        return cls(home, port, env, server, database, password=password, with_standby=standby)

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        # A SIGTERM (CI timeout, kill) must still stop the stack: turn it into an exception that unwinds through here.
        self._previous_sigterm = signal.signal(signal.SIGTERM, _raise_on_sigterm)
        try:
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        finally:
            signal.signal(signal.SIGTERM, self._previous_sigterm)

    def _airflow(self) -> str:
        return str(Path(sys.executable).with_name("airflow"))

    def start(self, timeout: float = 300) -> None:
        with psycopg.connect(self.metadata_server, autocommit=True) as conn:
            conn.execute(f'create database "{self.metadata_database}"')
        print(f"stack: Airflow home {self.home}, metadata database {self.metadata_database}", flush=True)
        migration = subprocess.run(
            [self._airflow(), "db", "migrate"], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if migration.returncode != 0:
            raise StackError(f"airflow db migrate failed:\n{(migration.stdout + migration.stderr)[-3000:]}")
        from skills_pipeline.operations import HEAVY_POOL, HEAVY_POOL_SLOTS

        pool = [self._airflow(), "pools", "set", HEAVY_POOL, str(HEAVY_POOL_SLOTS), "heavy loads"]
        subprocess.run(pool, env=self.env, capture_output=True, check=True, timeout=timeout)
        commands = {
            "api-server": ["api-server", "--port", str(self.port), "--host", "127.0.0.1", "--workers", "1"],
            "scheduler": ["scheduler"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer"],
            "celery-worker": ["celery", "worker", "--queues", self.env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"]],
            "celery-heavy-worker": [
                # its own node name, and no second log server on the first worker's port (both write the same folder)
                "celery", "worker", "--celery-hostname", "heavy@%h", "--skip-serve-logs",
                "--queues", f"{self.env['SKILLS_HEAVY_QUEUE']},{self.env['AIRFLOW__OPERATORS__DEFAULT_QUEUE']}",
            ],
        }  # fmt: skip
        for name in COMPONENTS:
            logfile = open(self.home / f"{name}.log", "wb")  # noqa: SIM115  (closed with the process in stop())
            self.processes[name] = subprocess.Popen(
                [self._airflow(), *commands[name]],
                env=self.env,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() takes the children with it
            )
        self._wait_for_api(timeout)
        print(f"stack: {', '.join(COMPONENTS)} running; API at http://127.0.0.1:{self.port}", flush=True)
        if self.with_standby:
            from skills_pipeline import warehouse

            try:
                self.standby = Standby.start(warehouse.warehouse_url(), self.home / "standby")
            except ReplicaError as error:  # e.g. a configured warehouse that grants this machine no replication
                print(f"stack: no hot standby ({error}); the night runs without one", flush=True)
            else:
                print(f"stack: hot standby of the warehouse streaming at {self.standby.url}", flush=True)

    def stop(self) -> None:
        if self.standby is not None:
            self.standby.stop()
            self.standby = None
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()
        try:
            with psycopg.connect(self.metadata_server, autocommit=True) as conn:
                conn.execute(f'drop database if exists "{self.metadata_database}" with (force)')
        except psycopg.Error as error:
            log.warning("could not drop the stack's metadata database %s: %s", self.metadata_database, error)
        shutil.rmtree(self.home, ignore_errors=True)

    def kill(self, component: str) -> None:
        """SIGKILL a component and its children, as a lost machine would: no shutdown, no goodbye to the broker."""
        process = self.processes[component]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self.killed.add(component)
        print(f"stack: {component} killed", flush=True)

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if name in self.killed:
                continue
            if process.poll() is not None:
                tail = (self.home / f"{name}.log").read_text(errors="replace")[-3000:]
                raise StackError(f"{name} exited with code {process.returncode}; last log lines:\n{tail}")

    def _wait_for_api(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if httpx.get(f"{self.base_url}/api/v2/version", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(2)
        raise StackError(f"the api-server did not answer within {timeout:.0f}s (log: {self.home}/api-server.log)")

    # -- REST API ----------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, method: str, path: str, **kwargs) -> dict:
        if self._token is None:
            response = httpx.post(
                f"{self.base_url}/auth/token", json={"username": "admin", "password": self.password}, timeout=30
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
        response = httpx.request(
            method, f"{self.base_url}/api/v2{path}", headers={"Authorization": f"Bearer {self._token}"}, timeout=60,
            **kwargs,
        )  # fmt: skip
        if response.status_code >= 400:
            raise StackError(f"{method} {path}: HTTP {response.status_code}: {response.text[:500]}")
        return response.json()

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 300) -> None:
        """Until the dag-processor has parsed and stored every DAG (then they can be unpaused and triggered)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            known = {dag["dag_id"] for dag in self.api("GET", "/dags", params={"limit": 100})["dags"]}
            if set(dag_ids) <= known:
                return
            time.sleep(3)
        raise StackError(f"DAGs {dag_ids} not parsed within {timeout:.0f}s (log: {self.home}/dag-processor.log)")

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, logical_date: dt.datetime, conf: dict | None = None) -> str:
        body = {"logical_date": logical_date.isoformat(), "conf": conf or {}}
        return self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def running_tasks(self, dag_id: str) -> list[dict]:
        """The task instances of `dag_id` running now, in any of its runs."""
        found = self.api("GET", f"/dags/{dag_id}/dagRuns/~/taskInstances", params={"state": "running"})
        return found["task_instances"]

    def runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "run_after", "limit": 100})["dag_runs"]

    def wait_for_run(self, dag_id: str, predicate, timeout: float = 900) -> dict:
        """Wait until a run of `dag_id` matching `predicate` reaches a final state; returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            for run in self.runs(dag_id):
                if predicate(run) and run["state"] in TERMINAL_STATES:
                    return run
            time.sleep(5)
        raise StackError(f"no finished run of {dag_id} within {timeout:.0f}s (logs under {self.home})")

    def consumed_events_of(self, dag_id: str, run: dict, source_dag_id: str, source_run_id: str) -> bool:
        """Whether an asset-triggered run of dag_id was set off by Asset events of that upstream run."""
        if run["run_type"] != "asset_triggered":
            return False
        events = self.api("GET", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents")["asset_events"]
        return any(e["source_dag_id"] == source_dag_id and e["source_run_id"] == source_run_id for e in events)

    def failed_tasks(self, dag_id: str, run_id: str) -> list[str]:
        instances = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 500})
        return [ti["task_id"] for ti in instances["task_instances"] if ti["state"] not in ("success", "skipped")]


NIGHTLY_DAGS = ["ingest_feeds", "build_archive", "settle_subsidies"]


def _took(run: dict) -> str:
    """' in N s' from a run's start and end as the REST API gives them, or '' when either is missing."""
    try:
        seconds = (
            dt.datetime.fromisoformat(run["end_date"]) - dt.datetime.fromisoformat(run["start_date"])
        ).total_seconds()
    except (KeyError, TypeError, ValueError):
        return ""
    return f" in {seconds:.0f} s"


def run_nightly(stack: LocalStack, day: dt.date, timeout: float = 1500) -> dict[str, dict]:
    """Trigger ingestion of data date `day` through the REST API and follow the Asset chain it sets off:
    ingest_feeds → build_archive (on the four raw Assets) → settle_subsidies (on the metrics Asset)."""
    stack.wait_for_dags(NIGHTLY_DAGS)
    for dag_id in NIGHTLY_DAGS:
        stack.unpause(dag_id)
    run_id = stack.trigger("ingest_feeds", nightly_run_time(day), conf={"data_date": day.isoformat()})
    print(f"stack: triggered ingest_feeds {run_id} (data date {day})", flush=True)
    started = time.monotonic()
    results = {"ingest_feeds": stack.wait_for_run("ingest_feeds", lambda run: run["dag_run_id"] == run_id, timeout)}
    previous_dag, previous = "ingest_feeds", results["ingest_feeds"]
    for dag_id in NIGHTLY_DAGS[1:]:
        if previous["state"] != "success":
            break
        remaining = timeout - (time.monotonic() - started)
        upstream = (previous_dag, previous["dag_run_id"])
        results[dag_id] = previous = stack.wait_for_run(
            dag_id, lambda run, dag_id=dag_id, upstream=upstream: stack.consumed_events_of(dag_id, run, *upstream),
            remaining,
        )  # fmt: skip
        previous_dag = dag_id
    for dag_id, run in results.items():
        failed = [] if run["state"] == "success" else stack.failed_tasks(dag_id, run["dag_run_id"])
        print(
            f"stack: {dag_id} {run['dag_run_id']}: {run['state']}{_took(run)}"
            + (f" (failed: {failed})" if failed else "")
        )
    return results


def run_demo(persons: int = 500, day: dt.date = dt.date(2026, 6, 1)) -> int:
    """`skills-pipeline stack`: generate one night of feeds, run it through the local stack, check and report."""
    from skills_pipeline import warehouse
    from skills_pipeline.local import embedded, runner
    from skills_pipeline.local.generator import DefectRates, GeneratorConfig, generate

    runner.ensure_local_pseudonym_key()
    url = embedded.local_url()  # exported to the stack's processes through the environment
    if embedded.uses_embedded_server():
        warehouse.apply_roles()  # the embedded warehouse is ours to administer
    dbt_build.export_profile_env(url)
    dbt_build.parse()
    landing = Path(tempfile.mkdtemp(prefix="skills-stack-landing-"))
    try:
        generate(GeneratorConfig(out=landing, persons=persons, start=day, end=day, history_months=3,
                                 defects=DefectRates.none()))  # fmt: skip
        os.environ[settings.LANDING_ROOT_ENV] = str(landing)
        with LocalStack.create(standby=True) as stack:
            results = run_nightly(stack, day)
            with psycopg.connect(url) as conn:
                persons_archived = conn.execute("select count(*) from archive.persons").fetchone()[0]
            print(f"stack: the archive now holds {persons_archived:,} persons ({persons:,} generated for this night)")
            if stack.standby is not None:
                caught_up = stack.standby.wait_for_primary()
                with psycopg.connect(stack.standby.url) as conn:
                    replicated = conn.execute("select count(*) from archive.persons").fetchone()[0]
                print(f"stack: the hot standby had replayed the night {caught_up:.1f}s after it ended: it serves "
                      f"{replicated:,} archives (docs/scaling.md: the read API and analysts on a replica)")  # fmt: skip
    finally:
        shutil.rmtree(landing, ignore_errors=True)
    ok = [run["state"] for run in results.values()] == ["success"] * len(NIGHTLY_DAGS)
    return 0 if ok else 1
