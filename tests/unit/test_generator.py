import datetime as dt
import hashlib
import json

from skills_pipeline.ingest import readers
from skills_pipeline.ingest.identifiers import check_resident_id, check_uscc
from skills_pipeline.ingest.landing import Delivery
from skills_pipeline.local.generator import DefectRates, GeneratorConfig, generate


def _config(out, **overrides):
    settings = dict(out=out, persons=600, start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 4), history_months=3)
    return GeneratorConfig(**{**settings, **overrides})


def _digests(root):
    """Bytes for text files; cell values for XLSX, whose zip entries carry the time they were saved."""
    import openpyxl

    digests = {}
    for path in root.rglob("*.*"):
        if path.suffix == ".xlsx":
            rows = openpyxl.load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True)
            content = repr(list(rows)).encode()
        else:
            content = path.read_bytes()
        digests[path.relative_to(root)] = hashlib.sha256(content).hexdigest()
    return digests


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    generate(_config(tmp_path / "a"))
    generate(_config(tmp_path / "b"))
    generate(_config(tmp_path / "c", seed=7))
    a, b, c = _digests(tmp_path / "a"), _digests(tmp_path / "b"), _digests(tmp_path / "c")
    assert a == b  # the manifest (which records the paths) lives beside the landing root
    assert a != c


def test_clean_feeds_have_valid_identifiers_in_every_format(tmp_path):
    manifest = generate(_config(tmp_path, defects=DefectRates.none()))
    formats = {(f["format"], f["encoding"]) for f in manifest["files"]}
    assert {f for f, _ in formats} >= {"csv", "jsonl"}
    from skills_pipeline import feeds

    checked = 0
    for entry in manifest["files"]:
        feed = feeds.get_feed(entry["feed"])
        delivery = Delivery(entry["feed"], dt.date.fromisoformat(entry["data_date"]), entry["path"],
                            entry["path"].rsplit("/", 1)[-1], entry["format"])  # fmt: skip
        fingerprint = readers.fingerprint(delivery)
        assert fingerprint.encoding == (None if entry["format"] == "xlsx" else entry["encoding"].replace("-sig", ""))
        parsed = readers.open_delivery(feed, delivery, fingerprint)
        ids = [feed.column_names.index(c.name) for c in feed.columns if c.kind.value == "resident_id"]
        rows = 0
        for record in parsed.records:
            rows += 1
            for id_position in ids:  # the catalogue names no person
                assert check_resident_id(record.values[id_position], dt.date(2026, 6, 5)).problem is None
            for column in feed.columns:
                if column.kind.value == "uscc" and record.values[feed.column_names.index(column.name)]:
                    assert check_uscc(record.values[feed.column_names.index(column.name)]).problem is None
            checked += 1
        assert rows == entry["rows"]
    assert checked > 1000


def test_manifest_records_each_injected_defect_once(tmp_path):
    manifest = generate(_config(tmp_path, defects=DefectRates().scaled(5)))
    defects = [d for f in manifest["files"] for d in f["row_defects"]]
    assert len(defects) > 50
    assert {d["rule"] for d in defects} >= {
        "id_number:check_character",
        "name:required",
        "natural_key:duplicate_in_file",
    }
    for entry in manifest["files"]:
        rows = [d["row"] for d in entry["row_defects"]]
        assert len(rows) == len(set(rows)) and all(1 <= r <= entry["rows"] for r in rows)
    sidecar = tmp_path.with_name(tmp_path.name + ".generator")
    assert json.loads((sidecar / "manifest.json").read_text())["files"] == manifest["files"]
