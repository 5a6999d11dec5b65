"""The server-side CSV path's byte scan (staging._ByteScan) learns from chunks what the whole data would show: the
same flags however the bytes are cut, a mark or a padded cell split across two chunks included."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skills_pipeline.ingest import readers, staging

LIMIT = 4  # MAX_FIELD_CHARS, small enough for generated lines to fall on either side of it
# Bytes that matter to the scan, and two that do not; \xe3\x80 and \xc2\xa0 make whitespace marks.
ALPHABET = [b"a", b"7", b" ", b",", b"\n", b"\r", b"\t", b'"', b"\x00", b"\xe3", b"\x80", b"\xc2", b"\xa0", b"\xe4"]


def expected(data: bytes) -> tuple[bool, bool, bool, bool]:
    """needs_reader, other_whitespace, edge_spaces, long_line, from the whole data at once."""
    needs_reader = b'"' in data or b"\x00" in data
    other = any(mark in data for mark in staging.OTHER_WHITESPACE)
    edge = re.search(rb"^ | $|[,\r\n] | [,\r\n]", data) is not None
    long_line = max(len(line) for line in data.split(b"\n")) > LIMIT
    return needs_reader, other, edge, long_line


def scanned(data: bytes, cuts: list[int]) -> tuple[bool, bool, bool, bool]:
    scan = staging._ByteScan()
    bounds = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    try:
        for start, end in zip(bounds, bounds[1:], strict=False):
            if end > start:
                scan.feed(data[start:end])
        scan.finish()
    except staging._NeedsReader:
        return True, *expected(data)[1:]  # stops at the chunk: the other flags no longer matter
    return False, scan.other_whitespace, scan.edge_spaces, scan.long_line


@settings(max_examples=400, deadline=None)
@given(
    data=st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=60).map(b"".join),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=6),
)
def test_the_scan_of_chunks_finds_what_the_whole_data_shows(data, cuts):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(readers, "MAX_FIELD_CHARS", LIMIT)
        assert scanned(data, cuts) == expected(data)


@pytest.mark.parametrize(
    ("data", "flag"),
    [
        (b"a,b\n c\n", "edge_spaces"),  # a line starting with a space
        (b"a,b \nc\n", "edge_spaces"),
        (b"a,c ", "edge_spaces"),  # the last cell, with no final line end
        (b" a,b\n", "edge_spaces"),  # the first cell of the data
        (b"a\xe3\x80\x80\n", "other_whitespace"),  # U+3000 ending a cell: the exact trim finds it
        (b"a,bcd\n", "long_line"),  # the first line
        (b"ab\na,bcd\nab\n", "long_line"),  # a line between two line ends of one chunk
        (b"ab\nab\na,bcd", "long_line"),  # the last line, with no final line end
    ],
)
def test_each_flag_on_its_own(data, flag):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(readers, "MAX_FIELD_CHARS", LIMIT)
        scan = staging._ByteScan()
        scan.feed(data)
        scan.finish()
    flags = {name: getattr(scan, name) for name in ("other_whitespace", "edge_spaces", "long_line")}
    assert flags == {name: name == flag for name in flags}
    assert scan.cells_may_differ


def test_clean_data_needs_no_look_at_the_stored_cells():
    scan = staging._ByteScan()
    for chunk in (b"110105194912310029,\xe5\xbc\xa0\xe4\xb8\x89,2026-06-01 10", b":00:00\n141125,1\n"):
        scan.feed(chunk)
    scan.finish()
    assert not scan.cells_may_differ
