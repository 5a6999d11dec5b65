"""Chinese names of what the reports show, and numbers formatted as Chinese readers expect."""

from __future__ import annotations

INDICATORS = {
    "subsidised_trainings": "补贴性职业技能培训(人次)",
    "new_skilled_persons": "新增技能人才(人)",
    "new_high_skilled_persons": "新增高技能人才(人)",
    "caregiver_trainees": "吕梁山护工培训(人)",
    "caregiver_certified_share": "吕梁山护工持证率",
    "caregiver_employed_trainees": "吕梁山护工实现就业(人)",
}
LEVELS = {"province": "省", "city": "市", "county": "县(市、区)"}
STATUSES = {"approved": "已审批", "draft": "草稿(待审批)"}


def region_name(data: dict, code: str | None) -> str:
    return data["regions"].get(code, code or "—")


def count(value) -> str:
    """1,500 — thousands grouped by commas, as official statistics print them."""
    return "—" if value is None else f"{value:,.0f}"


def share(value) -> str:
    return "—" if value is None else f"{value:.1%}"


def yuan(value) -> str:
    return "—" if value is None else f"{value:,.2f} 元"


def value(amount, unit: str) -> str:
    return share(amount) if unit == "share" else count(amount)
