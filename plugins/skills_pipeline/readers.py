"""Find delivered files and turn each into canonical records: encoding detection, header mapping, parsing.

A landing root is a local path or any fsspec URL; a delivery is <root>/<feed>/<YYYY-MM-DD>/<name>.<csv|xlsx|jsonl>.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import fsspec

from skills_pipeline.feeds import Feed

FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl"}
READ_CHUNK = 1 << 20


class FileProblem(Exception):
    """A problem with the whole file; the file is quarantined with this message and the others still load."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule
        self.message = message


@dataclass(frozen=True)
class Delivery:
    feed: str
    data_date: dt.date
    url: str  # full fsspec URL or local path of the file
    name: str
    file_format: str


def discover(landing_root: str, feed: str, data_date: dt.date) -> list[Delivery]:
    """Files delivered for one feed and data date, in name order; a missing folder means nothing was delivered."""
    fs, root = fsspec.core.url_to_fs(landing_root)
    folder = posixpath.join(root.rstrip("/"), feed, data_date.isoformat())
    if not fs.isdir(folder):
        return []
    deliveries = []
    for path in sorted(fs.ls(folder, detail=False)):
        name = posixpath.basename(path)
        file_format = FORMATS.get(posixpath.splitext(name)[1].lower())
        if file_format is None or name.startswith("."):
            continue
        url = fs.unstrip_protocol(path) if fs.protocol not in ("file", ("file", "local")) else path
        deliveries.append(Delivery(feed, data_date, url, name, file_format))
    return deliveries


class Fingerprint(NamedTuple):
    sha256: str
    encoding: str | None  # None for binary formats (XLSX) and for text that is neither encoding
    problem: FileProblem | None = None  # set when the text is neither UTF-8 nor GB18030


def fingerprint(url: str) -> Fingerprint:
    """The file's SHA-256 and its text encoding, in one streaming pass (a second one only for non-UTF-8 files).

    UTF-8 is tried strictly first: about one line in nine of UTF-8 Chinese text also decodes as GB18030, into
    garbage, so the order matters. A file that is neither still gets its digest (the ledger records it), with the
    problem instead of an encoding.
    """
    digest = hashlib.sha256()
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="strict")
    is_utf8 = True
    with fsspec.open(url, "rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            digest.update(chunk)
            if is_utf8:
                try:
                    utf8.decode(chunk)
                except UnicodeDecodeError:
                    is_utf8 = False
    if is_utf8:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            is_utf8 = False
    if url.lower().endswith(".xlsx"):
        return Fingerprint(digest.hexdigest(), None)
    if is_utf8:
        return Fingerprint(digest.hexdigest(), "utf-8")
    gb = codecs.getincrementaldecoder("gb18030")(errors="strict")
    try:
        with fsspec.open(url, "rb") as handle:
            while chunk := handle.read(READ_CHUNK):
                gb.decode(chunk)
        gb.decode(b"", final=True)
    except UnicodeDecodeError as error:
        problem = FileProblem(
            "encoding",
            f"the file is neither UTF-8 nor GB18030 (invalid byte at offset {error.start} of a chunk); "
            "re-export it as UTF-8 or GB18030 CSV",
        )
        return Fingerprint(digest.hexdigest(), None, problem)
    return Fingerprint(digest.hexdigest(), "gb18030")


def _header_key(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.replace("\ufeff", "")).lower()


@dataclass
class HeaderMap:
    """Which source column feeds which canonical column, and which source columns are unknown extras."""

    positions: list[int | None]  # per feed column: index in the source header, or None if absent
    extras: list[tuple[int, str]]  # (index, original header) of columns the contract does not know

    @property
    def unknown_columns(self) -> list[str]:
        return [name for _, name in self.extras]


def map_header(feed: Feed, header: list[str]) -> HeaderMap:
    """Map canonical names or Chinese labels (any order, case and spacing) onto the feed's columns."""
    lookup: dict[str, str] = {}
    for column in feed.columns:
        for spelling in (column.name, column.label, *column.aliases):
            lookup[_header_key(spelling)] = column.name
    found: dict[str, int] = {}
    extras: list[tuple[int, str]] = []
    for index, raw_name in enumerate(header):
        name = (raw_name or "").strip().replace("\ufeff", "")
        canonical = lookup.get(_header_key(name))
        if canonical is None:
            extras.append((index, name or f"column_{index + 1}"))
        elif canonical in found:
            raise FileProblem(
                "duplicate_column",
                f"columns {found[canonical] + 1} and {index + 1} both map to {canonical!r}; keep one of them",
            )
        else:
            found[canonical] = index
    missing = [c for c in feed.columns if c.required and c.name not in found]
    if missing:
        wanted = ", ".join(f"{c.name} [{c.label}]" for c in missing)
        unknown = ", ".join(name for _, name in extras) or "none"
        raise FileProblem(
            "missing_required_column",
            f"missing required column(s) {wanted}; unrecognised columns in the header: {unknown}. "
            "Rename the header to the contract's name or Chinese label (see feeds.md) and deliver the file again",
        )
    return HeaderMap([found.get(c.name) for c in feed.columns], extras)


@dataclass
class Record:
    row_number: int  # 1-based data record number (the header is not counted)
    values: list[str | None] | None  # in feed column order; None when the record could not be parsed
    extras: dict[str, str] | None = None
    problem: str | None = None  # why the record could not be parsed
    raw: str | None = None  # the record as delivered, for quarantine


@dataclass
class ParsedFile:
    delivery: Delivery
    encoding: str | None
    header: HeaderMap
    records: Iterator[Record] = field(repr=False)


def _clean(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        text = value.strftime("%Y-%m-%d") if value.time() == dt.time(0) else value.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, dt.date):
        text = value.isoformat()
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    text = text.strip()
    return text or None


def _records_from_rows(header: HeaderMap, rows: Iterator[tuple[int, list, str | None]]) -> Iterator[Record]:
    width = max([p for p in header.positions if p is not None] + [i for i, _ in header.extras]) + 1
    positions = header.positions
    extras = header.extras
    for row_number, row, raw in rows:
        if len(row) != width:
            yield Record(
                row_number,
                None,
                problem=f"record has {len(row)} fields, the header has {width}",
                raw=raw if raw is not None else json.dumps(row, ensure_ascii=False, default=str),
            )
            continue
        values = [None if p is None else _clean(row[p]) for p in positions]
        extra = {name: v for i, name in extras if (v := _clean(row[i])) is not None} if extras else None
        yield Record(row_number, values, extra or None)


def open_delivery(feed: Feed, delivery: Delivery, encoding: str | None) -> ParsedFile:
    """Parse a delivery's header and return a lazy stream of its records. Raises FileProblem."""
    if delivery.file_format == "csv":
        return _open_csv(feed, delivery, encoding or "utf-8")
    if delivery.file_format == "xlsx":
        return _open_xlsx(feed, delivery)
    return _open_jsonl(feed, delivery, encoding or "utf-8")


def _open_csv(feed: Feed, delivery: Delivery, encoding: str) -> ParsedFile:
    handle = fsspec.open(delivery.url, "rb").open()
    text = io.TextIOWrapper(handle, encoding="utf-8-sig" if encoding == "utf-8" else encoding, newline="")
    reader = csv.reader(text)
    header_row = next(reader, None)
    if not header_row or not any(cell.strip() for cell in header_row):
        handle.close()
        raise FileProblem("empty_file", "the file has no header line; deliver the export with its header row")
    header = map_header(feed, header_row)

    def rows() -> Iterator[tuple[int, list, str | None]]:
        try:
            row_number = 0
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                row_number += 1
                yield row_number, row, None
        finally:
            handle.close()

    return ParsedFile(delivery, encoding, header, _records_from_rows(header, rows()))


def _open_xlsx(feed: Feed, delivery: Delivery) -> ParsedFile:
    import openpyxl

    with fsspec.open(delivery.url, "rb") as handle:
        payload = io.BytesIO(handle.read())
    try:
        workbook = openpyxl.load_workbook(payload, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises several unrelated types for a broken archive
        raise FileProblem("unreadable", f"not a readable XLSX workbook ({error}); re-export it") from None
    sheet = workbook.worksheets[0]
    rows_iter = sheet.iter_rows(values_only=True)
    header_row = next(rows_iter, None)
    if not header_row or not any(cell not in (None, "") for cell in header_row):
        raise FileProblem("empty_file", "the first sheet has no header row; deliver the export with its header")
    while header_row and header_row[-1] in (None, ""):
        header_row = header_row[:-1]
    header = map_header(feed, [_clean(c) or "" for c in header_row])
    width = len(header_row)

    def rows() -> Iterator[tuple[int, list, str | None]]:
        row_number = 0
        for row in rows_iter:
            cells = list(row[:width]) + [None] * (width - len(row))
            if all(c in (None, "") for c in cells):
                continue
            if any(c not in (None, "") for c in row[width:]):
                cells = list(row)  # data beyond the header: reported as a malformed record
            row_number += 1
            yield row_number, cells, None
        workbook.close()

    return ParsedFile(delivery, None, header, _records_from_rows(header, rows()))


def _open_jsonl(feed: Feed, delivery: Delivery, encoding: str) -> ParsedFile:
    handle = fsspec.open(delivery.url, "rb").open()
    text = io.TextIOWrapper(handle, encoding="utf-8-sig" if encoding == "utf-8" else encoding)
    lines = (line for line in text if line.strip())
    first = next(lines, None)
    if first is None:
        handle.close()
        raise FileProblem("empty_file", "the file has no records")
    try:
        first_object = json.loads(first)
    except json.JSONDecodeError as error:
        handle.close()
        raise FileProblem("unreadable", f"line 1 is not a JSON object ({error.msg}); fix the export") from None
    keys = list(first_object) if isinstance(first_object, dict) else []
    if not keys:
        handle.close()
        raise FileProblem("unreadable", "line 1 is not a JSON object with keys; fix the export")
    header = map_header(feed, keys)
    known = set(keys)

    def records() -> Iterator[Record]:
        try:
            yield from _jsonl_record(header, keys, known, 1, first)
            for row_number, line in enumerate(lines, start=2):
                yield from _jsonl_record(header, keys, known, row_number, line)
        finally:
            handle.close()

    return ParsedFile(delivery, encoding, header, records())


def _jsonl_record(header: HeaderMap, keys: list[str], known: set[str], row_number: int, line: str):
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as error:
        yield Record(row_number, None, problem=f"not valid JSON ({error.msg})", raw=line.rstrip("\n"))
        return
    if not isinstance(obj, dict):
        yield Record(row_number, None, problem="not a JSON object", raw=line.rstrip("\n"))
        return
    values = [None if p is None else _clean(obj.get(keys[p])) for p in header.positions]
    extra = {name: v for i, name in header.extras if (v := _clean(obj.get(keys[i]))) is not None}
    extra.update({k: v for k, value in obj.items() if k not in known and (v := _clean(value)) is not None})
    yield Record(row_number, values, extra or None)
