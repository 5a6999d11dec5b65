"""Province-scale benchmark: a history of N people, then one nightly day on top of it, stage by stage.

For each of two histories of the same population — 1 month and 12 months (--history-months) before the day D —
it generates the feeds (streaming, one person at a time), loads the history and builds it (timed, per stage), then
runs day D — the same files on both histories (the 1-month generation's) — ingestion per feed, `dbt build` per
model group, the archive's publication (build_archive's publish task: documents and change feed), the settlement
run of the month. Between the history and the night the warehouse is vacuumed, analyzed and checkpointed (timed,
printed, not counted in the night: see quiesce). Each stage runs in a child process of its own, so the peak memory
(RSS) printed is that stage's: the client side. PostgreSQL's own memory is its shared buffers and work_mem,
outside these figures.

    .venv/bin/python bench/bench_province.py                      # 20,000 people: a few minutes
    .venv/bin/python bench/bench_province.py --persons 1000000    # the province: ~10 M contribution rows a year

Targets (issues "province scale" and "past one machine"): the nightly day on 12 months of history within 1.1x of the
day on 1 month, also without the settlement run (reported apart: the month it settles holds different work in the two
histories); the nightly day (ingest + dbt + settlement) within 10 minutes at 1 M people; a province month end to end
within 30 minutes with peak RSS under 4 GiB per stage. It also prints the night's records (to compare nights across
population sizes: the night should grow with its records, not with history) and the warehouse's size on disk.

Generated histories are kept in .local/bench-feeds (--feeds-cache) and reused by the next run of the same population,
length, generator and feed contract: the 12-month history of 1 M people takes five to six minutes to write, and
repeated runs (the targets ask for three) measure the pipeline, not the generator.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from skills_pipeline import feeds

FEEDS = tuple(feeds.FEEDS)  # every feed of the registry
SCHEMAS = (
    "raw, ingest, scratch, vault, pseudonymised, payments, delivery, staging, intermediate, archive, metrics, "
    "settlement, reference"
)
# dbt model groups in build order, as (select, exclude); seeds first (every group reads them). The intermediate
# group also builds the marts its models read (the institutions' credit events read settlement.voucher_loop); the
# mart groups after it leave those out, so each model is built once, after everything it reads.
BUILT_WITH_INTERMEDIATE = "+path:models/intermediate"
DBT_GROUPS = {
    "seeds": ("resource_type:seed", ""),
    "staging": ("path:models/staging", ""),
    "intermediate": (BUILT_WITH_INTERMEDIATE, "resource_type:seed path:models/staging"),
    "archive": ("path:models/marts/archive", BUILT_WITH_INTERMEDIATE),
    "metrics": ("path:models/marts/metrics", BUILT_WITH_INTERMEDIATE),
    "settlement marts": ("path:models/marts/settlement", BUILT_WITH_INTERMEDIATE),
}
FIRST_DAY = dt.date(2026, 6, 1)
NIGHT = dt.date(2026, 6, 2)  # the nightly day D: the first daily delivery after the history extract
TARGETS = {"ratio": 1.1, "nightly_seconds": 600, "month_seconds": 1800, "rss_gib": 4.0}


# -- stages, each run in a child process (`--stage NAME ...`) -------------------------------------------------------


def stage_generate(out: str, persons: str, history_months: str) -> dict:
    from skills_pipeline.local.generator import DefectRates, GeneratorConfig, generate

    config = GeneratorConfig(out=Path(out), persons=int(persons), start=FIRST_DAY, end=NIGHT,
                             history_months=int(history_months), defects=DefectRates.none())  # fmt: skip
    manifest = generate(config)
    rows: dict[str, int] = {}
    for file in manifest["files"]:
        key = f"{file['feed']} {file['data_date']}"
        rows[key] = rows.get(key, 0) + file["rows"]
    return {"rows": rows}


def stage_ingest(root: str, feed: str, day: str) -> dict:
    from skills_pipeline.ingest import loader

    report = loader.ingest(feed, dt.date.fromisoformat(day), landing_root=root, max_bad_row_share=1.0,
                           fail_on_rejected=False)  # fmt: skip
    totals = report.totals()
    return {"rows": totals["rows_read"], "loaded": totals["rows_loaded"], "rejected_files": totals["rejected_files"]}


def stage_dbt(selector: str, exclude: str = "") -> dict:
    from skills_pipeline import dbt_build

    # buildable: a group's tests run once every model they read is built (a seed's relationship tests with staging)
    excluded = ["--exclude", *exclude.split()] if exclude else []
    dbt_build.run(
        "build", "--quiet", "--select", selector, *excluded, "--indirect-selection", "buildable",
        *dbt_build.NIGHTLY_BUILD_FLAGS,  # as build_archive runs it: no unit tests at night
    )  # fmt: skip
    # Where the group's time went: its slowest nodes (models and tests), from dbt's own run results.
    results = json.loads((dbt_build.target_dir() / "run_results.json").read_text(encoding="utf-8"))
    nodes = sorted(
        ((r["unique_id"].split(".", 2)[-1], round(r["execution_time"], 2)) for r in results["results"]),
        key=lambda node: node[1],
        reverse=True,
    )
    return {"slowest": [(name, round(seconds, 1)) for name, seconds in nodes[:3]], "nodes": dict(nodes)}


def stage_settle(period: str) -> dict:
    from skills_pipeline.settlement import runs

    result = runs.run_period(runs.parse_period(period))
    return {"lines": result.line_count, "payable_yuan": float(result.payable_yuan)}


def stage_publish() -> dict:
    from skills_pipeline import warehouse
    from skills_pipeline.delivery import changes

    with warehouse.connect(as_transformer=True) as conn:
        recorded = changes.record_changes(conn)
    return {"built": recorded.built, "changes": recorded.changes, "persons": recorded.persons}


STAGES = {
    "generate": stage_generate,
    "ingest": stage_ingest,
    "dbt": stage_dbt,
    "publish": stage_publish,
    "settle": stage_settle,
}


def run_stage(name: str, *args: str) -> tuple[float, float, dict]:
    """Run one stage in a child process: (seconds of its work, peak RSS in MiB, what the stage returned). The
    child's start-up (Python, GX, dbt imports: several seconds, once per task process in a deployment) is left out of
    the seconds, not of the memory."""
    command = [sys.executable, __file__, "--stage", name, *map(str, args)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)  # the child's own rusage: its peak RSS, not the sum of all children
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"stage {name} {' '.join(map(str, args))} failed (exit {process.returncode})")
    result = json.loads(output.strip().splitlines()[-1])
    return result.pop("seconds"), usage.ru_maxrss / 1024, result


# -- the benchmark ---------------------------------------------------------------------------------------------------


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, str]] = []

    def add(self, stage: str, seconds: float, rss_mib: float, note: str = "") -> float:
        self.rows.append((stage, seconds, rss_mib, note))
        print(f"  {stage:<34}{seconds:>9.1f}s{rss_mib:>9.0f} MiB  {note}", flush=True)
        return seconds


def reset(url: str) -> None:
    import psycopg

    from skills_pipeline import warehouse

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"drop schema if exists {SCHEMAS} cascade")
    warehouse.apply_roles()


def quiesce(url: str) -> float:
    """Vacuum (analyze) the warehouse and checkpoint it; returns the seconds it took.

    A history load leaves the server background work: autovacuum's first passes over tables of millions of new rows,
    a checkpoint of gigabytes of dirty pages. Whichever stage of the night it lands in is slowed: on 12 months of
    1 M people, in one run the night's staging tests of the voucher events took 5 s instead of 0.1 s, in another the
    intermediate models took a third longer, and the ratio moved between 1.07 and 1.38 with the same code. A night in
    service meets a warehouse whose loads were vacuumed in the nights before, so both histories' nights start from
    one that is, and the ratio compares the nights' own work."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum (analyze)")
        conn.execute("checkpoint")
    return time.perf_counter() - started


def history_days(manifest_rows: dict[str, int]) -> list[str]:
    return sorted({key.split()[1] for key in manifest_rows if key.split()[1] < NIGHT.isoformat()})


def _slowest(result: dict) -> str:
    return "slowest: " + ", ".join(f"{name} {seconds}s" for name, seconds in result["slowest"])


def _published(result: dict) -> str:
    return f"{result['built']:,} of {result['persons']:,} documents built, {result['changes']:,} changed"


def generator_digest() -> str:
    """What generated feeds depend on besides their parameters: the generator's code and the feed contract."""
    from skills_pipeline.local import generator

    package = Path(generator.__file__).parent
    sources = [*sorted(package.glob("*.py")), Path(feeds.__file__)]
    digest = hashlib.sha256(f"{FIRST_DAY} {NIGHT}".encode())
    for source in sources:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def generated_feeds(work: Path, cache: Path | None, persons: int, months: int) -> tuple[Path, float, float, dict, str]:
    """The landing root of a generated history: (root, seconds, peak MiB, the generate stage's result, note).

    With a cache, a history generated before with the same population, length, generator and contract is reused
    (the 12-month history of 1 M people: 331 s, 21 M rows); its first generation's time and memory
    are reported, marked as such. Generation is not part of the night either way."""
    if cache is None:
        root = work / f"landing-{months}m"
        seconds, rss, generated = run_stage("generate", root, persons, months)
        return root, seconds, rss, generated, ""
    entry = cache / f"{persons}p-{months}m-{generator_digest()}"
    marker = entry / "generated.json"
    if marker.exists():
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        note = f" (reused from {entry}, generated earlier)"
        return entry / "landing", recorded["seconds"], recorded["rss_mib"], recorded["generated"], note
    partial = cache / f"{entry.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    seconds, rss, generated = run_stage("generate", partial / "landing", persons, months)
    record = {"seconds": seconds, "rss_mib": rss, "generated": generated}
    (partial / "generated.json").write_text(json.dumps(record), encoding="utf-8")
    shutil.rmtree(entry, ignore_errors=True)  # an entry without its marker: an interrupted rename
    partial.rename(entry)  # whole or not at all: an interrupted generation leaves only a .partial folder
    return entry / "landing", seconds, rss, generated, f" (kept in {entry} for the next run)"


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def one_history(
    url: str, work: Path, persons: int, months: int, night_root: Path | None = None, cache: Path | None = None
) -> dict:
    """`night_root`: take the night's files from there (another history's generation of the same population), so
    that both histories are measured on the same night: the generator's night differs with the history's length."""
    print(f"\n{persons:,} people, {months} month(s) of history, then the night of {NIGHT}")
    table = Table()
    root, seconds, rss, generated, cached = generated_feeds(work, cache, persons, months)
    night_root = night_root or root
    total_rows = sum(generated["rows"].values())
    table.add("generate feeds", seconds, rss, f"{total_rows:,} rows{cached}")
    reset(url)
    month_seconds = seconds
    for day in history_days(generated["rows"]):
        for feed in FEEDS:
            seconds, rss, loaded = run_stage("ingest", root, feed, day)
            month_seconds += table.add(f"history ingest {feed}", seconds, rss, f"{loaded['rows']:,} rows")
    for group, (selector, exclude) in DBT_GROUPS.items():
        seconds, rss, built = run_stage("dbt", selector, exclude)
        month_seconds += table.add(f"history dbt {group}", seconds, rss, _slowest(built))
    seconds, rss, published = run_stage("publish")
    month_seconds += table.add("history publication", seconds, rss, _published(published))
    table.add("vacuum, analyze, checkpoint", quiesce(url), 0, "before the night; not counted in it (see quiesce)")
    night, night_rows, night_nodes = 0.0, 0, {}
    for feed in FEEDS:
        seconds, rss, loaded = run_stage("ingest", night_root, feed, NIGHT.isoformat())
        night += table.add(f"night ingest {feed}", seconds, rss, f"{loaded['rows']:,} rows")
        night_rows += loaded["rows"]
    for group, (selector, exclude) in DBT_GROUPS.items():
        seconds, rss, built = run_stage("dbt", selector, exclude)
        night += table.add(f"night dbt {group}", seconds, rss, _slowest(built))
        night_nodes.update(built["nodes"])
    seconds, rss, published = run_stage("publish")
    night += table.add("night publication", seconds, rss, _published(published))
    settlement, rss, settled = run_stage("settle", "2026-05")
    table.add("night settlement (May)", settlement, rss, f"{settled['lines']:,} lines")
    peak = max(row[2] for row in table.rows)
    disk = database_bytes(url)
    print(f"  history + build: {month_seconds:.0f}s; the night: {night + settlement:.1f}s ({night:.1f}s without the "
          f"settlement run); {night_rows:,} night records; peak RSS of any stage {peak:.0f} MiB; warehouse on disk "
          f"{disk / 2**30:.2f} GiB")  # fmt: skip
    return {"night": night + settlement, "night_without_settlement": night, "settlement": settlement,
            "settlement_lines": settled["lines"], "night_rows": night_rows, "history": month_seconds,
            "peak_mib": peak, "rows": total_rows, "root": root, "disk_bytes": disk,
            "night_nodes": night_nodes}  # fmt: skip


def what_grew(short: dict[str, float], long: dict[str, float], at_least: float = 0.3, top: int = 10) -> list:
    """The night's dbt nodes (models and tests) that took `at_least` seconds longer on the long history, most
    grown first: where a night that should not grow with history still does."""
    grown = [(name, short.get(name, 0.0), seconds) for name, seconds in long.items()]
    grown = [row for row in grown if row[2] - row[1] >= at_least]
    return sorted(grown, key=lambda row: row[2] - row[1], reverse=True)[:top]


def database_bytes(url: str) -> int:
    """The warehouse database's size on disk (tables, indexes, TOAST), after the night."""
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("select pg_database_size(current_database())").fetchone()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=20_000, help="people to simulate (province: 1000000)")
    parser.add_argument("--history-months", type=int, default=12, help="the longer history (the shorter is 1)")
    parser.add_argument(
        "--feeds-cache",
        default=str(Path(__file__).resolve().parents[1] / ".local" / "bench-feeds"),
        help="where generated histories are kept for the next run ('none': generate afresh, in a temporary folder)",
    )
    parser.add_argument(
        "--keep-warehouse",
        action="store_true",
        help="leave the long history's warehouse as the night left it (to profile its models), instead of emptying it",
    )
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.stage:
        # The imports every deployed task pays once per process are not part of a stage's work: done first.
        import great_expectations  # noqa: F401
        from dbt.cli.main import dbtRunner  # noqa: F401

        from skills_pipeline.ingest import loader  # noqa: F401

        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        started = time.perf_counter()
        result = STAGES[args.stage](*rest)
        print(json.dumps({**result, "seconds": time.perf_counter() - started}))
        return 0

    from skills_pipeline import dbt_build, warehouse
    from skills_pipeline.local import embedded, runner

    runner.ensure_local_pseudonym_key()
    url = embedded.local_url()  # exported to the stages through the environment
    dbt_build.export_profile_env(url)
    os.environ.setdefault("DBT_QUIET", "true")
    print(f"warehouse: {warehouse.redacted(url)}; cores: {os.cpu_count()}")
    cache = None if args.feeds_cache == "none" else Path(args.feeds_cache)
    with tempfile.TemporaryDirectory(prefix="skills-province-") as tmp:
        short = one_history(url, Path(tmp), args.persons, 1, cache=cache)
        long = one_history(url, Path(tmp), args.persons, args.history_months, night_root=short["root"], cache=cache)
        if not args.keep_warehouse:
            reset(url)
    ratio = long["night"] / short["night"]
    ratio_apart = long["night_without_settlement"] / short["night_without_settlement"]
    peak_gib = max(short["peak_mib"], long["peak_mib"]) / 1024
    print()
    print(f"{args.persons:,} people; {long['rows']:,} rows generated for {args.history_months} months + the night")
    print(f"night on {args.history_months} months / on 1 month of history: "
          f"{long['night']:.1f}s / {short['night']:.1f}s = {ratio:.2f}   (target <= {TARGETS['ratio']})")  # fmt: skip
    print(f"  without the settlement run: {long['night_without_settlement']:.1f}s / "
          f"{short['night_without_settlement']:.1f}s = {ratio_apart:.2f}   (target <= {TARGETS['ratio']}); the "
          f"settlement run apart: {long['settlement']:.1f}s for {long['settlement_lines']:,} lines / "
          f"{short['settlement']:.1f}s for {short['settlement_lines']:,} lines")  # fmt: skip
    grown = what_grew(short["night_nodes"], long["night_nodes"])
    if grown:
        print(f"  the night's dbt nodes that took longer on {args.history_months} months than on 1 (seconds):")
        for name, before, after in grown:
            print(f"    {name:<72} {before:6.1f} -> {after:6.1f}")
    print(f"night records: {long['night_rows']:,}; {1000 * long['night'] / max(long['night_rows'], 1):.2f}s per "
          f"1,000 (compare across --persons: the night should grow with its records)")  # fmt: skip
    print(f"warehouse on disk after the {args.history_months}-month night: {long['disk_bytes'] / 2**30:.2f} GiB")
    print(f"night (ingest + dbt + publication + settlement) on {args.history_months} months: {long['night']:.1f}s   "
          f"(target at 1 M people <= {TARGETS['nightly_seconds']}s)")  # fmt: skip
    print(f"history month(s) end to end (generate, ingest, build): {long['history']:.0f}s   "
          f"(target for one province month <= {TARGETS['month_seconds']}s)")  # fmt: skip
    print(f"peak RSS of any stage: {peak_gib:.2f} GiB   (target <= {TARGETS['rss_gib']} GiB)")
    if args.keep_warehouse:
        print(f"the {args.history_months}-month warehouse is kept as the night left it: {warehouse.redacted(url)} "
              "(the next run empties it)")  # fmt: skip
    if cache is not None:
        print(f"generated feeds kept in {cache}: {directory_bytes(cache) / 2**30:.2f} GiB (ARGS='--feeds-cache none' "
              "to keep none; `make clean` removes them)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
