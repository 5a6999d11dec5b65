"""Run a feed's Great Expectations suite on a staging table and turn failures into row-selecting SQL."""

from __future__ import annotations

import copy
import datetime as dt
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from psycopg.rows import dict_row

from skills_pipeline import feeds, settings
from skills_pipeline.ingest import data_docs, rules

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
    unexpected_count: int | None  # None: count the records rows_query selects (a value-suite rule)
    rows_query: str
    is_warning: bool


class ValidationSession:
    """One ephemeral GX context per feed and data date. Its validation results are kept on disk, per feed
    (settings.validation_results_dir()), and one Data Docs site per feed is built from all of them
    (settings.data_docs_dir()/<feed>/): a page per file, named by the file and its batch."""

    def __init__(self, feed: str, data_date: dt.date | None, sqlalchemy_url: str):
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        self._gx = gx
        self.feed = feed
        self.data_date = data_date
        self.docs_root = settings.data_docs_dir()
        self.docs_dir = self.docs_root / feed
        config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults())
        config.stores[config.validation_results_store_name]["store_backend"] = {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(settings.validation_results_dir() / feed),
        }
        self.site = feed  # the site's name, in its header: "Data Docs | <feed>"
        config.data_docs_sites = {
            self.site: {
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(self.docs_dir)},
                # No buttons or footer that point readers at GX's cloud service or its online how-to guides.
                "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder",
                    "show_how_to_buttons": False,
                    "show_cta_footer": False,
                },
            }
        }
        self.context = gx.get_context(mode="ephemeral", project_config=config)
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.datasource = self.context.data_sources.add_sql(name="warehouse", connection_string=sqlalchemy_url)
        contract = feeds.get_feed(feed)
        self.suites = {
            "rows": self.context.suites.add(rules.row_suite(contract)),
            "values": self.context.suites.add(rules.value_suite(contract, data_date)),
        }
        self._unpublished: list = []  # validation results stored but not yet rendered

    @property
    def docs_index(self) -> Path:
        return self.docs_dir / "index.html"

    def page_of(self, result_id) -> Path:
        """Where a validation result's page is (or will be, once published)."""
        url = self.context.get_docs_sites_urls(resource_identifier=result_id, site_name=self.site, only_if_exists=False)
        return Path(url2pathname(urlparse(url[0]["site_url"]).path))  # the address is percent-encoded

    def publish(self) -> Path | None:
        """Render the pages of the results validated since the last publish, the suites and the feed's index, then
        point them at the offline assets. Once per night and feed rather than per file: the index reads every
        stored result of the feed. A failure here is logged, never a reason to reject a file."""
        if not self._unpublished:
            return None
        from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

        done, self._unpublished = self._unpublished, []
        suites = [ExpectationSuiteIdentifier(name=suite.name) for suite in self.suites.values()]
        try:
            self.context.build_data_docs(site_names=[self.site], resource_identifiers=[*done, *suites])
            assets = data_docs.share(self.docs_root)
            pages = {self.docs_index, *(self.page_of(result_id) for result_id in done)}
            pages.update(self.docs_dir.glob("expectations/*.html"))
            remote = sorted({load for page in pages for load in data_docs.make_offline(page, self.docs_dir, assets)})
            if remote:
                log.warning("%s Data Docs still load from outside (a GX upgrade?): %s", self.feed, "; ".join(remote))
            self._annotate({result_id: self.page_of(result_id) for result_id in done})
        except Exception as error:  # the results are stored; the feed's next publish lists them on its index
            kept = settings.validation_results_dir() / self.feed
            log.error("%s: Data Docs not published (%s: %s); the validation results are kept in %s",
                      self.feed, type(error).__name__, error, kept)  # fmt: skip
            return None
        return self.docs_index

    def _annotate(self, pages: dict) -> None:
        """Each file's pages get the ledger's verdict on the file at their top (ingest/docs_verdict.py)."""
        from skills_pipeline import warehouse
        from skills_pipeline.ingest import docs_verdict

        batches = {}
        for result_id, page in pages.items():
            match = re.search(r"_batch-(\d+)$", str(result_id.run_id.run_name))
            if match and page.exists():
                batches.setdefault(int(match.group(1)), []).append(page)
        if not batches:
            return
        with warehouse.connect() as conn, conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(
                "select batch_id, feed, data_date, status, problem, rows_read, rows_loaded, rows_quarantined, "
                "rule_failures, rule_warnings, loaded_at from ingest.load_ledger where batch_id = any(%s)",
                (list(batches),),
            ).fetchall()
        limit = settings.max_bad_row_share()
        labels = {column.name: column.label for column in feeds.get_feed(self.feed).columns}
        for row in rows:
            banner = docs_verdict.verdict_html(row, limit)
            for page in batches[row["batch_id"]]:
                html = page.read_text(encoding="utf-8")
                page.write_text(docs_verdict.annotate(html, banner, labels), encoding="utf-8")

    def validate(
        self, schema: str, table: str, values_table: str, file_name: str, batch_id: int
    ) -> tuple[list[RuleFailure], Path]:
        """Both suites with counts only (that run feeds Data Docs): the row suite on the staging table, the value
        suite on its table of distinct values. Then only the failed rules again, with the queries that locate
        their records: on a clean file the second pass never runs. Value-suite warnings are located too, so that
        they are counted in records, not in distinct values. Returns the failures and the file's page in the Data
        Docs (the row suite's result; rendered by publish()), which is named by the file and the batch: the asset
        is the file's name, the run is the data date and the batch id the ledger will give it."""
        gx = self._gx
        from great_expectations.core.run_identifier import RunIdentifier

        tables = {"rows": table, "values": values_table}
        assets = {"rows": _page_name(file_name), "values": _page_name(file_name) + ".values"}
        batches, definitions = {}, []
        try:
            for kind, name in tables.items():
                asset = self.datasource.add_table_asset(name=assets[kind], table_name=name, schema_name=schema)
                batches[kind] = asset.add_batch_definition_whole_table("whole_file")
                definitions.append(
                    self.context.validation_definitions.add(
                        gx.ValidationDefinition(name=name, data=batches[kind], suite=self.suites[kind])
                    )
                )
            checkpoint = self.context.checkpoints.add(
                gx.Checkpoint(
                    name=table,
                    validation_definitions=definitions,
                    actions=[],  # results are stored by the run; pages are rendered by publish()
                    # No sample of unexpected values: Data Docs are read by people who may not see ID numbers
                    # or names. Counts only; the rows themselves are located by the second pass, into quarantine.
                    result_format={"result_format": "BASIC", "partial_unexpected_count": 0},
                )
            )
            run_name = f"{self.data_date or 'undated'}_batch-{batch_id}"
            run = checkpoint.run(run_id=RunIdentifier(run_name=run_name)).run_results
            self._unpublished += list(run)
            row_result = next(key for key, summary in run.items() if summary.suite_name == self.suites["rows"].name)
            page = self.page_of(row_result)
            summaries = {summary.suite_name: summary for summary in run.values()}
            found: list[RuleFailure] = []
            for kind, suite in self.suites.items():
                results = summaries[suite.name].results
                for item in results:
                    _raise_if_errored(item)
                failed = [item for item in results if not item.success]
                if kind == "rows":
                    found += [_to_warning(item) for item in failed if _is_warning(item.expectation_config)]
                    failed = [item for item in failed if not _is_warning(item.expectation_config)]
                if failed:
                    found += self._locate(kind, suite, batches[kind], {i.expectation_config.id for i in failed},
                                          f"{schema}.{table}", f"{schema}.{values_table}")  # fmt: skip
            return found, page
        finally:
            for name in assets.values():
                if name in self.datasource.get_asset_names():
                    self.datasource.delete_asset(name)

    def _locate(self, kind, suite, batch_definition, failed_ids, table: str, values_table: str) -> list[RuleFailure]:
        """Run the failed rules again with the queries that select their records."""
        rerun = self._gx.ExpectationSuite(
            name=f"{suite.name}_failed_rules",
            expectations=[copy.copy(e) for e in suite.expectations if e.id in failed_ids],
        )
        # GX selects the index columns and the checked column; record_count (not a checked column) keeps the
        # value table's columns unrepeated in that query.
        index_columns = ["source_row_number"] if kind == "rows" else ["record_count"]
        detail = batch_definition.get_batch().validate(
            rerun, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": index_columns}
        )
        located = [item for item in detail.results if not item.success]
        if kind == "rows":
            return [_to_failure(item, table) for item in located]
        return [_to_failure(item, values_table, records_of=table) for item in located]


def _page_name(file_name: str) -> str:
    """A file's name as a Data Docs page name: letters (Chinese included), digits and ._- kept, the rest (spaces,
    #, %, ?, quotes) made _, so that the page's address needs no escaping; long names are cut."""
    safe = re.sub(r"[^\w.\-]", "_", file_name).strip(".") or "file"
    return safe[:120]


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
    """Warnings of the row suite are counted, not located: the rows load anyway."""
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


def _to_failure(item, table: str, records_of: str | None = None) -> RuleFailure:
    """A failed rule with the query selecting (source_row_number, value) of its records. `records_of`: the rule ran
    on `table`, the distinct values of that staging table, and its failing values select the records."""
    config = item.expectation_config
    meta = config.meta or {}
    rule = meta.get("rule") or config.type
    _raise_if_errored(item)
    if config.type == "unexpected_rows_expectation":
        # Formatted exactly as GX formats it (doubled braces are literal), with the table as the batch.
        query = config.kwargs["unexpected_rows_query"].format(batch=table)
        count = int(item.result.get("observed_value") or 0)
    else:
        query = item.result.get("unexpected_index_query")
        if not query:
            raise RuntimeError(f"validation rule {rule}: GX returned no unexpected_index_query to locate the rows")
        query = query.strip().rstrip(";")
        count = int(item.result.get("unexpected_count") or 0)
    if records_of is not None:
        column = meta["column"]
        rows_query = (
            f"select s.source_row_number, null::text as value from {records_of} as s "
            f"where s.{column} in (select q.{column} from ({query}) as q)"
        )
        count = None  # distinct values; the records are counted from rows_query
    elif config.type == "unexpected_rows_expectation":
        rows_query = f"select q.source_row_number, null::text as value from ({query}) as q"
    else:
        rows_query = f"select q.* from ({query}) as q"
    rule_from_value = bool(meta.get("rule_from_column"))
    if rule_from_value:
        rule = re.sub(r"<\w+>$", "", rule)
    return RuleFailure(
        rule=rule,
        rule_from_value=rule_from_value,
        fix=meta.get("fix", ""),
        unexpected_count=count,
        rows_query=rows_query,
        is_warning=_is_warning(config),
    )
