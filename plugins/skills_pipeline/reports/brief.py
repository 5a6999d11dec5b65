"""The one-page brief for a bureau leader: the month's headline figures against target and pace, each against the
previous month and the same month a year before, the three largest risks, and a few sentences written from the
figures. Every figure is read from a mart and follows docs/time.md: a rate is stated as final only for months whose
windows closed at the as-of date, and money in its four states."""

from __future__ import annotations

import datetime as dt

import psycopg
from psycopg.rows import dict_row

# How many trainees make a rate worth reading on its own (a county or month below is flagged, never hidden).
SMALL_COHORT = 30


def _shift(month: dt.date, months: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def figures(conn: psycopg.Connection, start: dt.date, end: dt.date, money: dict, as_of: dt.date | None) -> dict:
    """The brief's figures for the month starting on `start`: counts of the month, the previous month and the same
    month last year; the latest final employment rate; the latest skilled share; the year's money; the top risks."""
    months = {"current": start, "previous": _shift(start, -1), "last_year": _shift(start, -12)}
    as_of_day = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    # A month the data reach only part of is compared over the same days of the other months (1st to the as-of day).
    through_day = as_of_day.day if as_of_day and start <= as_of_day < end else None
    with conn.cursor(row_factory=dict_row) as cur:
        activity = {}
        for name, first in months.items():
            last = _shift(first, 1) - dt.timedelta(days=1)
            if through_day:
                last = min(last, first.replace(day=1) + dt.timedelta(days=through_day - 1))
            activity[name] = cur.execute(
                "select count(*) filter (where event_type = 'training') as trainings, "
                "count(distinct person_id) filter (where event_type = 'certificate') as certified_persons "
                "from archive.person_events where event_date between %s and %s",
                (first, last),
            ).fetchone()
        # The latest completion month final at the as-of date, up to the brief's month, and the two it is held against.
        final_months = cur.execute(
            "select completion_month, employed_trainees, employment_rate_denominator, employment_rate, "
            "employment_rate_target from metrics.trainee_outcome_rates where breakdown = 'province' "
            "and rate_status = 'final' and completion_month <= %s order by completion_month desc",
            (start,),
        ).fetchall()
        latest = final_months[0] if final_months else None
        rates = {"current": latest}
        if latest:
            by_month = {row["completion_month"]: row for row in final_months}
            rates["previous"] = by_month.get(_shift(latest["completion_month"], -1))
            rates["last_year"] = by_month.get(_shift(latest["completion_month"], -12))
        pending = cur.execute(
            "select coalesce(sum(employment_rate_denominator), 0) as trainees, min(completion_month) as first_month "
            "from metrics.trainee_outcome_rates where breakdown = 'province' and rate_status = 'provisional' "
            "and completion_month <= %s",
            (start,),
        ).fetchone()
        # The latest month with contributions up to the brief's month (contributions arrive a month late), held
        # against the month before it and the same month a year before.
        share_rows = {
            row["employment_month"]: row
            for row in cur.execute(
                "select employment_month, skilled_share, skilled_share_target, high_skilled_share, "
                "high_skilled_share_target from metrics.skilled_talent_shares "
                "where region_level = 'province' and employment_month <= %s",
                (start,),
            )
        }
        share_month = max(share_rows, default=None)
        shares = {
            name: share_rows.get(_shift(share_month, shift)) if share_month else None
            for name, shift in (("current", 0), ("previous", -1), ("last_year", -12))
        }
        progress = cur.execute(
            "select indicator, actual_value, target_value, share_of_target, pace_needed_per_month, projected_value, "
            "is_on_pace, unit from metrics.target_progress where region_level = 'province' and target_year = %s "
            "and indicator in ('subsidised_trainings', 'new_skilled_persons', 'new_high_skilled_persons')",
            (start.year,),
        ).fetchall()
        risks = cur.execute(
            "select w.warning_rule, coalesce(l.label, w.warning_rule) as label, max(w.source_clause) as clause, "
            "count(*) as warnings, count(distinct w.institution_code) as institutions "
            "from settlement.risk_warnings as w left join reference.settlement_labels as l "
            "on l.category = 'warning_rule' and l.code = w.warning_rule "
            "group by 1, 2 order by count(*) desc, 1 limit 3"
        ).fetchall()
        overdue = cur.execute(
            "select coalesce(sum(open_yuan), 0) as open_yuan, count(*) as payees "
            "from settlement.settlement_deadline_status where deadline_status = 'overdue'"
        ).fetchone()
    return {
        "months": months,
        "through_day": through_day,
        "share_month": share_month,
        "activity": activity,
        "employment_rate": rates,
        "pending_employment": pending,
        "skilled_share": shares,
        "progress": {row["indicator"]: row for row in progress},
        "risks": risks,
        "overdue": overdue,
        "money": money,
        "as_of_date": as_of,
    }


def _pct(value) -> str:
    return "—" if value is None else f"{float(value):.1%}"


def _points(now, then) -> str:
    if now is None or then is None:
        return "无可比数据"
    delta = (float(now) - float(then)) * 100
    return "持平" if abs(delta) < 0.05 else f"{'上升' if delta > 0 else '下降'}{abs(delta):.1f}个百分点"


def _change(now: int, then: int) -> str:
    if not then:
        return "无可比数据"
    delta = (now - then) / then
    return "持平" if abs(delta) < 0.0005 else f"{'增长' if delta > 0 else '下降'}{abs(delta):.1%}"


def sentences(brief: dict) -> list[str]:
    """A few plain sentences, each stating figures of the brief and nothing the figures do not say."""
    said = []
    as_of = brief["as_of_date"]
    current, previous, last_year = (brief["activity"][k] for k in ("current", "previous", "last_year"))
    month = brief["months"]["current"]
    span = f"1日至{brief['through_day']}日" if brief["through_day"] else ""
    said.append(
        f"{month.year}年{month.month}月{span}（数据截至{as_of}）开班培训{current['trainings']:,}人次，较上月同期"
        f"{_change(current['trainings'], previous['trainings'])}，较去年同期"
        f"{_change(current['trainings'], last_year['trainings'])}；"
        f"{current['certified_persons']:,}人取得证书。"
    )
    trainings = brief["progress"].get("subsidised_trainings")
    if trainings and trainings["target_value"] is not None:
        verdict = "按当前进度可以完成" if trainings["is_on_pace"] else "按当前进度难以完成"
        said.append(
            f"本年补贴性职业技能培训已完成{float(trainings['actual_value']):,.0f}人次，占目标"
            f"{float(trainings['target_value']):,.0f}人次的{_pct(trainings['share_of_target'])}，"
            f"预计全年{float(trainings['projected_value'] or 0):,.0f}人次，{verdict}，"
            f"此后每月需完成{float(trainings['pace_needed_per_month'] or 0):,.0f}人次。"
        )
    else:
        said.append("本年补贴性职业技能培训未设定全省目标，进度无从比较。")
    rates = brief["employment_rate"]
    latest = rates["current"]
    pending = brief["pending_employment"]
    if latest:
        target = latest["employment_rate_target"]
        meets = (
            ""
            if target is None
            else ("，达到" if latest["employment_rate"] >= target else "，低于") + f"目标{_pct(target)}"
        )
        said.append(
            f"观察期已满的最近结业月份（{latest['completion_month']:%Y年%m月}）培训后就业率为"
            f"{_pct(latest['employment_rate'])}（{latest['employed_trainees']:,}/"
            f"{latest['employment_rate_denominator']:,}人）{meets}，较上月"
            f"{_points(latest['employment_rate'], (rates.get('previous') or {}).get('employment_rate'))}，"
            f"较去年同期{_points(latest['employment_rate'], (rates.get('last_year') or {}).get('employment_rate'))}。"
        )
    else:
        said.append("尚无观察期已满的结业月份，培训后就业率暂无终值。")
    if pending["trainees"]:
        said.append(f"另有{pending['trainees']:,}名结业学员观察期未满，其就业情况暂不计入终值。")
    money = brief["money"]
    said.append(
        f"本年补贴测算应付{money['payable_yuan']:,.2f}元，其中已审批{money['approved_yuan']:,.2f}元"
        f"（已导出支付{money['exported_yuan']:,.2f}元），草稿待审批{money['drafted_yuan']:,.2f}元。"
    )
    if brief["risks"]:
        top = brief["risks"][0]
        said.append(
            f"风险预警以“{top['label']}”最多（{top['warnings']:,}条，依据{top['clause'] or '—'}），请优先核查。"
        )
    if brief["overdue"]["payees"]:
        overdue = brief["overdue"]
        said.append(
            f"已过次年3月31日仍未结清的补贴{overdue['open_yuan']:,.2f}元，"
            f"涉及{overdue['payees']:,}个收款方（003 §六）。"
        )
    return said
