"""CSV files: the fast path the server parses (plain_csv), and the reader that decodes cell by cell."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from skills_pipeline.feeds import Feed
from skills_pipeline.ingest.landing import Delivery
from skills_pipeline.ingest.readers.files import CSV_FIELD_LIMIT, FileProblem, Fingerprint, open_bytes
from skills_pipeline.ingest.readers.records import (
    HeaderMap,
    ParsedFile,
    Record,
    _raw_text,
    _record,
    _verbatim_header,
    map_header,
    rejected_records,
)

# -- CSV -----------------------------------------------------------------------------------------------------------


class _FieldDecoder:
    """Decodes the cells of a file read as Latin-1 (one char per byte, so CSV parsing never fails on encoding)
    in the file's encoding, cell by cell: a cell in the other encoding or in none is a problem of that cell.

    In a GB18030 file, a cell whose bytes are valid UTF-8 spelling only common Chinese characters is UTF-8 that
    GB18030 would misread (赵探 -> 璧垫帰). Genuine GB18030 names almost never form such UTF-8: none of 500,000
    random two- to eight-character names did, while every UTF-8 name that GB18030 decodes was caught."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        self.other = "utf-8" if encoding == "gb18030" else "gb18030"

    def cell(self, text: str) -> tuple[str, str | None]:
        """(decoded text, None) or (best-effort text, problem kind)."""
        if text.isascii():
            return text, None
        data = text.encode("latin-1")
        if self.encoding == "gb18030":
            utf8 = _utf8_chinese(data)
            if utf8 is not None:
                return utf8, "mixed_encoding"
        try:
            return data.decode(self.encoding), None
        except UnicodeDecodeError:
            pass
        try:
            return data.decode(self.other), "mixed_encoding"
        except UnicodeDecodeError:
            return data.decode(self.encoding, "backslashreplace"), "invalid_bytes"

    def row(self, names: list[str], cells: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
        problems, decoded = [], []
        for index, text in enumerate(cells):
            value, kind = self.cell(text)
            decoded.append(value)
            if kind:
                name = names[index] if index < len(names) else f"column_{index + 1}"
                fix = (
                    f"{name} is in another encoding than the rest of this {self.encoding.upper()} file; re-export the "
                    "whole file in one encoding"
                    if kind == "mixed_encoding"
                    else f"{name} holds bytes that are not {self.encoding.upper()} text; re-export the file"
                )
                problems.append((f"{name}:{kind}", fix))
        return decoded, problems


def _utf8_chinese(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    for char in text:
        if char.isascii():
            continue
        try:
            char.encode("gb2312")
        except UnicodeEncodeError:
            return None
    return text


def _csv_text(delivery: Delivery, fp: Fingerprint) -> tuple[io.TextIOBase, _FieldDecoder | None]:
    raw = open_bytes(delivery)
    if fp.encoding and fp.encoding.startswith("utf-16"):
        raw.read(2)  # the byte-order mark
        return io.TextIOWrapper(raw, encoding=fp.encoding, newline=""), None
    if fp.clean_utf8:
        return io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""), None
    if raw.read(3) != codecs.BOM_UTF8:
        raw.close()
        raw = open_bytes(delivery)
    return io.TextIOWrapper(raw, encoding="latin-1", newline=""), _FieldDecoder(fp.encoding or "utf-8")


class _LineTap:
    """Feeds csv.reader line by line and keeps the physical lines of the record being parsed, so that a record a
    stray quote ran over can be split back into the lines it swallowed."""

    def __init__(self, lines: Iterator[str]):
        self.lines = lines
        self.taken: list[str] = []
        self.line_number = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.taken.append(line)
        self.line_number += 1
        return line

    def take(self) -> list[str]:
        taken, self.taken = self.taken, []
        return taken


def _open_csv(feed: Feed, delivery: Delivery, fp: Fingerprint) -> ParsedFile:
    text, decoder = _csv_text(delivery, fp)
    encoding = fp.encoding or "utf-8"
    try:
        first = text.readline()
    except Exception:
        text.close()
        raise
    # Excel's "Unicode text" export is tab-separated: accept it when the header has tabs and no commas.
    delimiter = "\t" if "\t" in first and "," not in first else ","
    tap = _LineTap(itertools.chain([first], text))
    reader = csv.reader(tap, delimiter=delimiter)
    header_row = next(reader, None)
    tap.take()
    if decoder and header_row:
        header_row = [decoder.cell(cell)[0] for cell in header_row]
    if not header_row or not any(cell.strip() for cell in header_row):
        text.close()
        empty = FileProblem("empty_file", "the file has no header line; deliver the export with its header row")
        return ParsedFile(delivery, encoding, None, iter(()), file_problem=empty)
    try:
        header = map_header(feed, header_row)
        problem = None
    except FileProblem as error:
        # Keep reading: every record is stored under the original header's names.
        header, problem = _verbatim_header(header_row), error

    def records() -> Iterator[Record]:
        row_number = 0
        if problem is not None and problem.first_line_is_data:
            row_number = 1
            yield _record(header, 1, list(header_row), (1, 1))
        try:
            while True:
                start = tap.line_number + 1
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as error:
                    row_number += 1
                    lines = tap.take()
                    detail = f"lines {start}-{tap.line_number} could not be parsed as CSV ({error})"
                    yield Record(row_number, None, problems=[("record:unparseable", detail)],
                                 raw=_raw_text("".join(lines)), lines=(start, tap.line_number))  # fmt: skip
                    continue
                lines = tap.take()
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line
                end = tap.line_number
                if len(row) != header.width and end > start:
                    for record in _split_swallowed(header, decoder, delimiter, lines, start, row_number):
                        row_number = record.row_number
                        yield record
                    continue
                row_number += 1
                problems = None
                if decoder:
                    row, problems = decoder.row(header.names, row)
                yield _record(header, row_number, row, (start, end), problems)
        finally:
            text.close()

    parsed = ParsedFile(delivery, encoding, header, records(), file_problem=problem)
    parsed.unknown_columns = header.unknown_columns if problem is None else []
    if problem:
        parsed.records = rejected_records(parsed.records, f"file:{problem.rule}", problem.message)
    return parsed


@dataclass
class PlainCsv:
    """A CSV that PostgreSQL's own COPY parses exactly as _open_csv would: valid UTF-8, comma-separated, a header
    mapping onto the contract with no unknown columns. Its data bytes start after the header line."""

    delivery: Delivery
    header: HeaderMap
    data_offset: int  # bytes of the (decompressed) file before the first data line


# Python's str.strip() removes exactly these; the server-side path trims cells by the same set (staging.py).
WHITESPACE = "".join(chr(code) for code in range(0x110000) if chr(code).isspace())


def plain_csv(feed: Feed, delivery: Delivery, fp: Fingerprint) -> PlainCsv | None:
    """The file, if the server can parse it (the fast path, staging.copy_plain_csv); None sends it to _open_csv.
    Quoting is checked while the bytes stream (staging.copy_plain_csv), since only the whole file can tell."""
    if delivery.file_format != "csv" or not fp.clean_utf8 or fp.problem:
        return None
    with open_bytes(delivery) as stream:
        first = stream.readline(CSV_FIELD_LIMIT)
    text = first.decode("utf-8-sig")
    if not text.endswith("\n") or "\t" in text and "," not in text or '"' in text:
        return None  # header-only, tab-separated or quoted header: the Python reader's cases
    try:
        header = map_header(feed, next(csv.reader([text.rstrip("\r\n")])))
    except FileProblem:
        return None  # the Python reader rejects it and keeps every record, as delivered
    if header.extras:
        return None  # unknown columns are kept in extra_columns, which the reader builds
    return PlainCsv(delivery, header, len(first))


def _split_swallowed(header, decoder, delimiter, lines, start, row_number) -> Iterator[Record]:
    """A record that spans several lines and has the wrong width: a quote opened on its first line was never
    closed and swallowed the lines after it. The first line is quarantined for the quote; every swallowed line is
    parsed again on its own, so that good records caught in the run still load."""
    end = start + len(lines) - 1
    row_number += 1
    first = lines[0]
    detail = (f"a quote opened on line {start} is never closed and ran over lines {start + 1}-{end}; those lines "
              "were read again one by one. Fix the quoting of this line")  # fmt: skip
    yield Record(row_number, None, problems=[("record:unbalanced_quote", detail)], raw=_raw_text(first),
                 lines=(start, start))  # fmt: skip
    for offset, line in enumerate(lines[1:], start=1):
        if not line.strip():
            continue
        row_number += 1
        number = start + offset
        try:
            row = next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter))
        except csv.Error as error:
            yield Record(row_number, None, problems=[("record:unparseable", str(error))], raw=_raw_text(line),
                         lines=(number, number))  # fmt: skip
            continue
        problems = None
        if decoder:
            row, problems = decoder.row(header.names, row)
        if len(row) != header.width:
            problems = [*(problems or []), ("record:unbalanced_quote", f"line {number} was swallowed by the quote "
                        f"opened on line {start} and does not parse on its own; fix the quoting")]  # fmt: skip
            yield Record(row_number, None, problems=problems, raw=_raw_text(line), lines=(number, number))
            continue
        yield _record(header, row_number, row, (number, number), problems)


# -- XLSX -----------------------------------------------------------------------------------------------------------
