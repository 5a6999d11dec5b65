"""One person's archive as a versioned JSON document (person-archive-1.schema.json, docs/archive-document.md).

Built from archive.persons, whose timeline column is the one home of a person's events (dbt's persons model
aggregates archive.person_events into it, in date order), and, for the subsidies, from the lines of approved
settlement runs (payments): what was actually approved for payment, not today's computation (adjustment
and reversal lines included, so the amounts of a claim add up to what was paid). Trainings
and certificates are shaped as achievements with an alignment to the occupation code, an issuer and a status, so a
consumer can map them onto Open Badges 3.0 / CLR 2.0 field by field. No ID number or name: the person is the
pseudonym the marts already use.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from decimal import Decimal
from functools import cache
from importlib import resources

import psycopg

SCHEMA_VERSION = "1"
SCHEMA_FILE = f"person-archive-{SCHEMA_VERSION}.schema.json"
OCCUPATION_FRAMEWORK = "中华人民共和国职业分类大典"
# An achievement type per certificate type, in Open Badges 3.0's vocabulary: a vocational qualification licenses.
ACHIEVEMENT_TYPES = {"qualification": "License", "skill_level": "Certificate", "special_ability": "Certificate"}
EMPLOYMENT_REGISTRATIONS = ("employment", "flexible_employment", "entrepreneurship")
# Where each column of the archive.persons contract lands in the document (a test holds the two together).
PERSONS_COLUMNS = {
    "person_id": ("person", "pseudonym"),
    "birth_year": ("person", "birth_year"),
    "gender": ("person", "gender"),
    "home_region_code": ("person", "region_code"),
    "highest_skill_rank": ("highest_skill", "rank"),
    "highest_skill_level": ("highest_skill", "name"),
    "is_high_skilled": ("is_high_skilled",),
}
CHUNK = 2_000  # persons per round of queries: memory stays flat whatever the archive's size


@cache
def schema() -> dict:
    return json.loads(resources.files("skills_pipeline.delivery").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


def _level(rank: int | None, names: dict[int, str]) -> dict:
    return {"rank": rank, "name": names.get(rank) if rank is not None else None}


def _date(value: str | dt.date | None) -> str | None:
    return value.isoformat() if isinstance(value, dt.date) else value


def _training(event: dict, levels: dict[int, str]) -> dict:
    details = event["details"]
    return {
        "id": event["event_id"],
        "achievement_type": "Course",
        "institution": {"id": details.get("institution_code"), "name": details.get("institution_name")},
        "program_type": details.get("program_type"),
        "trainee_category": details.get("trainee_category"),
        "alignment": {
            "target_framework": OCCUPATION_FRAMEWORK,
            "target_code": details.get("occupation_code"),
            "target_name": details.get("occupation_name"),
        },
        "level": _level(details.get("skill_rank"), levels),
        "start_date": _date(event["event_date"]),
        "end_date": _date(event["end_date"]),
        "days": details.get("training_days"),
        "completion_status": details.get("completion_status"),
        "region_code": event["region_code"],
    }


def _certificate(event: dict, levels: dict[int, str]) -> dict:
    details = event["details"]
    return {
        "id": event["event_id"],
        "achievement_type": ACHIEVEMENT_TYPES.get(details.get("certificate_type"), "Certificate"),
        "certificate_type": details.get("certificate_type"),
        "alignment": {
            "target_framework": OCCUPATION_FRAMEWORK,
            "target_code": details.get("occupation_code"),
            "target_name": details.get("occupation_name"),
        },
        "level": _level(details.get("skill_rank"), levels),
        "issuer": {"id": details.get("issuer_code"), "name": details.get("issuer_name")},
        "valid_from": _date(event["event_date"]),
        "status": "revoked" if details.get("status") == "revoked" else "valid",
        "region_code": event["region_code"],
    }


def _competition(event: dict, levels: dict[int, str]) -> dict:
    details = event["details"]
    return {
        "id": event["event_id"],
        "competition_name": details.get("competition_name"),
        "tier": details.get("tier"),
        "alignment": {
            "target_framework": OCCUPATION_FRAMEWORK,
            "target_code": details.get("occupation_code"),
            "target_name": details.get("occupation_name"),
        },
        "award": details.get("award"),
        "place": details.get("place"),
        "honour": details.get("honour"),
        "promoted_level": _level(details.get("promoted_skill_rank"), levels),
        "award_date": _date(event["event_date"]),
        "region_code": event["region_code"],
    }


def _spell(event: dict) -> dict | None:
    details = event["details"]
    if event["event_type"] == "employment_spell":
        return {
            "id": event["event_id"],
            "evidence": "contribution",
            "employer_code": details.get("employer_code"),
            "start_date": _date(event["event_date"]),
            "end_date": _date(event["end_date"]),
            "months": details.get("months"),
            "region_code": event["region_code"],
        }
    if details.get("event_type") not in EMPLOYMENT_REGISTRATIONS:
        return None  # unemployment and the end of a job are in the timeline, not employment
    return {
        "id": event["event_id"],
        "evidence": "registration",
        "employer_code": details.get("employer_code"),
        "start_date": _date(event["event_date"]),
        # the date of the registration that ended it (unemployment, or the end of that job); null while it stands
        "end_date": _date(event["end_date"]),
        "months": None,
        "registration_type": details.get("event_type"),
        "region_code": event["region_code"],
    }


def _subsidy(line: tuple) -> dict:
    claim, kind, rule_id, rule_version, clause, amount, payee_kind, run_id, line_type, settled_on = line
    return {
        "claim": claim,
        "kind": kind,
        "rule_id": rule_id,
        "rule_version": rule_version,
        "source_clause": clause,
        "amount_yuan": f"{Decimal(amount):.2f}",
        "payee_kind": payee_kind,
        "run_id": run_id,
        "line_type": line_type,
        "settlement_date": _date(settled_on),
    }


def _chunks(conn: psycopg.Connection, person_ids: Iterable[str] | None) -> Iterator[list[str]]:
    if person_ids is not None:
        wanted = sorted(set(person_ids))
        for start in range(0, len(wanted), CHUNK):
            yield wanted[start : start + CHUNK]
        return
    last = ""
    while True:
        chunk = [
            row[0]
            for row in conn.execute(
                "select person_id from archive.persons where person_id > %s order by person_id limit %s", (last, CHUNK)
            )
        ]
        if not chunk:
            return
        yield chunk
        last = chunk[-1]


SKILL_LEVELS_QUERY = "select skill_rank, level_name from reference.skill_levels"


def skill_level_names(conn: psycopg.Connection) -> dict[int, str]:
    return dict(conn.execute(SKILL_LEVELS_QUERY).fetchall())


# The two queries of a set of persons (a list of pseudonyms as the one parameter), each ordered by person.
PERSONS_QUERY = (
    "select person_id, birth_year, gender, home_region_code, highest_skill_rank, is_high_skilled, "
    "timeline -> 'events' from archive.persons where person_id = any(%s) order by person_id"
)
# What approved settlement runs paid: adjustment and reversal lines included, so a claim's amounts add up.
SUBSIDIES_QUERY = (
    "select l.person_id, l.line_key, l.line_kind, l.rule_id, l.rule_version, l.source_clause, l.amount_yuan, "
    "l.payee_kind, l.run_id, l.line_type, l.settlement_date "
    "from payments.settlement_run_lines as l join payments.settlement_runs as r using (run_id) "
    "where r.status = 'approved' and l.amount_yuan <> 0 "
    "and l.person_id = any(%s) order by l.person_id, l.run_id, l.line_key"
)


def document_chunks(
    conn: psycopg.Connection, person_ids: Iterable[str] | None = None, as_of: dt.datetime | None = None
) -> Iterator[list[dict]]:
    """The archive documents of the given persons (every archived person if None), ordered by pseudonym, a list of
    up to CHUNK at a time. A person not in the archive (or not visible to the connection's role) is left out."""
    stamp = (as_of or dt.datetime.now(dt.UTC)).isoformat()
    levels = skill_level_names(conn)
    for chunk in _chunks(conn, person_ids):
        rows = [conn.execute(query, (chunk,)).fetchall() for query in (PERSONS_QUERY, SUBSIDIES_QUERY)]
        yield list(assemble(*rows, levels=levels, stamp=stamp))


def documents(
    conn: psycopg.Connection, person_ids: Iterable[str] | None = None, as_of: dt.datetime | None = None
) -> Iterator[dict]:
    """document_chunks(), one document at a time."""
    for chunk in document_chunks(conn, person_ids, as_of):
        yield from chunk


def assemble(persons: list, subsidies: list, levels: dict[int, str], stamp: str) -> Iterator[dict]:
    """The documents of the rows of the two queries (tuples in their column order), in the persons' order. A
    timeline event carries event_id, event_type, event_date, end_date (ISO dates), region_code and details."""
    paid: dict[str, list[dict]] = defaultdict(list)
    for person_id, *line in subsidies:
        paid[person_id].append(_subsidy(tuple(line)))
    for person_id, birth_year, gender, region, rank, high_skilled, timeline in persons:
        own = timeline or []
        yield {
            "schema_version": SCHEMA_VERSION,
            "person": {"pseudonym": person_id, "birth_year": birth_year, "gender": gender, "region_code": region},
            "highest_skill": _level(rank, levels),
            "is_high_skilled": high_skilled,
            "trainings": [_training(e, levels) for e in own if e["event_type"] == "training"],
            "certificates": [_certificate(e, levels) for e in own if e["event_type"] == "certificate"],
            "employment_spells": [
                spell
                for e in own
                if e["event_type"] in ("employment_spell", "registration") and (spell := _spell(e)) is not None
            ],
            "subsidies": paid.get(person_id, []),
            "competitions": [_competition(e, levels) for e in own if e["event_type"] == "competition"],
            "as_of": stamp,
        }


def validator():
    """A JSON Schema validator of the document (jsonschema, which Airflow and dbt already install)."""
    import jsonschema

    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    return jsonschema.Draft202012Validator(schema(), format_checker=checker)
