"""The archive document's JSON Schema as Arrow types: Parquet deliveries with typed, nested columns.

Derived from person-archive-1.schema.json, never written twice: an object is a struct of its declared properties,
an array a list, a date a date32, a date-time a UTC timestamp, an amount in yuan (the schema's `yuan`, a decimal
written as text so that JSON keeps every fen) a decimal128(14, 2) — the warehouse's money type — and a nullable
type a nullable column. A property the schema does not declare (schema 1 admits added fields) is left out of the
typed columns; the document's JSON text beside them carries everything.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa

MONEY = pa.decimal128(14, 2)
YUAN_DEF = "yuan"


def _resolve(node: dict, definitions: dict) -> tuple[dict, str | None]:
    """The node behind a $ref (and the definition's name), or the node itself."""
    reference = node.get("$ref")
    if reference:
        name = reference.rsplit("/", 1)[-1]
        return definitions[name], name
    return node, None


def _base_type(node: dict) -> str:
    kinds = node.get("type")
    if isinstance(kinds, list):
        kinds = [kind for kind in kinds if kind != "null"]
        if len(kinds) != 1:
            raise ValueError(f"no single Arrow type for the JSON types {node.get('type')}")
        return kinds[0]
    if kinds is None and "properties" in node:
        return "object"
    if kinds is None and "const" in node:  # schema_version: a constant's JSON type
        return {str: "string", bool: "boolean", int: "integer", float: "number"}[type(node["const"])]
    if kinds is None and "enum" in node:
        return "string"
    if kinds is None:
        raise ValueError(f"a schema node without a type: {sorted(node)}")
    return kinds


def arrow_type(node: dict, definitions: dict) -> pa.DataType:
    node, name = _resolve(node, definitions)
    if name == YUAN_DEF:
        return MONEY
    kind = _base_type(node)
    if kind == "object":
        return pa.struct([
            pa.field(key, arrow_type(child, definitions), nullable=True)
            for key, child in node.get("properties", {}).items()
        ])  # fmt: skip
    if kind == "array":
        return pa.list_(arrow_type(node["items"], definitions))
    if kind == "string":
        return {"date": pa.date32(), "date-time": pa.timestamp("us", tz="UTC")}.get(node.get("format"), pa.string())
    return {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}[kind]


def arrow_value(node: dict, value, definitions: dict):
    """A JSON value as the Python value pyarrow takes for arrow_type(node)."""
    if value is None:
        return None
    node, name = _resolve(node, definitions)
    if name == YUAN_DEF:
        return Decimal(value)
    kind = _base_type(node)
    if kind == "object":
        return {
            key: arrow_value(child, value.get(key), definitions) for key, child in node.get("properties", {}).items()
        }
    if kind == "array":
        return [arrow_value(node["items"], item, definitions) for item in value]
    if kind == "string" and node.get("format") == "date":
        return dt.date.fromisoformat(value)
    if kind == "string" and node.get("format") == "date-time":
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def document_fields(schema: dict) -> list[pa.Field]:
    """One typed column per top-level property of the document."""
    definitions = schema.get("$defs", {})
    return [pa.field(key, arrow_type(node, definitions), nullable=True) for key, node in schema["properties"].items()]


def document_row(schema: dict, document: dict) -> dict:
    definitions = schema.get("$defs", {})
    return {key: arrow_value(node, document.get(key), definitions) for key, node in schema["properties"].items()}
