"""
### Build the lifelong skill archive and the metrics

Runs when every raw feed of the registry (`skills_pipeline.feeds.FEEDS`) has been updated (their Assets, published by
`ingest_feeds`). Astronomer Cosmos renders the dbt project in `dbt_project/` as one task per seed and model, each a
`dbt build` of the node and its own tests (a test spanning two models is a task of its own once both are built), from
the manifest `dbt parse` wrote during set-up (parsing the DAG never runs dbt). When the build passes, the `archive`
and `metrics` Assets are updated for downstream consumers, and the dbt docs of the build are written as one static
page beside the Great Expectations Data Docs.

Personal information: the models read ID numbers only through `vault.person_pseudonyms`; everything in `archive`
and `metrics` carries keyed pseudonyms.
"""

from __future__ import annotations

import operator
import sys
from functools import reduce
from pathlib import Path

from airflow.sdk import dag, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior

from skills_pipeline.assets import ARCHIVE_ASSET, METRICS_ASSET, RAW_ASSETS
from skills_pipeline.dbt_build import NIGHTLY_BUILD_FLAGS, manifest_path, project_dir, quicken_behavior_flags
from skills_pipeline.operations import archive_deadline, default_args, failure_callbacks, heavy_task_args
from skills_pipeline.schedule import dag_start_date

DBT_PROJECT = project_dir()
MANIFEST = manifest_path()

if not MANIFEST.exists():
    raise FileNotFoundError(f"{MANIFEST} is missing: run `make venv` (it runs `dbt parse`) before loading DAGs")


@dag(
    doc_md=__doc__,
    schedule=reduce(operator.and_, RAW_ASSETS.values()),  # all of them, whichever feeds the registry holds
    start_date=dag_start_date(),
    catchup=False,
    max_active_runs=1,
    tags=["skills", "dbt", "archive", "metrics"],
    default_args=default_args("data-engineering", retries=1, timeout="dbt"),
    on_failure_callback=failure_callbacks(),
    deadline=archive_deadline(),
)
def build_archive():
    dbt_build = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(manifest_path=MANIFEST, project_name="skills_archive"),
        profile_config=ProfileConfig(
            profile_name="skills", target_name="warehouse", profiles_yml_filepath=DBT_PROJECT / "profiles.yml"
        ),
        execution_config=ExecutionConfig(
            dbt_project_path=DBT_PROJECT,
            dbt_executable_path=Path(sys.executable).with_name("dbt"),
            invocation_mode=InvocationMode.DBT_RUNNER,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            # One `dbt build` per node, its tests in the same invocation: a failing test still fails the task and stops
            # what is downstream, and the night makes half as many dbt invocations (each costs ~1-2 s of start-up,
            # most of a small night's time) as with a test task after each model.
            test_behavior=TestBehavior.BUILD,
            # A test spanning two models (a relationship) runs once both exist, not right after the first.
            should_detach_multiple_parents_tests=True,
        ),
        default_args=default_args("data-engineering", retries=1, timeout="dbt"),
        # quicken_behavior_flags: dbt's adapter start-up inspects the whole stack, slow inside a task (dbt_build.py).
        # --no-write-json, --log-level-file none: each task's dbt wrote its manifest.json, run_results.json and a
        # debug log of every query into a temporary copy of the project that Cosmos deletes after the task (the task
        # log keeps dbt's own output); serialising the manifest was a third of each invocation, the debug log a fifth
        # of the models' time (py-spy).
        # NIGHTLY_BUILD_FLAGS: the data tests run every night, dbt's unit tests in the test suite (dbt_build.py).
        operator_args={
            **heavy_task_args(),
            "pre_execute": quicken_behavior_flags,
            "dbt_cmd_global_flags": ["--no-write-json", "--log-level-file", "none"],
            "dbt_cmd_flags": list(NIGHTLY_BUILD_FLAGS),
        },
    )

    @task(outlets=[ARCHIVE_ASSET, METRICS_ASSET])
    def publish(run_id=None) -> dict:
        """Records the archives that changed in the change feed (delivery.archive_changes), writes their signed
        delivery (SKILLS_ARCHIVE_EXPORT_ROOT), then marks the archive and metrics as updated: downstream consumers
        schedule on these Assets and pull the changes."""
        from skills_pipeline.tasks import export_archive_changes, record_archive_changes

        recorded = record_archive_changes()
        return {**recorded, "export": export_archive_changes(run_id)}

    @task
    def docs() -> dict:
        """dbt docs of this build (one static page beside the Data Docs) and the local index of reports and docs."""
        from skills_pipeline.tasks import generate_docs

        return generate_docs()

    dbt_build >> [publish(), docs()]


build_archive()
