"""The main job's closing summary: what the nights did, from the ledger, the archive and the settlement marts."""

from __future__ import annotations

import datetime as dt

from skills_pipeline import console, settings, warehouse
from skills_pipeline.ingest import ledger


def print_summary(dates: list[dt.date], elapsed: float, states: dict, archive_state: str | None = None) -> None:
    with warehouse.connect() as conn:
        repeats = ledger.repeat_count(conn, dates)
        rejected = ledger.standing_rejections(conn, dates)
        top_rules = ledger.top_rules(conn, dates)
        per_date = ledger.date_totals(conn, dates)
        per_feed = ledger.feed_totals(conn, dates)
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
    for feed, files, rejected_files, read, loaded, quarantined in per_feed:
        print(f"  {feed:<16}{files:>7}{rejected_files:>10}{read:>14,}{loaded:>14,}{quarantined:>13,}")
    print(f"  repeated deliveries skipped (same content): {repeats}")
    if top_rules:
        print("  most frequent quarantine rules: " + ", ".join(f"{rule} ×{n}" for rule, n in top_rules))
    for rejection in rejected:
        print(f"  REJECTED batch {rejection.batch_id} ({rejection.feed} {rejection.data_date}): {rejection.problem}")
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
        print("Vouchers, institutions and the talent pool")
        print_institutions_summary()
    print()
    print("Where to look next")
    index = settings.state_dir() / "index.html"
    if index.exists():
        print(f"  start here:  {index.resolve().as_uri()}   (the bi-weekly report, Data Docs, dbt docs)")
    from skills_pipeline.local import embedded

    command = console.command_name()
    if embedded.uses_embedded_server():  # the commands below need to be told; `make run` itself was not
        print(f"  first:       export {settings.WAREHOUSE_URL_ENV}={settings.EMBEDDED_WAREHOUSE}   "
              "(the commands below then use this run's local warehouse, starting it when needed)")  # fmt: skip
    print(f"  ledger:      {command} ledger --date YYYY-MM-DD   (or select * from ingest.load_ledger)")
    print(f"  rejected:    {command} reevaluate BATCH_ID | acknowledge BATCH_ID --note '...'")
    print("  quarantine:  select failed_rules, details, raw_record from raw.quarantined_rows where batch_id = ...")
    print(f"  Data Docs:   {settings.data_docs_dir()}/<feed>/index.html (one site per feed, a page per file)")
    print("  archive:     select * from archive.persons; select * from archive.person_events where updated_at > ...")
    print("  metrics:     select * from metrics.trainee_outcome_rates; select * from metrics.skilled_talent_shares")
    print(f"  settlement:  {command} settlement run|approve|export|deadlines; settlement.risk_warnings")
    print(f"  reports:     {command} report biweekly|monthly|quarterly|annual|brief --period ... (HTML, PDF)")
    print(f"  targets:     {command} targets list --year YYYY; targets import FILE (docs/targets.md)")
    print(f"  dbt:         {command} dbt build --select MODEL   (dbt with the warehouse's profile)")
    print(f"  warehouse:   {command} warehouse psql   (schemas ingest, raw, archive, metrics, settlement, payments)")


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
        # Final months only (docs/time.md): a month whose windows are open at the as-of date is counted apart.
        rates = conn.execute(
            "select breakdown_value, "
            "coalesce(sum(employed_trainees) filter (where rate_status = 'final'), 0), "
            "coalesce(sum(employment_rate_denominator) filter (where rate_status = 'final'), 0), "
            "coalesce(sum(employment_rate_denominator) filter (where rate_status = 'provisional'), 0), "
            "max(employment_rate_target), max(as_of_date) from metrics.trainee_outcome_rates "
            "where breakdown = 'program_type' group by breakdown_value order by breakdown_value"
        ).fetchall()
    print(f"  persons archived: {persons:,} ({trained:,} with training, {high_skilled:,} high-skilled)")
    as_of = max((row[5] for row in rates if row[5]), default=None)
    print(
        f"  trainee employment rate by programme type, completion months final as of {as_of} "
        "(windows closed; target: province, 001 §一):"
    )
    for program, employed, denominator, pending, target, _ in rates:
        rate = f"{employed / denominator:6.1%}" if denominator else "   n/a"
        flag = (
            ""
            if not denominator or target is None
            else ("  meets target" if employed / denominator >= target else "  below target")
        )
        target_text = f"target {target:.0%}" if target is not None else "no target set"
        waiting = f"; {pending:,} in months still open" if pending else ""
        print(f"    {program:<22}{rate}  ({employed:,}/{denominator:,}{waiting}; {target_text}){flag}")


VOUCHER_STATES = ("written_off", "redeemed", "in_training", "issued", "applied", "expired", "cancelled")


def print_institutions_summary() -> None:
    """The e-voucher loop by state, each catalogue year's credit grades, and the high-skilled talent pool."""
    with warehouse.connect() as conn:
        if not conn.execute("select to_regclass('settlement.voucher_loop') is not null").fetchone()[0]:
            print("  not built")
            return
        states = dict(conn.execute("select voucher_state, count(*) from settlement.voucher_loop group by 1").fetchall())
        closed, as_of = conn.execute(
            "select count(*) filter (where is_loop_closed), max(as_of_date) from settlement.voucher_loop"
        ).fetchone()
        grades = conn.execute(
            "select grade_year, grade_status, credit_grade, count(*) from metrics.institution_credit_grades "
            "where as_of_date = (select max(as_of_date) from metrics.institution_credit_grades) "
            "group by 1, 2, 3 order by 1, 3"
        ).fetchall()
        pool, promoted = conn.execute(
            "select count(*), count(*) filter (where evidence_kind = 'competition') "
            "from metrics.high_skilled_talent_pool"
        ).fetchone()
    total = sum(states.values())
    by_state = ", ".join(f"{state} {states[state]:,}" for state in VOUCHER_STATES if states.get(state))
    print(f"  e-vouchers as of {as_of}: {total:,} ({by_state}); loop closed (trained, redeemed, paid): {closed:,}")
    years: dict[int, list[str]] = {}
    for year, status, grade, count in grades:
        years.setdefault(year, [f"({'final' if status == 'final' else 'provisional'})"]).append(f"{grade} {count:,}")
    for year, parts in years.items():
        print(f"  institution credit {year} {parts[0]}: " + ", ".join(parts[1:]))
    public = sorted(settings.report_dir().glob("public-*/index.html"))
    if public:
        print(f"  public lists: {public[-1].resolve().as_uri()} (catalogues and grades, HTML and CSV)")
    print(f"  high-skilled talent pool: {pool:,} person-occupations ({promoted:,} by a competition's promotion); "
          f"{console.command_name()} export talent-pool --out FILE")  # fmt: skip


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
