"""The change feed: archives changed after a watermark, oldest first, each with its last published document."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from skills_pipeline.delivery import changes, problems
from skills_pipeline.delivery.api.access import Token, Warehouse
from skills_pipeline.delivery.api.http import JSON, conditional
from skills_pipeline.delivery.api.schemas import CHANGES_SCHEMA

MAX_CHANGES = 1_000

router = APIRouter(tags=["archive"])


@router.get(
    "/v1/changes",
    summary="archives changed after a watermark, oldest first, each with its last published document",
    responses={
        200: {"content": {JSON: {"schema": CHANGES_SCHEMA}}},
        304: {"description": "not modified: the page is the one whose ETag you sent"},
        **problems.problem_responses(401, 403, 422, 503),
    },
)  # fmt: skip
def change_feed(
    request: Request,
    grant: Token,
    warehouse: Warehouse,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="the last change_id you have read")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_CHANGES, description=f"page size, at most {MAX_CHANGES}")] = 100,
) -> Response:
    with warehouse.connection(grant) as conn:
        page = changes.documents_after(conn, after, limit)
    return conditional(request, changes.page_json(page, after))
