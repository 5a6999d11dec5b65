"""The report's charts: Altair specifications rendered to SVG by vl-convert (no script runs when the page is read)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from skills_pipeline.reports.labels import INDICATORS, MONEY_LABELS, region_name

FONT = "Noto Sans CJK SC, Noto Sans SC, WenQuanYi Micro Hei, sans-serif"
WIDTH = 560


def _svg(chart: alt.TopLevelMixin) -> str:
    import vl_convert

    spec = chart.configure(font=FONT).configure_view(stroke=None).to_json()
    return vl_convert.vegalite_to_svg(spec)


def draw(data: dict) -> dict[str, str | None]:
    """name -> SVG, or None where the marts hold nothing to draw for the period."""
    return {
        "target_progress": _target_progress(data),
        "employment_trend": _employment_trend(data),
        "skilled_shares": _skilled_shares(data),
        "subsidy_funds": _subsidy_funds(data),
    }


def _target_progress(data: dict) -> str | None:
    rows = [
        {
            "目标": f"{region_name(data, row['region_code'])} · {row['indicator']}",
            "完成进度": min(row["share_of_target"] or 0, 1.0),
        }
        for row in data["rate_targets"]
    ] + [
        {
            "目标": f"{region_name(data, row['region_code'])} · {INDICATORS.get(row['indicator'], row['indicator'])}",
            "完成进度": min(row["share_of_target"] or 0, 1.0),
        }
        for row in data["target_progress"]
        if row["target_value"] is not None
    ]
    if not rows:
        return None
    # Bars stop at the target (100%); the table beside the chart gives each figure and its share exactly.
    base = alt.Chart(pd.DataFrame(rows)).encode(y=alt.Y("目标:N", sort=None, title=None, axis=alt.Axis(labelLimit=260)))
    full = base.mark_bar(color="#e6e6e6").encode(x=alt.X("datum.one:Q")).transform_calculate(one="1")
    bars = base.mark_bar(color="#c0392b").encode(
        x=alt.X("完成进度:Q", title="完成进度(占年度目标)", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]))
    )
    # The target itself, as a line at 100%.
    target = (
        alt.Chart(pd.DataFrame([{"目标线": 1.0}]))
        .mark_rule(color="#2c3e50", strokeDash=[6, 4], strokeWidth=2)
        .encode(x=alt.X("目标线:Q", scale=alt.Scale(domain=[0, 1])))
    )
    return _svg(alt.layer(full, bars, target).properties(width=WIDTH, height=alt.Step(22)))


FINAL, PROVISIONAL, TARGET = "培训后就业率", "培训后就业率(观察期未满,暂计)", "目标"


def _employment_trend(data: dict) -> str | None:
    rows = [r for r in data["employment_trend"] if r["employment_rate"] is not None]
    if not rows:
        return None
    # A month whose employment window is still open is provisional: drawn apart, so a falling line at the end is
    # not read as a fall in employment.
    points = [
        {
            "结业月份": r["completion_month"][:7],
            "指标": FINAL if r["is_final"] else PROVISIONAL,
            "比例": r["employment_rate"],
        }
        for r in rows
    ]
    points += [
        {"结业月份": r["completion_month"][:7], "指标": TARGET, "比例": r["employment_rate_target"]}
        for r in rows
        if r["employment_rate_target"] is not None
    ]
    series = [FINAL, PROVISIONAL, TARGET]
    chart = (
        alt.Chart(pd.DataFrame(points))
        .mark_line(point=True)
        .encode(
            x=alt.X("结业月份:O", title="结业月份"),
            y=alt.Y("比例:Q", title="就业率", axis=alt.Axis(format="%")),
            color=alt.Color(
                "指标:N", scale=alt.Scale(domain=series, range=["#c0392b", "#e6b0aa", "#7f8c8d"]), title=None
            ),
            strokeDash=alt.StrokeDash(
                "指标:N", scale=alt.Scale(domain=series, range=[[1, 0], [2, 2], [6, 4]]), title=None
            ),
        )
        .properties(width=WIDTH, height=220)
    )
    return _svg(chart)


def _skilled_shares(data: dict) -> str | None:
    rows = []
    for r in data["skilled_shares"]:
        name = region_name(data, r["region_code"])
        for label, share, target in (
            ("技能人才占就业人员比例", r["skilled_share"], r["skilled_share_target"]),
            ("高技能人才占技能人才比例", r["high_skilled_share"], r["high_skilled_share_target"]),
        ):
            if share is not None:
                rows.append({"地区": name, "指标": label, "比例": share, "目标": target})
    if not rows:
        return None
    base = alt.Chart(pd.DataFrame(rows)).encode(
        x=alt.X("地区:N", sort=None, title=None, axis=alt.Axis(labelAngle=0)), xOffset="指标:N"
    )
    bars = base.mark_bar().encode(
        y=alt.Y("比例:Q", title=None, axis=alt.Axis(format="%")),
        color=alt.Color("指标:N", scale=alt.Scale(range=["#c0392b", "#2c3e50"]), title=None),
    )
    # Each share's target, where one is set, as a dark tick across its bar.
    targets = (
        base.transform_filter("datum['目标'] != null")
        .mark_tick(color="#111", thickness=2, size=14)
        .encode(y=alt.Y("目标:Q"))
    )
    return _svg(alt.layer(bars, targets).properties(width=WIDTH, height=220))


def _subsidy_funds(data: dict) -> str | None:
    rows = [
        {
            "培训类型": data["programmes"].get(r["programme"], r["programme"]),
            "状态": label,
            "金额(元)": r[state],
        }
        for r in data["money_totals"]["by_programme"]
        for state, label in MONEY_LABELS.items()
        if r[state]
    ]
    if not rows:
        return None
    order = list(MONEY_LABELS.values())
    chart = (
        alt.Chart(pd.DataFrame(rows))
        .mark_bar()
        .encode(
            y=alt.Y("培训类型:N", title=None),
            yOffset=alt.YOffset("状态:N", sort=order),
            x=alt.X("金额(元):Q", title="补贴金额(元)", axis=alt.Axis(format=",.0f")),
            color=alt.Color(
                "状态:N",
                sort=order,
                scale=alt.Scale(domain=order, range=["#95a5a6", "#f39c12", "#27ae60", "#2c3e50"]),
                title=None,
            ),
        )
        .properties(width=WIDTH, height=alt.Step(10))
    )
    return _svg(chart)
