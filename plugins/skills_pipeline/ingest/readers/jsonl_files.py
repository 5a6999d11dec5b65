"""JSON Lines files: one object per line, keys mapped like CSV headers."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

from skills_pipeline.feeds import Feed
from skills_pipeline.ingest.landing import Delivery
from skills_pipeline.ingest.readers.csv_files import _FieldDecoder
from skills_pipeline.ingest.readers.files import Fingerprint, open_bytes
from skills_pipeline.ingest.readers.records import (
    ParsedFile,
    Record,
    _cell_problems,
    _clean,
    _header_key,
    _looks_like_a_header,
    _raw_text,
    header_lookup,
    printable,
)


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
