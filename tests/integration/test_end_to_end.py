"""Both DAGs under Airflow on hand-made deliveries, checked against results computed by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from helpers import EMPLOYER, INSTITUTION, training_row, write_csv
from skills_pipeline import dbt_build, settings
from skills_pipeline.delivery import exports, signing
from skills_pipeline.ingest import pseudonyms
from skills_pipeline.ingest.identifiers import resident_id_with_check_character
from skills_pipeline.local import runner

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
    # ... and then the bi-weekly report of the fortnight up to the latest data date, linked from the index page.
    fortnight = settings.report_dir() / f"biweekly-{DAY - dt.timedelta(days=13)}"
    assert (fortnight / "report.html").exists() and (fortnight / "data.json").exists()
    assert (fortnight / "report.html").as_uri() in (settings.state_dir() / "index.html").read_text(encoding="utf-8")


def test_history_from_2023_loads_through_the_main_job_into_archive_metrics_and_settlement(
    db, tmp_path, tmp_path_factory, airflow_metadata, dbt_manifest, monkeypatch, smtp_server
):
    """The first thing a deploying authority does: load past years. A Liulin order-based class of 2023 whose two
    trainees both paid employee insurance afterwards (100% >= 80%) is paid 10 x 150 + 5 x 100 = 2,000 yuan each
    under L-ORD (003 §三(一)), a rule in force in 2023 only."""
    first, second = dt.date(2023, 12, 1), dt.date(2023, 12, 2)
    trainees = [EMPLOYED, NEVER_EMPLOYED]
    class_rows = [
        training_row(enrollment_id=f"BJ2023-{n}", class_id="BJ2023", id_number=id_number, name=f"学员{n}",
                     start_date="2023-05-01", end_date="2023-05-20", training_days="15",
                     updated_at="2023-05-21 09:00:00")
        for n, id_number in enumerate(trainees, start=1)
    ]  # fmt: skip
    write_csv(tmp_path, "training", class_rows, day=first)
    write_csv(tmp_path, "social_security", [
        contribution(id_number, month, "110", "3000.00") for id_number in trainees for month in ("202306", "202307")
    ], day=second)  # fmt: skip
    monkeypatch.setenv(settings.EXPORT_ROOT_ENV, str(tmp_path / "exports"))
    outside_landing = tmp_path_factory.mktemp("delivery")  # anything under the landing root is a delivery
    monkeypatch.setenv(settings.ARCHIVE_EXPORT_ROOT_ENV, str(outside_landing / "archive_exports"))
    signing_key = outside_landing / "signing.pem"
    signing_key.write_bytes(signing.new_private_key_pem())
    monkeypatch.setenv(signing.KEY_FILE_ENV, str(signing_key))
    monkeypatch.delenv(settings.LANDING_ROOT_ENV, raising=False)

    # Alerts on (smtp_server): the deadline alerts are left out under the local runner, nothing else changes.
    assert runner.run_main_job(landing_root=str(tmp_path), start=first, end=second) == 0
    assert smtp_server == []  # a night that succeeds sends nothing

    # The docs task's dbt docs describe every column the warehouse really has, in every layer and every source,
    # and the results page beside them shows the sources' freshness and the build's tests.
    import json

    docs = settings.dbt_docs_dir()
    manifest = json.loads((docs / "manifest.json").read_text(encoding="utf-8"))
    catalog = json.loads((docs / "catalog.json").read_text(encoding="utf-8"))
    undescribed = [
        f"{key.rsplit('.', 1)[-1]}.{column}"
        for kind in ("nodes", "sources")
        for key, node in catalog[kind].items()
        for column in node["columns"]
        if not manifest[kind][key]["columns"].get(column, {}).get("description", "").strip()
    ]
    assert not undescribed, f"describe these columns in the models' yml: {undescribed}"
    results = (docs / "results.html").read_text(encoding="utf-8")
    assert (
        "Source freshness" in results and "source.skills_archive" not in results and "training.enrollments" in results
    )
    assert "not_null_stg_training__enrollments_enrollment_id" in results

    # build_archive's publish task delivered the night's changed archives, signed, and the delivery verifies
    (delivery,) = (outside_landing / "archive_exports").iterdir()
    public_key = signing.load_private_key().public_key()
    verified = exports.verify(str(delivery), public_key)
    assert verified.ok and verified.manifest["archives"] == 2, verified.problems

    ledger = db.execute("select feed, data_date, status, rows_loaded from ingest.load_ledger order by 1").fetchall()
    assert ledger == [("social_security", second, "loaded", 4), ("training", first, "loaded", 2)]
    key = pseudonyms.load_key()
    archived = db.execute(
        "select count(*) from archive.persons where person_id = any(%s) and trainings = 1",
        ([key.person_id(i) for i in trainees],),
    ).fetchone()[0]
    assert archived == 2
    rate = db.execute(
        "select employed_trainees, employment_rate_denominator from metrics.trainee_outcome_rates "
        "where breakdown = 'class' and breakdown_value = 'BJ2023'"
    ).fetchone()
    assert rate == (2, 2)
    paid = db.execute(
        "select rule_id, amount_yuan from settlement.settlement_enrollments where is_eligible order by enrollment_id"
    ).fetchall()
    assert paid == [("L-ORD", Decimal("2000.00")), ("L-ORD", Decimal("2000.00"))]


def test_a_date_range_given_backwards_or_before_2019_stops_before_anything_starts(monkeypatch, tmp_path):
    monkeypatch.setenv(settings.WAREHOUSE_URL_ENV, "postgresql://nobody@127.0.0.1:1/never")  # never reached
    with pytest.raises(settings.ConfigurationError, match="--to 2026-06-01 is before --date 2026-06-07"):
        runner.run_main_job(landing_root=str(tmp_path), start=dt.date(2026, 6, 7), end=dt.date(2026, 6, 1))
    with pytest.raises(settings.ConfigurationError, match="before 2019-01-01"):
        runner.run_main_job(landing_root=str(tmp_path), start=dt.date(2018, 12, 31))
    with pytest.raises(settings.ConfigurationError, match="does not exist"):
        runner.run_main_job(landing_root=str(tmp_path / "missing"), start=dt.date(2026, 6, 1))


def test_the_next_steps_the_summary_prints_run_as_printed(db, dbt_manifest, capsys):
    """The summary's commands are typed as printed: the entry point by a path that exists when it is not on PATH,
    `warehouse psql` (psql on the warehouse, with pgserver's own psql where the machine has none) and `dbt` (dbt
    with the warehouse's profile), options passed through."""
    import shutil
    from pathlib import Path

    from skills_pipeline import cli, console

    command = console.command_name()
    assert command == "skills-pipeline" and shutil.which(command) or Path(command).exists()
    assert cli.main(["warehouse", "psql", "-tAc", "select 40 + 2"]) == 0
    assert cli.main(["dbt", "ls", "--select", "persons", "--resource-type", "model", "--quiet"]) == 0
    assert cli.main(["dbt", "run", "--select", "no_such_model_anywhere+", "--quiet"]) == 0  # nothing selected: ok
    capsys.readouterr()
    assert cli.main(["dbt"]) == 2 and "give dbt's command" in capsys.readouterr().err
