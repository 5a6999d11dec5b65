"""Small builders for hand-made deliveries in tests."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from skills_pipeline import feeds
from skills_pipeline.ingest.identifiers import resident_id_with_check_character, uscc_with_check_character

DAY = dt.date(2026, 6, 1)
PERSON_ID = resident_id_with_check_character("14112519850312004")
OTHER_ID = resident_id_with_check_character("14232519700101002")
EMPLOYER = uscc_with_check_character("91141125MA0L00001")
INSTITUTION = uscc_with_check_character("52141125MA0L00002")


def social_security_row(**overrides) -> dict:
    row = {
        "id_number": PERSON_ID,
        "name": "张三",
        "employer_code": EMPLOYER,
        "region_code": "141125",
        "insurance_type": "110",
        "contribution_month": "202605",
        "contribution_base": "3500.00",
        "paid": "1",
        "updated_at": "2026-06-01 10:00:00",
    }
    return {**row, **overrides}


def training_row(**overrides) -> dict:
    row = {
        "enrollment_id": "BJ2026000001-00000001",
        "class_id": "BJ2026000001",
        "id_number": PERSON_ID,
        "name": "张三",
        "institution_code": INSTITUTION,
        "institution_name": "柳林县职业培训学校",
        "program_type": "order_project",
        "trainee_category": "rural_migrant",
        "occupation_code": "4-10-01-05",
        "skill_level": "初级工",
        "start_date": "2026-05-01",
        "end_date": "2026-05-18",
        "training_days": "15",
        "completion_status": "completed",
        "region_code": "141125",
        "voucher_id": "",
        "updated_at": "2026-05-19 09:00:00",
    }
    return {**row, **overrides}


def write_csv(
    root: Path,
    feed: str,
    rows: list[dict],
    name: str = "delivery.csv",
    encoding: str = "utf-8",
    chinese: bool = True,
    day: dt.date = DAY,
    header: list[str] | None = None,
) -> Path:
    spec = feeds.get_feed(feed)
    names = list(rows[0]) if rows else spec.column_names
    labels = {c.name: c.label for c in spec.columns}
    folder = root / feed / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header or [labels.get(n, n) if chinese else n for n in names])
        for row in rows:
            writer.writerow([row.get(n) or "" for n in names])
    return path
