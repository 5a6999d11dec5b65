"""DAG integrity: every DAG file imports cleanly and declares what operators rely on."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from skills_pipeline import dbt_build

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
HEAVY_MODULES = {"great_expectations", "pandas", "dbt", "psycopg", "sqlalchemy", "openpyxl"}


@pytest.fixture(scope="module")
def dagbag(dbt_manifest):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"ingest_feeds", "build_archive", "settle_subsidies"} <= set(dagbag.dag_ids)


def test_every_dag_declares_tags_owner_retries_and_catchup(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md, f"{dag_id}: module docstring should become doc_md"
        assert dag.catchup is False, f"{dag_id}: state catchup explicitly"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id} has no owner"
            assert task.retries is not None


def test_ingestion_publishes_one_asset_per_feed(dagbag):
    dag = dagbag.dags["ingest_feeds"]
    outlets = {outlet.uri for task in dag.tasks for outlet in task.outlets}
    from skills_pipeline import feeds

    assert outlets == {f"warehouse://raw/{feed}" for feed in feeds.FEEDS}


def test_dag_files_import_nothing_heavy_at_module_level():
    for path in DAGS_FOLDER.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only: imports inside tasks are the point
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in HEAVY_MODULES, f"{path.name} imports {name} at module level"


def test_archive_build_runs_every_model_and_publishes_archive_and_metrics(dagbag):
    import json

    dag = dagbag.dags["build_archive"]
    manifest = json.loads(dbt_build.manifest_path().read_text())
    models = {node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "model"}
    task_ids = " ".join(dag.task_ids)
    assert all(model in task_ids for model in models), models
    outlets = {outlet.uri for task in dag.tasks for outlet in task.outlets}
    assert {"warehouse://marts/archive", "warehouse://marts/metrics"} <= outlets


def test_each_dbt_task_builds_one_node_with_its_data_tests_and_no_unit_tests(dagbag):
    """One `dbt build` per seed and model (its tests in the same invocation), a task of its own for a test spanning
    two models; every one leaves the unit tests out and writes no artifacts into its throw-away project."""
    from cosmos.operators.local import DbtBuildLocalOperator, DbtTestLocalOperator

    dbt_tasks = [task for task in dagbag.dags["build_archive"].tasks if task.task_id.startswith("dbt.")]
    builds = [task for task in dbt_tasks if isinstance(task, DbtBuildLocalOperator)]
    assert len(builds) >= 40 and all(task.task_id.endswith("_build") for task in builds)
    assert all(isinstance(task, DbtBuildLocalOperator | DbtTestLocalOperator) for task in dbt_tasks)
    for task in dbt_tasks:
        assert list(dbt_build.NIGHTLY_BUILD_FLAGS) == task.dbt_cmd_flags[:2], task.task_id
        assert {"--no-write-json", "--log-level-file"} <= set(task.dbt_cmd_global_flags), task.task_id


def test_settlement_follows_the_metrics_asset_and_the_month(dagbag):
    dag = dagbag.dags["settle_subsidies"]
    assert "warehouse://marts/metrics" in str(dag.timetable.asset_condition)
    assert dag.timetable.timetable._expression == "0 6 1 * *"
    assert set(dag.params) == {"period"}
    assert dag.get_task("settle").downstream_task_ids == {"report"}  # the report shows the run's draft


def test_every_dag_starts_on_the_first_data_date_so_history_can_be_backfilled(dagbag):
    """A logical date before a DAG's start_date runs nothing; 2019 is the policy's first year (001)."""
    import datetime as dt

    for dag_id, dag in dagbag.dags.items():
        assert dag.start_date.date() <= dt.date(2019, 1, 1), dag_id


def test_ingestion_surveys_the_landing_root_without_blocking_the_feeds(dagbag):
    dag = dagbag.dags["ingest_feeds"]
    survey = dag.get_task("survey")
    assert not survey.downstream_task_ids and not survey.upstream_task_ids
    # Retried only when its worker is lost: a stray file fails it at once (AirflowFailException skips retries).
    assert survey.retries >= 1 and dag.get_task("training.check").retries >= 1


def test_every_task_has_a_timeout_and_the_heavy_ones_share_a_pool(dagbag):
    for dag_id, dag in dagbag.dags.items():
        for task in dag.tasks:
            assert task.execution_timeout is not None, f"{dag_id}.{task.task_id} has no timeout"
    assert dagbag.dags["ingest_feeds"].get_task("social_security.load").pool == "skills_heavy"
    dbt_pools = {task.pool for task in dagbag.dags["build_archive"].tasks if task.task_id.startswith("dbt.")}
    assert dbt_pools == {"skills_heavy"}


def test_with_a_heavy_queue_configured_the_heavy_tasks_go_to_it(monkeypatch, dbt_manifest):
    """SKILLS_HEAVY_QUEUE routes the heavy pool's tasks to a Celery queue of their own (the local stack runs a
    worker for it); the light tasks stay on the default queue."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("SKILLS_HEAVY_QUEUE", "heavy")
    dags = DagBag(dag_folder=str(DAGS_FOLDER)).dags
    ingest = dags["ingest_feeds"]
    assert ingest.get_task("social_security.load").queue == "heavy"
    assert ingest.get_task("training.load").queue != "heavy"
    assert {t.queue for t in dags["build_archive"].tasks if t.task_id.startswith("dbt.")} == {"heavy"}
    assert dags["build_archive"].get_task("publish").queue != "heavy"


def test_with_recipients_configured_a_failed_or_late_night_sends_mail(monkeypatch, dbt_manifest):
    from airflow.dag_processing.dagbag import DagBag

    from skills_pipeline import operations

    monkeypatch.setenv("SKILLS_ALERT_EMAILS", "duty@hrss.example, data@hrss.example")
    monkeypatch.setenv("SKILLS_NIGHTLY_DEADLINE", "06:30")
    # The local runner leaves deadlines out (no scheduler or triggerer there); a deployment keeps them.
    monkeypatch.setenv(operations.LOCAL_RUNNER_ENV, "1")
    local = DagBag(dag_folder=str(DAGS_FOLDER))
    assert all(not dag.deadline for dag in local.dags.values())
    monkeypatch.delenv(operations.LOCAL_RUNNER_ENV)
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    for dag_id, dag in bag.dags.items():
        callbacks = dag.on_failure_callback if isinstance(dag.on_failure_callback, list) else [dag.on_failure_callback]
        assert operations.notify_failure in callbacks, dag_id
    ingestion = bag.dags["ingest_feeds"].deadline
    ingestion = ingestion[0] if isinstance(ingestion, list) else ingestion
    # The run of data date D starts from 02:00 on D; the deadline is 06:30 on D + 1 (Beijing).
    import datetime as dt

    assert ingestion.interval == dt.timedelta(days=1, hours=4, minutes=30)
    assert ingestion.callback.kwargs["to"] == ["duty@hrss.example", "data@hrss.example"]
    assert bag.dags["build_archive"].deadline is not None
