"""Liveness: the process answers, the warehouse with it, and how far behind the warehouse is when it is a replica."""

from fastapi import APIRouter

from skills_pipeline.delivery import problems
from skills_pipeline.delivery.api.access import Warehouse
from skills_pipeline.delivery.api.http import JSON
from skills_pipeline.delivery.api.schemas import HEALTH_SCHEMA

router = APIRouter(tags=["operations"])

# Measured on the server the API reads. On a hot standby (docs/scaling.md): caught up (everything received is
# replayed) is a lag of 0, however long the primary has been idle; otherwise the age of the last replayed
# transaction, an upper bound of how stale an answer may be; and the WAL received but not yet replayed.
REPLICATION_QUERY = """
select
    pg_is_in_recovery() as is_standby,
    case
        when not pg_is_in_recovery() then null
        when pg_last_wal_receive_lsn() is not null and pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() then 0.0
        else coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp())::float8, 0.0)
    end as replay_lag_seconds,
    case
        when pg_is_in_recovery()
            then greatest(coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0), 0)::bigint
    end as unreplayed_bytes
"""


@router.get(
    "/healthz",
    summary="liveness and warehouse reachability; on a replica, its replication lag",
    responses={200: {"content": {JSON: {"schema": HEALTH_SCHEMA}}}, **problems.problem_responses(503)},
)
def healthz(warehouse: Warehouse) -> dict:
    with warehouse.connection(None) as conn:
        is_standby, lag_seconds, unreplayed = conn.execute(REPLICATION_QUERY).fetchone()
    if not is_standby:
        return {"status": "ok", "warehouse": "primary"}
    return {
        "status": "ok",
        "warehouse": "standby",
        "replay_lag_seconds": round(lag_seconds, 3),
        "unreplayed_bytes": unreplayed,
    }
