"""Reads past one machine: the read API served by a hot standby that streams from the warehouse.

A primary of its own (the embedded PostgreSQL 16 in a temporary folder, so the test needs no replication rights on
the suite's warehouse), a standby copied from it with pg_basebackup and started with pg_ctl
(skills_pipeline.local.replica), and the API pointed at the standby: it serves what the primary published, reports
its replication lag, and sees a document published after it started once the WAL is replayed.
"""

from __future__ import annotations

import hashlib
import json

import psycopg
import pytest
from fastapi.testclient import TestClient

from skills_pipeline import settings, warehouse
from skills_pipeline.delivery import api, tokens
from skills_pipeline.local.replica import Standby

pytestmark = pytest.mark.integration


def publish(conn: psycopg.Connection, person_id: str, region: str = "141125") -> None:
    document = json.dumps({"schema_version": "1", "person": {"pseudonym": person_id}})
    conn.execute(
        "insert into delivery.archive_documents (person_id, region_code, document_sha256, document, published_at) "
        "values (%s, %s, %s, %s, now())",
        (person_id, region, hashlib.sha256(document.encode()).hexdigest(), document),
    )


@pytest.fixture(scope="module")
def replicated(tmp_path_factory):
    import pgserver

    root = tmp_path_factory.mktemp("replica")
    primary = pgserver.get_server(root / "primary", cleanup_mode="stop")
    primary_url = primary.get_uri()
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv(settings.WAREHOUSE_URL_ENV, primary_url)
    try:
        warehouse.apply_roles()  # the migrations, the roles and their grants: what the API's queries need
        with psycopg.connect(primary_url, autocommit=True) as conn:
            publish(conn, "a" * 32)
            _, token = tokens.issue(conn, "replica test", "archive")
        standby = Standby.start(primary_url, root / "standby")
        try:
            yield primary_url, standby, token
        finally:
            standby.stop()
    finally:
        monkeypatch.undo()
        primary.cleanup()


def test_the_api_reads_a_hot_standby_and_reports_its_lag(replicated):
    primary_url, standby, token = replicated
    standby.wait_for_primary()
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(api.create_app(standby.url, pool_size=2)) as client:
        health = client.get("/healthz").json()
        assert health == {"status": "ok", "warehouse": "standby", "replay_lag_seconds": 0.0, "unreplayed_bytes": 0}
        served = client.get(f"/v1/persons/{'a' * 32}", headers=headers)
        assert served.status_code == 200 and served.json()["person"]["pseudonym"] == "a" * 32

        # Published on the primary after the standby started: streamed, replayed, then served by the standby.
        with psycopg.connect(primary_url, autocommit=True) as conn:
            publish(conn, "b" * 32)
        seconds = standby.wait_for_primary()
        assert seconds < 30
        assert client.get(f"/v1/persons/{'b' * 32}", headers=headers).status_code == 200


def test_the_standby_is_read_only(replicated):
    """Nothing can be written through the replica: loads, builds and settlement stay on the primary."""
    _, standby, _ = replicated
    with psycopg.connect(standby.url, autocommit=True) as conn:
        assert conn.execute("select pg_is_in_recovery()").fetchone()[0]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            publish(conn, "c" * 32)
