"""Property: whatever bytes arrive in a CSV, ingestion never raises and the ledger reconciles with what is stored.

Hypothesis writes social-security files from valid rows mixed with hostile cells (quotes, separators, line
breaks, NUL, full-width and superscript digits, emoji), stray byte strings, three encodings and four line
endings; each file is judged on its own and the batch is compared with the rows in raw and in quarantine.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import DAY, social_security_row
from skills_pipeline import feeds
from skills_pipeline.ingest import loader

pytestmark = pytest.mark.integration

COLUMNS = feeds.SOCIAL_SECURITY.column_names
VALID = social_security_row()
HOSTILE_CHARACTERS = st.characters(
    codec="utf-8", exclude_categories=("Cs",), include_characters='",\n\r\t\x00²２Ｘ😀张'
)
cell = st.one_of(
    st.sampled_from(list(VALID.values())),
    st.text(HOSTILE_CHARACTERS, max_size=12),
    st.sampled_from(["", " ", "20261", "-1", "1e3", "２０２６０５", "14112519850312004x", "是", "否"]),
)
row = st.one_of(
    st.just([VALID[c] for c in COLUMNS]),
    st.lists(cell, min_size=len(COLUMNS), max_size=len(COLUMNS)),
    st.lists(cell, min_size=0, max_size=len(COLUMNS) + 3),  # ragged
)
files = st.fixed_dictionaries(
    {
        "rows": st.lists(row, max_size=25),
        "chinese_header": st.booleans(),
        "encoding": st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"]),
        "line_ending": st.sampled_from(["\n", "\r\n", "\r"]),
        "junk": st.lists(st.binary(min_size=1, max_size=30), max_size=3),
    }
)


def render(spec: dict) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=spec["line_ending"])
    labels = {c.name: c.label for c in feeds.SOCIAL_SECURITY.columns}
    writer.writerow([labels[c] if spec["chinese_header"] else c for c in COLUMNS])
    for values in spec["rows"]:
        writer.writerow(values)
    text = buffer.getvalue()
    data = text.encode(spec["encoding"])
    for junk in spec["junk"]:  # stray bytes between records, as a broken export or a bad transfer leaves them
        cut = data.find(spec["line_ending"].encode(), len(data) // 2)
        if cut > 0 and spec["encoding"] != "utf-16":
            data = data[:cut] + junk + data[cut:]
    return data  # "utf-16" and "utf-8-sig" start with their byte-order marks


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=files)
def test_ingestion_never_raises_and_always_reconciles(db, spec):
    with tempfile.TemporaryDirectory(prefix="skills-property-") as tmp:
        path = Path(tmp) / "social_security" / DAY.isoformat() / "delivery.csv"
        path.parent.mkdir(parents=True)
        path.write_bytes(render(spec))
        (result,) = loader.ingest("social_security", DAY, landing_root=tmp, fail_on_rejected=False).files
    if result.status == "repeat":  # Hypothesis produced bytes it had produced before
        return
    assert result.problem_rule != "processing_error", result.problem
    assert result.rows_read == result.rows_loaded + result.rows_quarantined
    in_raw = db.execute("select count(*) from raw.social_security where batch_id = %s", (result.batch_id,))
    in_quarantine = db.execute("select count(*) from raw.quarantined_rows where batch_id = %s", (result.batch_id,))
    assert (in_raw.fetchone()[0], in_quarantine.fetchone()[0]) == (result.rows_loaded, result.rows_quarantined)
