"""Liveness: the process answers and the warehouse with it."""

from fastapi import APIRouter

from skills_pipeline.delivery import problems
from skills_pipeline.delivery.api.access import Warehouse
from skills_pipeline.delivery.api.http import JSON
from skills_pipeline.delivery.api.schemas import HEALTH_SCHEMA

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    summary="liveness and warehouse reachability",
    responses={200: {"content": {JSON: {"schema": HEALTH_SCHEMA}}}, **problems.problem_responses(503)},
)
def healthz(warehouse: Warehouse) -> dict:
    with warehouse.connection(None) as conn:
        conn.execute("select 1")
    return {"status": "ok"}
