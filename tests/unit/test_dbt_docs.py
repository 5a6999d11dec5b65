"""dbt docs are written for this project's readers: an overview of our own, every mart and its columns described
(the marts in Chinese too), exposures for each report and downstream consumer, and freshness on the four feeds."""

import json
import re

import pytest

from skills_pipeline import dbt_build

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(dbt_build.parse().read_text(encoding="utf-8"))


def marts(manifest: dict) -> list[dict]:
    return [
        n for n in manifest["nodes"].values() if n["resource_type"] == "model" and "/marts/" in n["original_file_path"]
    ]


def test_the_docs_open_on_the_projects_own_overview(manifest):
    overview = manifest["docs"]["doc.skills_archive.__overview__"]["block_contents"]
    assert "技能山西" in overview and "archive.persons" in overview


def test_every_mart_and_every_mart_column_is_described_and_each_mart_in_chinese(manifest):
    for node in marts(manifest):
        assert CJK.search(node["description"]), f"{node['name']} has no Chinese in its description"
        undescribed = [name for name, column in node["columns"].items() if not column["description"].strip()]
        assert not undescribed, f"{node['name']}: {undescribed}"


def test_each_report_and_downstream_consumer_is_an_exposure_of_the_marts_it_reads(manifest):
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    expected = {"biweekly_progress_report", "monthly_report", "quarterly_report", "annual_report",
                "settlement_workbook", "archive_read_api", "signed_archive_deliveries"}  # fmt: skip
    assert expected <= set(exposures)
    assert "model.skills_archive.target_progress" in exposures["biweekly_progress_report"]["depends_on"]["nodes"]
    assert "model.skills_archive.persons" in exposures["archive_read_api"]["depends_on"]["nodes"]


def test_each_feed_has_the_freshness_check_the_registry_gives_it(manifest):
    from skills_pipeline import feeds

    sources = {s["source_name"]: s for s in manifest["sources"].values()}
    for feed in feeds.FEEDS.values():
        if feed.freshness_days is None:  # a yearly or irregular feed: no check that would always warn
            assert not (sources[feed.name].get("freshness") or {}).get("warn_after", {}).get("count"), feed.name
            continue
        assert sources[feed.name]["loaded_at_field"] == "updated_at", feed.name
        assert sources[feed.name]["freshness"]["warn_after"]["count"] == feed.freshness_days


def test_every_model_seed_and_source_is_described_and_every_exposure_has_an_owner_and_a_url(manifest):
    """Every layer, not only the marts (the columns' descriptions against the warehouse's real columns are checked
    after a build: test_end_to_end)."""
    undescribed = [node["name"] for node in manifest["nodes"].values()
                   if node["resource_type"] in ("model", "seed") and not node["description"].strip()]  # fmt: skip
    assert not undescribed, undescribed
    for source in manifest["sources"].values():
        assert source["description"].strip() or source["source_description"].strip(), source["unique_id"]
    for exposure in manifest["exposures"].values():
        assert exposure["owner"]["name"] and "@" in (exposure["owner"]["email"] or ""), exposure["name"]
        assert exposure["url"], exposure["name"]
