"""A delivered file's bytes: opening them (gzip or plain), the limits every reader keeps, and the fingerprint
(SHA-256, size, encoding) that decides how the file is read."""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import zlib
from typing import NamedTuple

import fsspec

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
