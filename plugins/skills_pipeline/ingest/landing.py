"""What lies under the landing root: every file, as a delivery to load or as one to reject with its reason.

A delivery is <root>/<feed>/<YYYY-MM-DD>/<name>.<csv|csv.gz|xlsx|jsonl|jsonl.gz>. Anything else under the root —
a file of another kind, a hidden file, a date folder that is not a date, a folder nested inside a date, a symlink
that leaves the root, a FIFO or a device — is still reported, so that no file is silently passed over. Nothing is
read from a file that is not a regular file inside the root: a FIFO would block the reader, and a symlink could
expose a file the loader was never meant to see.

A local root is walked with os.scandir without following links; an object store (any fsspec URL) has no links or
devices, so only `..` segments need refusing there.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass

import fsspec

from skills_pipeline import feeds
from skills_pipeline.settings import ConfigurationError

# Suffix -> (format, compression). Longest suffixes first so ".csv.gz" wins over ".gz".
FORMATS = {
    ".csv.gz": ("csv", "gzip"),
    ".jsonl.gz": ("jsonl", "gzip"),
    ".csv": ("csv", None),
    ".xlsx": ("xlsx", None),
    ".jsonl": ("jsonl", None),
}
SUPPORTED = ", ".join(FORMATS)
# Formats agencies are known to send by mistake, with the fix that applies to each.
KNOWN_WRONG_FORMATS = {
    ".xls": "legacy Excel 97-2003 workbooks are not read; save the sheet as .xlsx",
    ".xlsm": "macro-enabled workbooks are not read; save the sheet as .xlsx without macros",
    ".zip": "archives are not unpacked; deliver the files inside it one by one",
    ".gz": "only .csv.gz and .jsonl.gz are unpacked; deliver the file as CSV, XLSX or JSONL",
}


class LandingRootMissing(ConfigurationError):
    """The landing root does not exist: a misconfiguration, never 'nothing was delivered'."""


@dataclass(frozen=True)
class Delivery:
    """One file under the landing root. `problem` is set (rule, message) when it must be rejected unread or as is."""

    feed: str  # the feed folder it arrived in ('unknown' when it is in no feed folder)
    data_date: dt.date | None  # None when its folder is not a date
    url: str  # full fsspec URL or local path of the file
    name: str
    file_format: str | None
    compression: str | None = None
    problem: tuple[str, str] | None = None
    readable: bool = True  # False: not a regular file inside the root; its bytes are never opened


def _is_local(fs) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def format_of(name: str) -> tuple[str | None, str | None, tuple[str, str] | None]:
    lowered = name.lower()
    if name.startswith("."):
        return (
            None,
            None,
            (
                "hidden_file",
                f"{name!r} is a hidden file (often a partial upload or an editor's lock file) and is not loaded; "
                "rename it without the leading dot if it is a delivery",
            ),
        )
    for suffix, (file_format, compression) in FORMATS.items():
        if lowered.endswith(suffix):
            return file_format, compression, None
    extension = posixpath.splitext(lowered)[1]
    fix = KNOWN_WRONG_FORMATS.get(extension, f"deliver it as one of {SUPPORTED}")
    return None, None, ("unsupported_format", f"{name!r} is not a supported delivery format: {fix}")


def parse_date_folder(name: str) -> dt.date | None:
    """The data date a folder stands for, or None: exactly YYYY-MM-DD and a real calendar date."""
    if len(name) != 10 or name[4] != "-" or name[7] != "-":
        return None
    try:
        return dt.date.fromisoformat(name)
    except ValueError:
        return None


class Landing:
    """The landing root, local or remote, with confinement checks on everything listed under it."""

    def __init__(self, root: str):
        self.root = root
        self.fs, path = fsspec.core.url_to_fs(root)
        self.local = _is_local(self.fs)
        self.path = os.path.realpath(path) if self.local else path.rstrip("/")

    def exists(self) -> bool:
        return self.fs.isdir(self.path)

    def require(self) -> None:
        if not self.exists():
            raise LandingRootMissing(
                f"the landing root {self.root!r} does not exist or is not a folder; check SKILLS_LANDING_ROOT "
                "(or --landing-root) — an empty delivery is an existing folder with nothing in it"
            )

    def _url(self, path: str) -> str:
        return path if self.local else self.fs.unstrip_protocol(path)

    # -- listing --------------------------------------------------------------------------------------------

    def _entries(self, folder: str) -> list[tuple[str, str, str | None]]:
        """(name, kind, problem) per entry of a folder; kind is 'dir', 'file' or 'unreadable'."""
        entries = []
        if self.local:
            with os.scandir(folder) as scan:
                for entry in scan:
                    entries.append((entry.name, *self._local_kind(entry.path)))
        else:
            for info in self.fs.ls(folder, detail=True):
                name = posixpath.basename(info["name"].rstrip("/"))
                if name in ("", ".", "..") or ".." in info["name"].split("/"):
                    entries.append((name, "unreadable", "outside_landing_root"))
                else:
                    entries.append((name, "dir" if info["type"] == "directory" else "file", None))
        return sorted(entries)

    def _local_kind(self, path: str) -> tuple[str, str | None]:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            target = os.path.realpath(path)
            if os.path.commonpath([target, self.path]) != self.path:
                return "unreadable", "outside_landing_root"
            try:
                mode = os.stat(path).st_mode
            except OSError:
                return "unreadable", "broken_link"
            if stat.S_ISDIR(mode):
                return "unreadable", "linked_folder"  # walking it could loop or duplicate deliveries
        if stat.S_ISDIR(mode):
            return "dir", None
        if stat.S_ISREG(mode):
            return "file", None
        return "unreadable", "not_a_regular_file"

    def _unreadable(self, feed: str, day: dt.date | None, path: str, name: str, rule: str) -> Delivery:
        messages = {
            "outside_landing_root": "is a link that leads outside the landing root; nothing of it was read. "
            "Deliver the file itself into the folder",
            "broken_link": "is a link to nothing; deliver the file itself",
            "linked_folder": "is a link to a folder; deliver the files themselves into the date folder",
            "not_a_regular_file": "is not a regular file (a FIFO, socket or device); nothing of it was read",
        }
        return Delivery(feed, day, self._url(path), name, None, problem=(rule, f"{name!r} {messages[rule]}"),
                        readable=False)  # fmt: skip

    def _file(self, feed: str, day: dt.date | None, path: str, name: str) -> Delivery:
        file_format, compression, problem = format_of(name)
        return Delivery(feed, day, self._url(path), name, file_format, compression, problem=problem)

    def _walk(self, feed: str, day: dt.date | None, folder: str) -> Iterator[Delivery]:
        """Every file below `folder`, recursively (links are reported, never followed)."""
        for name, kind, problem in self._entries(folder):
            path = posixpath.join(folder, name)
            if kind == "dir":
                yield from self._walk(feed, day, path)
            elif kind == "unreadable":
                yield self._unreadable(feed, day, path, name, problem)
            else:
                yield self._file(feed, day, path, name)

    # -- what the loader asks for ------------------------------------------------------------------------------

    def deliveries(self, feed: str, data_date: dt.date) -> list[Delivery]:
        """Every file in <root>/<feed>/<date>/, in name order; a missing folder means nothing was delivered."""
        folder = posixpath.join(self.path, feed, data_date.isoformat())
        if not self.fs.isdir(folder):
            return []
        if self.local and os.path.islink(folder):
            name = data_date.isoformat()
            return [self._unreadable(feed, data_date, folder, name, self._local_kind(folder)[1] or "linked_folder")]
        nested = ("nested_folder", "is in a folder inside the date folder; move it up into <feed>/<YYYY-MM-DD>/")
        found = []
        for name, kind, problem in self._entries(folder):
            path = posixpath.join(folder, name)
            if kind == "dir":
                for item in self._walk(feed, data_date, path):
                    found.append(item if item.problem else _with_problem(item, nested))
            elif kind == "unreadable":
                found.append(self._unreadable(feed, data_date, path, name, problem))
            else:
                found.append(self._file(feed, data_date, path, name))
        return found

    def strays(self) -> Iterator[Delivery]:
        """Files that are in no <feed>/<YYYY-MM-DD>/ folder: under unknown folders, loose in a feed folder, or in a
        date folder whose name is not a date. Each is reported with where it should go."""
        for name, kind, problem in self._entries(self.path):
            path = posixpath.join(self.path, name)
            if kind == "unreadable":
                yield self._unreadable("unknown", None, path, name, problem)
            elif kind == "file" or name not in feeds.FEEDS:
                where = (
                    "not_in_feed_folder",
                    f"is not inside a feed folder ({', '.join(feeds.FEEDS)}); move it to <feed>/<YYYY-MM-DD>/",
                )
                if kind == "file":
                    yield _with_problem(self._file("unknown", None, path, name), where)
                else:
                    yield from (_with_problem(d, where) for d in self._walk("unknown", None, path))
            else:
                yield from self._feed_strays(name, path)

    def _feed_strays(self, feed: str, folder: str) -> Iterator[Delivery]:
        for name, kind, problem in self._entries(folder):
            path = posixpath.join(folder, name)
            if kind == "unreadable":
                if parse_date_folder(name) is None:
                    yield self._unreadable(feed, None, path, name, problem)
                continue  # a linked date folder is reported by deliveries() for its date
            if kind == "file":
                loose = ("not_in_date_folder", "lies directly in the feed folder; move it to <feed>/<YYYY-MM-DD>/")
                yield _with_problem(self._file(feed, None, path, name), loose)
            elif parse_date_folder(name) is None:
                bad_date = (
                    "invalid_date_folder",
                    f"is in the folder {name!r}, which is not a YYYY-MM-DD calendar date; move it to the folder of "
                    "its data date",
                )
                yield from (_with_problem(d, bad_date) for d in self._walk(feed, None, path))


def _with_problem(delivery: Delivery, problem: tuple[str, str]) -> Delivery:
    """The same file, rejected for where it lies (an unreadable file keeps its own, more urgent, reason)."""
    if not delivery.readable:
        return delivery
    rule, message = problem
    return Delivery(delivery.feed, delivery.data_date, delivery.url, delivery.name, delivery.file_format,
                    delivery.compression, problem=(rule, f"{delivery.name!r} {message}"))  # fmt: skip
