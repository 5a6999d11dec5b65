"""The OpenAPI side of the API: parameter patterns, response schemas, and the archive document's JSON Schema."""

import json

from skills_pipeline.delivery import documents

PSEUDONYM_PATTERN = r"^[0-9a-f]{32}$"
# [0-9], not \d: \d also matches other scripts' digits, which no date or region code is written in
MONTH_PATTERN = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$"
REGION_PATTERN = r"^14[0-9]{4}$"
OCCUPATION_PATTERN = r"^[0-9]-[0-9]{2}-[0-9]{2}-[0-9]{2}$"
TALENT_CURSOR_PATTERN = r"^[0-9a-f]{32}:[0-9]-[0-9]{2}-[0-9]{2}-[0-9]{2}$"
DOCUMENT_SCHEMA_REF = "#/components/schemas/PersonArchive"

HEALTH_SCHEMA = {
    "type": "object", "required": ["status", "warehouse"],
    "properties": {
        "status": {"const": "ok"},
        "warehouse": {"type": "string", "enum": ["primary", "standby"],
                      "description": "whether the API reads the primary or a hot standby (docs/scaling.md)"},
        "replay_lag_seconds": {"type": "number", "minimum": 0,
                               "description": "standby only: 0 when caught up, else the last replayed change's age"},
        "unreplayed_bytes": {"type": "integer", "minimum": 0,
                             "description": "standby only: WAL received from the primary, not yet replayed"},
    },
}  # fmt: skip
BATCH_SCHEMA = {
    "type": "object", "required": ["documents", "missing"],
    "properties": {
        "documents": {"type": "array", "items": {"$ref": DOCUMENT_SCHEMA_REF}},
        "missing": {"type": "array", "items": {"type": "string"}, "description": "not found or not visible"},
    },
}  # fmt: skip
CHANGES_SCHEMA = {
    "type": "object", "required": ["changes", "next_after"],
    "properties": {
        "changes": {"type": "array", "items": {
            "type": "object", "required": ["change_id", "pseudonym", "document"],
            "properties": {
                "change_id": {"type": "integer"},
                "pseudonym": {"type": "string"},
                "document": {"anyOf": [{"$ref": DOCUMENT_SCHEMA_REF}, {"type": "null"}]},
            },
        }},
        "next_after": {"type": "integer", "description": "send as `after` to get the next page"},
    },
}  # fmt: skip
_DATE = {"type": "string", "format": "date"}
_COUNT = {"type": "integer", "minimum": 0}
_SHARE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_TEXT = {"type": "string"}
_MAYBE_TEXT = {"type": ["string", "null"]}
_REGION = {"type": "string", "pattern": REGION_PATTERN}
_REGION_LEVEL = {"type": "string", "enum": ["province", "city", "county"]}
# Each metric row, column by column (the marts' columns; docs/archive-and-metrics.md describes them).
EMPLOYMENT_RATE_ROW = {
    "completion_month": _DATE, "region_level": _REGION_LEVEL, "region_code": _REGION,
    "employed_trainees": _COUNT, "employment_rate_denominator": _COUNT, "employment_rate": _SHARE,
    "employment_rate_target": _SHARE, "certified_trainees": _COUNT, "completed_trainees": _COUNT,
    "certification_rate": _SHARE, "latest_window_end_date": {"type": ["string", "null"], "format": "date"},
    "as_of_date": _DATE,
    "rate_status": {"type": "string", "enum": ["final", "provisional"]},
}  # fmt: skip
SKILLED_SHARE_ROW = {
    "employment_month": _DATE, "region_level": _REGION_LEVEL, "region_code": _REGION, "employed_persons": _COUNT,
    "skilled_persons": _COUNT, "skilled_share": _SHARE, "skilled_share_target": _SHARE,
    "high_skilled_persons": _COUNT, "high_skilled_share": _SHARE, "high_skilled_share_target": _SHARE,
}  # fmt: skip
TALENT_POOL_ROW = {
    "pseudonym": {"type": "string", "pattern": PSEUDONYM_PATTERN}, "region_code": _MAYBE_TEXT,
    "occupation_code": {"type": "string", "pattern": OCCUPATION_PATTERN}, "occupation_name": _MAYBE_TEXT,
    "skill_rank": {"type": "integer", "minimum": 4, "maximum": 8}, "level_name": _MAYBE_TEXT, "attained_date": _DATE,
    "evidence_kind": {"type": "string", "enum": ["certificate", "competition"]}, "evidence_id": _TEXT,
}  # fmt: skip


def rows_schema(columns: dict, paged: bool = False) -> dict:
    row = {"type": "object", "required": list(columns), "properties": columns}
    schema = {"type": "object", "required": ["rows"], "properties": {"rows": {"type": "array", "items": row}}}
    if paged:
        schema["required"].append("next_after")
        schema["properties"]["next_after"] = {
            "type": ["string", "null"],
            "description": "send as `after` for the next page; null on the last",
        }
    return schema


def document_components() -> dict:
    """The archive document's JSON Schema as OpenAPI components ($defs moved under components/schemas)."""
    schema = json.loads(json.dumps(documents.schema()))
    text = json.dumps(schema).replace('"#/$defs/', '"#/components/schemas/PersonArchive_')
    schema = json.loads(text)
    definitions = schema.pop("$defs", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    components = {f"PersonArchive_{name}": value for name, value in definitions.items()}
    components["PersonArchive"] = schema
    return components
