"""Nightly-cost benchmark: does a night's run grow with the history behind it?

In one run, for the same generated day D (identical files in both cases):
  (a) ingest D + dbt build, on an empty warehouse
  (b) ingest D + dbt build, on top of 12 months of history (loaded and built first, untimed)
Target (b)/(a) <= 1.5. Ingestion runs through the package (what each DAG task calls) and dbt through dbtRunner
(what each Cosmos task calls), so Airflow's per-task overhead, which does not depend on history, is left out.

    .venv/bin/python bench/bench_nightly.py --persons 20000
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from skills_pipeline import feeds

FEEDS = tuple(feeds.FEEDS)  # every feed of the registry
SCHEMAS = "raw, ingest, scratch, vault, pseudonymised, delivery, staging, intermediate, archive, metrics, reference"


def reset(url: str) -> None:
    from skills_pipeline import warehouse

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"drop schema if exists {SCHEMAS} cascade")
    warehouse.apply_roles()  # dbt's grants and row-level security need the roles and the access schema


def ingest_days(root: Path, days: list[dt.date]) -> None:
    from skills_pipeline.ingest import loader

    for day in days:
        for feed in FEEDS:
            loader.ingest(feed, day, landing_root=str(root), max_bad_row_share=1.0, fail_on_rejected=False)


def nightly(root: Path, day: dt.date) -> tuple[float, float]:
    from skills_pipeline import dbt_build

    started = time.perf_counter()
    ingest_days(root, [day])
    ingested = time.perf_counter()
    dbt_build.run("build", "--quiet", *dbt_build.NIGHTLY_BUILD_FLAGS)  # as build_archive runs it
    return ingested - started, time.perf_counter() - ingested


def sizes(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {feed: conn.execute(f"select count(*) from raw.{feed}").fetchone()[0] for feed in FEEDS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--history-months", type=int, default=12)
    args = parser.parse_args()

    import great_expectations  # noqa: F401  (a one-off import per process, not part of a night's cost)

    from skills_pipeline import dbt_build, warehouse
    from skills_pipeline.local import embedded, runner
    from skills_pipeline.local.generator import DefectRates, GeneratorConfig, generate

    runner.ensure_local_pseudonym_key()
    url = embedded.local_url()
    dbt_build.export_profile_env(url)
    print(f"warehouse: {warehouse.redacted(url)}")

    first, day = dt.date(2026, 6, 1), dt.date(2026, 6, 8)
    with tempfile.TemporaryDirectory(prefix="skills-nightly-") as tmp:
        root = Path(tmp)
        config = GeneratorConfig(out=root, persons=args.persons, start=first, end=day,
                                 history_months=args.history_months, defects=DefectRates.none())  # fmt: skip
        generate(config)
        history_days = [first + dt.timedelta(days=n) for n in range((day - first).days)]

        reset(url)
        ingest_a, dbt_a = nightly(root, day)
        day_rows = sizes(url)

        reset(url)
        started = time.perf_counter()
        ingest_days(root, history_days)
        dbt_build.run("build", "--quiet", *dbt_build.NIGHTLY_BUILD_FLAGS)
        history_rows = sizes(url)
        print(f"history loaded and built in {time.perf_counter() - started:.0f}s (untimed)")
        ingest_b, dbt_b = nightly(root, day)
        reset(url)

    total_a, total_b = ingest_a + dbt_a, ingest_b + dbt_b
    print()
    print(f"day {day}: " + ", ".join(f"{feed} {n:,}" for feed, n in day_rows.items()) + " rows")
    print(f"history before it ({args.history_months} months): "
          + ", ".join(f"{feed} {n:,}" for feed, n in history_rows.items()) + " rows")  # fmt: skip
    print(f"(a) empty warehouse:   ingest {ingest_a:6.1f}s + dbt {dbt_a:6.1f}s = {total_a:6.1f}s")
    print(f"(b) on the history:    ingest {ingest_b:6.1f}s + dbt {dbt_b:6.1f}s = {total_b:6.1f}s")
    print(f"(b)/(a) = {total_b / total_a:.2f}   (target <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
