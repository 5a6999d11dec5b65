"""`skills-pipeline` commands for the finance office and the leaders: settlement runs, targets and reports."""

from __future__ import annotations

import sys

from skills_pipeline import settings
from skills_pipeline.settlement.runs import SettlementError


def cmd_settlement_run(args) -> int:
    from skills_pipeline.settlement import runs

    result = runs.run_period(runs.parse_period(args.period))
    print(result.describe())
    return 0


def cmd_settlement_approve(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.settlement import runs

    with warehouse.connect(as_transformer=True) as conn:
        runs.approve_run(conn, args.run_id, args.approved_by)
    print(f"settlement run {args.run_id} approved by {args.approved_by}: it can no longer change")
    return 0


def cmd_settlement_export(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.settlement import exports

    with warehouse.connect(as_transformer=True) as conn:
        exported = exports.export_run(conn, args.run_id, args.out or settings.export_root())
    print(f"workbook: {exported.workbook} ({exported.payee_count} payees, {exported.line_total_yuan:,.2f} yuan)")
    if exported.payment_csv:
        print(f"payment file: {exported.payment_csv} (with its .sha256 digest and .sig signature)")
        print(f"  the payment office checks it with: skills-pipeline settlement check-payment-file "
              f"{exported.payment_csv} --public-key PUBLIC_KEY.pem")  # fmt: skip
    else:
        print("payment file: not written — the run is not approved")
    return 0


def cmd_settlement_check_payment_file(args) -> int:
    from skills_pipeline.delivery import signing
    from skills_pipeline.settlement import exports

    result = exports.verify_payment_file(args.file, signing.load_public_key(args.public_key))
    if not result.ok:
        for problem in result.problems:
            print(f"REFUSE: {problem}", file=sys.stderr)
        print(f"{args.file}: check failed ({len(result.problems)} problem(s)); do not pay from it")
        return 1
    print(f"{args.file}: verified — digest, signature, byte-order mark and control total "
          f"({result.payees} payee(s), {result.amount_yuan:,.2f} yuan)")  # fmt: skip
    return 0


def cmd_report(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.reports import build, publish

    out = args.out or settings.report_dir() / f"{args.kind}-{args.period}"
    with warehouse.connect() as conn:
        report = build.write(conn, args.kind, args.period, out, pdf=not args.no_pdf)
    publish.record(report.html)
    print(f"report: {report.html}")
    print(f"listed on the start page: {publish.write_index()}")
    print(f"pdf: {report.pdf or 'not written (--no-pdf)'}")
    print(f"figures: {report.data} ({report.seconds:.1f}s)")
    return 0


def cmd_targets_import(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.reports import targets

    warehouse.migrate()
    with warehouse.connect() as conn:
        result = targets.import_file(conn, args.file, dry_run=args.dry_run)
    if args.dry_run:
        print(f"{args.file}: {result.rows} target(s) pass every check; nothing imported (--dry-run)")
    else:
        print(
            f"{args.file}: {result.rows} target(s) imported ({result.replaced} replaced), sha256 {result.sha256}; "
            "the reports show them after the next build_archive (or dbt build --select target_progress+)"
        )
    return 0


def cmd_targets_list(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.reports import targets

    with warehouse.connect() as conn:
        if conn.execute("select to_regclass('intermediate.int_targets__in_force')").fetchone()[0] is None:
            raise targets.TargetError(
                "the targets in force are read from the warehouse's build: run build_archive (or make run) first"
            )
        rows = conn.execute(
            "select region_code, indicator, period_start, period_end, target_value, program_types, source, origin "
            "from intermediate.int_targets__in_force where %s::integer is null "
            "or %s between extract(year from period_start) and extract(year from period_end) "
            "order by period_start, region_code, indicator",
            (args.year, args.year),
        ).fetchall()
    if not rows:
        print(
            "no target set"
            + (f" for {args.year}" if args.year else "")
            + "; import one: skills-pipeline targets import FILE"
        )
        return 0
    print(f"{'region':<8}{'indicator':<40}{'from':<12}{'to':<12}{'value':>10}  {'origin':<9}source")
    for region, indicator, start, end, value, scope, source, origin in rows:
        scope_text = f" [{scope}]" if scope else ""
        print(f"{region:<8}{indicator:<40}{start!s:<12}{end!s:<12}{value:>10}  {origin:<9}{source}{scope_text}")
    return 0


def cmd_settlement_verify(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.settlement import runs

    with warehouse.connect(as_transformer=True) as conn:
        result = runs.verify(conn)
    for run_id in result.unchained:
        print(f"note: run {run_id} was approved before the approval chain existed; its lines cannot be verified")
    if args.head and result.head != args.head:
        result.problems.append(
            f"the chain ends at {result.head}, not at the head you kept ({args.head}): approved runs were rewritten "
            "or removed"
        )
    if result.problems:
        raise SettlementError("verification failed: " + "; ".join(result.problems))
    print(f"{result.runs} approved run(s) verified: every line is as approved; chain head {result.head}")
    return 0


def cmd_settlement_deadlines(args) -> int:
    from skills_pipeline.settlement.reports import print_deadline_status

    print_deadline_status(args.year)
    return 0


def register(commands) -> None:
    """Add this group's commands to the top-level subparsers."""
    settle = commands.add_parser("settlement", help="settlement runs: compute, approve, export, deadlines")
    settle_commands = settle.add_subparsers(dest="settlement_command", required=True)
    settle_run = settle_commands.add_parser("run", help="compute the draft run of a period (idempotent)")
    settle_run.add_argument("period", help="2023-03 (a month), 2023 (a year) or 2023-01-01..2023-06-30")
    settle_run.set_defaults(handler=cmd_settlement_run)
    approve = settle_commands.add_parser("approve", help="approve a draft run: its results are frozen from then on")
    approve.add_argument("run_id", type=int, help="the draft run (see `skills-pipeline settlement run`)")
    approve.add_argument("--by", dest="approved_by", required=True, help="who approves (recorded on the run)")
    approve.set_defaults(handler=cmd_settlement_approve)
    export = settle_commands.add_parser("export", help="write the run's workbook (and payment CSV once approved)")
    export.add_argument("run_id", type=int, help="the settlement run to export")
    export.add_argument("--out", help=f"folder or fsspec URL (default: env {settings.EXPORT_ROOT_ENV} or .local)")
    export.set_defaults(handler=cmd_settlement_export)
    verify = settle_commands.add_parser(
        "verify", help="recompute every approved run's line digest and approval chain; fails naming a changed run"
    )
    verify.add_argument("--head", help="the chain head you kept from an earlier verify or export, to compare")
    verify.set_defaults(handler=cmd_settlement_verify)
    check_file = settle_commands.add_parser(
        "check-payment-file", help="check a payment CSV's digest, signature and control total before paying"
    )
    check_file.add_argument("file", help="payments-run-N.csv (its .sha256 and .sig beside it)")
    check_file.add_argument("--public-key", required=True, help="the pipeline's Ed25519 public key (PEM)")
    check_file.set_defaults(handler=cmd_settlement_check_payment_file)
    deadlines = settle_commands.add_parser("deadlines", help="what is still open against the 31 March deadline")
    deadlines.add_argument("--year", type=int, help="subsidy year (default: all)")
    deadlines.set_defaults(handler=cmd_settlement_deadlines)

    targets_parser = commands.add_parser(
        "targets", help="the targets reports compare against: list, and import a bureau's file"
    )
    targets_commands = targets_parser.add_subparsers(dest="targets_command", required=True)
    targets_import = targets_commands.add_parser(
        "import",
        help="check a CSV of targets the documents do not set and store it (all rows or none; docs/targets.md)",
    )
    targets_import.add_argument(
        "file", help="CSV: region_code,indicator,period_start,period_end,target_value,program_types,source"
    )
    targets_import.add_argument("--dry-run", action="store_true", help="check the file only")
    targets_import.set_defaults(handler=cmd_targets_import)
    targets_list = targets_commands.add_parser("list", help="every target in force: the documents' and the imported")
    targets_list.add_argument("--year", type=int, help="only targets in force in this year")
    targets_list.set_defaults(handler=cmd_targets_list)

    report = commands.add_parser(
        "report", help="a progress report (HTML with charts, and its PDF) read from the marts, for one period"
    )
    report.add_argument(
        "kind", choices=["biweekly", "monthly", "quarterly", "annual", "brief"],
        help="which report (brief: the one-page brief of a month for a bureau leader)",
    )  # fmt: skip
    report.add_argument(
        "--period", required=True,
        help="biweekly: the fortnight's first day (2026-06-01); monthly and brief: 2026-06; quarterly: 2026-Q2; "
        "annual: 2026",
    )  # fmt: skip
    report.add_argument("--out", help=f"folder (default: env {settings.REPORT_DIR_ENV} or .local/reports/KIND-PERIOD)")
    report.add_argument("--no-pdf", action="store_true", help="write the HTML only (no Chromium needed)")
    report.set_defaults(handler=cmd_report)
