"""Targets a bureau sets for the years and regions the policy documents do not cover, imported from a CSV it edits.

The documents' own targets are the dbt seed `targets` (each citing its clause) and are never overridden: a row that
overlaps one is refused. Every row is checked as a feed's rows are (region, indicator, dates, value, scope, source)
and a file with any bad row imports nothing; each error names the file, the line, the rule and the fix. An accepted
file replaces the rows it names (keyed by region, indicator and period start), so importing it again changes
nothing. The marts read the imports through int_targets__in_force at the next build (docs/targets.md).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import psycopg

from skills_pipeline.reports.labels import INDICATORS, RATE_INDICATORS

COLUMNS = ("region_code", "indicator", "period_start", "period_end", "target_value", "program_types", "source")
CHINESE_HEADERS = {
    "地区代码": "region_code",
    "行政区划代码": "region_code",
    "指标": "indicator",
    "起始日期": "period_start",
    "截止日期": "period_end",
    "目标值": "target_value",
    "培训类型范围": "program_types",
    "依据": "source",
}
REQUIRED = ("region_code", "indicator", "period_start", "period_end", "target_value", "source")
SHARE_INDICATORS = {"caregiver_certified_share", *RATE_INDICATORS}


class TargetError(ValueError):
    """A targets request that cannot be honoured; the message says what to do."""


class TargetImportError(TargetError):
    """A targets file that cannot be imported; the message lists every problem with its line and fix."""


@dataclass(frozen=True)
class ImportResult:
    rows: int
    replaced: int
    sha256: str


def _read(path: Path) -> tuple[list[dict[str, str]], str]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise TargetImportError(f"{path}: neither UTF-8 nor GB18030 text; save it as CSV (UTF-8)")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise TargetImportError(f"{path}: empty file; the first line must be the header ({', '.join(COLUMNS)})")
    names = [CHINESE_HEADERS.get(cell.strip(), cell.strip()) for cell in header]
    missing = [column for column in REQUIRED if column not in names]
    if missing:
        raise TargetImportError(
            f"{path}: header lacks {', '.join(missing)}; the columns are {', '.join(COLUMNS)} "
            "(or their Chinese labels), program_types optional"
        )
    rows = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            rows.append({})
            continue
        rows.append({name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(names)})
    return rows, hashlib.sha256(raw).hexdigest()


def _date(text: str) -> dt.date:
    cleaned = text.replace("/", "-")
    if re.fullmatch(r"\d{8}", cleaned):
        cleaned = f"{cleaned[:4]}-{cleaned[4:6]}-{cleaned[6:]}"
    return dt.date.fromisoformat(cleaned)


def _seed(name: str) -> list[dict[str, str]]:
    """A dbt seed's rows, read from the project (the warehouse may not hold the seeds before its first build)."""
    from skills_pipeline import dbt_build

    with (dbt_build.project_dir() / "seeds" / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def check(path: Path) -> tuple[list[dict], list[str], str]:
    """The file's rows as they would be stored, and every problem found (empty when it may be imported)."""
    rows, digest = _read(path)
    regions = {r["region_code"] for r in _seed("regions")}
    programmes = {r["program_type"] for r in _seed("program_types")}
    documented = [
        (r["region_code"], r["indicator"], dt.date.fromisoformat(r["period_start"]),
         dt.date.fromisoformat(r["period_end"]), r["source"])
        for r in _seed("targets")
    ]  # fmt: skip
    known = set(INDICATORS) | set(RATE_INDICATORS)
    problems: list[str] = []
    accepted: list[dict] = []
    seen: dict[tuple, int] = {}
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        where = f"{path.name} line {line}"
        errors = []
        region = row.get("region_code", "")
        if not re.fullmatch(r"14\d{4}", region):
            errors.append(f"region_code {region!r}: not a Shanxi division code (6 digits starting 14)")
        elif region not in regions:
            errors.append(f"region_code {region}: not in the regions seed; use a current division code")
        indicator = row.get("indicator", "")
        if indicator not in known:
            errors.append(f"indicator {indicator!r}: unknown; choose one of {', '.join(sorted(known))}")
        try:
            start, end = _date(row.get("period_start", "")), _date(row.get("period_end", ""))
            if end < start:
                errors.append(f"period_end {end} is before period_start {start}")
        except ValueError:
            start = end = None
            errors.append("period_start/period_end: write dates as YYYY-MM-DD")
        try:
            value = Decimal(row.get("target_value", ""))
            if not value.is_finite() or value < 0:
                raise InvalidOperation
            if indicator in SHARE_INDICATORS and value > 1:
                errors.append(f"target_value {value}: {indicator} is a share; write 32% as 0.32")
        except InvalidOperation:
            value = None
            errors.append(f"target_value {row.get('target_value', '')!r}: a number of 0 or more (a share as 0.32)")
        scope = [part.strip() for part in row.get("program_types", "").split("|") if part.strip()]
        unknown = [part for part in scope if part not in programmes]
        if unknown:
            errors.append(f"program_types {', '.join(unknown)}: unknown programme types; separate known ones by |")
        if not row.get("source", ""):
            errors.append("source: say who set the target and where (document number and clause, or the decision)")
        if start and end and not errors:
            clash = next(
                (d for d in documented if d[0] == region and d[1] == indicator and d[2] <= end and start <= d[3]),
                None,
            )
            if clash:
                errors.append(
                    f"the policy documents set {indicator} for {region} from {clash[2]} to {clash[3]} ({clash[4]}); "
                    "an import may only add targets the documents do not set"
                )
            key = (region, indicator, start)
            if key in seen:
                errors.append(f"repeats line {seen[key]} (same region, indicator and period start)")
            seen[key] = line
        if errors:
            problems.extend(f"{where}: {error}" for error in errors)
            continue
        accepted.append(
            {"region_code": region, "indicator": indicator, "period_start": start, "period_end": end,
             "target_value": value, "program_types": "|".join(scope), "source": row["source"]}
        )  # fmt: skip
    if not accepted and not problems:
        problems.append(f"{path.name}: no target rows under the header")
    return accepted, problems, digest


def import_file(conn: psycopg.Connection, path: str | Path, dry_run: bool = False) -> ImportResult:
    """Check the file and, when every row passes, store its rows in ingest.imported_targets in one transaction."""
    path = Path(path)
    if not path.is_file():
        raise TargetImportError(f"{path}: no such file")
    with conn.transaction():
        rows, problems, digest = check(path)
        if problems:
            raise TargetImportError(
                f"{path}: nothing imported, {len(problems)} problem(s):\n  " + "\n  ".join(problems)
            )
        if dry_run:
            return ImportResult(len(rows), 0, digest)
        replaced = 0
        for row in rows:
            replaced += conn.execute(
                "delete from ingest.imported_targets where region_code = %s and indicator = %s and period_start = %s",
                (row["region_code"], row["indicator"], row["period_start"]),
            ).rowcount
            conn.execute(
                "insert into ingest.imported_targets (region_code, indicator, period_start, period_end, target_value, "
                "program_types, source, file_name, file_sha256) values (%(region_code)s, %(indicator)s, "
                "%(period_start)s, %(period_end)s, %(target_value)s, %(program_types)s, %(source)s, %(file)s, "
                "%(sha)s)",
                {**row, "file": path.name, "sha": digest},
            )
    return ImportResult(len(rows), replaced, digest)
