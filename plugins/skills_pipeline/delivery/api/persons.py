"""Archive documents: one person's, or a batch of them, as the last build published them."""

import json
from typing import Annotated

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import Response
from pydantic import StringConstraints

from skills_pipeline.delivery import problems, tokens
from skills_pipeline.delivery.api.access import (
    SCOPE_QUERY,
    WAREHOUSE_ERRORS,
    ApiWarehouse,
    Token,
    Warehouse,
    scope_of,
    warehouse_problem,
)
from skills_pipeline.delivery.api.http import JSON, conditional, problem
from skills_pipeline.delivery.api.schemas import BATCH_SCHEMA, DOCUMENT_SCHEMA_REF, PSEUDONYM_PATTERN

PERSONS_PATH = "/v1/persons/"
MAX_BATCH = 100
DOCUMENT_QUERY = "select document from delivery.archive_documents where person_id = %s"
BATCH_QUERY = "select person_id, document from delivery.archive_documents where person_id = any(%s)"

router = APIRouter(tags=["archive"])


async def published_document(warehouse: ApiWarehouse, grant: tokens.Grant, pseudonym: str) -> bytes | str | None:
    """One stored document, read as the token's role on the event loop. An archive or province token's lookup
    shares a statement with the other lookups of its role (delivery/lookups.py). A county token's county is a
    setting of its own transaction: the four statements (begin, the role and county, the read, commit) go out in
    one pipeline, one round trip; an error in any of them aborts the rest and the pool rolls back."""
    try:
        if grant.region_code is None:
            return await warehouse.role_lookups(grant.role).get(pseudonym)
        async with (await warehouse.scoped_pool()).connection(timeout=10) as conn, conn.pipeline() as pipeline:
            await conn.execute("begin read only")
            await conn.execute(SCOPE_QUERY, scope_of(grant))
            read = await conn.execute(DOCUMENT_QUERY, (pseudonym,))
            await conn.execute("commit")
            await pipeline.sync()
            row = await read.fetchone()
    except WAREHOUSE_ERRORS as error:
        raise warehouse_problem(error) from None
    return row[0] if row else None


@router.get(
    "/v1/persons/{pseudonym}",
    summary="one person's archive document (person-archive-1)",
    responses={
        200: {"description": "the document as last published; ETag for If-None-Match",
              "content": {JSON: {"schema": {"$ref": DOCUMENT_SCHEMA_REF}}}},
        304: {"description": "not modified: the document is the one whose ETag you sent"},
        **problems.problem_responses(401, 403, 404, 422, 503),
    },
)  # fmt: skip
async def person(
    request: Request,
    pseudonym: Annotated[str, Path(pattern=PSEUDONYM_PATTERN, description="32 lowercase hex characters")],
    grant: Token,
    warehouse: Warehouse,
) -> Response:
    # The document as published after the last build, served as stored: one indexed read, nothing decoded. A found
    # document usually never gets here: the application's hot path sends it (api/app.py).
    found = await published_document(warehouse, grant, pseudonym)
    if found is None:
        raise problem(404, f"no archive for {pseudonym} that this token may see")
    return conditional(request, found)


@router.post(
    "/v1/persons/batch",
    summary=f"up to {MAX_BATCH} persons' archive documents in one request; the pseudonyms not found (or not "
            "visible to the token) are listed under missing",
    responses={200: {"content": {JSON: {"schema": BATCH_SCHEMA}}}, **problems.problem_responses(401, 403, 422, 503)},
)  # fmt: skip
def person_batch(
    request: Request,
    grant: Token,
    warehouse: Warehouse,
    pseudonyms: Annotated[
        list[Annotated[str, StringConstraints(pattern=PSEUDONYM_PATTERN)]],
        Body(embed=True, min_length=1, max_length=MAX_BATCH, description="pseudonyms, each once"),
    ],
) -> Response:
    wanted = list(dict.fromkeys(pseudonyms))
    with warehouse.connection(grant) as conn:
        found = dict(conn.execute(BATCH_QUERY, (wanted,)).fetchall())
    body = (
        '{"documents":[' + ",".join(found[p] for p in wanted if p in found) + '],"missing":'
        + json.dumps([p for p in wanted if p not in found]) + "}"
    )  # fmt: skip
    return conditional(request, body)
