"""Settlement runs: freeze the current settlement lines of a period into an auditable, approvable payment ledger.

dbt computes `settlement.settlement_lines` afresh every night from whatever the feeds say now. Money needs more:
what was approved must never change, yet late corrections must still reach the payees. So a settlement of a
period is a *run* (payments.settlement_runs) recording the rule versions and input batches it used and the lines
it froze. The first run of a period holds the lines as computed (run_kind original). Once a run of the period is
approved, later runs hold only the differences against everything approved for it (run_kind adjustment): a line
whose amount changed gets an adjustment line with the difference and its reason, a line that left the period gets
a reversal. Summing every approved line of a period therefore always gives the current computation.

Periods need not nest: finance may settle a month, then the whole year. What was approved is read per line from
every approved run whose lines fall in the period (by their settlement date), so a year settled after an approved
month holds only what the month did not already pay. A draft never blocks anything: a new draft supersedes the
overlapping drafts (kept, marked superseded) except one of a wider period that contains it, so the nightly draft of
a month leaves the finance office's draft of the year standing; approving a draft that another approval has since
made stale is refused.

Runs are idempotent: computing a period again with unchanged inputs returns the existing draft rather than a new
run, and an approved period with nothing changed creates no run at all. Approved runs are frozen by triggers in
the database (002_settlement.sql), not by convention here.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import re
from dataclasses import dataclass
from decimal import Decimal

import psycopg

log = logging.getLogger(__name__)


class SettlementError(Exception):
    """A settlement request that cannot be honoured; the message says why and what to do."""


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"

    @property
    def label(self) -> str:
        """2023-03 for a month, 2023 for a year, else start..end."""
        if self.start.day == 1 and self.end == _month_end(self.start):
            return self.start.strftime("%Y-%m")
        if (self.start.month, self.start.day, self.end.month, self.end.day) == (1, 1, 12, 31) and (
            self.start.year == self.end.year
        ):
            return str(self.start.year)
        return str(self)


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def parse_period(text: str) -> Period:
    """`2023-03` (a month), `2023` (a year) or `2023-01-01..2023-06-30`."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}", text):
            year = int(text)
            return Period(dt.date(year, 1, 1), dt.date(year, 12, 31))
        if re.fullmatch(r"\d{4}-\d{2}", text):
            start = dt.date.fromisoformat(f"{text}-01")
            return Period(start, _month_end(start))
        if ".." in text:
            first, last = (dt.date.fromisoformat(part) for part in text.split("..", 1))
            if last < first:
                raise SettlementError(f"period {text!r} ends before it starts")
            return Period(first, last)
    except ValueError:
        pass
    raise SettlementError(f"{text!r} is not a period: write 2023-03 (a month), 2023 (a year) or 2023-01-01..2023-06-30")


def previous_month(day: dt.date) -> Period:
    """The calendar month before `day`'s month: what the monthly DAG run settles."""
    last = day.replace(day=1) - dt.timedelta(days=1)
    return Period(last.replace(day=1), last)


@dataclass(frozen=True)
class RunResult:
    period: Period
    run_id: int | None
    run_kind: str | None
    # created: a new draft; unchanged: the existing draft already holds these lines; up_to_date: the approved runs
    # of the period already add up to the current computation, so there is nothing to adjust
    outcome: str
    line_count: int
    payable_yuan: Decimal
    # drafts of other periods this run replaced (kept in payments.settlement_runs with status superseded)
    superseded: tuple[int, ...] = ()

    def describe(self) -> str:
        replaced = f"; superseded draft run(s) {', '.join(map(str, self.superseded))}" if self.superseded else ""
        if self.run_id is None:
            return f"settlement {self.period.label}: approved runs are up to date, no adjustment needed{replaced}"
        verb = "created" if self.outcome == "created" else "unchanged, still"
        return (
            f"settlement {self.period.label}: {verb} draft run {self.run_id} ({self.run_kind}), "
            f"{self.line_count:,} lines, payable {self.payable_yuan:,.2f} yuan{replaced}"
        )


# The columns a run line copies from settlement.settlement_lines (the dbt contract on that model keeps them).
LINE_COLUMNS = (
    "line_key, line_kind, source_id, person_id, class_id, region_code, payee_kind, payee_code, payee_name, "
    "rule_id, rule_version, source_clause, quantity, subsidy_year, settlement_date, is_eligible, reasons"
)

# Proposed lines of a run, given temp tables current_lines (the period's lines now) and approved (per line_key:
# the sum approved so far in any run for a settlement date within the period, and the last approved line's
# attributes).
_ORIGINAL_LINES = f"""
    select {LINE_COLUMNS}, 'original' as line_type, amount_yuan, 0::numeric(14, 2) as previously_approved_yuan,
        null::text as adjustment_reason
    from current_lines
"""

# A line that still exists is described as it is now (its rule may have changed); a withdrawn one as last approved.
_DESCRIBED_AS_NOW_OR_LAST_APPROVED = ",\n        ".join(
    f"case when c.line_key is null then a.{column} else c.{column} end as {column}"
    for column in (name.strip() for name in LINE_COLUMNS.split(","))
    if column not in ("is_eligible", "reasons")
)

_ADJUSTMENT_LINES = f"""
    select
        {_DESCRIBED_AS_NOW_OR_LAST_APPROVED},
        coalesce(c.is_eligible, false) as is_eligible,
        coalesce(c.reasons, '{{}}') as reasons,
        case when c.line_key is null then 'reversal' else 'adjustment' end as line_type,
        coalesce(c.amount_yuan, 0) - coalesce(a.approved_yuan, 0) as amount_yuan,
        coalesce(a.approved_yuan, 0) as previously_approved_yuan,
        format(
            '原核定 %s 元，现为 %s 元：%s',
            coalesce(a.approved_yuan, 0)::numeric(14, 2), coalesce(c.amount_yuan, 0)::numeric(14, 2),
            case
                when c.line_key is null then '输入更正后该明细不再属于本期间'
                when a.line_key is null and c.is_eligible then '新增明细，按规则 ' || c.rule_id || ' 支付'
                when c.is_eligible then '现按规则 ' || c.rule_id || ' 第 ' || c.rule_version || ' 版支付'
                else '现不符合条件：' || array_to_string(c.reasons, '；')
            end
        ) as adjustment_reason
    from current_lines as c
    full outer join approved as a
        on c.line_key = a.line_key
    where coalesce(c.amount_yuan, 0) <> coalesce(a.approved_yuan, 0)
"""


def _temp_table(conn: psycopg.Connection, name: str, definition: str, params=()) -> None:
    """A temp table for this transaction (dropped first: approval proposes again inside a run's transaction)."""
    conn.execute(f"drop table if exists pg_temp.{name}")
    conn.execute(f"create temp table {name} on commit drop as {definition}", params)


def _propose(conn: psycopg.Connection, period: Period) -> tuple[str, int, Decimal, str]:
    """The lines a run of `period` would hold now, in temp table `proposed` (the stored lines' row type), and
    (run_kind, line count, payable, digest of every column of every line)."""
    _temp_table(
        conn,
        "current_lines",
        f"select {LINE_COLUMNS}, amount_yuan from settlement.settlement_lines where settlement_date between %s and %s",
        (period.start, period.end),
    )
    # Every line a run stores is dated within its period (a reversal keeps the withdrawn line's date), so the lines
    # approved for a period are the approved lines dated within it, whichever run (month, year) approved them.
    _temp_table(
        conn,
        "approved",
        f"""
        select distinct on (line.line_key)
            {", ".join("line." + column.strip() for column in LINE_COLUMNS.split(","))},
            sum(line.amount_yuan) over (partition by line.line_key) as approved_yuan
        from payments.settlement_run_lines as line
        inner join payments.settlement_runs as run
            on line.run_id = run.run_id
        where run.status = 'approved' and line.settlement_date between %s and %s
        order by line.line_key, run.approved_at desc, run.run_id desc
        """,
        (period.start, period.end),
    )
    # Adjustments once anything of the period is approved: a line dated within it, or a run of a period overlapping
    # it (an approved run of this very period with no line at all included).
    has_approved = conn.execute(
        "select exists (select from pg_temp.approved) or exists (select from payments.settlement_runs "
        "where status = 'approved' and daterange(period_start, period_end, '[]') && daterange(%s, %s, '[]'))",
        (period.start, period.end),
    ).fetchone()[0]
    conn.execute("drop table if exists pg_temp.proposed")
    # The stored lines' own row type, so a proposed line and the same line stored digest alike.
    conn.execute("create temp table proposed (like payments.settlement_run_lines) on commit drop")
    columns = f"run_id, {LINE_COLUMNS}, line_type, amount_yuan, previously_approved_yuan, adjustment_reason"
    lines = _ADJUSTMENT_LINES if has_approved else _ORIGINAL_LINES
    conn.execute(f"insert into proposed ({columns}) select 0, {LINE_COLUMNS}, line_type, amount_yuan, "
                 f"previously_approved_yuan, adjustment_reason from ({lines}) as lines")  # fmt: skip
    line_count, payable, digest = conn.execute(
        "select count(*), coalesce(sum(amount_yuan), 0), payments.lines_digest(array_agg(to_jsonb(p))) "
        "from proposed as p"
    ).fetchone()
    return ("adjustment" if has_approved else "original"), line_count, payable, digest


def stored_lines_digest(conn: psycopg.Connection, run_id: int) -> str:
    return conn.execute(
        "select payments.lines_digest(array_agg(to_jsonb(l))) from payments.settlement_run_lines as l "
        "where run_id = %s",
        (run_id,),
    ).fetchone()[0]


def create_run(conn: psycopg.Connection, period: Period) -> RunResult:
    """Compute a draft settlement run of `period` from settlement.settlement_lines, in one transaction."""
    with conn.transaction():
        # Runs of any period are serialised: draft replacement and approvals must see each other.
        conn.execute("select pg_advisory_xact_lock(hashtext('skills_pipeline.settlement'))")
        run_kind, line_count, payable, digest = _propose(conn, period)
        superseded = _supersede_overlapping_drafts(conn, period)
        draft = conn.execute(
            "select run_id, run_kind, lines_sha256 from payments.settlement_runs "
            "where status = 'draft' and period_start = %s and period_end = %s",
            (period.start, period.end),
        ).fetchone()
        if draft and draft[1] == run_kind and draft[2] == digest:
            return RunResult(period, draft[0], run_kind, "unchanged", line_count, payable, superseded)
        if draft:
            conn.execute("update payments.settlement_runs set status = 'superseded' where run_id = %s", (draft[0],))
            log.info("draft run %s of %s superseded", draft[0], period.label)
        if run_kind == "adjustment" and line_count == 0:
            return RunResult(period, None, None, "up_to_date", 0, Decimal(0), superseded)
        run_id = conn.execute(
            """
            insert into payments.settlement_runs
                (period_start, period_end, run_kind, rule_versions, input_batches, line_count, payable_yuan,
                 lines_sha256)
            select %s, %s, %s,
                coalesce((select jsonb_object_agg(rule_id, rule_version)
                          from (select distinct rule_id, rule_version from proposed where rule_id is not null) as r),
                         '{}'),
                coalesce((select jsonb_object_agg(feed, batch_ids)
                          from (select feed, jsonb_agg(batch_id order by batch_id) as batch_ids
                                from ingest.load_ledger where status = 'loaded' group by feed) as b),
                         '{}'),
                %s, %s, %s
            returning run_id
            """,
            (period.start, period.end, run_kind, line_count, payable, digest),
        ).fetchone()[0]
        conn.execute(
            f"""
            insert into payments.settlement_run_lines
                (run_id, {LINE_COLUMNS}, line_type, amount_yuan, previously_approved_yuan, adjustment_reason)
            select %s, {LINE_COLUMNS}, line_type, amount_yuan, previously_approved_yuan, adjustment_reason
            from proposed
            """,
            (run_id,),
        )
        log.info("run %s of %s: %s lines, %s yuan", run_id, period.label, line_count, payable)
        return RunResult(period, run_id, run_kind, "created", line_count, payable, superseded)


def _supersede_overlapping_drafts(conn: psycopg.Connection, period: Period) -> tuple[int, ...]:
    """Mark superseded (kept, never deleted) the drafts of other periods that `period` overlaps, except a draft of a
    wider period that contains it: drafting 2023 replaces the drafts of its months, drafting a month leaves the
    year's draft alone. Returns the run ids superseded."""
    superseded = conn.execute(
        """
        update payments.settlement_runs
        set status = 'superseded'
        where
            status = 'draft'
            and daterange(period_start, period_end, '[]') && daterange(%(start)s, %(end)s, '[]')
            and (period_start, period_end) <> (%(start)s, %(end)s)
            and not daterange(period_start, period_end, '[]') @> daterange(%(start)s, %(end)s, '[]')
        returning run_id, period_start, period_end
        """,
        {"start": period.start, "end": period.end},
    ).fetchall()
    for run_id, start, end in superseded:
        log.info("draft run %s of %s superseded by a draft of %s", run_id, Period(start, end).label, period.label)
    return tuple(run_id for run_id, _, _ in superseded)


def approve_run(conn: psycopg.Connection, run_id: int, approved_by: str) -> None:
    """Approve a draft run that is still what the inputs give, and link it into the hash chain of approved runs.
    From then on the database refuses any change to it or its lines, and verify() detects one made anyway."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('skills_pipeline.settlement'))")
        row = conn.execute(
            "select status, period_start, period_end, run_kind, lines_sha256 from payments.settlement_runs "
            "where run_id = %s for update",
            (run_id,),
        ).fetchone()
        if row is None:
            raise SettlementError(f"there is no settlement run {run_id}")
        status, start, end, run_kind, recorded = row
        if status != "draft":
            raise SettlementError(f"settlement run {run_id} is {status}, not a draft: only drafts can be approved")
        period = Period(start, end)
        if stored_lines_digest(conn, run_id) != recorded:
            raise SettlementError(
                f"draft run {run_id}'s lines were changed after it was computed; nothing was approved. Run "
                f"`skills-pipeline settlement run {period.label}` for a fresh draft"
            )
        now_kind, _, _, now_digest = _propose(conn, period)
        if (now_kind, now_digest) != (run_kind, recorded):
            raise SettlementError(
                f"draft run {run_id} is stale: the settlement of {period.label} changed after it was computed "
                f"(corrected input, a new rule version or another approval); nothing was approved. Run "
                f"`skills-pipeline settlement run {period.label}` and approve the new draft"
            )
        previous = conn.execute(
            "select run_id, chain_sha256 from payments.settlement_runs where status = 'approved' "
            "order by approved_at desc, run_id desc limit 1"
        ).fetchone()
        previous_id, previous_chain = previous if previous else (None, None)
        conn.execute(
            """
            update payments.settlement_runs set status = 'approved', approved_at = now(), approved_by = %(by)s,
                approved_lines_sha256 = %(digest)s, previous_run_id = %(previous)s,
                chain_sha256 = payments.chain_link(%(chain)s, run_id, period_start, period_end, run_kind, %(by)s,
                    line_count, payable_yuan, %(digest)s)
            where run_id = %(run)s
            """,
            {"by": approved_by, "digest": recorded, "previous": previous_id, "chain": previous_chain, "run": run_id},
        )
        write_off_vouchers(conn, run_id)


# 003 §五, 核销: the vouchers of the run's payable training lines, one row each (payments.voucher_write_offs).
WRITE_OFF_VOUCHERS = """
insert into payments.voucher_write_offs (voucher_id, run_id, line_key, enrollment_id, amount_yuan)
select e.voucher_id, l.run_id, l.line_key, l.source_id, l.amount_yuan
from payments.settlement_run_lines as l
join settlement.settlement_enrollments as e on e.enrollment_id = l.source_id
where l.run_id = %s and l.line_kind = 'training' and l.line_type <> 'reversal' and l.is_eligible
    and l.amount_yuan > 0 and e.voucher_id is not null
on conflict (voucher_id) do nothing
returning voucher_id
"""


def write_off_vouchers(conn: psycopg.Connection, run_id: int) -> int:
    """Approving a run writes off the e-voucher of each payable training line it holds (the loop's last step,
    003 §五): an original line, or an adjustment that makes a refused training payable. One voucher pays once:
    settlement refuses a training whose voucher is written off already (settlement_enrollments, voucher_paid), and
    an adjustment of a training already paid keeps the write-off of its first run."""
    return len(conn.execute(WRITE_OFF_VOUCHERS, (run_id,)).fetchall())


@dataclass(frozen=True)
class Verification:
    runs: int  # approved runs checked
    head: str | None  # chain_sha256 of the last approved run: keep it outside the database to anchor the chain
    problems: list[str]
    unchained: list[int]  # approved before the chain existed: their lines cannot be verified


def verify(conn: psycopg.Connection, run_id: int | None = None) -> Verification:
    """Recompute every approved run's line digest and chain link (or one run's, with run_id). A line changed by any
    means — a superuser with triggers off included — shows as a problem naming its run."""
    runs = conn.execute(
        "select run_id, period_start, period_end, run_kind, approved_by, line_count, payable_yuan, "
        "approved_lines_sha256, previous_run_id, chain_sha256 from payments.settlement_runs "
        "where status = 'approved' order by approved_at, run_id"
    ).fetchall()
    problems: list[str] = []
    unchained: list[int] = []
    previous_id, previous_chain = None, None
    for run, start, end, kind, by, count, payable, approved_digest, linked_id, chain in runs:
        label = Period(start, end).label
        if chain is None:
            unchained.append(run)
            continue
        if run_id is None or run == run_id:
            stored_count, stored_sum = conn.execute(
                "select count(*), coalesce(sum(amount_yuan), 0) from payments.settlement_run_lines where run_id = %s",
                (run,),
            ).fetchone()
            if stored_lines_digest(conn, run) != approved_digest or (stored_count, stored_sum) != (count, payable):
                problems.append(
                    f"run {run} ({label}): its lines are not the lines approved ({stored_count} lines, "
                    f"{stored_sum:,.2f} yuan now; {count} lines, {payable:,.2f} yuan approved)"
                )
            expected = conn.execute(
                "select payments.chain_link(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (previous_chain, run, start, end, kind, by, count, payable, approved_digest),
            ).fetchone()[0]
            if linked_id != previous_id or expected != chain:
                problems.append(f"run {run} ({label}): its link in the approval chain was altered")
        previous_id, previous_chain = run, chain
    return Verification(len(runs) - len(unchained), previous_chain, problems, unchained)


def require_verified(conn: psycopg.Connection, run_id: int) -> None:
    """Refuse to hand an approved run to anyone (workbook, payment file) if it fails verification."""
    result = verify(conn, run_id)
    if result.problems:
        raise SettlementError(
            "settlement verification failed, nothing was exported: " + "; ".join(result.problems) + ". Restore the "
            "run from backup and check the database audit log (see README, Deploy: audit)"
        )


def run_period(period: Period, approve_as: str | None = None) -> RunResult:
    """Create (and optionally approve) the run of a period on the configured warehouse."""
    from skills_pipeline import warehouse

    warehouse.migrate()
    with warehouse.connect(as_transformer=True) as conn:
        result = create_run(conn, period)
        if approve_as and result.run_id is not None:
            approve_run(conn, result.run_id, approve_as)
    return result
