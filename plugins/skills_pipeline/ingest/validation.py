"""Run a feed's Great Expectations suite on a staging table and turn failures into row-selecting SQL."""

from __future__ import annotations

import copy
import datetime as dt
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from skills_pipeline import feeds, settings
from skills_pipeline.ingest import rules

log = logging.getLogger(__name__)
# GX logs every registered function at INFO on import; only its warnings are worth reading.
logging.getLogger("great_expectations").setLevel(logging.WARNING)
# The generic SQL datasource is deliberate: GX's Postgres one rejects Unix-socket URLs (the embedded warehouse).
warnings.filterwarnings("ignore", message="You are using a generic SQLDatasource")


@dataclass(frozen=True)
class RuleFailure:
    """One failed expectation: its rule, how many rows, and a query selecting (source_row_number, value)."""

    rule: str
    rule_from_value: bool  # the rule suffix is the selected value (identifier problems)
    fix: str
    unexpected_count: int
    rows_query: str
    is_warning: bool


class ValidationSession:
    """One ephemeral GX context per feed and data date; its Data Docs site collects that date's files."""

    def __init__(self, feed: str, data_date: dt.date, sqlalchemy_url: str):
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._gx = gx
        self.feed = feed
        self.docs_dir = settings.data_docs_dir() / feed / data_date.isoformat()
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.context.add_data_docs_site(
            site_name="ingestion",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(self.docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        self.datasource = self.context.data_sources.add_sql(name="warehouse", connection_string=sqlalchemy_url)
        self.suite = self.context.suites.add(rules.suite(feeds.get_feed(feed)))

    @property
    def docs_index(self) -> Path:
        return self.docs_dir / "index.html"

    def validate(self, schema: str, table: str) -> list[RuleFailure]:
        """Every rule with counts only (that run feeds Data Docs), then only the failed hard rules again with
        the row-locating queries: on a clean file the second pass never runs, and it is ~40% of the cost."""
        gx = self._gx
        asset = self.datasource.add_table_asset(name=table, table_name=table, schema_name=schema)
        try:
            batch_definition = asset.add_batch_definition_whole_table("whole_file")
            definition = self.context.validation_definitions.add(
                gx.ValidationDefinition(name=table, data=batch_definition, suite=self.suite)
            )
            checkpoint = self.context.checkpoints.add(
                gx.Checkpoint(
                    name=table,
                    validation_definitions=[definition],
                    actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["ingestion"])],
                    # No sample of unexpected values: Data Docs are read by people who may not see ID numbers
                    # or names. Counts only; the rows themselves are located by the second pass, into quarantine.
                    result_format={"result_format": "BASIC", "partial_unexpected_count": 0},
                )
            )
            (summary,) = checkpoint.run().run_results.values()
            for item in summary.results:
                _raise_if_errored(item)
            failed = [item for item in summary.results if not item.success]
            warnings = [_to_warning(item) for item in failed if _is_warning(item.expectation_config)]
            failed_ids = {item.expectation_config.id for item in failed if not _is_warning(item.expectation_config)}
            if not failed_ids:
                return warnings
            rerun = gx.ExpectationSuite(
                name=f"{self.suite.name}_failed_rules",
                expectations=[copy.copy(e) for e in self.suite.expectations if e.id in failed_ids],
            )
            detail = batch_definition.get_batch().validate(
                rerun,
                result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["source_row_number"]},
            )
            return warnings + [_to_failure(item, f"{schema}.{table}") for item in detail.results if not item.success]
        finally:
            self.datasource.delete_asset(table)


def _raised_exception(info) -> str | None:
    """GX reports errors either flat or keyed per metric; any raised exception means the rule did not run."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, dict) and (value.get("raised_exception") or value.get("exception_traceback")):
            return str(value.get("exception_message") or value.get("exception_traceback", "")).strip()[:800]
    return None


def _is_warning(config) -> bool:
    return "warning" in str(getattr(config, "severity", "critical")).lower()


def _raise_if_errored(item) -> None:
    error = _raised_exception(item.exception_info)
    if error:
        rule = (item.expectation_config.meta or {}).get("rule") or item.expectation_config.type
        raise RuntimeError(f"validation rule {rule} could not run, so the file was not judged: {error}")


def _to_warning(item) -> RuleFailure:
    """Warnings are counted, not located: the rows load anyway."""
    config = item.expectation_config
    count = item.result.get("unexpected_count", item.result.get("observed_value")) or 0
    return RuleFailure(
        rule=(config.meta or {}).get("rule") or config.type,
        rule_from_value=False,
        fix=(config.meta or {}).get("fix", ""),
        unexpected_count=int(count),
        rows_query="",
        is_warning=True,
    )


def _to_failure(item, table: str) -> RuleFailure:
    config = item.expectation_config
    meta = config.meta or {}
    rule = meta.get("rule") or config.type
    _raise_if_errored(item)
    if config.type == "unexpected_rows_expectation":
        # Formatted exactly as GX formats it (doubled braces are literal), with the staging table as the batch.
        query = config.kwargs["unexpected_rows_query"].format(batch=table)
        count = int(item.result.get("observed_value") or 0)
        rows_query = f"select q.source_row_number, null::text as value from ({query}) as q"
    else:
        index_query = item.result.get("unexpected_index_query")
        if not index_query:
            raise RuntimeError(f"validation rule {rule}: GX returned no unexpected_index_query to locate the rows")
        count = int(item.result.get("unexpected_count") or 0)
        rows_query = f"select q.* from ({index_query.strip().rstrip(';')}) as q"
    rule_from_value = bool(meta.get("rule_from_column"))
    if rule_from_value:
        rule = re.sub(r"<\w+>$", "", rule)
    return RuleFailure(
        rule=rule,
        rule_from_value=rule_from_value,
        fix=meta.get("fix", ""),
        unexpected_count=count,
        rows_query=rows_query,
        is_warning=False,
    )
