"""XLSX workbooks: the first sheet, read in streaming mode, after a check against decompression bombs."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import fsspec

from skills_pipeline.feeds import Feed
from skills_pipeline.ingest.landing import Delivery
from skills_pipeline.ingest.readers.files import (
    XLSX_MAX_EXPANDED_BYTES,
    XLSX_MAX_RATIO,
    XLSX_RATIO_CHECKED_FROM,
    FileProblem,
)
from skills_pipeline.ingest.readers.records import (
    ParsedFile,
    Record,
    _clean,
    _record,
    _verbatim_header,
    map_header,
    rejected_records,
)


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
