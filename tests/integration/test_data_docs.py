"""GX Data Docs as an intranet reads them: one site per feed over every night, a page per file named by the file and
its batch, the validation results kept, and nothing loaded from outside — checked in a real headless Chromium that
cannot resolve any host name."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

from helpers import DAY, headless_chromium, social_security_row, write_csv
from skills_pipeline import settings
from skills_pipeline.ingest import data_docs, docs_verdict, loader
from skills_pipeline.reports import publish

pytestmark = pytest.mark.integration

NEXT_DAY = DAY + dt.timedelta(days=1)
# src= and href= of what a page loads itself (scripts, stylesheets, images), not links a reader follows.
LOADS = re.compile(r"""<(?:script|img)\b[^>]*\bsrc=["']([^"']+)["']|<link\b[^>]*\bhref=["']([^"']+)["']""")


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return headless_chromium("--host-resolver-rules=MAP * ~NOTFOUND", *args)  # as on an intranet: no host resolves


# The browser's own services (clock, updates, accounts), asked for whatever page is open; never a page of ours.
CHROMIUM_SERVICES = re.compile(r"^https?://([a-z0-9-]+\.)*(google\.com|googleapis\.com|gvt1\.com)/")


def _problems(rendered: subprocess.CompletedProcess) -> list[str]:
    """Console messages (a blocked or failing script, a missing file) and requests for anything not on disk."""
    requests = re.findall(r"NotifyBeforeURLRequest: (\S+)", rendered.stderr)
    remote = [url for url in requests if not url.startswith(("file:", "data:")) and not CHROMIUM_SERVICES.match(url)]
    return remote + [line for line in rendered.stderr.splitlines() if ":CONSOLE" in line]


def _ingest_two_nights(root: Path) -> None:
    write_csv(root, "social_security", [social_security_row(), social_security_row(contribution_base="-1")],
              name="缴费 2026#06 (first).csv")  # fmt: skip
    write_csv(root, "social_security", [social_security_row(contribution_month="202606")], day=NEXT_DAY,
              name="contributions.csv")  # fmt: skip
    for day in (DAY, NEXT_DAY):
        loader.ingest("social_security", day, landing_root=str(root), fail_on_rejected=False)


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path, monkeypatch):
    """Data Docs and results of this test only (the session's state folder holds every other test's)."""
    monkeypatch.setenv(settings.STATE_DIR_ENV, str(tmp_path / "state"))


def test_one_site_per_feed_names_pages_by_file_and_batch_keeps_results_and_renders_offline(db, tmp_path):
    _ingest_two_nights(tmp_path / "landing")
    site = settings.data_docs_dir() / "social_security"
    ledger = db.execute(
        "select batch_id, data_date, file_name, data_docs_path from ingest.load_ledger order by batch_id"
    ).fetchall()
    assert len(ledger) == 2

    # One site for the feed: no folder per date, and both nights' files are on its index.
    assert not any(p.is_dir() and re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.name) for p in site.iterdir())
    index = (site / "index.html").read_text(encoding="utf-8")
    for batch_id, data_date, file_name, page in ledger:
        page = Path(page)
        assert page.is_file() and page.is_relative_to(site), page
        # Named by the file (made safe for an address) and the batch, never by a hash or GX's "__none__" run.
        assert f"{data_date}_batch-{batch_id}" in page.parent.parent.name
        assert page.stem.endswith(re.sub(r"[^\w.\-]", "_", file_name)), page.name
        assert f"batch-{batch_id}" in index
    assert "__none__" not in index and not list(site.rglob("*__none__*"))

    # Validation results are stored (counts only: no sample of values), two suites per file.
    results = sorted((settings.validation_results_dir() / "social_security").rglob("*.json"))
    assert len(results) == 4
    for path in results:
        result = json.loads(path.read_text(encoding="utf-8"))
        assert {"success", "results", "statistics"} <= set(result)
        assert not any((r.get("result") or {}).get("partial_unexpected_list") for r in result["results"])

    # Every page loads only files that are on disk: the assets are beside the feed sites, once for all feeds.
    pages = [site / "index.html", *(Path(p) for *_, p in ledger), *site.glob("expectations/*.html")]
    assert len(pages) == 5
    for page in pages:
        for src, href in LOADS.findall(page.read_text(encoding="utf-8")):
            address = unquote((src or href).split("?")[0])
            assert not re.match(r"[a-z]+:", address), f"{page.name} loads {address}"
            assert (page.parent / address).resolve().is_file(), f"{page.name}: {address} is not on disk"
    assert data_docs.is_installed(settings.data_docs_dir() / data_docs.SHARED_FOLDER)

    # In the browser, offline: no load fails, the stylesheet applies and bootstrap-table fills the results list.
    rendered = _chromium("--virtual-time-budget=10000", "--dump-dom", (site / "index.html").as_uri())
    assert re.search(r"FileURLLoader::Start: file:.*/_assets/jquery", rendered.stderr)  # what it loaded is logged
    assert not _problems(rendered), _problems(rendered)
    dom = rendered.stdout
    assert 'class="bootstrap-table' in dom  # the table's script ran (it wraps the table it builds)
    for batch_id, *_ in ledger:
        assert re.search(rf"<td[^>]*>[^<]*batch-{batch_id}[^<]*</td>", dom), f"batch {batch_id} not listed"
    shot = tmp_path / "data_docs.png"
    _chromium("--hide-scrollbars", "--window-size=1400,900", f"--screenshot={shot}", (site / "index.html").as_uri())
    assert shot.stat().st_size > 30_000  # a styled page, not a blank one

    failed_page = _chromium("--virtual-time-budget=10000", "--dump-dom", Path(ledger[0][3]).as_uri())
    assert not _problems(failed_page), _problems(failed_page)
    assert "contribution_base" in failed_page.stdout  # the rule that failed, rendered
    # Above GX's rendering, the ledger's verdict: loaded (one bad row of two is under the 20 a share needs), the
    # limit, the failing rule in words under its Chinese label, Beijing time, the ledger row and quarantine query.
    dom = failed_page.stdout
    batch_id, data_date = ledger[0][0], ledger[0][1]
    assert "台账判定 Ledger verdict: 已加载 loaded" in dom and "拒收阈值 limit" in dom and "5%" in dom
    assert "缴费基数 (contribution_base): 金额为负数 (negative amount) — 1" in dom
    assert "北京时间" in dom and f"where batch_id = {batch_id}" in dom and f"ledger --date {data_date}" in dom
    assert "contribution_base 缴费基数" in dom  # columns under the contract's Chinese labels
    # The helper columns' sections (employer_code__problem, id_number__problem) are hidden, as is their side-bar link.
    page_html = Path(ledger[0][3]).read_text(encoding="utf-8")
    helpers = docs_verdict.helper_sections(page_html)
    assert len(helpers) == 2
    style = re.search(r'<style id="skills-ledger-verdict-style">(.*?)</style>', page_html).group(1)
    assert all(f"#{section}," in style and f'a[href="#{section}"]' in style for section in helpers)
    shot = tmp_path / "validation_page.png"
    _chromium("--hide-scrollbars", "--window-size=1400,900", f"--screenshot={shot}", Path(ledger[0][3]).as_uri())
    assert shot.stat().st_size > 30_000

    # The local start page links each feed's site, by its Chinese name.
    start = publish.write_index().read_text(encoding="utf-8")
    assert (site / "index.html").resolve().as_uri() in start and "社保缴费记录" in start


def test_a_second_night_keeps_the_first_nights_pages_and_rebuilds_the_index_once(db, tmp_path, monkeypatch):
    from skills_pipeline.ingest import validation

    builds = []
    original = validation.ValidationSession.publish
    monkeypatch.setattr(
        validation.ValidationSession, "publish", lambda self: builds.append(self.feed) or original(self)
    )
    root = tmp_path / "landing"
    for n in range(3):
        write_csv(root, "social_security", [social_security_row(contribution_month=f"20260{n + 1}")],
                  name=f"part-{n}.csv")  # fmt: skip
    loader.ingest("social_security", DAY, landing_root=str(root))
    assert builds == ["social_security"]  # three files, one build of the site
    pages = [Path(r[0]) for r in db.execute("select data_docs_path from ingest.load_ledger order by batch_id")]
    assert len(pages) == 3 and all(p.is_file() for p in pages)
    before = {p: p.read_text(encoding="utf-8") for p in pages}

    write_csv(root, "social_security", [social_security_row(contribution_month="202606")], day=NEXT_DAY)
    loader.ingest("social_security", NEXT_DAY, landing_root=str(root))
    assert all(p.read_text(encoding="utf-8") == text for p, text in before.items())  # untouched
    index = (settings.data_docs_dir() / "social_security" / "index.html").read_text(encoding="utf-8")
    latest = db.execute("select max(batch_id) from ingest.load_ledger").fetchone()[0]
    assert all(f"batch-{b}" in index for b in range(latest - 3, latest + 1))
