"""`skills-pipeline`: generate feeds, ingest them, run the nightly pipeline, inspect the ledger."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path

from skills_pipeline import feeds, settings
from skills_pipeline.settlement import SettlementError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write YYYY-MM-DD") from None


def _dates(start: dt.date, end: dt.date | None) -> list[dt.date]:
    end = end or start
    if end < start:
        raise SystemExit(f"--to {end} is before --date {start}")
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def cmd_generate(args) -> int:
    from skills_pipeline.generator import DefectRates, GeneratorConfig, generate

    defects = DefectRates.none() if args.no_defects else DefectRates().scaled(args.defect_scale)
    config = GeneratorConfig(
        out=Path(args.out),
        persons=args.persons,
        start=args.start,
        end=args.end,
        history_months=args.history_months,
        seed=args.seed,
        defects=defects,
        feeds=tuple(args.feed or feeds.FEEDS),
    )

    def progress(done: int, total: int) -> None:
        print(f"  {done:,}/{total:,} people simulated", file=sys.stderr)

    manifest = generate(config, progress=progress)
    files = manifest["files"]
    rows = sum(f["rows"] for f in files)
    defects_injected = sum(len(f["row_defects"]) for f in files)
    print(f"wrote {len(files)} files, {rows:,} rows ({defects_injected:,} defective rows) under {config.out}")
    for feed in feeds.FEEDS:
        feed_rows = sum(f["rows"] for f in files if f["feed"] == feed)
        print(f"  {feed:<16} {feed_rows:>12,} rows")
    print(f"manifest: {config.out / 'manifest.json'}")
    return 0


def cmd_ingest(args) -> int:
    from skills_pipeline.loader import RejectedFiles, ingest

    failed = False
    for day in _dates(args.date, args.to):
        for feed in args.feed or feeds.FEEDS:
            try:
                report = ingest(feed, day, landing_root=args.landing_root)
            except RejectedFiles as error:
                print(error, file=sys.stderr)
                failed = True
                continue
            for file in report.files:
                print(file.describe())
    return 1 if failed else 0


def cmd_run(args) -> int:
    from skills_pipeline.runner import run_main_job

    return run_main_job(
        landing_root=args.landing_root,
        start=args.date,
        end=args.to,
        persons=args.persons,
    )


def cmd_ledger(args) -> int:
    from skills_pipeline.reports import print_ledger

    print_ledger(args.date)
    return 0


def cmd_acknowledge(args) -> int:
    from skills_pipeline.loader import acknowledge

    acknowledge(args.batch_id, args.note)
    print(f"batch {args.batch_id} acknowledged")
    return 0


def cmd_settlement_run(args) -> int:
    from skills_pipeline import settlement

    result = settlement.run_period(settlement.parse_period(args.period))
    print(result.describe())
    return 0


def cmd_settlement_approve(args) -> int:
    from skills_pipeline import settlement, warehouse

    with warehouse.connect() as conn:
        settlement.approve_run(conn, args.run_id, args.approved_by)
    print(f"settlement run {args.run_id} approved by {args.approved_by}: it can no longer change")
    return 0


def cmd_settlement_export(args) -> int:
    from skills_pipeline import settlement_exports, warehouse

    with warehouse.connect() as conn:
        exported = settlement_exports.export_run(conn, args.run_id, args.out or settings.export_root())
    print(f"workbook: {exported.workbook} ({exported.payee_count} payees, {exported.line_total_yuan:,.2f} yuan)")
    print(f"payment file: {exported.payment_csv or 'not written — the run is not approved'}")
    return 0


def cmd_settlement_deadlines(args) -> int:
    from skills_pipeline.reports import print_deadline_status

    print_deadline_status(args.year)
    return 0


def cmd_stack(args) -> int:
    from skills_pipeline.stack import run_demo

    return run_demo(persons=args.persons)


def cmd_warehouse_roles(args) -> int:
    from skills_pipeline import warehouse

    warehouse.apply_roles()
    print("warehouse roles, grants and row-level security applied (plugins/skills_pipeline/sql/roles.sql)")
    return 0


def cmd_warehouse_county_analyst(args) -> int:
    from skills_pipeline import warehouse

    warehouse.register_county_analyst(args.login, args.county)
    print(f"{args.login} sees county {args.county} only; set its password with ALTER ROLE ... PASSWORD")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skills-pipeline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress of every file")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="the main job: ingest (a generated demo by default) through Airflow")
    run.add_argument(
        "--landing-root",
        help=f"process real deliveries here (default: generate a demo; env {settings.LANDING_ROOT_ENV})",
    )
    run.add_argument("--date", type=_date, help="first data date to process (default: the demo's, or yesterday)")
    run.add_argument("--to", type=_date, help="last data date (default: --date)")
    run.add_argument("--persons", type=int, default=20_000, help="demo population (default 20,000)")
    run.set_defaults(handler=cmd_run)

    gen = commands.add_parser("generate", help="write synthetic agency feeds to the contract in feeds.md")
    gen.add_argument("--out", required=True, help="landing root to write <feed>/<date>/ files under")
    gen.add_argument("--persons", type=int, default=2_000)
    gen.add_argument("--start", type=_date, default=dt.date(2026, 6, 1), help="first delivery date")
    gen.add_argument("--end", type=_date, default=dt.date(2026, 6, 7), help="last delivery date")
    gen.add_argument("--history-months", type=int, default=6, help="months of history in the first day's extract")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--feed", action="append", choices=list(feeds.FEEDS), help="only these feeds (repeatable)")
    gen.add_argument("--defect-scale", type=float, default=1.0, help="multiply every default defect rate")
    gen.add_argument("--no-defects", action="store_true", help="write clean feeds only")
    gen.set_defaults(handler=cmd_generate)

    ing = commands.add_parser("ingest", help="validate and load deliveries directly, without Airflow")
    ing.add_argument("--date", type=_date, required=True)
    ing.add_argument("--to", type=_date)
    ing.add_argument("--feed", action="append", choices=list(feeds.FEEDS))
    ing.add_argument("--landing-root")
    ing.set_defaults(handler=cmd_ingest)

    led = commands.add_parser("ledger", help="what was read, loaded and quarantined per file")
    led.add_argument("--date", type=_date)
    led.set_defaults(handler=cmd_ledger)

    ack = commands.add_parser("acknowledge", help="accept a rejected batch so its date can pass")
    ack.add_argument("batch_id", type=int)
    ack.add_argument("--note", required=True, help="why (e.g. 'agency re-sent as batch 42')")
    ack.set_defaults(handler=cmd_acknowledge)

    settle = commands.add_parser("settlement", help="settlement runs: compute, approve, export, deadlines")
    settle_commands = settle.add_subparsers(dest="settlement_command", required=True)
    settle_run = settle_commands.add_parser("run", help="compute the draft run of a period (idempotent)")
    settle_run.add_argument("period", help="2023-03 (a month), 2023 (a year) or 2023-01-01..2023-06-30")
    settle_run.set_defaults(handler=cmd_settlement_run)
    approve = settle_commands.add_parser("approve", help="approve a draft run: its results are frozen from then on")
    approve.add_argument("run_id", type=int)
    approve.add_argument("--by", dest="approved_by", required=True, help="who approves (recorded on the run)")
    approve.set_defaults(handler=cmd_settlement_approve)
    export = settle_commands.add_parser("export", help="write the run's workbook (and payment CSV once approved)")
    export.add_argument("run_id", type=int)
    export.add_argument("--out", help=f"folder or fsspec URL (default: env {settings.EXPORT_ROOT_ENV} or .local)")
    export.set_defaults(handler=cmd_settlement_export)
    deadlines = settle_commands.add_parser("deadlines", help="what is still open against the 31 March deadline")
    deadlines.add_argument("--year", type=int, help="subsidy year (default: all)")
    deadlines.set_defaults(handler=cmd_settlement_deadlines)

    stack = commands.add_parser(
        "stack", help="run Airflow's scheduler, dag-processor, api-server, triggerer and a Celery worker locally "
        "and drive one generated night through the REST API"
    )  # fmt: skip
    stack.add_argument("--persons", type=int, default=500, help="generated population (default 500)")
    stack.set_defaults(handler=cmd_stack)

    wh = commands.add_parser("warehouse", help="administration: roles and county analysts")
    wh_commands = wh.add_subparsers(dest="warehouse_command", required=True)
    roles = wh_commands.add_parser("roles", help="create/refresh roles, grants and policies (idempotent; as admin)")
    roles.set_defaults(handler=cmd_warehouse_roles)
    county = wh_commands.add_parser("add-county-analyst", help="create or move a county analyst login")
    county.add_argument("login")
    county.add_argument("county", help="6-digit county code, e.g. 141125")
    county.set_defaults(handler=cmd_warehouse_county_analyst)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(message)s"
    )
    try:
        return args.handler(args)
    except SettlementError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
