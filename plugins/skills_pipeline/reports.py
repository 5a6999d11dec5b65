"""Readable summaries of what a run did, straight from the ledger."""

from __future__ import annotations

import datetime as dt

from skills_pipeline import ledger, settings, warehouse


def ledger_totals(dates: list[dt.date]) -> list[tuple]:
    with warehouse.connect() as conn:
        return conn.execute(
            "select feed, count(*) as files, count(*) filter (where status = 'rejected') as rejected, "
            "coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0) "
            "from ingest.load_ledger where data_date = any(%s) group by feed order by feed",
            (dates,),
        ).fetchall()


def print_archive_summary() -> None:
    """Persons archived and the latest complete month's employment rates by programme type, if built."""
    with warehouse.connect() as conn:
        built = conn.execute("select to_regclass('archive.persons') is not null").fetchone()[0]
        if not built:
            print("  archive not built (see the build_archive run above)")
            return
        persons, trained, high_skilled = conn.execute(
            "select count(*), count(*) filter (where trainings > 0), count(*) filter (where is_high_skilled) "
            "from archive.persons"
        ).fetchone()
        rates = conn.execute(
            "select breakdown_value, sum(employed_trainees), sum(employment_rate_denominator), "
            "max(employment_rate_target) from metrics.trainee_outcome_rates where breakdown = 'program_type' "
            "group by breakdown_value order by breakdown_value"
        ).fetchall()
    print(f"  persons archived: {persons:,} ({trained:,} with training, {high_skilled:,} high-skilled)")
    print("  trainee employment rate by programme type, all completion months (target: province, 001 §一):")
    for program, employed, denominator, target in rates:
        rate = f"{employed / denominator:6.1%}" if denominator else "   n/a"
        flag = (
            ""
            if not denominator or target is None
            else ("  meets target" if employed / denominator >= target else "  below target")
        )
        print(f"    {program:<22}{rate}  ({employed:,}/{denominator:,}; target {target:.0%}){flag}")


def print_settlement_summary() -> None:
    """The latest settlement run, what all computed lines refuse and why, and the risk warnings by rule."""
    with warehouse.connect() as conn:
        if not conn.execute("select to_regclass('settlement.settlement_lines') is not null").fetchone()[0]:
            print("  settlement not built")
            return
        run = conn.execute(
            "select run_id, period_start, period_end, run_kind, status, line_count, payable_yuan "
            "from payments.settlement_runs order by run_id desc limit 1"
        ).fetchone()
        payable, refused = conn.execute(
            "select coalesce(sum(amount_yuan), 0), count(*) filter (where not is_eligible) "
            "from settlement.settlement_lines"
        ).fetchone()
        reasons = conn.execute(
            "select split_part(reason, ':', 1), count(*) from settlement.settlement_lines, unnest(reasons) as reason "
            "group by 1 order by 2 desc limit 6"
        ).fetchall()
        warnings = conn.execute(
            "select warning_rule, count(*) from settlement.risk_warnings group by 1 order by 2 desc"
        ).fetchall()
    print(f"  all periods, as computed today: {payable:,.2f} yuan payable; {refused:,} lines refused")
    if reasons:
        print("  refusal reasons: " + ", ".join(f"{code} ×{n:,}" for code, n in reasons))
    print("  risk warnings: " + (", ".join(f"{rule} ×{n:,}" for rule, n in warnings) or "none"))
    if run:
        run_id, start, end, kind, status, lines, amount = run
        print(f"  latest run {run_id}: {start} to {end}, {kind}, {status}, {lines:,} lines, {amount:,.2f} yuan")
        print(f"  workbook: {settings.export_root()}/run-{run_id}/settlement-run-{run_id}.xlsx")


def print_summary(dates: list[dt.date], elapsed: float, states: dict, archive_state: str | None = None) -> None:
    with warehouse.connect() as conn:
        repeats = conn.execute(
            "select count(*) from ingest.deliveries where is_repeat and data_date = any(%s)", (dates,)
        ).fetchone()[0]
        rejected = conn.execute(
            "select batch_id, feed, data_date, problem from ingest.load_ledger "
            "where status = 'rejected' and superseded_by is null and data_date = any(%s) order by batch_id",
            (dates,),
        ).fetchall()
        top_rules = conn.execute(
            "select rule, sum(n::bigint) from ingest.load_ledger, jsonb_each_text(rule_failures) as r(rule, n) "
            "where data_date = any(%s) group by rule order by 2 desc limit 5",
            (dates,),
        ).fetchall()
        per_date = ledger.date_totals(conn, dates)
        strays = ledger.open_rejections(conn, None, None)
    print()
    print(f"Ingestion of {dates[0]} to {dates[-1]} finished in {elapsed:.0f}s")
    failed = {day: state for day, state in states.items() if not state.endswith("success")}
    print(f"  Airflow runs: {len(states) - len(failed)} succeeded, {len(failed)} failed")
    print()
    print(f"  {'data date':<12}{'files':>7}{'loaded':>8}{'rejected':>10}{'repeats':>9}  run")
    for day in dates:
        counts = per_date.get(day, {"files": 0, "loaded": 0, "rejected": 0, "repeats": 0})
        state = str(states.get(day, "not run")).removeprefix("DagRunState.")
        print(
            f"  {day!s:<12}{counts['files']:>7}{counts['loaded']:>8}{counts['rejected']:>10}{counts['repeats']:>9}"
            f"  {state}"
        )
    print()
    print(f"  {'feed':<16}{'files':>7}{'rejected':>10}{'rows read':>14}{'loaded':>14}{'quarantined':>13}")
    for feed, files, rejected_files, read, loaded, quarantined in ledger_totals(dates):
        print(f"  {feed:<16}{files:>7}{rejected_files:>10}{read:>14,}{loaded:>14,}{quarantined:>13,}")
    print(f"  repeated deliveries skipped (same content): {repeats}")
    if top_rules:
        print("  most frequent quarantine rules: " + ", ".join(f"{rule} ×{n}" for rule, n in top_rules))
    for batch_id, feed, day, problem in rejected:
        print(f"  REJECTED batch {batch_id} ({feed} {day}): {problem}")
    for stray in strays:
        print(f"  REJECTED batch {stray.batch_id} (not in a <feed>/<date>/ folder): {stray.problem}")
    if archive_state is not None:
        print()
        print(f"Archive and metrics (build_archive: {archive_state})")
        print_archive_summary()
        print()
        print("Subsidy settlement (settle_subsidies)")
        print_settlement_summary()
    print()
    print("Where to look next")
    print("  ledger:      skills-pipeline ledger --date YYYY-MM-DD   (or select * from ingest.load_ledger)")
    print("  rejected:    skills-pipeline reevaluate BATCH_ID | acknowledge BATCH_ID --note '...'")
    print("  quarantine:  select failed_rules, details, raw_record from raw.quarantined_rows where batch_id = ...")
    print(f"  Data Docs:   {settings.data_docs_dir()}/<feed>/<date>/index.html")
    print("  archive:     select * from archive.persons; select * from archive.person_events where updated_at > ...")
    print("  metrics:     select * from metrics.trainee_outcome_rates; select * from metrics.skilled_talent_shares")
    print("  settlement:  skills-pipeline settlement run|approve|export|deadlines; settlement.risk_warnings")
    print("  dbt docs:    .venv/bin/dbt docs generate --project-dir dbt_project --profiles-dir dbt_project")
    url = warehouse.redacted(warehouse.warehouse_url())
    print(f'  warehouse:   psql "{url}"   (schemas ingest, raw, archive, metrics, settlement, payments)')


def print_ledger(day: dt.date | None) -> None:
    with warehouse.connect() as conn:
        rows = conn.execute(
            "select batch_id, feed, data_date, status, rows_read, rows_loaded, rows_quarantined, source_path, problem "
            "from ingest.load_ledger where %s::date is null or data_date = %s order by batch_id",
            (day, day),
        ).fetchall()
    print(f"{'batch':>6} {'feed':<16}{'date':<12}{'status':<10}{'read':>10}{'loaded':>10}{'quarant.':>10}  file")
    for batch_id, feed, data_date, status, read, loaded, quarantined, path, problem in rows:
        print(
            f"{batch_id:>6} {feed:<16}{data_date!s:<12}{status:<10}{read:>10,}{loaded:>10,}{quarantined:>10,}  {path}"
        )
        if problem:
            print(f"{'':>7}{problem}")


def print_deadline_status(year: int | None) -> None:
    """Open subsidy amounts per year and payee against the 31 March deadline (003 §六)."""
    with warehouse.connect() as conn:
        rows = conn.execute(
            "select subsidy_year, payment_deadline, deadline_status, payee_kind, payee_code, eligible_yuan, "
            "settled_yuan, open_yuan from settlement.settlement_deadline_status "
            "where (%s::integer is null or subsidy_year = %s) and deadline_status <> 'settled' "
            "order by subsidy_year, deadline_status desc, open_yuan desc",
            (year, year),
        ).fetchall()
    if not rows:
        print("nothing open: every eligible subsidy is settled by an approved run")
        return
    print(f"{'year':<6}{'deadline':<12}{'status':<9}{'payee':<34}{'eligible':>14}{'settled':>14}{'open':>14}")
    for subsidy_year, deadline, status, kind, code, eligible, settled, still_open in rows:
        print(
            f"{subsidy_year:<6}{deadline!s:<12}{status:<9}{kind + ' ' + code:<34}"
            f"{eligible:>14,.2f}{settled:>14,.2f}{still_open:>14,.2f}"
        )
