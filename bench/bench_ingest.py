"""Ingestion benchmark: the project's full path against PostgreSQL's own COPY and against pandas.to_sql.

In one run, on the same generated social-security CSV (the largest feed):
  (a) skills_pipeline ingestion: fingerprint + parse + stdnum + GX validation + COPY + typed insert + ledger
  (b) PostgreSQL COPY of the same file into an equivalent typed table, no indexes: the physical limit here
  (c) pandas.read_csv + DataFrame.to_sql, what a newcomer would write (on at most --pandas-rows rows)
Each is repeated and the median reported; the ratios are what to compare across machines.

    .venv/bin/python bench/bench_ingest.py --rows 1000000
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

EQUIVALENT_TABLE = """
create table if not exists bench.copy_limit (
    id_number text, name text, employer_code text, region_code text, insurance_type text,
    contribution_month text, contribution_base numeric(14,2), paid boolean, updated_at timestamptz
)"""


def write_social_security_csv(path: Path, rows: int, seed: int = 7) -> None:
    """Clean contribution rows from the project's generator: real people, employers, five insurance types."""
    from skills_pipeline import feeds
    from skills_pipeline.local.generator.simulate import EMPLOYEE_INSURANCE, GeneratorConfig, World, make_person

    config = GeneratorConfig(out=path.parent, persons=max(rows // 30, 100), seed=seed)
    employers = World(config).employers
    written = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(feeds.SOCIAL_SECURITY.column_names)
        index = 0
        while written < rows:
            rng = random.Random(seed * 1_000_003 + index)
            person = make_person(config, index, rng)
            employer = rng.choice(employers)
            base = f"{rng.randrange(30, 90) * 100:.2f}"
            for month in ("202601", "202602", "202603", "202604", "202605", "202606"):
                for insurance_type in EMPLOYEE_INSURANCE:
                    if written == rows:
                        break
                    writer.writerow(
                        [
                            person.id_number,
                            person.name,
                            employer.code,
                            employer.region,
                            insurance_type,
                            month,
                            base,
                            "1",
                            f"2026-07-0{1 + index % 9} 02:{index % 60:02d}:00",
                        ]  # fmt: skip
                    )
                    written += 1
            index += 1


def reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop schema if exists raw, ingest, scratch, pseudonymised, bench cascade")
        conn.execute("create schema bench")
        conn.execute(EQUIVALENT_TABLE)
        conn.execute("checkpoint")


def run_pipeline(url: str, landing: Path, day: dt.date) -> tuple[float, dict]:
    from skills_pipeline.ingest import loader

    reset(url)
    started = time.perf_counter()
    report = loader.ingest("social_security", day, landing_root=str(landing))
    elapsed = time.perf_counter() - started
    (result,) = report.files
    assert result.status == "loaded", result.describe()
    return elapsed, result.stage_seconds


def run_copy(url: str, csv_path: Path) -> float:
    reset(url)
    started = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        with cursor.copy("copy bench.copy_limit from stdin (format csv, header true)") as copy:
            with open(csv_path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
        conn.commit()
    return time.perf_counter() - started


def run_to_sql(url: str, csv_path: Path, rows: int) -> float:
    import pandas as pd
    import sqlalchemy

    from skills_pipeline.warehouse import sqlalchemy_url

    reset(url)
    engine = sqlalchemy.create_engine(sqlalchemy_url(url))
    started = time.perf_counter()
    frame = pd.read_csv(csv_path, dtype=str, nrows=rows)
    frame.to_sql("to_sql_newcomer", engine, schema="bench", if_exists="append", index=False)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--pandas-rows", type=int, default=200_000, help="to_sql is slow; its rate is measured on this many"
    )
    args = parser.parse_args()

    import great_expectations  # noqa: F401  (a one-off ~3 s import per process, not part of a file's cost)

    from skills_pipeline import warehouse
    from skills_pipeline.local import embedded, runner

    runner.ensure_local_pseudonym_key()  # the key `make run` created, or the configured one
    url = embedded.local_url()
    print(f"warehouse: {warehouse.redacted(url)}")
    with psycopg.connect(url) as conn:
        print(f"server: {conn.execute('select version()').fetchone()[0].split(',')[0]}; cores: {os.cpu_count()}")

    with tempfile.TemporaryDirectory(prefix="skills-bench-") as tmp:
        day = dt.date(2026, 7, 1)
        landing = Path(tmp) / "landing"
        csv_path = landing / "social_security" / day.isoformat() / "contributions.csv"
        csv_path.parent.mkdir(parents=True)
        started = time.perf_counter()
        write_social_security_csv(csv_path, args.rows)
        size_mb = csv_path.stat().st_size / 1e6
        print(f"generated {args.rows:,} rows ({size_mb:.0f} MB) in {time.perf_counter() - started:.1f}s")

        pipeline, copies, to_sql, stages = [], [], [], []
        pandas_rows = min(args.rows, args.pandas_rows)
        for attempt in range(1, args.repeats + 1):
            elapsed, stage_seconds = run_pipeline(url, landing, day)
            pipeline.append(elapsed)
            stages.append(stage_seconds)
            copies.append(run_copy(url, csv_path))
            to_sql.append(run_to_sql(url, csv_path, pandas_rows))
            print(f"  repeat {attempt}: pipeline {pipeline[-1]:.2f}s, COPY {copies[-1]:.2f}s, "
                  f"to_sql {to_sql[-1]:.2f}s ({pandas_rows:,} rows)", flush=True)  # fmt: skip
        reset(url)

    rate_a = args.rows / statistics.median(pipeline)
    rate_b = args.rows / statistics.median(copies)
    rate_c = pandas_rows / statistics.median(to_sql)
    print()
    print(f"(a) skills_pipeline ingestion   {rate_a:>12,.0f} rows/s   (median of {args.repeats})")
    print(f"(b) PostgreSQL COPY, same CSV   {rate_b:>12,.0f} rows/s")
    print(f"(c) pandas to_sql               {rate_c:>12,.0f} rows/s")
    print(f"(a)/(b) = {rate_a / rate_b:.2f}   (target >= 0.3)")
    print(f"(a)/(c) = {rate_a / rate_c:.1f}   (target >= 5)")
    print()
    print("where the pipeline's time goes (median seconds per stage):")
    for stage in stages[0]:
        print(f"  {stage:<28} {statistics.median(s[stage] for s in stages):7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
