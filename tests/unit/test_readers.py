import datetime as dt
import json

import fsspec
import pytest

from skills_pipeline import feeds
from skills_pipeline.ingest import readers
from skills_pipeline.ingest.landing import Delivery, Landing

TRAINING = feeds.TRAINING


def test_chinese_and_english_headers_in_any_order_map_to_the_contract():
    header = ["身份证号", "姓名", "enrollment_id", " Class ID ", *[c.label for c in TRAINING.columns[4:]]]
    mapped = readers.map_header(TRAINING, header)
    assert mapped.positions[TRAINING.column_names.index("id_number")] == 0
    assert mapped.positions[TRAINING.column_names.index("class_id")] == 3
    assert mapped.unknown_columns == []


def test_unknown_columns_are_kept_and_reported():
    header = [c.label for c in TRAINING.columns] + ["备注"]
    assert readers.map_header(TRAINING, header).unknown_columns == ["备注"]


def test_optional_columns_may_be_absent():
    header = [c.label for c in TRAINING.columns if c.name != "voucher_id"]
    mapped = readers.map_header(TRAINING, header)
    assert mapped.positions[TRAINING.column_names.index("voucher_id")] is None


def test_a_renamed_required_column_names_the_column_and_the_fix():
    header = [c.label for c in TRAINING.columns]
    header[header.index("身份证号")] = "身份证号码"
    with pytest.raises(readers.FileProblem) as problem:
        readers.map_header(TRAINING, header)
    assert problem.value.rule == "missing_required_column"
    assert "id_number [身份证号]" in problem.value.message
    assert "身份证号码" in problem.value.message


def test_two_columns_for_one_field_is_a_file_problem():
    header = [c.label for c in TRAINING.columns] + ["id_number"]
    with pytest.raises(readers.FileProblem, match="both map to 'id_number'"):
        readers.map_header(TRAINING, header)


CHINESE_LINE = "张三,柳林县职业培训学校,养老护理员\n"


def _write(tmp_path, data: bytes, name="f.csv") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _fingerprint(url: str) -> readers.Fingerprint:
    return readers.fingerprint(_delivery(url, url.rsplit(".", 1)[-1]))


def test_utf8_is_detected_before_gb18030(tmp_path):
    text = "姓名,机构\n" + CHINESE_LINE * 50
    sha, encoding, _, problem = _fingerprint(_write(tmp_path, text.encode("utf-8")))
    assert problem is None
    assert encoding == "utf-8"
    assert len(sha) == 64


def test_some_utf8_chinese_text_also_decodes_as_gb18030_which_is_why_utf8_goes_first():
    # The trap the ordering avoids: this UTF-8 text is also valid GB18030, decoding into garbage.
    data = "张三,电工,结业".encode()
    assert data.decode("gb18030") == "寮犱笁,鐢靛伐,缁撲笟"


def test_gb18030_is_detected(tmp_path):
    text = "姓名,机构\n" + CHINESE_LINE * 50
    assert _fingerprint(_write(tmp_path, text.encode("gb18030"))).encoding == "gb18030"


def test_a_file_that_is_neither_encoding_is_a_file_problem_and_still_has_its_digest(tmp_path):
    data = b"\xff\xfe\x00\x00\x81\x30\xff"
    result = _fingerprint(_write(tmp_path, data))
    assert result.problem.rule == "encoding"
    assert result.encoding is None
    assert result.sha256 == __import__("hashlib").sha256(data).hexdigest()


def _delivery(url: str, file_format: str) -> Delivery:
    return Delivery("training", dt.date(2026, 6, 1), url, url.rsplit("/", 1)[-1], file_format)


def test_csv_with_bom_and_a_ragged_record(tmp_path):
    header = ",".join(c.label for c in TRAINING.columns)
    good = ",".join(f"v{i}" for i in range(len(TRAINING.columns)))
    data = ("\ufeff" + header + "\n" + good + "\n\n" + "only,three,fields\n").encode("utf-8")
    url = _write(tmp_path, data)
    parsed = readers.open_delivery(TRAINING, _delivery(url, "csv"), _fingerprint(url))
    records = list(parsed.records)
    assert [r.row_number for r in records] == [1, 2]  # blank lines are not records
    assert records[0].values[0] == "v0"
    assert records[1].values is None and records[1].problems[0][0] == "record:field_count"
    assert "3 fields" in records[1].problems[0][1] and records[1].lines == (4, 4)


def test_xlsx_date_cells_and_numbers_become_contract_text(tmp_path):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append([c.label for c in TRAINING.columns])
    row = [f"v{i}" for i in range(len(TRAINING.columns))]
    row[TRAINING.column_names.index("start_date")] = dt.datetime(2026, 5, 1)
    row[TRAINING.column_names.index("training_days")] = 15.0
    sheet.append(row)
    path = tmp_path / "t.xlsx"
    workbook.save(path)
    parsed = readers.open_delivery(TRAINING, _delivery(str(path), "xlsx"), _fingerprint(str(path)))
    (record,) = list(parsed.records)
    assert record.values[TRAINING.column_names.index("start_date")] == "2026-05-01"
    assert record.values[TRAINING.column_names.index("training_days")] == "15"


def test_jsonl_bad_line_is_a_malformed_record_and_extra_keys_are_kept(tmp_path):
    first = {c.label: f"v{i}" for i, c in enumerate(TRAINING.columns)}
    later = {**first, "备注": "补录"}
    lines = [json.dumps(first, ensure_ascii=False), "{not json", json.dumps(later, ensure_ascii=False)]
    url = _write(tmp_path, ("\n".join(lines) + "\n").encode(), "t.jsonl")
    records = list(readers.open_delivery(TRAINING, _delivery(url, "jsonl"), _fingerprint(url)).records)
    assert [r.values is None for r in records] == [False, True, False]
    assert records[2].extras == {"备注": "补录"}


def test_discovery_on_an_object_store_url():
    fs = fsspec.filesystem("memory")
    fs.pipe("/landing/training/2026-06-01/b.csv", b"x")
    fs.pipe("/landing/training/2026-06-01/a.xlsx", b"x")
    fs.pipe("/landing/training/2026-06-01/notes.txt", b"x")
    landing = Landing("memory://landing")
    found = landing.deliveries("training", dt.date(2026, 6, 1))
    assert [(d.name, d.file_format, d.problem and d.problem[0]) for d in found] == [
        ("a.xlsx", "xlsx", None),
        ("b.csv", "csv", None),
        ("notes.txt", None, "unsupported_format"),  # reported, never silently passed over
    ]
    assert found[0].url.startswith("memory://")
    assert landing.deliveries("training", dt.date(2026, 6, 2)) == []


def test_a_file_without_its_header_keeps_its_first_record_and_quotes_nothing_of_it(tmp_path):
    """The first line of a headerless export is a person's record: it must not reach the ledger's problem text
    (analysts read the ledger), and it must still be kept, as record 1, with the others."""
    records = [["BJ1-1", "BJ1", "140802200806055585", "何娟涛", *["x"] * (len(TRAINING.columns) - 4)],
               ["BJ1-2", "BJ1", "14080220080605558X", "李四", *["y"] * (len(TRAINING.columns) - 4)]]  # fmt: skip
    url = _write(tmp_path, "".join(",".join(r) + "\n" for r in records).encode())
    parsed = readers.open_delivery(TRAINING, _delivery(url, "csv"), _fingerprint(url))
    assert parsed.file_problem.rule == "missing_required_column"
    assert "140802200806055585" not in parsed.file_problem.message and "何娟涛" not in parsed.file_problem.message
    kept = list(parsed.records)
    assert [r.row_number for r in kept] == [1, 2]
    assert "何娟涛" in kept[0].raw.values() and kept[0].problems[0][0] == "file:missing_required_column"
