"""Both DAGs under Airflow on hand-made deliveries, checked against results computed by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from helpers import EMPLOYER, INSTITUTION, training_row, write_csv
from skills_pipeline import dbt_build, pseudonyms, runner, settings
from skills_pipeline.identifiers import resident_id_with_check_character

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

DAY = dt.date(2026, 6, 1)
EMPLOYED = resident_id_with_check_character("14112519900101001")
NEVER_EMPLOYED = resident_id_with_check_character("14112519910202003")
ENTERPRISE = resident_id_with_check_character("14112519850303005")
LOW_INCOME = resident_id_with_check_character("14112519920404007")


def enrollment(number: int, id_number: str, category: str) -> dict:
    return training_row(
        enrollment_id=f"BJ1-{number}", class_id="BJ1", id_number=id_number, name=f"学员{number}",
        trainee_category=category, start_date="2026-03-01", end_date="2026-03-20",
    )  # fmt: skip


def contribution(id_number: str, month: str, insurance_type: str, base: str) -> dict:
    return {
        "id_number": id_number, "name": "职工", "employer_code": EMPLOYER, "region_code": "141125",
        "insurance_type": insurance_type, "contribution_month": month, "contribution_base": base, "paid": "1",
        "updated_at": "2026-06-01 02:00:00",
    }  # fmt: skip


@pytest.fixture
def deliveries(tmp_path):
    write_csv(tmp_path, "training", [
        enrollment(1, EMPLOYED, "rural_migrant"),
        enrollment(2, NEVER_EMPLOYED, "rural_migrant"),
        enrollment(3, ENTERPRISE, "enterprise_employee"),
        enrollment(4, LOW_INCOME, "unemployed"),
    ])  # fmt: skip
    write_csv(tmp_path, "social_security", [
        contribution(EMPLOYED, "202604", "110", "3000.00"),
        contribution(EMPLOYED, "202605", "110", "3000.00"),
        *[contribution(ENTERPRISE, f"2026{m:02d}", "110", "5000.00") for m in range(1, 6)],
    ])  # fmt: skip
    write_csv(tmp_path, "employment", [{
        "registration_id": "DJ1", "id_number": LOW_INCOME, "name": "学员4", "event_type": "employment",
        "employer_code": EMPLOYER, "region_code": "141125", "event_date": "2026-04-01", "monthly_income": "600.00",
        "updated_at": "2026-04-01 10:00:00",
    }])  # fmt: skip
    write_csv(tmp_path, "certificate", [{
        "certificate_id": "ZS1", "id_number": EMPLOYED, "name": "学员1", "certificate_type": "skill_level",
        "occupation_code": "4-10-01-05", "occupation_name": "养老护理员", "skill_level": "五级",
        "issue_date": "2026-04-10", "issuer_code": INSTITUTION, "region_code": "141125", "status": "有效",
        "updated_at": "2026-04-10 10:00:00",
    }])  # fmt: skip
    return tmp_path


def test_ingestion_then_archive_build_give_the_hand_computed_results(
    db, deliveries, airflow_metadata, dbt_manifest, monkeypatch
):
    monkeypatch.setenv(settings.LANDING_ROOT_ENV, str(deliveries))
    dbt_build.export_profile_env()
    assert runner.run_dag_for_dates("ingest_feeds", [DAY]) == {DAY: "success"}
    assert runner.run_dag_for_dates("build_archive", [DAY]) == {DAY: "success"}

    key = pseudonyms.load_key()
    people = [("employed", EMPLOYED), ("never", NEVER_EMPLOYED), ("enterprise", ENTERPRISE), ("low", LOW_INCOME)]
    person = {name: key.person_id(id_number) for name, id_number in people}

    outcomes = {
        person_id: flags
        for person_id, *flags in db.execute(
            "select person_id, is_employed_in_window, is_in_employment_rate, is_certified "
            "from intermediate.int_training__outcomes"
        ).fetchall()
    }
    assert outcomes[person["employed"]] == [True, True, True]  # contributions in April and May, certified in April
    assert outcomes[person["never"]] == [False, True, False]
    assert outcomes[person["enterprise"]] == [True, False, False]  # employed, but not in the rate (001 §一)
    assert outcomes[person["low"]] == [False, True, False]  # registered income 600 < Lüliang's 790

    class_rate = db.execute(
        "select employed_trainees, employment_rate_denominator, employment_rate, certified_trainees, "
        "completed_trainees from metrics.trainee_outcome_rates where breakdown = 'class' and breakdown_value = 'BJ1'"
    ).fetchone()
    assert class_rate == (1, 3, Decimal("0.3333"), 1, 4)

    archived = db.execute(
        "select highest_skill_level, is_high_skilled, trainings, valid_certificates, employment_spells, "
        "timeline -> 'schema_version' from archive.persons where person_id = %s",
        (person["employed"],),
    ).fetchone()
    assert archived == ("初级工", False, 1, 1, 1, 1)
    events = db.execute(
        "select event_type, event_date, end_date from archive.person_events where person_id = %s order by event_date",
        (person["employed"],),
    ).fetchall()
    assert events == [
        ("training", dt.date(2026, 3, 1), dt.date(2026, 3, 20)),
        ("employment_spell", dt.date(2026, 4, 1), dt.date(2026, 5, 31)),
        ("certificate", dt.date(2026, 4, 10), None),
    ]

    # Settlement under Airflow for a chosen period: the April certificate is the only payable line (the Liulin
    # order-based rule was in force in 2023 only, so the 2026 class is refused with no_rule).
    monkeypatch.setenv(settings.EXPORT_ROOT_ENV, str(deliveries / "exports"))
    assert runner.run_dag_for_dates("settle_subsidies", [DAY], run_conf={"period": "2026-04"}) == {DAY: "success"}
    run = db.execute(
        "select run_id, run_kind, status, line_count, payable_yuan, rule_versions from payments.settlement_runs"
    ).fetchone()
    assert run[1:] == ("original", "draft", 1, Decimal("300.00"), {"P-CERT-JUNIOR": 1})
    assert (deliveries / "exports" / f"run-{run[0]}" / f"settlement-run-{run[0]}.xlsx").exists()
