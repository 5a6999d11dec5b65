"""From cells to records: the header mapped onto the feed contract (Chinese or English), the cells cleaned and
checked (NUL, length, encoding), and the Record every reader yields."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from skills_pipeline.feeds import Feed
from skills_pipeline.ingest.landing import Delivery
from skills_pipeline.ingest.readers.files import MAX_FIELD_CHARS, FileProblem


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
