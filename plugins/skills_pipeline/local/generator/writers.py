"""Write one feed's file for one delivery date in the format an agency might use, with injected defects.

Every injected defect is recorded in the manifest with the rule ingestion must report for it, so tests compare
the quarantine with what was injected rather than with numbers copied from a previous run.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from skills_pipeline.feeds import Feed, Kind

# (format, encoding) choices per feed, weighted: large feeds avoid XLSX, as the agencies' exports do.
FORMAT_CHOICES = {
    "training": [(("xlsx", None), 3), (("csv", "gb18030"), 3), (("csv", "utf-8"), 2), (("csv", "utf-8-sig"), 1),
                 (("jsonl", "utf-8"), 1)],
    "social_security": [(("csv", "utf-8"), 6), (("csv", "gb18030"), 3), (("jsonl", "utf-8"), 1)],
    "employment": [(("jsonl", "utf-8"), 3), (("csv", "utf-8"), 4), (("csv", "gb18030"), 3)],
    "certificate": [(("xlsx", None), 3), (("csv", "gb18030"), 4), (("csv", "utf-8-sig"), 3)],
}  # fmt: skip
# A feed without a mix of its own (one the registry gained later) is delivered in these.
DEFAULT_FORMATS = [(("csv", "utf-8"), 4), (("csv", "gb18030"), 3), (("xlsx", None), 2), (("jsonl", "utf-8"), 1)]
RENAMED_HEADER = {"chinese": "身份证号码", "english": "id_no"}
EXTRA_COLUMN = {"chinese": "备注", "english": "remark"}


@dataclass(frozen=True)
class DefectColumns:
    """Where a feed's row defects go, read from its contract: any feed of the registry gets all that fit it."""

    resident_id: str | None  # a bad check character
    required_text: str  # left empty
    date: tuple[str, bool] | None  # an impossible date (or month: True)
    money: str | None  # a negative amount
    renamed: str  # a file whose header renames it


def defect_columns(feed: Feed) -> DefectColumns:
    key = set(feed.natural_key)
    ids = [c.name for c in feed.columns if c.kind is Kind.RESIDENT_ID]
    texts = [c.name for c in feed.columns if c.kind is Kind.TEXT and c.required and c.name not in key]
    # the event's own date: the last required one (a training's end, a certificate's issue)
    dates = [(c.name, c.kind is Kind.MONTH) for c in feed.columns if c.kind in (Kind.DATE, Kind.MONTH) and c.required]
    money = [c.name for c in feed.columns if c.kind is Kind.MONEY]
    required = [c.name for c in feed.columns if c.required and c.name not in key]
    return DefectColumns(
        resident_id=ids[0] if ids else None,
        required_text="name" if "name" in texts else texts[0],
        date=dates[-1] if dates else None,
        money=money[0] if money else None,
        renamed=ids[0] if ids else required[0],
    )


@dataclass(frozen=True)
class FileDefects:
    extra_column: bool
    renamed_column: bool
    duplicate: bool
    late: bool

    @classmethod
    def draw(cls, rng: random.Random, rates) -> FileDefects:
        return cls(
            extra_column=rng.random() < rates.extra_column_file,
            renamed_column=rng.random() < rates.renamed_column_file,
            duplicate=rng.random() < rates.duplicate_file,
            late=rng.random() < rates.late_file,
        )


class FeedFileWriter:
    def __init__(self, feed: Feed, day: dt.date, root: Path, rng: random.Random, defects: FileDefects, config):
        self.feed, self.day, self.rng, self.defects, self.config = feed, day, rng, defects, config
        choices, weights = zip(*FORMAT_CHOICES.get(feed.name, DEFAULT_FORMATS), strict=True)
        self.file_format, self.encoding = rng.choices(choices, weights)[0]
        self.header_style = "chinese" if rng.random() < 0.6 else "english"
        self.columns = list(feed.columns)
        self.defect_columns = defect_columns(feed)
        if rng.random() < 0.3:
            rng.shuffle(self.columns)  # column order is free in the contract
        header = [c.label if self.header_style == "chinese" else c.name for c in self.columns]
        if defects.renamed_column:
            # an agency's own name for a required column: the ID number's where the feed has one
            renamed = self.defect_columns.renamed
            header[[c.name for c in self.columns].index(renamed)] = (
                RENAMED_HEADER[self.header_style] if renamed == "id_number" else f"{header[0]}_old"
            )
        if defects.extra_column:
            header.append(EXTRA_COLUMN[self.header_style])
        self.header = header
        folder = root / feed.name / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        suffix = "_late" if defects.late else ""
        self.path = folder / f"{feed.name}_{day:%Y%m%d}{suffix}.{self.file_format}"
        self.rows = 0
        self.row_defects: list[tuple[int, str]] = []
        self._open()

    def _open(self) -> None:
        if self.file_format == "xlsx":
            import openpyxl

            self.workbook = openpyxl.Workbook(write_only=True)
            self.sheet = self.workbook.create_sheet(self.feed.label[:31])
            self.sheet.append(self.header)
        elif self.file_format == "csv":
            self.handle = open(self.path, "w", encoding=self.encoding, newline="")  # noqa: SIM115
            self.csv = csv.writer(self.handle)
            self.csv.writerow(self.header)
        else:
            self.handle = open(self.path, "w", encoding=self.encoding)  # noqa: SIM115

    def _values(self, row: dict) -> list:
        values = [row.get(c.name) for c in self.columns]
        if self.defects.extra_column:
            values.append(self.rng.choice(["", "复核", "补录", "系统导入"]) or None)
        if self.file_format == "xlsx":
            # Agencies' spreadsheets hold real date cells; ingestion must read those as well as text.
            for position, column in enumerate(self.columns):
                if column.kind is Kind.DATE and isinstance(values[position], str):
                    try:
                        values[position] = dt.date.fromisoformat(values[position])
                    except ValueError:
                        pass  # an injected impossible date stays text
        return values

    def _write_values(self, values: list) -> None:
        self.rows += 1
        if self.file_format == "xlsx":
            self.sheet.append(values)
        elif self.file_format == "csv":
            self.csv.writerow(["" if v is None else v for v in values])
        else:
            self.handle.write(json.dumps(dict(zip(self.header, values, strict=True)), ensure_ascii=False) + "\n")

    def write(self, row: dict) -> None:
        row, expected_rule = self._inject(dict(row))
        self._write_values(self._values(row))
        if expected_rule:
            self.row_defects.append((self.rows, expected_rule))
        elif self.rng.random() < self.config.defects.duplicate_row:
            self._write_values(self._values(row))
            self.row_defects.append((self.rows, "natural_key:duplicate_in_file"))

    def _inject(self, row: dict) -> tuple[dict, str | None]:
        """At most one row defect, so each defective row has exactly one expected rule."""
        rates = self.config.defects
        roll = self.rng.random()
        threshold = rates.bad_check_character
        columns = self.defect_columns
        if roll < threshold and columns.resident_id:
            column = columns.resident_id
            digits = "0123456789X".replace(row[column][-1], "")
            row[column] = row[column][:-1] + self.rng.choice(digits)
            return row, f"{column}:check_character"
        threshold += rates.missing_required
        if roll < threshold:
            row[columns.required_text] = None
            return row, f"{columns.required_text}:required"
        threshold += rates.impossible_date
        if roll < threshold and columns.date:
            column, is_month = columns.date
            year = self.day.year
            row[column] = f"{year}13" if is_month else f"{year}-02-30"
            return row, f"{column}:{'month_format' if is_month else 'impossible_date'}"
        threshold += rates.negative_money
        column = columns.money
        if roll < threshold and column and row.get(column):
            row[column] = "-" + row[column]
            return row, f"{column}:negative"
        return row, None

    def close(self) -> dict:
        if self.file_format == "xlsx":
            self.workbook.save(self.path)
        else:
            self.handle.close()
        entry = {
            "feed": self.feed.name,
            "data_date": self.day.isoformat(),
            "path": str(self.path),
            "format": self.file_format,
            "encoding": self.encoding,
            "header_style": self.header_style,
            "rows": self.rows,
            "late": self.defects.late,
            "extra_column": self.defects.extra_column,
            "expected_rejection": "missing_required_column" if self.defects.renamed_column else None,
            "row_defects": [{"row": number, "rule": rule} for number, rule in self.row_defects],
            "duplicate_delivery": None,
        }
        if self.defects.duplicate:
            copy = self.path.with_name(f"{self.path.stem}_resent{self.path.suffix}")
            shutil.copyfile(self.path, copy)
            entry["duplicate_delivery"] = str(copy)
        return entry
