"""Chinese names of what the reports show, and numbers formatted as Chinese readers expect."""

from __future__ import annotations

# Every indicator metrics.target_progress measures, in the order reports list them; also the indicators a bureau
# may import targets for (skills-pipeline targets import), with the rate indicators below.
INDICATORS = {
    "subsidised_trainings": "补贴性职业技能培训(人次)",
    "order_project_trainings": "其中：订单式、项目制培训(人次)",
    "enterprise_staff_trainings": "其中：企业职工培训(人次)",
    "entrepreneurship_trainings": "其中：创业培训(人次)",
    "institution_worker_trainings": "其中：院校和社会培训机构面向劳动者培训(人次)",
    "caregiver_trainees": "吕梁山护工劳务品牌培训(人)",
    "new_skilled_persons": "新增技能人才(人)",
    "new_high_skilled_persons": "新增高技能人才(人)",
    "vocational_first_intermediate_persons": "中职院校初次取得中级工证(人)",
    "caregiver_certified_share": "吕梁山护工持证率",
    "caregiver_employed_trainees": "吕梁山护工实现就业(人)",
}
RATE_INDICATORS = {
    "trainee_employment_rate": "培训后就业率",
    "skilled_share_of_employed": "技能人才占就业人员比例",
    "high_skilled_share_of_skilled": "高技能人才占技能人才比例",
}
# The four states of money (docs/time.md), as the reports name them.
MONEY_LABELS = {
    "payable_yuan": "应付(测算)",
    "drafted_yuan": "草稿待审批",
    "approved_yuan": "已审批",
    "exported_yuan": "已导出支付",
}
PROGRESS_STATUSES = {"final": "终值", "provisional": "暂计(观察期或年度未结束)"}
LEVELS = {"province": "省", "city": "市", "county": "县(市、区)"}


def region_name(data: dict, code: str | None) -> str:
    return data["regions"].get(code, code or "—")


def count(value) -> str:
    """1,500 — thousands grouped by commas, as official statistics print them."""
    return "—" if value is None else f"{value:,.0f}"


def on_pace(value) -> str:
    return "—" if value is None else ("能" if value else "不能")


def share(value) -> str:
    return "—" if value is None else f"{value:.1%}"


def yuan(value) -> str:
    return "—" if value is None else f"{value:,.2f} 元"


def value(amount, unit: str) -> str:
    return share(amount) if unit == "share" else count(amount)
