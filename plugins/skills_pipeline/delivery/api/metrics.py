"""The metrics a downstream system may read: employment and certification rates, skilled shares, the talent pool.

Each statement sits beside its route; the county a county token may see is decided by row-level security, and a
region the token does not hold is refused (access.require_region)."""

import datetime as dt
import json
from typing import Annotated

import psycopg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from skills_pipeline.delivery import problems, talent_pool
from skills_pipeline.delivery.api.access import Token, Warehouse, require_region
from skills_pipeline.delivery.api.http import JSON, conditional, plain, problem
from skills_pipeline.delivery.api.schemas import (
    EMPLOYMENT_RATE_ROW,
    MONTH_PATTERN,
    OCCUPATION_PATTERN,
    REGION_PATTERN,
    SKILLED_SHARE_ROW,
    TALENT_CURSOR_PATTERN,
    TALENT_POOL_ROW,
    rows_schema,
)

MAX_METRIC_ROWS = 5_000

router = APIRouter(tags=["metrics"])

Region = Annotated[str | None, Query(pattern=REGION_PATTERN, description="province, city or county code")]
Month = Annotated[str | None, Query(pattern=MONTH_PATTERN, description="YYYY-MM")]
Limit = Annotated[int, Query(ge=1, le=MAX_METRIC_ROWS)]
RESPONSES = {304: {"description": "not modified"}, **problems.problem_responses(401, 403, 422, 503)}


def _months(from_month: str | None, to_month: str | None) -> tuple[dt.date, dt.date]:
    first = dt.date.fromisoformat(f"{from_month}-01") if from_month else dt.date(1, 1, 1)
    last = dt.date.fromisoformat(f"{to_month}-01") if to_month else dt.date(9999, 12, 1)
    if first > last:
        raise problem(422, f"from_month {from_month} is after to_month {to_month}")
    return first, last


def _rows(conn: psycopg.Connection, sql: str, params) -> list[dict]:
    cursor = conn.execute(sql, params)
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _answer(request: Request, rows: list[dict], **more) -> Response:
    return conditional(request, json.dumps({"rows": rows, **more}, ensure_ascii=False, default=plain))


def _monthly_rows(request: Request, grant, warehouse, query: str, region, from_month, to_month, limit) -> Response:
    """A monthly metric's rows for a region and a span of months, as the token's role sees them."""
    require_region(grant, region)
    first, last = _months(from_month, to_month)
    with warehouse.connection(grant) as conn:
        rows = _rows(conn, query, {"region": region, "first": first, "last": last, "limit": limit})
    return _answer(request, rows)


EMPLOYMENT_RATES = """
select
    completion_month, breakdown as region_level, breakdown_value as region_code, employed_trainees,
    employment_rate_denominator, employment_rate, employment_rate_target, certified_trainees, completed_trainees,
    certification_rate, latest_window_end_date, as_of_date, rate_status
from metrics.trainee_outcome_rates
where
    breakdown in ('province', 'city', 'county')
    and (%(region)s::text is null or breakdown_value = %(region)s)
    and completion_month between %(first)s and %(last)s
order by completion_month, breakdown_value
limit %(limit)s
"""


@router.get(
    "/v1/metrics/employment-rates",
    summary="trainee employment and certification rates by completion month and region (001 §一), each "
    "with its as-of date and status: final once every window closed (docs/time.md)",
    responses={200: {"content": {JSON: {"schema": rows_schema(EMPLOYMENT_RATE_ROW)}}}, **RESPONSES},
)
def employment_rates(
    request: Request, grant: Token, warehouse: Warehouse, region: Region = None, from_month: Month = None,
    to_month: Month = None, limit: Limit = 1_000,
) -> Response:  # fmt: skip
    return _monthly_rows(request, grant, warehouse, EMPLOYMENT_RATES, region, from_month, to_month, limit)


SKILLED_SHARES = """
select
    employment_month, region_level, region_code, employed_persons, skilled_persons, skilled_share,
    skilled_share_target, high_skilled_persons, high_skilled_share, high_skilled_share_target
from metrics.skilled_talent_shares
where
    (%(region)s::text is null or region_code = %(region)s)
    and employment_month between %(first)s and %(last)s
order by employment_month, region_code
limit %(limit)s
"""


@router.get(
    "/v1/metrics/skilled-shares",
    summary="skilled and high-skilled shares of insured employed persons by month and region",
    responses={200: {"content": {JSON: {"schema": rows_schema(SKILLED_SHARE_ROW)}}}, **RESPONSES},
)
def skilled_shares(
    request: Request, grant: Token, warehouse: Warehouse, region: Region = None, from_month: Month = None,
    to_month: Month = None, limit: Limit = 1_000,
) -> Response:  # fmt: skip
    return _monthly_rows(request, grant, warehouse, SKILLED_SHARES, region, from_month, to_month, limit)


TALENT_POOL = f"""
select
    person_id as pseudonym, region_code, occupation_code, occupation_name, skill_rank, level_name, attained_date,
    evidence_kind, evidence_id
from metrics.high_skilled_talent_pool
where
    {talent_pool.IN_REGION}
    and (%(occupation)s::text is null or occupation_code = %(occupation)s)
    and skill_rank >= %(rank)s
    and (person_id, occupation_code) > (%(person)s, %(after_occupation)s)
order by person_id, occupation_code
limit %(limit)s
"""


@router.get(
    "/v1/talent-pool",
    summary="the high-skilled talent pool (高技能人才库, 002 §(十)): one row per person and occupation at the "
    "highest level reached, by certificate or competition promotion; filtered and paged by pseudonym and "
    "occupation (send next_after back as after)",
    responses={200: {"content": {JSON: {"schema": rows_schema(TALENT_POOL_ROW, paged=True)}}}, **RESPONSES},
)
def talent_pool(
    request: Request,
    grant: Token,
    warehouse: Warehouse,
    region: Region = None,
    occupation: Annotated[str | None, Query(pattern=OCCUPATION_PATTERN, description="D-DD-DD-DD")] = None,
    min_rank: Annotated[int, Query(ge=4, le=8, description="lowest skill rank: 4 高级工 … 8 首席技师")] = 4,
    after: Annotated[
        str | None, Query(pattern=TALENT_CURSOR_PATTERN, description="next_after of the last page")
    ] = None,
    limit: Limit = 1_000,
) -> Response:
    require_region(grant, region)
    after_person, after_occupation = after.split(":") if after else ("", "")
    with warehouse.connection(grant) as conn:
        rows = _rows(
            conn,
            TALENT_POOL,
            {"region": region, "occupation": occupation, "rank": min_rank, "person": after_person,
             "after_occupation": after_occupation, "limit": limit},
        )  # fmt: skip
    next_after = f"{rows[-1]['pseudonym']}:{rows[-1]['occupation_code']}" if len(rows) == limit else None
    return _answer(request, rows, next_after=next_after)
