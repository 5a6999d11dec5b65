"""`skills-pipeline` commands that bring deliveries in: run (the main job), generate, ingest, reevaluate,
ledger, acknowledge and stack."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from skills_pipeline import feeds, settings
from skills_pipeline.cli.arguments import date_argument, dates_between, positive_argument


def cmd_generate(args) -> int:
    from skills_pipeline.local.generator import DefectRates, GeneratorConfig, generate

    defects = DefectRates.none() if args.no_defects else DefectRates().scaled(args.defect_scale)
    config = GeneratorConfig(
        out=Path(args.out) if args.out else settings.state_dir() / "generated",
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
    print(f"manifest and late files (not deliveries, so kept beside the landing root): {config.sidecar}")
    return 0


def cmd_ingest(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.ingest.landing import Landing
    from skills_pipeline.ingest.loader import RejectedFiles, ingest, raise_for_rejected, survey

    dates = dates_between(args.date, args.to)
    landing_root = args.landing_root or settings.landing_root()
    Landing(landing_root).require()
    settings.max_bad_row_share()
    warehouse.check_connection()
    failed = False
    for day in dates:
        files = 0
        for feed in args.feed or feeds.FEEDS:
            report = ingest(feed, day, landing_root=landing_root, fail_on_rejected=False)
            files += len(report.files)
            for file in report.files:
                print(file.describe())
            try:
                raise_for_rejected(feed, day)
            except RejectedFiles as error:
                print(error, file=sys.stderr)
                failed = True
        print(f"{day}: {files} file(s) judged")
    strays = survey(landing_root).files
    for file in strays:
        if file.status != "repeat":
            print(file.describe())
    try:
        raise_for_rejected(None, None)
    except RejectedFiles as error:
        print(error, file=sys.stderr)
        failed = True
    return 1 if failed else 0


def cmd_reevaluate(args) -> int:
    from skills_pipeline.ingest.loader import reevaluate

    share = None
    if args.max_bad_row_share is not None:
        if not 0 <= args.max_bad_row_share <= 1:
            raise settings.ConfigurationError("--max-bad-row-share: expected a share between 0 and 1, e.g. 0.2")
        share = args.max_bad_row_share
    result = reevaluate(args.batch_id, max_bad_row_share=share)
    print(result.describe())
    print(f"batch {args.batch_id} is superseded by batch {result.batch_id}; the ledger keeps both")
    return 0 if result.status == "loaded" else 1


def cmd_run(args) -> int:
    from skills_pipeline.local.runner import run_main_job

    return run_main_job(
        landing_root=args.landing_root,
        start=args.date,
        end=args.to,
        persons=args.persons,
    )


def cmd_ledger(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.ingest import ledger

    with warehouse.connect() as conn:
        rows = ledger.listing(conn, args.date)
    print(f"{'batch':>6} {'feed':<16}{'date':<12}{'status':<10}{'read':>10}{'loaded':>10}{'quarant.':>10}  file")
    for batch_id, feed, data_date, status, read, loaded, quarantined, path, problem in rows:
        print(
            f"{batch_id:>6} {feed:<16}{data_date!s:<12}{status:<10}{read:>10,}{loaded:>10,}{quarantined:>10,}  {path}"
        )
        if problem:
            print(f"{'':>7}{problem}")
    return 0


def cmd_acknowledge(args) -> int:
    from skills_pipeline.ingest.loader import acknowledge

    acknowledge(args.batch_id, args.note)
    print(f"batch {args.batch_id} acknowledged")
    return 0


def cmd_stack(args) -> int:
    from skills_pipeline.local.stack import run_demo

    return run_demo(persons=args.persons)


def register(commands) -> None:
    """Add this group's commands to the top-level subparsers."""
    run = commands.add_parser("run", help="the main job: ingest (a generated demo by default) through Airflow")
    run.add_argument(
        "--landing-root",
        help=f"process real deliveries here (default: generate a demo; env {settings.LANDING_ROOT_ENV})",
    )
    run.add_argument(
        "--date", type=date_argument, help="first data date to process (default: the demo's, or yesterday)"
    )
    run.add_argument("--to", type=date_argument, help="last data date (default: --date)")
    run.add_argument("--persons", type=positive_argument, default=20_000, help="demo population (default 20,000)")
    run.set_defaults(handler=cmd_run)

    gen = commands.add_parser("generate", help="write synthetic agency feeds to the contract in feeds.md")
    gen.add_argument(
        "--out", help="landing root to write <feed>/<date>/ files under (default: generated/ in the state folder)"
    )
    gen.add_argument("--persons", type=positive_argument, default=2_000, help="people to simulate (default 2,000)")
    gen.add_argument("--start", type=date_argument, default=dt.date(2026, 6, 1), help="first delivery date")
    gen.add_argument("--end", type=date_argument, default=dt.date(2026, 6, 7), help="last delivery date")
    gen.add_argument("--history-months", type=int, default=6, help="months of history in the first day's extract")
    gen.add_argument("--seed", type=int, default=42, help="random seed: the same seed writes the same bytes (42)")
    gen.add_argument("--feed", action="append", choices=list(feeds.FEEDS), help="only these feeds (repeatable)")
    gen.add_argument("--defect-scale", type=float, default=1.0, help="multiply every default defect rate")
    gen.add_argument("--no-defects", action="store_true", help="write clean feeds only")
    gen.set_defaults(handler=cmd_generate)

    ing = commands.add_parser("ingest", help="validate and load deliveries directly, without Airflow")
    ing.add_argument("--date", type=date_argument, required=True, help="first data date to load (YYYY-MM-DD)")
    ing.add_argument("--to", type=date_argument, help="last data date to load (default: --date)")
    ing.add_argument(
        "--feed", action="append", choices=list(feeds.FEEDS), help="only this feed (repeatable; default: every feed)"
    )
    ing.add_argument(
        "--landing-root",
        help=f"landing root: a path or an fsspec URL (default: env {settings.LANDING_ROOT_ENV})",
    )
    ing.set_defaults(handler=cmd_ingest)

    rev = commands.add_parser(
        "reevaluate", help="judge a rejected file again under today's rules and limits (the ledger keeps both)"
    )
    rev.add_argument("batch_id", type=int, help="the rejected batch (see `skills-pipeline ledger`)")
    rev.add_argument(
        "--max-bad-row-share",
        type=float,
        help=f"reject the file whole above this share of bad rows (default: env {settings.MAX_BAD_ROW_SHARE_ENV})",
    )
    rev.set_defaults(handler=cmd_reevaluate)

    led = commands.add_parser("ledger", help="what was read, loaded and quarantined per file")
    led.add_argument("--date", type=date_argument, help="only files of this data date (default: every file)")
    led.set_defaults(handler=cmd_ledger)

    ack = commands.add_parser("acknowledge", help="accept a rejected batch so its date can pass")
    ack.add_argument("batch_id", type=int, help="the rejected batch (see `skills-pipeline ledger`)")
    ack.add_argument("--note", required=True, help="why (e.g. 'agency re-sent as batch 42')")
    ack.set_defaults(handler=cmd_acknowledge)

    stack = commands.add_parser(
        "stack", help="run Airflow's scheduler, dag-processor, api-server, triggerer and a Celery worker locally "
        "and drive one generated night through the REST API"
    )  # fmt: skip
    stack.add_argument("--persons", type=positive_argument, default=500, help="generated population (default 500)")
    stack.set_defaults(handler=cmd_stack)
