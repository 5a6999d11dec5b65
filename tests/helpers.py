"""Small builders for hand-made deliveries in tests."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
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


LIULIN, YAODU = "141125", "141002"


def county_person(county: str, n: int) -> str:
    return resident_id_with_check_character(f"{county}19900101{n:03d}")


def two_county_deliveries(root) -> None:
    """Three trainees in each of Liulin and Yaodu, their contributions (one with a bad ID), a Yaodu registration
    and a Liulin certificate: enough to tell one county's rows from another's."""
    training, contributions = [], []
    for county in (LIULIN, YAODU):
        for n in range(1, 4):
            id_number = county_person(county, n)
            training.append(training_row(
                enrollment_id=f"{county}-{n}", class_id=f"C{county}", id_number=id_number, name=f"学员{n}号",
                region_code=county, program_type="enterprise_employee", trainee_category="enterprise_employee",
                start_date="2026-03-01", end_date="2026-03-03", training_days="3",
            ))  # fmt: skip
            contributions.append({
                "id_number": id_number, "name": f"学员{n}号", "employer_code": EMPLOYER, "region_code": county,
                "insurance_type": "110", "contribution_month": "202604", "contribution_base": "4000.00", "paid": "1",
                "updated_at": "2026-06-01 02:00:00",
            })  # fmt: skip
    bad = dict(contributions[0], id_number=county_person(LIULIN, 1)[:-1] + "0", contribution_month="202605")
    write_csv(root, "training", training)
    write_csv(root, "social_security", [*contributions, bad])
    write_csv(root, "employment", [{
        "registration_id": "DJ-Y1", "id_number": county_person(YAODU, 1), "name": "学员1号", "event_type": "employment",
        "employer_code": EMPLOYER, "region_code": YAODU, "event_date": "2026-04-01", "monthly_income": "3000.00",
        "updated_at": "2026-04-01 10:00:00",
    }])  # fmt: skip
    write_csv(root, "certificate", [{
        "certificate_id": "ZS-L1", "id_number": county_person(LIULIN, 1), "name": "学员1号",
        "certificate_type": "skill_level",
        "occupation_code": "4-10-01-05", "occupation_name": "养老护理员", "skill_level": "五级",
        "issue_date": "2026-03-10", "issuer_code": INSTITUTION, "region_code": LIULIN, "status": "有效",
        "updated_at": "2026-03-10 10:00:00",
    }])  # fmt: skip


def headless_chromium(*args: str) -> subprocess.CompletedProcess:
    """Debian's Chromium, headless, logging its console and its requests to stderr (what the browser tests read)."""
    from skills_pipeline.reports import build

    command = [build.chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=1",
               *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120)
