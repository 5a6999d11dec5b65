"""`skills-pipeline`: generate feeds, ingest them, run the nightly pipeline, inspect the ledger."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path

from skills_pipeline import feeds, settings
from skills_pipeline.settlement.runs import SettlementError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write YYYY-MM-DD") from None


def _dates(start: dt.date, end: dt.date | None) -> list[dt.date]:
    from skills_pipeline.schedule import data_dates

    return data_dates(start, end)


MAX_CHANGES_PAGE = 10_000


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return value


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

    dates = _dates(args.date, args.to)
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


def cmd_archive_changes(args) -> int:
    import json

    from skills_pipeline import warehouse
    from skills_pipeline.delivery import changes

    if args.limit > MAX_CHANGES_PAGE:
        raise settings.ConfigurationError(f"--limit {args.limit}: at most {MAX_CHANGES_PAGE:,} changes a page")
    with warehouse.connect() as conn:
        page = changes.documents_after(conn, args.after, args.limit)
    for change_id, _, document in page:
        print(f'{{"change_id":{json.dumps(change_id)},"document":{document or "null"}}}')
    watermark = page[-1][0] if page else args.after
    print(f"{len(page)} change(s); next watermark: {watermark}", file=sys.stderr)
    return 0


def cmd_archive_publish(args) -> int:
    from skills_pipeline import tasks

    print(tasks.record_archive_changes(everyone=args.everyone)["text"])
    return 0


def cmd_export_changes(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.delivery import exports, signing

    root = args.out or settings.archive_export_root() or str(settings.state_dir() / "exports" / "archive")
    key = signing.load_private_key()
    with warehouse.connect(as_transformer=True) as conn:
        delivery = exports.export_changes(conn, root, key, run_id="cli")
    if delivery is None:
        print("no archive changed since the last delivery: nothing written")
    else:
        print(delivery.describe())
    return 0


def cmd_export_snapshot(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.delivery import exports, signing

    root = args.out or settings.archive_export_root() or str(settings.state_dir() / "exports" / "archive")
    key = signing.load_private_key()
    with warehouse.connect(as_transformer=True) as conn:
        delivery = exports.export_snapshot(conn, root, key, run_id="cli")
    print(delivery.describe())
    return 0


def cmd_export_verify(args) -> int:
    from skills_pipeline.delivery import exports, signing

    public_key = signing.load_public_key(args.public_key)
    result = exports.verify(args.delivery, public_key, check_documents=not args.skip_documents)
    if not result.ok:
        for problem in result.problems:
            print(f"TAMPERED: {problem}", file=sys.stderr)
        print(f"{args.delivery}: verification failed ({len(result.problems)} problem(s)); do not load it")
        return 1
    watermark = result.manifest["watermark"]
    print(
        f"{args.delivery}: verified — signature, {len(result.manifest['files'])} file(s), "
        f"{result.manifest['archives']:,} archive(s), change_id {watermark['after_change_id']}.."
        f"{watermark['through_change_id']}"
    )
    return 0


def cmd_export_keygen(args) -> int:
    from skills_pipeline.delivery import signing

    out = Path(args.out)
    if out.exists():
        raise settings.ConfigurationError(f"{out} exists: choose another file (a signing key is never overwritten)")
    pem = signing.new_private_key_pem()
    out.touch(mode=0o600)
    out.write_bytes(pem)
    print(f"private key written to {out} (mode 600): keep it in your secrets manager, point {signing.KEY_FILE_ENV} "
          "at it; give consumers this public key:", file=sys.stderr)  # fmt: skip
    print(signing.public_key_pem(signing.private_key_from_pem(pem)).decode(), end="")
    return 0


def cmd_export_public_key(args) -> int:
    from skills_pipeline.delivery import signing

    print(signing.public_key_pem(signing.load_private_key()).decode(), end="")
    return 0


TALENT_POOL_COLUMNS = {
    "person_id": "人员假名",
    "region_code": "常住地区划",
    "occupation_code": "职业编码",
    "occupation_name": "职业名称",
    "skill_rank": "技能等级序号",
    "level_name": "技能等级",
    "attained_date": "取得日期",
    "evidence_kind": "依据",
    "evidence_id": "依据编号",
}


def cmd_export_talent_pool(args) -> int:
    """The high-skilled talent pool as CSV (UTF-8 with a BOM): pseudonyms, never ID numbers or names."""
    import csv

    from skills_pipeline import warehouse

    with warehouse.connect() as conn:
        if conn.execute("select to_regclass('metrics.high_skilled_talent_pool')").fetchone()[0] is None:
            raise settings.ConfigurationError(
                "the talent pool is built by build_archive: run it (or make run) before exporting"
            )
        rows = conn.execute(
            f"select {', '.join(TALENT_POOL_COLUMNS)} from metrics.high_skilled_talent_pool "
            "where (%(region)s::text is null or region_code = %(region)s "
            "or left(region_code, 4) || '00' = %(region)s or left(region_code, 2) || '0000' = %(region)s) "
            "and (%(occupation)s::text is null or occupation_code = %(occupation)s) "
            "order by region_code, occupation_code, skill_rank desc, person_id",
            {"region": args.region, "occupation": args.occupation},
        ).fetchall()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TALENT_POOL_COLUMNS.values())
        writer.writerows(rows)
    print(f"{len(rows):,} high-skilled person-occupations written to {out}")
    return 0


def cmd_export_public_lists(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.reports import public_lists

    with warehouse.connect() as conn:
        years = [args.year] if args.year else public_lists.catalogue_years(conn)
        if not years:
            print("no catalogue loaded yet: deliver the catalogue feed (docs/feeds.md) and run the pipeline")
            return 1
        for year in sorted(years):
            written = public_lists.write(conn, year)
            print(
                f"{year}: {written.entries:,} catalogue entries, {written.graded:,} graded institutions: {written.page}"
            )
    return 0


def cmd_api_serve(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.delivery import api

    # Refused here, before listening: unconfigured, a server would start and answer every request with a 500.
    warehouse.api_url()
    host, port = settings.api_address()
    host, port = args.host or host, args.port or port
    print(f"archive API on http://{host}:{port} (OpenAPI at /docs and /openapi.json); Ctrl-C stops it", file=sys.stderr)
    api.serve(host, port, workers=args.workers)
    return 0


def cmd_api_openapi(args) -> int:
    from skills_pipeline.delivery import api

    print(api.openapi_document(), end="")
    return 0


def cmd_api_token_issue(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.delivery import tokens

    warehouse.migrate()
    with warehouse.connect() as conn:
        token_id, token = tokens.issue(conn, args.label, args.scope, args.county)
    print(f"token {token_id} ({args.scope}{' ' + args.county if args.county else ''}), shown once:", file=sys.stderr)
    print(token)
    return 0


def cmd_api_token_revoke(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.delivery import api, tokens

    with warehouse.connect() as conn:
        if not tokens.revoke(conn, args.token_id):
            raise settings.ConfigurationError(f"no live token {args.token_id} (see `skills-pipeline api token list`)")
    print(f"token {args.token_id} revoked; running APIs refuse it within {api.TOKEN_CACHE_SECONDS:.0f} s")
    return 0


def cmd_api_token_list(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.delivery import tokens

    with warehouse.connect() as conn:
        rows = tokens.listing(conn)
    for token_id, label, scope, county, created, revoked in rows:
        status = f"revoked {revoked:%Y-%m-%d %H:%M}" if revoked else "live"
        print(f"{token_id:>5}  {scope:<8} {county or '':<7} {created:%Y-%m-%d}  {status:<22} {label}")
    if not rows:
        print("no tokens yet: skills-pipeline api token issue --label ... --scope archive|province|county")
    return 0


def cmd_stack(args) -> int:
    from skills_pipeline.local.stack import run_demo

    return run_demo(persons=args.persons)


def cmd_vault_rotate(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.ingest import pseudonyms

    current = pseudonyms.load_key()
    secret = Path(args.new_key_file).read_text().strip() if args.new_key_file else ""
    if not secret:
        raise settings.ConfigurationError("--new-key-file names an empty file: put the new secret (32+ characters) in")
    new = pseudonyms.PseudonymKey(args.new_version or current.version + 1, secret.encode())
    warehouse.migrate()
    with warehouse.connect() as conn:
        rotation = pseudonyms.rotate(conn, current, new)
    print(
        f"vault re-keyed: {rotation.people:,} people have version {rotation.new_version} pseudonyms beside version "
        f"{rotation.old_version}.\nNext: give the loader and dbt the new key ({pseudonyms.KEY_ENV} or "
        f"{pseudonyms.KEY_FILE_ENV}) with {pseudonyms.KEY_VERSION_ENV}={rotation.new_version}, rebuild every mart "
        "with a full refresh (dbt build --full-refresh: incremental models hold the old pseudonyms), and tell "
        "downstream consumers; approved settlement runs keep their "
        "pseudonyms, which the vault still maps. Retire the old key once no job uses it."
    )
    return 0


def cmd_warehouse_roles(args) -> int:
    from skills_pipeline import warehouse

    warehouse.apply_roles()
    print("warehouse roles, grants and row-level security applied (plugins/skills_pipeline/sql/roles.sql)")
    return 0


def cmd_warehouse_add_login(args) -> int:
    from skills_pipeline import warehouse

    password = os.environ.get(args.password_env, "")
    if len(password) < 12:
        raise settings.ConfigurationError(f"{args.password_env} is unset or shorter than 12 characters")
    warehouse.add_login(args.login, args.role, password)
    print(f"{args.login} logs in as a member of {args.role}")
    return 0


def cmd_warehouse_county_analyst(args) -> int:
    from skills_pipeline import warehouse

    warehouse.register_county_analyst(args.login, args.county)
    print(f"{args.login} sees county {args.county} only; set its password with ALTER ROLE ... PASSWORD")
    return 0


def warehouse_groups() -> tuple[str, ...]:
    return ("skills_loader", "skills_transformer", "analyst_province", "archive_reader", "vault_officer", "archive_api")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skills-pipeline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="also show progress logs on the console")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="the main job: ingest (a generated demo by default) through Airflow")
    run.add_argument(
        "--landing-root",
        help=f"process real deliveries here (default: generate a demo; env {settings.LANDING_ROOT_ENV})",
    )
    run.add_argument("--date", type=_date, help="first data date to process (default: the demo's, or yesterday)")
    run.add_argument("--to", type=_date, help="last data date (default: --date)")
    run.add_argument("--persons", type=_positive, default=20_000, help="demo population (default 20,000)")
    run.set_defaults(handler=cmd_run)

    gen = commands.add_parser("generate", help="write synthetic agency feeds to the contract in feeds.md")
    gen.add_argument(
        "--out", help="landing root to write <feed>/<date>/ files under (default: generated/ in the state folder)"
    )
    gen.add_argument("--persons", type=_positive, default=2_000, help="people to simulate (default 2,000)")
    gen.add_argument("--start", type=_date, default=dt.date(2026, 6, 1), help="first delivery date")
    gen.add_argument("--end", type=_date, default=dt.date(2026, 6, 7), help="last delivery date")
    gen.add_argument("--history-months", type=int, default=6, help="months of history in the first day's extract")
    gen.add_argument("--seed", type=int, default=42, help="random seed: the same seed writes the same bytes (42)")
    gen.add_argument("--feed", action="append", choices=list(feeds.FEEDS), help="only these feeds (repeatable)")
    gen.add_argument("--defect-scale", type=float, default=1.0, help="multiply every default defect rate")
    gen.add_argument("--no-defects", action="store_true", help="write clean feeds only")
    gen.set_defaults(handler=cmd_generate)

    ing = commands.add_parser("ingest", help="validate and load deliveries directly, without Airflow")
    ing.add_argument("--date", type=_date, required=True, help="first data date to load (YYYY-MM-DD)")
    ing.add_argument("--to", type=_date, help="last data date to load (default: --date)")
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
    led.add_argument("--date", type=_date, help="only files of this data date (default: every file)")
    led.set_defaults(handler=cmd_ledger)

    ack = commands.add_parser("acknowledge", help="accept a rejected batch so its date can pass")
    ack.add_argument("batch_id", type=int, help="the rejected batch (see `skills-pipeline ledger`)")
    ack.add_argument("--note", required=True, help="why (e.g. 'agency re-sent as batch 42')")
    ack.set_defaults(handler=cmd_acknowledge)

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

    stack = commands.add_parser(
        "stack", help="run Airflow's scheduler, dag-processor, api-server, triggerer and a Celery worker locally "
        "and drive one generated night through the REST API"
    )  # fmt: skip
    stack.add_argument("--persons", type=_positive, default=500, help="generated population (default 500)")
    stack.set_defaults(handler=cmd_stack)

    archive = commands.add_parser("archive", help="the archive change feed, for downstream systems")
    archive_commands = archive.add_subparsers(dest="archive_command", required=True)
    feed = archive_commands.add_parser(
        "changes",
        help="archives changed after a watermark, as JSON lines {change_id, document} (the last published document)",
    )
    feed.add_argument("--after", type=int, default=0, help="the last change_id you have read (default 0: all)")
    feed.add_argument(
        "--limit", type=_positive, default=1_000, help=f"at most this many (default 1,000; max {MAX_CHANGES_PAGE:,})"
    )
    feed.set_defaults(handler=cmd_archive_changes)
    publish = archive_commands.add_parser(
        "publish",
        help="after a build by hand: record the changed archives in the change feed and store their documents for "
        "the API and exports (build_archive's publish task does this every night)",
    )
    publish.add_argument(
        "--all", action="store_true", dest="everyone",
        help="rebuild every document, not only those touched since the last publication (after a seed such as the "
        "skill levels changed and `dbt build --full-refresh`)",
    )  # fmt: skip
    publish.set_defaults(handler=cmd_archive_publish)

    export = commands.add_parser("export", help="signed archive deliveries (gzip JSON Lines + Parquet + manifest)")
    export_commands = export.add_subparsers(dest="export_command", required=True)
    root_help = (
        f"export root, a path or fsspec URL (default {settings.ARCHIVE_EXPORT_ROOT_ENV} or .local/exports/archive)"
    )
    export_changes = export_commands.add_parser("changes", help="deliver the archives changed since the last delivery")
    export_changes.add_argument("--out", help=root_help)
    export_changes.set_defaults(handler=cmd_export_changes)
    snapshot = export_commands.add_parser(
        "snapshot", help="deliver every published archive (a full snapshot as of the last publication)"
    )
    snapshot.add_argument("--out", help=root_help)
    snapshot.set_defaults(handler=cmd_export_snapshot)
    check = export_commands.add_parser("verify", help="check a delivery's signature, files and documents")
    check.add_argument("delivery", help="the delivery folder (path or fsspec URL), e.g. .../changes-000000000001-...")
    check.add_argument("--public-key", required=True, help="the publisher's Ed25519 public key (PEM)")
    check.add_argument("--skip-documents", action="store_true", help="do not validate each document (faster)")
    check.set_defaults(handler=cmd_export_verify)
    keygen = export_commands.add_parser("keygen", help="write a new Ed25519 signing key (PEM) for the secrets manager")
    keygen.add_argument("--out", required=True, help="file to create (never overwritten)")
    keygen.set_defaults(handler=cmd_export_keygen)
    public = export_commands.add_parser("public-key", help="print the public key consumers verify deliveries with")
    public.set_defaults(handler=cmd_export_public_key)
    pool = export_commands.add_parser("talent-pool", help="the high-skilled talent pool as CSV (pseudonyms only)")
    pool.add_argument("--out", required=True, help="the CSV file to write")
    pool.add_argument("--region", help="a province, city or county code")
    pool.add_argument("--occupation", help="an occupation code, D-DD-DD-DD")
    pool.set_defaults(handler=cmd_export_talent_pool)
    lists = export_commands.add_parser(
        "public-lists", help="each catalogue year's published lists and credit grades (HTML and CSV, no personal data)"
    )
    lists.add_argument("--year", type=int, help="one catalogue year (default: every year loaded)")
    lists.set_defaults(handler=cmd_export_public_lists)

    api = commands.add_parser("api", help="the archive read API (serves by default; tokens; OpenAPI document)")
    api.add_argument("--host", help=f"listen address (default {settings.API_HOST_ENV} or 127.0.0.1)")
    api.add_argument("--port", type=_positive, help=f"port (default {settings.API_PORT_ENV} or 8000)")
    api.add_argument("--workers", type=_positive, default=1, help="uvicorn worker processes (default 1)")
    api.set_defaults(handler=cmd_api_serve)
    api_commands = api.add_subparsers(dest="api_command")
    openapi = api_commands.add_parser("openapi", help="print the OpenAPI document (docs/openapi.json is this)")
    openapi.set_defaults(handler=cmd_api_openapi)
    token = api_commands.add_parser("token", help="issue, revoke and list API tokens (stored hashed)")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    issue = token_commands.add_parser("issue", help="a new token, printed once")
    issue.add_argument("--label", required=True, help="who holds it, e.g. 'social-security card service'")
    issue.add_argument(
        "--scope", required=True, choices=["archive", "province", "county"],
        help="archive: every archive (archive_reader); province: archives and metrics; county: one county's",
    )  # fmt: skip
    issue.add_argument("--county", help="the county of a county token, e.g. 141125")
    issue.set_defaults(handler=cmd_api_token_issue)
    revoke = token_commands.add_parser("revoke", help="revoke a token by its number")
    revoke.add_argument("token_id", type=_positive, help="the number `token list` shows")
    revoke.set_defaults(handler=cmd_api_token_revoke)
    tokens_list = token_commands.add_parser("list", help="every token's number, scope, county, label and status")
    tokens_list.set_defaults(handler=cmd_api_token_list)

    vault = commands.add_parser("vault", help="the vault officer's commands: pseudonymisation key rotation")
    vault_commands = vault.add_subparsers(dest="vault_command", required=True)
    rotate = vault_commands.add_parser(
        "rotate", help="start a new key version: record it and re-key every person in the vault (one transaction)"
    )
    rotate.add_argument("--new-key-file", required=True, help="file holding the new secret (from the secrets manager)")
    rotate.add_argument("--new-version", type=_positive, help="the new version (default: the current one + 1)")
    rotate.set_defaults(handler=cmd_vault_rotate)

    wh = commands.add_parser("warehouse", help="administration: roles and county analysts")
    wh_commands = wh.add_subparsers(dest="warehouse_command", required=True)
    roles = wh_commands.add_parser("roles", help="create/refresh roles, grants and policies (idempotent; as admin)")
    roles.set_defaults(handler=cmd_warehouse_roles)
    login = wh_commands.add_parser("add-login", help="create (or update) a service's own login in one group role")
    login.add_argument("login", help="the login to create, e.g. skills_loader_svc")
    login.add_argument("role", choices=list(warehouse_groups()), help="the group role it belongs to")
    login.add_argument("--password-env", required=True, help="the environment variable holding its password")
    login.set_defaults(handler=cmd_warehouse_add_login)
    county = wh_commands.add_parser("add-county-analyst", help="create or move a county analyst login")
    county.add_argument("login", help="the analyst's PostgreSQL login (created if missing)")
    county.add_argument("county", help="6-digit county code, e.g. 141125")
    county.set_defaults(handler=cmd_warehouse_county_analyst)
    psql = wh_commands.add_parser(
        "psql", help="psql on the warehouse (make run's local one is started for it with SKILLS_WAREHOUSE_URL=embedded)"
    )
    psql.add_argument("psql_args", nargs=argparse.REMAINDER, help="passed to psql, e.g. -c 'select 1'")
    psql.set_defaults(handler=cmd_warehouse_psql)

    dbt = commands.add_parser(
        "dbt", help="dbt on the project with the warehouse's profile (e.g. skills-pipeline dbt build --select persons)"
    )
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER, help="dbt's command and options")
    dbt.set_defaults(handler=cmd_dbt)
    return parser


def cmd_warehouse_psql(args) -> int:
    import shutil
    import subprocess

    from skills_pipeline import warehouse

    found = shutil.which("psql")
    if found is None:  # pgserver's PostgreSQL ships its own psql
        try:
            import pgserver

            candidate = Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql"
            found = str(candidate) if candidate.exists() else None
        except ImportError:
            found = None
    if found is None:
        raise settings.ConfigurationError("no psql on PATH: install PostgreSQL's client (Debian: postgresql-client)")
    return subprocess.run([found, warehouse.warehouse_url(), *args.psql_args]).returncode


def cmd_dbt(args) -> int:
    from skills_pipeline import dbt_build

    if not args.dbt_args:
        raise settings.ConfigurationError("give dbt's command, e.g. skills-pipeline dbt build --select persons")
    try:
        dbt_build.run(*args.dbt_args)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


# Commands whose remaining arguments belong to another tool, options included (`warehouse psql -c ...`): argparse's
# REMAINDER does not take an option as its first word, so they are split off before parsing.
PASSTHROUGH = {("dbt",): "dbt_args", ("warehouse", "psql"): "psql_args"}


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    words = [word for word in argv if word not in ("-v", "--verbose")]
    for prefix, destination in PASSTHROUGH.items():
        if tuple(words[: len(prefix)]) == prefix and not {"-h", "--help"} & set(words[len(prefix) : len(prefix) + 1]):
            args = parser.parse_args([*argv[: argv.index(prefix[-1]) + 1]])
            setattr(args, destination, argv[argv.index(prefix[-1]) + 1 :])
            return args
    return parser.parse_args(argv)


def use_local_keys() -> None:
    """With make run's local warehouse, its local keys too (the pseudonym key and the export signing key it made
    under the state folder) where none is configured: the commands its summary suggests then work as printed."""
    from skills_pipeline.local.runner import ensure_local_archive_exports, ensure_local_pseudonym_key

    ensure_local_pseudonym_key()
    ensure_local_archive_exports()


def main(argv: list[str] | None = None) -> int:
    import psycopg

    from skills_pipeline import console, warehouse
    from skills_pipeline.ingest.pseudonyms import PseudonymKeyError

    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    log_path = console.setup(args.command, verbose=args.verbose)
    try:
        if os.environ.get(settings.WAREHOUSE_URL_ENV) == settings.EMBEDDED_WAREHOUSE and args.command != "generate":
            # Asked for by name: the local server, started here so every command (and its children) finds its URL.
            from skills_pipeline.local.embedded import start_embedded

            start_embedded()
            use_local_keys()
        return args.handler(args)
    except (settings.ConfigurationError, PseudonymKeyError, SettlementError, PermissionError, ValueError) as error:
        logging.getLogger(__name__).info("stopped: %s", error, exc_info=True)
        print(f"error: {error}", file=sys.stderr)
        return 2
    except warehouse.WarehouseUnreachable as error:
        logging.getLogger(__name__).info("stopped: %s", error, exc_info=True)
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as any command-line tool does, and keep Python from
        # complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except psycopg.OperationalError as error:
        logging.getLogger(__name__).exception("warehouse connection lost")
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        print(
            f"error: the warehouse connection was lost ({reason}); every file and run is written all or nothing, "
            "so nothing is half-done: run the same command again once the server is back",
            file=sys.stderr,
        )
        return 3
    except Exception as error:
        logging.getLogger(__name__).exception("unexpected failure")
        print(f"error: unexpected {type(error).__name__}; the traceback is in {log_path}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
