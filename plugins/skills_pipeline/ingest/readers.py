"""Turn one delivered file into canonical records: encoding detection, header mapping, parsing.

Every record a file holds comes out of here exactly once, clean or with the problems that keep it out of raw:
a bad cell (a NUL byte, a field longer than any real value, bytes of another encoding, a JSON object where text
belongs) makes a quarantined record, never a failed file. A file-level problem (no header, a required column
missing, an undecodable encoding) still yields every record, as delivered, so that the ledger's counts are what is
stored in quarantine.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import hashlib
import io
import itertools
import json
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import fsspec

from skills_pipeline.feeds import Feed
from skills_pipeline.ingest.landing import Delivery

READ_CHUNK = 1 << 20
# No genuine value in any feed comes near this (names, codes, dates); a longer cell is a broken export.
MAX_FIELD_CHARS = 2_000
# csv's own per-field ceiling, far above MAX_FIELD_CHARS so an over-long cell is still read and quarantined as a
# record; past it the record is unparseable (and still quarantined by its line numbers).
CSV_FIELD_LIMIT = 64 << 20
csv.field_size_limit(CSV_FIELD_LIMIT)
# An XLSX is a zip: refuse one whose parts expand beyond these before parsing a byte of XML (a "zip bomb").
XLSX_MAX_EXPANDED_BYTES = 2 << 30
XLSX_MAX_RATIO = 200  # real sheets compress 5-30x; a sheet expanding 200x or more is padding
XLSX_RATIO_CHECKED_FROM = 20 << 20  # small parts may compress absurdly well (an empty styles.xml)
BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


class FileProblem(Exception):
    """A problem with the whole file; the file is rejected with this message and the others still load."""

    def __init__(self, rule: str, message: str, first_line_is_data: bool = False):
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.first_line_is_data = first_line_is_data  # no header: the first line is a record to keep as well


# -- bytes ---------------------------------------------------------------------------------------------------


def open_bytes(delivery: Delivery):
    """The delivered bytes, decompressed when the file is .csv.gz / .jsonl.gz."""
    handle = fsspec.open(delivery.url, "rb").open()
    return gzip.GzipFile(fileobj=handle, mode="rb") if delivery.compression == "gzip" else handle


class Fingerprint(NamedTuple):
    sha256: str  # of the bytes as delivered (compressed, if they were)
    encoding: str | None  # utf-8, gb18030, utf-16-le, utf-16-be; None for XLSX and for undecodable text
    clean_utf8: bool = False  # the whole text is valid UTF-8: no per-field decoding needed
    problem: FileProblem | None = None


def fingerprint(delivery: Delivery) -> Fingerprint:
    """The file's SHA-256 and its text encoding, in one streaming pass (a second one only for non-UTF-8 text).

    Byte-order marks decide first. Then strict UTF-8; only if that fails is each non-ASCII line tested as UTF-8
    and as GB18030, and the encoding most lines satisfy is the file's: many UTF-8 Chinese lines also decode as
    GB18030 (into garbage), so a whole-file GB18030 test would misread a UTF-8 file with one bad field. A file
    that most lines fail in both gets the problem instead of an encoding.
    """
    digest = hashlib.sha256()
    with fsspec.open(delivery.url, "rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            digest.update(chunk)
    sha256 = digest.hexdigest()
    if delivery.file_format == "xlsx":
        return Fingerprint(sha256, None)
    try:
        return _detect_encoding(delivery, sha256)
    except (EOFError, OSError, zlib.error) as error:
        problem = FileProblem(
            "unreadable",
            f"the file could not be read to its end ({type(error).__name__}); a compressed file may be truncated: "
            "deliver it again",
        )
        return Fingerprint(sha256, None, problem=problem)


def _detect_encoding(delivery: Delivery, sha256: str) -> Fingerprint:
    with open_bytes(delivery) as stream:
        start = stream.read(4)
    for bom, encoding in BOMS:
        if start.startswith(bom) and encoding.startswith("utf-16"):
            return _check_utf16(delivery, sha256, encoding)
    if _stream_decode_error(delivery, "utf-8") is None:
        return Fingerprint(sha256, "utf-8", clean_utf8=True)
    utf8_lines = gb_lines = non_ascii = 0
    with open_bytes(delivery) as stream:
        for line in stream:
            if line.isascii():
                continue
            non_ascii += 1
            utf8_lines += _decodes(line, "utf-8")
            gb_lines += _decodes(line, "gb18030")
    encoding = "gb18030" if gb_lines > utf8_lines else "utf-8"
    if max(gb_lines, utf8_lines) * 2 < non_ascii:
        problem = FileProblem(
            "encoding",
            f"the file is neither UTF-8 nor GB18030: {non_ascii - max(gb_lines, utf8_lines):,} of {non_ascii:,} "
            "lines with non-ASCII text decode in neither; re-export it as UTF-8 or GB18030 CSV",
        )
        return Fingerprint(sha256, None, problem=problem)
    return Fingerprint(sha256, encoding)


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _stream_decode_error(delivery: Delivery, encoding: str) -> UnicodeDecodeError | None:
    """Decode the whole file strictly, chunk by chunk; the first error, or None."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with open_bytes(delivery) as stream:
            while chunk := stream.read(READ_CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        return error
    return None


def _check_utf16(delivery: Delivery, sha256: str, encoding: str) -> Fingerprint:
    error = _stream_decode_error(delivery, encoding)
    if error is None:
        return Fingerprint(sha256, encoding)
    name = encoding.upper()
    problem = FileProblem(
        "encoding",
        f"the file starts with a {name} byte-order mark but is not valid {name} ({error.reason}); "
        "re-export it as UTF-8 or GB18030 CSV",
    )
    return Fingerprint(sha256, None, problem=problem)


# -- headers ---------------------------------------------------------------------------------------------------


def _header_key(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.replace("\ufeff", "")).lower()


def header_lookup(feed: Feed) -> dict[str, str]:
    """Canonical name, Chinese label and aliases (any case and spacing) -> canonical column name."""
    lookup: dict[str, str] = {}
    for column in feed.columns:
        for spelling in (column.name, column.label, *column.aliases):
            lookup[_header_key(spelling)] = column.name
    return lookup


@dataclass
class HeaderMap:
    """Which source column feeds which canonical column, and which source columns are unknown extras."""

    positions: list[int | None]  # per feed column: index in the source header, or None if absent
    extras: list[tuple[int, str]]  # (index, original header) of columns the contract does not know
    names: list[str] = field(default_factory=list)  # per source position: the canonical or original name

    @property
    def unknown_columns(self) -> list[str]:
        return [name for _, name in self.extras]

    @property
    def width(self) -> int:
        return len(self.names)


def map_header(feed: Feed, header: list[str]) -> HeaderMap:
    """Map canonical names or Chinese labels (any order, case and spacing) onto the feed's columns."""
    lookup = header_lookup(feed)
    found: dict[str, int] = {}
    extras: list[tuple[int, str]] = []
    names: list[str] = []
    for index, raw_name in enumerate(header):
        name = printable((raw_name or "").strip().replace("\ufeff", ""))[:200]  # it is quoted in messages
        canonical = lookup.get(_header_key(name))
        if canonical is None:
            # Reported in the ledger, which analysts read: a header cell that looks like data is named by position.
            original = name if name and _looks_like_a_header(name) else f"column_{index + 1}"
            if original in names:
                original = f"{original}_{index + 1}"  # a repeated unknown header is kept, not merged
            extras.append((index, original))
            names.append(original)
        elif canonical in found:
            raise FileProblem(
                "duplicate_column",
                f"columns {found[canonical] + 1} and {index + 1} both map to {canonical!r}; keep one of them",
            )
        else:
            found[canonical] = index
            names.append(canonical)
    missing = [c for c in feed.columns if c.required and c.name not in found]
    if missing and not found:
        # Nothing in the first line is a column of the contract: it is most likely a record, and quoting it would
        # put a person's ID number and name into the ledger, which analysts read.
        raise FileProblem(
            "missing_required_column",
            f"the first line matches none of the {feed.name} columns: the header line is missing or not in the "
            "contract's names or Chinese labels (see docs/feeds.md); deliver the file with its header row",
            first_line_is_data=True,
        )
    if missing:
        wanted = ", ".join(f"{c.name} [{c.label}]" for c in missing)
        shown = [name for _, name in extras if _looks_like_a_header(name)]
        hidden = len(extras) - len(shown)
        unknown = ", ".join(shown) + (f" and {hidden} more that look like data" if hidden else "") or "none"
        raise FileProblem(
            "missing_required_column",
            f"missing required column(s) {wanted}; unrecognised columns in the header: {unknown}. "
            "Rename the header to the contract's name or Chinese label (see docs/feeds.md) and deliver the file again",
        )
    return HeaderMap([found.get(c.name) for c in feed.columns], extras, names)


DATA_LIKE = re.compile(r"[0-9]{6,}|@|[0-9]{4}[-/][0-9]{1,2}")


def _looks_like_a_header(name: str) -> bool:
    """A header cell safe to quote in a message: short and free of long digit runs, dates and e-mail addresses."""
    return len(name) <= 30 and not DATA_LIKE.search(name)


# -- records ---------------------------------------------------------------------------------------------------


@dataclass
class Record:
    """One delivered record. `values` (feed column order) is set when it could be parsed; `problems` lists the
    (rule, detail) pairs that send it to quarantine as delivered (`raw`) instead of to staging."""

    row_number: int  # 1-based data record number (the header is not counted)
    values: list[str | None] | None
    extras: dict[str, str] | None = None
    problems: list[tuple[str, str]] | None = None
    raw: dict | None = None  # the record as delivered, for quarantine (set when it has problems)
    lines: tuple[int, int] | None = None  # physical lines (CSV, JSONL) or sheet rows (XLSX) it came from

    @property
    def is_clean(self) -> bool:
        return not self.problems


@dataclass
class ParsedFile:
    delivery: Delivery
    encoding: str | None
    header: HeaderMap | None
    records: Iterator[Record] = field(repr=False)
    file_problem: FileProblem | None = None  # set: every record is quarantined with this rule
    unknown_columns: list[str] = field(default_factory=list)  # filled while reading (JSONL keys vary by line)
    warnings: dict[str, int] = field(default_factory=dict)  # file-level notes, e.g. sheets that were not read


def printable(text: str) -> str:
    """Text that PostgreSQL can store as text and jsonb: NUL and unpaired surrogates become visible escapes."""
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _cell_problems(names: list[str], cells: list[str | None]) -> list[tuple[str, str]]:
    """Cells no typed column could hold: NUL bytes, unpaired surrogates, absurd lengths. Checked on the joined
    record first, because almost every record has none and one test per record is far cheaper than one per cell."""
    joined = "\x1f".join(filter(None, cells))
    if "\x00" not in joined and len(joined) <= MAX_FIELD_CHARS and (joined.isascii() or _encodes(joined)):
        return []  # no NUL, no cell longer than the joined record allows, no unpaired surrogate anywhere
    problems = []
    for name, cell in zip(names, cells, strict=False):
        if not cell:
            continue
        if "\x00" in cell:
            problems.append((f"{name}:nul_byte", f"remove the NUL (0x00) character from {name}"))
        if len(cell) > MAX_FIELD_CHARS:
            problems.append(
                (f"{name}:too_long", f"{name} has {len(cell):,} characters (at most {MAX_FIELD_CHARS:,}): check the "
                 "export's quoting")
            )  # fmt: skip
        if not cell.isascii():
            try:
                cell.encode("utf-8")
            except UnicodeEncodeError:
                problems.append((f"{name}:invalid_characters", f"{name} holds an unpaired UTF-16 surrogate"))
    return problems


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _clean(value: object) -> str | None:
    if type(value) is str:  # every CSV cell: the common case first (the branches below give the same result)
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dt.datetime):
        text = value.strftime("%Y-%m-%d") if value.time() == dt.time(0) else value.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, dt.date | dt.time):
        text = value.isoformat()
    elif isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        text = str(int(value))
    else:
        text = str(value)
    text = text.strip()
    return text or None


def _record(header: HeaderMap, row_number: int, cells: list, lines, problems=None) -> Record:
    """A parsed row: width and cell checks, then the values in feed column order."""
    problems = list(problems or [])
    if len(cells) != header.width:
        problems.append(
            ("record:field_count", f"the record has {len(cells)} fields, the header has {header.width}; fix the "
             "export so every record has the header's fields")
        )  # fmt: skip
        return Record(row_number, None, problems=problems, raw=_raw_cells(header.names, cells), lines=lines)
    # _clean() inlined for text cells (all of a CSV's): one call fewer per cell, the same result
    cleaned = [(c.strip() or None) if type(c) is str else _clean(c) for c in cells]
    problems += _cell_problems(header.names, cleaned)
    if problems:
        return Record(row_number, None, problems=problems, raw=_raw_cells(header.names, cleaned), lines=lines)
    values = [None if p is None else cleaned[p] for p in header.positions]
    extras = {name: v for i, name in header.extras if (v := cleaned[i]) is not None} if header.extras else None
    return Record(row_number, values, extras or None, lines=lines)


def _raw_cells(names: list[str], cells: list) -> dict:
    raw = {}
    for index, cell in enumerate(cells):
        name = names[index] if index < len(names) else f"column_{index + 1}"
        text = cell if isinstance(cell, str) or cell is None else _clean(cell)
        raw[name] = None if text is None else printable(text)
    return raw


def _raw_text(text: str) -> dict:
    return {"raw_text": printable(text.rstrip("\r\n"))}


def _verbatim_header(header: list[str]) -> HeaderMap:
    """For a file rejected over its header: every column kept under its own name, so records are stored as sent."""
    names = []
    for index, name in enumerate(header):
        name = printable((name or "").strip()) or f"column_{index + 1}"
        names.append(name if name not in names else f"{name}_{index + 1}")
    return HeaderMap([], list(enumerate(names)), names)


def rejected_records(records: Iterable[Record], rule: str, detail: str) -> Iterator[Record]:
    """The records of a rejected file, each carrying the file's rule (they are stored, never loaded)."""
    for record in records:
        raw = record.raw if record.raw is not None else dict(record.extras or {})
        yield Record(record.row_number, None, problems=[(rule, detail)], raw=raw, lines=record.lines)


def open_delivery(feed: Feed, delivery: Delivery, fp: Fingerprint) -> ParsedFile:
    """Parse a delivery's header and return a lazy stream of its records. A file-level problem comes back as
    `file_problem`, with the file's records still streamed (as delivered) so that they can be stored."""
    if fp.problem and fp.problem.rule == "encoding":
        return _undecodable(delivery, fp)
    if fp.problem:  # the bytes themselves could not be read to the end: there are no records to keep
        return ParsedFile(delivery, None, None, iter(()), file_problem=fp.problem)
    if delivery.file_format == "csv":
        return _open_csv(feed, delivery, fp)
    if delivery.file_format == "xlsx":
        return _open_xlsx(feed, delivery)
    return _open_jsonl(feed, delivery, fp)


def _undecodable(delivery: Delivery, fp: Fingerprint) -> ParsedFile:
    """A file with no usable encoding: each physical line is kept as escaped text (nothing is guessed)."""

    def records() -> Iterator[Record]:
        with open_bytes(delivery) as stream:
            physical = (part for chunk in stream for part in re.split(rb"\r\n|\r|\n", chunk))
            data_lines = (line for line in physical if line.strip())
            if delivery.file_format == "csv":
                next(data_lines, None)  # the header
            for number, line in enumerate(data_lines, start=1):
                text = line.decode("utf-8", "backslashreplace")
                yield Record(number, None, problems=[(f"file:{fp.problem.rule}", fp.problem.message)],
                             raw=_raw_text(text))  # fmt: skip

    return ParsedFile(delivery, None, None, records(), file_problem=fp.problem)


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


def _check_expansion(payload: io.BytesIO) -> None:
    try:
        with zipfile.ZipFile(payload) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        raise FileProblem("unreadable", "not a readable XLSX workbook (not a zip archive); re-export it") from None
    total = sum(m.file_size for m in members)
    if total > XLSX_MAX_EXPANDED_BYTES:
        limit = XLSX_MAX_EXPANDED_BYTES / 2**30
        raise FileProblem(
            "too_large",
            f"the workbook expands to {total / 2**30:.1f} GiB (limit {limit:.0f} GiB); deliver large extracts as CSV",
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size >= XLSX_RATIO_CHECKED_FROM and ratio > XLSX_MAX_RATIO:
            raise FileProblem(
                "suspicious_compression",
                f"the workbook part {member.filename} expands {ratio:,.0f}-fold to "
                f"{member.file_size / 2**20:,.0f} MiB, which no real sheet does (a 'zip bomb'); nothing was parsed. "
                "Re-export the sheet",
            )


def _open_xlsx(feed: Feed, delivery: Delivery) -> ParsedFile:
    import openpyxl

    with fsspec.open(delivery.url, "rb") as handle:
        payload = io.BytesIO(handle.read())
    _check_expansion(payload)
    try:
        workbook = openpyxl.load_workbook(payload, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        # The <dimension> element is written by the exporting program and may under-report; never trust it.
        sheet.reset_dimensions()
        rows_iter = enumerate(sheet.iter_rows(values_only=True), start=1)
        header_row = next(rows_iter, (1, None))[1]
    except Exception as error:  # openpyxl raises many unrelated types for a broken archive
        kind = type(error).__name__
        raise FileProblem("unreadable", f"not a readable XLSX workbook ({kind}); re-export it") from None
    warnings = {}
    if len(workbook.worksheets) > 1:
        warnings["file:other_sheets_not_read"] = len(workbook.worksheets) - 1
    header_cells = list(header_row or ())
    while header_cells and header_cells[-1] in (None, ""):
        header_cells.pop()
    if not header_cells:
        workbook.close()
        empty = FileProblem("empty_file", "the first sheet has no header row; deliver the export with its header")
        return ParsedFile(delivery, None, None, iter(()), file_problem=empty)
    header_text = [_clean(c) or "" for c in header_cells]
    try:
        header, problem = map_header(feed, header_text), None
    except FileProblem as error:
        header, problem = _verbatim_header(header_text), error
    width = header.width

    def records() -> Iterator[Record]:
        row_number = 0
        if problem is not None and problem.first_line_is_data:
            row_number = 1
            yield _record(header, 1, list(header_cells), (1, 1))
        try:
            for sheet_row, row in rows_iter:
                cells = list(row[:width]) + [None] * (width - len(row))
                beyond = [c for c in row[width:] if c not in (None, "")]
                if not beyond and all(c in (None, "") for c in cells):
                    continue
                row_number += 1
                if beyond:
                    cells = list(row)  # data beyond the header: a field-count problem of this record
                yield _record(header, row_number, cells, (sheet_row, sheet_row))
        finally:
            workbook.close()

    parsed = ParsedFile(delivery, None, header, records(), file_problem=problem, warnings=warnings)
    parsed.unknown_columns = header.unknown_columns if problem is None else []
    if problem:
        parsed.records = rejected_records(parsed.records, f"file:{problem.rule}", problem.message)
    return parsed


# -- JSONL -----------------------------------------------------------------------------------------------------------


def _open_jsonl(feed: Feed, delivery: Delivery, fp: Fingerprint) -> ParsedFile:
    """Each line's keys are mapped on their own: a line may omit optional keys, or order them differently, without
    shifting another line's values. Values must be JSON scalars; an object or array where a value belongs is a
    problem of that record, never its Python text."""
    raw = open_bytes(delivery)
    if fp.encoding and fp.encoding.startswith("utf-16"):
        raw.read(2)
    lookup = header_lookup(feed)
    names = feed.column_names
    index = {name: position for position, name in enumerate(names)}
    decoder = None if fp.clean_utf8 or (fp.encoding or "").startswith("utf-16") else _FieldDecoder(fp.encoding)
    text_encoding = fp.encoding if (fp.encoding or "").startswith("utf-16") else "utf-8-sig"
    text = io.TextIOWrapper(raw, encoding="latin-1" if decoder else text_encoding)
    parsed = ParsedFile(delivery, fp.encoding or "utf-8", None, iter(()))
    unknown: dict[str, None] = {}

    def records() -> Iterator[Record]:
        row_number = 0
        try:
            for line_number, line in enumerate(text, start=1):
                if not line.strip():
                    continue
                row_number += 1
                lines = (line_number, line_number)
                if decoder:
                    if line_number == 1 and line.startswith("\xef\xbb\xbf"):
                        line = line[3:]
                    line, kind = decoder.cell(line)
                    if kind:
                        problem = (f"record:{kind}", f"line {line_number} is not {decoder.encoding.upper()} text; "
                                   "re-export the whole file in one encoding")  # fmt: skip
                        yield Record(row_number, None, problems=[problem], raw=_raw_text(line), lines=lines)
                        continue
                yield _jsonl_record(lookup, index, unknown, row_number, line, lines)
        finally:
            text.close()
            parsed.unknown_columns[:] = list(unknown)

    parsed.records = records()
    return parsed


def _jsonl_record(lookup, index, unknown, row_number: int, line: str, lines) -> Record:
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as error:
        detail = f"line {lines[0]} is not valid JSON ({getattr(error, 'msg', 'nested too deeply')}); fix the export"
        return Record(row_number, None, problems=[("record:invalid_json", detail)], raw=_raw_text(line), lines=lines)
    if not isinstance(obj, dict):
        detail = f"line {lines[0]} is a JSON {type(obj).__name__}, not an object with the contract's keys"
        return Record(row_number, None, problems=[("record:not_an_object", detail)], raw=_raw_text(line), lines=lines)
    values: list[str | None] = [None] * len(index)
    extras: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for key, value in obj.items():
        canonical = lookup.get(_header_key(str(key)))
        name = canonical or str(key)
        if isinstance(value, dict | list):
            problems.append((f"{name}:wrong_type", f"{name} is a JSON {type(value).__name__}; send text or a number"))
            continue
        if canonical is None:
            unknown.setdefault(printable(str(key)) if _looks_like_a_header(str(key)) else "key_that_looks_like_data")
            if (cleaned := _clean(value)) is not None:
                extras[printable(str(key))] = cleaned
            continue
        if canonical in seen:
            problems.append((f"{canonical}:duplicate_key", f"keys {seen[canonical]!r} and {key!r} both map to "
                             f"{canonical!r}; send one of them"))  # fmt: skip
            continue
        seen[canonical] = str(key)
        values[index[canonical]] = _clean(value)
    cells = values + list(extras.values())
    problems += _cell_problems(list(index) + list(extras), cells)
    if problems:
        raw = {
            printable(str(k)): printable(json.dumps(v, ensure_ascii=False))
            if isinstance(v, dict | list)
            else (None if (text := _clean(v)) is None else printable(text))
            for k, v in obj.items()
        }
        return Record(row_number, None, problems=problems, raw=raw, lines=lines)
    return Record(row_number, values, extras or None, lines=lines)
