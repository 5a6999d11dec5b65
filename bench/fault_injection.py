"""Fault injection: kill the pipeline at random points and restart PostgreSQL under it; it must converge.

The pipeline here is what a night does, as separate processes: ingest every generated date
(`skills-pipeline ingest`), `dbt build`, then a settlement run of one month. A clean run gives the fingerprint:
row counts per table and a content hash over raw, the ledger, the marts and the settlement lines (columns that
only record when or in which batch something happened are left out). Each trial then starts from an empty
warehouse, runs the pipeline with one fault injected, runs it again without faults, and compares.

Faults: SIGKILL of the ingestion, of `dbt build` or of the settlement run at a random moment within the step's
measured duration; a fast restart of PostgreSQL in the middle of a step. The warehouse is an embedded PostgreSQL
of its own (so restarting it disturbs nobody).

    .venv/bin/python bench/fault_injection.py --trials 24 --restarts 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
START = dt.date(2026, 6, 1)
DAYS = 3
PERIOD = "2026-05"
# Columns that record when or under which batch or run id something happened: not content.
VOLATILE = [
    "batch_id", "loaded_at", "seen_at", "created_at", "approved_at", "acknowledged_at", "run_id", "data_docs_path",
    "superseded_by", "created_by", "approved_by", "input_batches", "applied_at",
]  # fmt: skip
FINGERPRINT_SCHEMAS = ("raw", "ingest", "archive", "metrics", "settlement", "payments")


@dataclass
class Step:
    name: str
    command: list[str]
    ok_codes: tuple[int, ...] = (0,)  # `ingest` exits 1 when files stand rejected: a judgement, not a failure
    # A step too short to hit by wall-clock (a settlement run is over in a second, most of it start-up) is struck
    # this many seconds at most after its database transaction opens, found by its application_name.
    strike_in_transaction: float | None = None

    @property
    def application_name(self) -> str:
        return "skills-faults-" + self.name.replace(" ", "-")


class Pipeline:
    """One night's work as separate processes against one warehouse database."""

    def __init__(self, url: str, landing: Path, state: Path, steps: tuple[str, ...] | None = None):
        from skills_pipeline import dbt_build
        from skills_pipeline.ingest import pseudonyms

        key = pseudonyms.load_key()  # read once: the steps get the secret itself, not a file that could move
        self.url = url
        self.env = {
            **os.environ,
            "SKILLS_WAREHOUSE_URL": url,
            "SKILLS_LANDING_ROOT": str(landing),
            "SKILLS_STATE_DIR": str(state),
            "SKILLS_MAX_BAD_ROW_SHARE": "1",
            pseudonyms.KEY_ENV: key.secret.decode(),
            pseudonyms.KEY_VERSION_ENV: str(key.version),
            "DBT_QUIET": "true",
            **dbt_build.profile_env(url),
        }
        last = START + dt.timedelta(days=DAYS - 1)
        cli = str(VENV_BIN / "skills-pipeline")
        dbt = [str(VENV_BIN / "dbt"), "--quiet"]
        project = ["--project-dir", str(ROOT / "dbt_project"), "--profiles-dir", str(ROOT / "dbt_project")]
        self.steps = [
            Step("ingest", [cli, "ingest", "--date", START.isoformat(), "--to", last.isoformat()], (0, 1)),
            Step("dbt build", [*dbt, "build", *project]),
            Step("settlement", [cli, "settlement", "run", PERIOD], strike_in_transaction=0.02),
        ]
        if steps:
            self.steps = [step for step in self.steps if step.name in steps]

    def start(self, step: Step) -> subprocess.Popen:
        env = {**self.env, "PGAPPNAME": step.application_name}  # libpq names the step's sessions
        return subprocess.Popen(
            step.command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )

    def run(self, fault=None) -> dict[str, float]:
        """Every step in order; `fault(step, process)` may disturb one. Returns each step's seconds. A step that
        fails (the fault's doing) ends this pass: the next pass starts again from the first step."""
        seconds = {}
        for step in self.steps:
            started = time.perf_counter()
            process = self.start(step)
            if fault:
                fault(step, process)
            code = process.wait()
            seconds[step.name] = time.perf_counter() - started
            if code not in step.ok_codes:
                return seconds | {"failed": step.name}
        return seconds


def reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        schemas = "raw, ingest, scratch, vault, pseudonymised, payments, delivery, staging, intermediate, archive, "
        schemas += "metrics, settlement"
        conn.execute(f"drop schema if exists {schemas}, reference cascade")


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Per table: (row count, md5 of its rows as JSON without the volatile columns, in sorted order)."""
    prints = {}
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema = any(%s) and table_type = 'BASE TABLE' order by 1, 2",
            (list(FINGERPRINT_SCHEMAS),),
        ).fetchall()
        for schema, table in tables:
            count, digest = conn.execute(
                f"select count(*), md5(coalesce(string_agg(r, chr(10) order by r), '')) from ("
                f'select (to_jsonb(t) - %s::text[])::text as r from "{schema}"."{table}" as t) as rows',
                (VOLATILE,),
            ).fetchone()
            prints[f"{schema}.{table}"] = (count, digest)
    return prints


def differences(expected: dict, actual: dict) -> list[str]:
    return [
        f"{table}: {expected.get(table)} != {actual.get(table)}"
        for table in sorted(set(expected) | set(actual))
        if expected.get(table) != actual.get(table)
    ]


def fault_at(target: str, delay: float, strike, url: str):
    """A fault that waits `delay` seconds into the step named `target` (or into its open transaction, for a step
    that asks for it), then strikes if the step still runs."""

    def fault(step: Step, process: subprocess.Popen) -> None:
        if step.name != target:
            return
        if step.strike_in_transaction is not None and not _wait_for_transaction(url, step, process):
            return
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            strike(process)

    return fault


def _wait_for_transaction(url: str, step: Step, process: subprocess.Popen) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        while process.poll() is None:
            open_transaction = conn.execute(
                "select 1 from pg_stat_activity where application_name = %s and xact_start is not null",
                (step.application_name,),
            ).fetchone()
            if open_transaction:
                return True
            time.sleep(0.005)
    return False


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)


def restart(pgdata: Path):
    from skills_pipeline.local.embedded_watchdog import pg_ctl

    return lambda process: pg_ctl(pgdata, "restart")


def generate(landing: Path, persons: int) -> None:
    from skills_pipeline.local.generator import GeneratorConfig, generate

    generate(GeneratorConfig(out=landing, persons=persons, start=START, end=START + dt.timedelta(days=DAYS - 1),
                             history_months=3))  # fmt: skip


@dataclass
class Trial:
    number: int
    kind: str  # kill | restart
    step: str
    delay: float
    converged: bool
    detail: str


def run_trials(pipeline: Pipeline, pgdata: Path | None, trials: int, restarts: int, seed: int, log=print):
    """The clean fingerprint, then `trials` kills and `restarts` restarts; returns (trials, clean seconds)."""
    rng = random.Random(seed)
    reset(pipeline.url)
    clean_seconds = pipeline.run()
    if "failed" in clean_seconds:
        raise RuntimeError(f"the clean run failed at {clean_seconds['failed']}: nothing to compare against")
    clean = fingerprint(pipeline.url)
    log(f"clean run: {', '.join(f'{k} {v:.0f}s' for k, v in clean_seconds.items())}; {len(clean)} tables fingerprinted")
    reset(pipeline.url)
    pipeline.run()
    if differences(clean, fingerprint(pipeline.url)):
        raise RuntimeError("two clean runs differ: the fingerprint is not deterministic; fix it before injecting")
    plan = [("kill", pipeline.steps[n % len(pipeline.steps)].name) for n in range(trials)]
    if pgdata is not None:
        plan += [("restart", pipeline.steps[n % 2].name) for n in range(restarts)]
    results = []
    for number, (kind, step) in enumerate(plan, start=1):
        chosen = next(s for s in pipeline.steps if s.name == step)
        window = chosen.strike_in_transaction or clean_seconds[step]
        delay = rng.uniform(0.05, 0.95) * window
        fault = fault_at(step, delay, kill if kind == "kill" else restart(pgdata), pipeline.url)
        reset(pipeline.url)
        first = pipeline.run(fault)
        second = pipeline.run()
        problems = differences(clean, fingerprint(pipeline.url))
        if "failed" in second:
            problems.insert(0, f"the re-run failed at {second['failed']}")
        interrupted = f"interrupted at {first['failed']}" if "failed" in first else "finished before the fault"
        trial = Trial(number, kind, step, delay, not problems, interrupted if not problems else "; ".join(problems[:3]))
        results.append(trial)
        mark = "converged" if trial.converged else "DIVERGED"
        log(f"  trial {number:>2}: {kind:<7} {step:<10} at {delay:5.1f}s ({interrupted}) -> {mark}"
            + ("" if trial.converged else f": {trial.detail}"))  # fmt: skip
    return results, clean_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=21, help="SIGKILL trials, spread over the three steps (21)")
    parser.add_argument("--restarts", type=int, default=3, help="PostgreSQL restarts mid-step (3)")
    parser.add_argument("--persons", type=int, default=600, help="generated population (600)")
    parser.add_argument("--seed", type=int, default=20261124, help="seed for the fault moments")
    args = parser.parse_args()

    import pgserver

    from skills_pipeline.local import runner

    runner.ensure_local_pseudonym_key()
    with tempfile.TemporaryDirectory(prefix="skills-faults-") as tmp:
        work = Path(tmp)
        server = pgserver.get_server(work / "pgdata", cleanup_mode="stop")
        url = server.get_uri()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create database faults")
        url = url.replace("/postgres?", "/faults?")
        os.environ["SKILLS_WAREHOUSE_URL"] = url
        from skills_pipeline import warehouse

        warehouse.apply_roles()
        generate(work / "landing", args.persons)
        pipeline = Pipeline(url, work / "landing", work / "state")
        print(f"fault injection: {args.trials} kills + {args.restarts} PostgreSQL restarts, {args.persons} people, "
              f"{DAYS} days; embedded PostgreSQL in {work / 'pgdata'}", flush=True)  # fmt: skip
        started = time.perf_counter()
        results, _ = run_trials(
            pipeline, work / "pgdata", args.trials, args.restarts, args.seed, log=lambda t: print(t, flush=True)
        )
        server.cleanup()
    converged = sum(t.converged for t in results)
    interrupted = [t for t in results if "interrupted" in t.detail or not t.converged]
    print()
    print(f"{converged}/{len(results)} converged to the clean run's fingerprint "
          f"({len(interrupted)} interrupted a step; the rest struck after it had finished)")  # fmt: skip
    kinds = {(t.kind, t.step) for t in results}
    for kind, step in sorted(kinds):
        group = [t for t in results if (t.kind, t.step) == (kind, step)]
        print(f"  {kind:<7} {step:<10} {sum(t.converged for t in group)}/{len(group)}, "
              f"median fault at {statistics.median(t.delay for t in group):.1f}s")  # fmt: skip
    print(f"total {time.perf_counter() - started:.0f}s")
    return 0 if converged == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
