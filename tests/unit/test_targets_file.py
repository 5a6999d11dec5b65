"""A bureau's targets file is checked like a feed before anything is stored: every problem names the file, the line,
the rule and the fix; the demo's targets file passes the same checks."""

from __future__ import annotations

import datetime as dt

from skills_pipeline.local.generator import GeneratorConfig, generate
from skills_pipeline.reports import targets


def test_the_demo_targets_file_passes_the_import_checks(tmp_path):
    day = dt.date(2026, 6, 1)
    manifest = generate(GeneratorConfig(out=tmp_path / "landing", persons=200, start=day, end=day, history_months=1))
    rows, problems, _ = targets.check(tmp_path / "landing.generator" / "targets-2026.csv")
    assert problems == [] and manifest["targets"].endswith("targets-2026.csv")
    province = {r["indicator"]: r["target_value"] for r in rows if r["region_code"] == "140000"}
    assert province == {"subsidised_trainings": 90, "new_skilled_persons": 40}  # 0.45 and 0.2 per person
    assert {r["region_code"] for r in rows} >= {"140000", "141125"}


def test_each_problem_of_a_targets_file_is_named_with_its_line_and_fix(tmp_path):
    path = tmp_path / "county-targets.csv"
    path.write_text(
        "地区代码,指标,起始日期,截止日期,目标值,培训类型范围,依据\n"
        "141125,new_skilled_persons,2026-01-01,2026-12-31,420,,县人社局\n"
        "141125,new_skilled_persons,2026-01-01,2026-12-31,430,,县人社局\n"
        "141125,subsidised_trainings,2026-01-01,2026-12-31,1600,yoga,县人社局\n"
        "140000,skilled_share_of_employed,2024-06-01,2024-12-31,0.34,,省厅\n"
        "141125,subsidised_trainings,2026-12-31,2026-01-01,1600,,\n",
        encoding="gb18030",
    )
    rows, problems, _ = targets.check(path)
    assert len(rows) == 1  # line 2 alone passes
    assert problems == [
        "county-targets.csv line 3: repeats line 2 (same region, indicator and period start)",
        "county-targets.csv line 4: program_types yoga: unknown programme types; separate known ones by |",
        "county-targets.csv line 5: the policy documents set skilled_share_of_employed for 140000 from 2022-01-01 to "
        "2024-12-31 (002 §一(一)); an import may only add targets the documents do not set",
        "county-targets.csv line 6: period_end 2026-01-01 is before period_start 2026-12-31",
        "county-targets.csv line 6: source: say who set the target and where (document number and clause, or the "
        "decision)",
    ]
