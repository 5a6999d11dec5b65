"""Turn one delivered file into canonical records: encoding detection, header mapping, parsing.

Every record a file holds comes out of here exactly once, clean or with the problems that keep it out of raw:
a bad cell (a NUL byte, a field longer than any real value, bytes of another encoding, a JSON object where text
belongs) makes a quarantined record, never a failed file. A file-level problem (no header, a required column
missing, an undecodable encoding) still yields every record, as delivered, so that the ledger's counts are what is
stored in quarantine.

One module per concern: files (bytes, limits, fingerprint and encoding), records (header mapping, cells,
Record), csv_files, xlsx_files and jsonl_files; open_delivery below picks the reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from skills_pipeline.feeds import Feed
from skills_pipeline.ingest.landing import Delivery
from skills_pipeline.ingest.readers.csv_files import WHITESPACE, PlainCsv, _open_csv, plain_csv
from skills_pipeline.ingest.readers.files import (
    MAX_FIELD_CHARS,
    READ_CHUNK,
    FileProblem,
    Fingerprint,
    fingerprint,
    open_bytes,
)
from skills_pipeline.ingest.readers.jsonl_files import _open_jsonl
from skills_pipeline.ingest.readers.records import (
    HeaderMap,
    ParsedFile,
    Record,
    _raw_text,
    header_lookup,
    map_header,
    printable,
    rejected_records,
)
from skills_pipeline.ingest.readers.xlsx_files import _open_xlsx

# What the rest of the package uses (loader, staging, the tests).
__all__ = [
    "MAX_FIELD_CHARS", "READ_CHUNK", "WHITESPACE", "FileProblem", "Fingerprint", "HeaderMap", "ParsedFile",
    "PlainCsv", "Record", "fingerprint", "header_lookup", "map_header", "open_bytes", "open_delivery", "plain_csv",
    "printable", "rejected_records",
]  # fmt: skip


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
