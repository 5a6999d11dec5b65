"""Archive delivery on real PostgreSQL: signed exports a consumer verifies, and the read API with tokens whose county
scope the database enforces (two counties' people, built by dbt as in production)."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
import re
import shutil
import time

import psycopg
import pytest
from fastapi.testclient import TestClient
from schemathesis.specs.openapi.checks import positive_data_acceptance

from helpers import INSTITUTION, LIULIN, YAODU, county_person, two_county_deliveries, write_csv
from skills_pipeline import cli, dbt_build, feeds
from skills_pipeline.delivery import api, changes, documents, exports, lookups, signing, tokens
from skills_pipeline.ingest import loader, pseudonyms

pytestmark = pytest.mark.integration


def _import_schemathesis_whole() -> None:
    """Every schemathesis module imported at collection, not lazily inside the test. pytest rewrites the modules of
    a pytest plugin (schemathesis is one) when they are first imported, and CPython 3.11.7's parser fails with
    "AST constructor recursion depth mismatch" when that happens deep in this module's run (CI saw it twice, on
    different modules)."""
    import importlib
    import pkgutil

    import schemathesis

    for module in pkgutil.walk_packages(schemathesis.__path__, "schemathesis."):
        try:
            importlib.import_module(module.name)
        except ImportError:  # optional integrations (allure) that are not installed
            pass


_import_schemathesis_whole()

DAY = dt.date(2026, 6, 1)


@pytest.fixture(scope="module")
def archived(warehouse_url, tmp_path_factory):
    """Two counties' people ingested, built and recorded in the change feed once for the module."""
    root = tmp_path_factory.mktemp("delivery_landing")
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(
            "drop schema if exists raw, ingest, scratch, vault, pseudonymised, payments, delivery, staging, "
            "intermediate, archive, metrics, settlement, reference cascade"
        )
    from skills_pipeline import warehouse

    warehouse.apply_roles()  # the delivery tables' grants and policies need the migrations first
    two_county_deliveries(root)
    # Three competition winners promoted to a high-skilled level: one in Liulin, two in Yaodu (the talent pool).
    write_csv(root, "competition", [
        {"award_id": f"JS-{county}-{n}", "competition_name": "2026年养老护理职业技能竞赛", "tier": "city",
         "occupation_code": "4-10-01-05", "id_number": county_person(county, n), "name": f"学员{n}号",
         "award": "一等奖", "place": "1", "honour": "", "promoted_level": level, "award_date": "2026-05-01",
         "region_code": county,
         "updated_at": "2026-05-01 10:00:00"}
        for county, n, level in ((LIULIN, 2, "高级工"), (YAODU, 2, "高级工"), (YAODU, 3, "技师"))
    ])  # fmt: skip
    for feed in feeds.FEEDS:
        loader.ingest(feed, DAY, landing_root=str(root))
    dbt_build.export_profile_env(warehouse_url)
    dbt_build.run("build", "--quiet")
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        changes.record_changes(conn)
        yield conn, root


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory):
    path = tmp_path_factory.mktemp("keys") / "signing.pem"
    path.write_bytes(signing.new_private_key_pem())
    public = path.with_name("public.pem")
    key = signing.private_key_from_pem(path.read_bytes())
    public.write_bytes(signing.public_key_pem(key))
    return key, path, public


def pseudonym_of(county: str, n: int) -> str:
    return pseudonyms.load_key().person_id(county_person(county, n))


def read_jsonl(folder) -> list[dict]:
    with gzip.open(folder / exports.JSONL, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def revoke_liulin_certificate(conn, root) -> None:
    day = dt.date(2026, 6, 5)
    write_csv(root, "certificate", [{
        "certificate_id": "ZS-L1", "id_number": county_person(LIULIN, 1), "name": "学员1号",
        "certificate_type": "skill_level", "occupation_code": "4-10-01-05", "occupation_name": "养老护理员",
        "skill_level": "五级", "issue_date": "2026-03-10", "issuer_code": INSTITUTION, "region_code": LIULIN,
        "status": "撤销", "updated_at": "2026-06-05 10:00:00",
    }], day=day)  # fmt: skip
    report = loader.ingest("certificate", day, landing_root=str(root))
    assert report.totals()["rows_loaded"] == 1, report.totals()
    dbt_build.run("build", "--quiet", "--select", "stg_certificate__certificates+")


def test_nightly_deliveries_follow_each_other_without_gap_or_overlap_and_verify(archived, signing_key, tmp_path):
    import pyarrow.parquet as pq

    conn, root = archived
    key, _, public_path = signing_key
    public = signing.load_public_key(public_path)
    persons = conn.execute("select count(*) from archive.persons").fetchone()[0]
    out = tmp_path / "exports"

    first = exports.export_changes(conn, str(out), key, run_id="night-1")
    assert first is not None and first.archives == persons and first.after_change_id == 0
    folder = out / first.delivery_id
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [exports.JSONL, exports.PARQUET, exports.MANIFEST, exports.SIGNATURE]
    )
    rows = read_jsonl(folder)
    validator = documents.validator()
    assert all(not list(validator.iter_errors(row["document"])) for row in rows)
    table = pq.read_table(folder / exports.PARQUET)
    assert table.column("pseudonym").to_pylist() == [row["document"]["person"]["pseudonym"] for row in rows]
    assert [json.loads(text) for text in table.column("document").to_pylist()] == [row["document"] for row in rows]
    # Typed, nested columns: dates are dates, money is decimal(14,2), trainings a list of structs.
    import pyarrow as pa

    assert table.schema.field("as_of").type == pa.timestamp("us", tz="UTC")
    trainings = table.schema.field("trainings").type
    assert pa.types.is_list(trainings) and pa.types.is_struct(trainings.value_type)
    assert trainings.value_type.field("start_date").type == pa.date32()
    assert table.schema.field("subsidies").type.value_type.field("amount_yuan").type == pa.decimal128(14, 2)
    for typed, row in zip(table.to_pylist(), rows, strict=True):
        document = row["document"]
        assert typed["person"] == {key: document["person"].get(key) for key in typed["person"]}
        assert [t["start_date"].isoformat() for t in typed["trainings"]] == [
            t["start_date"] for t in document["trainings"]
        ]
        assert [str(s["amount_yuan"]) for s in typed["subsidies"]] == [s["amount_yuan"] for s in document["subsidies"]]
    assert exports.verify(str(folder), public).ok

    assert exports.export_changes(conn, str(out), key) is None  # a rerun of the night delivers nothing again

    revoke_liulin_certificate(conn, root)
    changes.record_changes(conn)
    second = exports.export_changes(conn, str(out), key, run_id="night-2")
    assert second.after_change_id == first.through_change_id and second.archives == 1
    (row,) = read_jsonl(out / second.delivery_id)
    assert row["document"]["person"]["pseudonym"] == pseudonym_of(LIULIN, 1)
    assert [c["status"] for c in row["document"]["certificates"]] == ["revoked"]
    assert row["change_id"] == second.through_change_id

    snapshot = exports.export_snapshot(conn, str(out), key)
    assert snapshot.archives == persons and snapshot.through_change_id == second.through_change_id
    assert exports.verify(str(out / snapshot.delivery_id), public).ok
    recorded = conn.execute("select kind, after_change_id, through_change_id from delivery.archive_exports "
                            "order by export_id").fetchall()  # fmt: skip
    assert [kind for kind, _, _ in recorded] == ["changes", "changes", "snapshot"]


def test_verify_names_what_was_tampered_with(archived, signing_key, tmp_path, capsys):
    conn, _ = archived
    key, _, public_path = signing_key
    public = signing.load_public_key(public_path)
    delivery = exports.export_snapshot(conn, str(tmp_path / "out"), key)
    good = tmp_path / "out" / delivery.delivery_id

    def tampered(name: str, change) -> list[str]:
        copy = tmp_path / name
        shutil.copytree(good, copy)
        change(copy)
        return exports.verify(str(copy), public).problems

    def flip_last_byte(path):
        data = bytearray(path.read_bytes())
        data[-1] ^= 1
        path.write_bytes(bytes(data))

    assert "archives.parquet: content differs" in tampered("parquet", lambda d: flip_last_byte(d / exports.PARQUET))[0]
    assert "signature does not match" in tampered("manifest", lambda d: (d / exports.MANIFEST).write_text(
        (d / exports.MANIFEST).read_text().replace('"archives": ', '"archives": 1')))[0]  # fmt: skip
    assert "extra.csv: not in the manifest" in tampered("extra", lambda d: (d / "extra.csv").write_text("x"))[0]
    assert "listed in the manifest but missing" in tampered("missing", lambda d: (d / exports.JSONL).unlink())[0]
    assert "manifest.json.sig is missing" in tampered("unsigned", lambda d: (d / exports.SIGNATURE).unlink())[0]

    other = tmp_path / "other.pem"
    other.write_bytes(signing.public_key_pem(signing.private_key_from_pem(signing.new_private_key_pem())))
    assert cli.main(["export", "verify", str(good), "--public-key", str(other)]) == 1
    assert "signature does not match" in capsys.readouterr().err
    assert cli.main(["export", "verify", str(good), "--public-key", str(public_path)]) == 0
    assert "verified" in capsys.readouterr().out


def test_the_export_commands_sign_with_the_configured_key_and_refuse_without_one(archived, signing_key, tmp_path,
                                                                                 monkeypatch, capsys):  # fmt: skip
    _, key_path, public_path = signing_key
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    monkeypatch.delenv(signing.KEY_FILE_ENV, raising=False)
    assert cli.main(["export", "snapshot", "--out", str(tmp_path)]) == 2
    assert signing.KEY_FILE_ENV in capsys.readouterr().err
    monkeypatch.setenv(signing.KEY_FILE_ENV, str(key_path))
    assert cli.main(["export", "snapshot", "--out", str(tmp_path)]) == 0
    (folder,) = [p for p in tmp_path.iterdir() if p.name.startswith("snapshot-")]
    assert cli.main(["export", "verify", str(folder), "--public-key", str(public_path)]) == 0
    assert cli.main(["export", "keygen", "--out", str(key_path)]) == 2  # never overwrites a key


# --- the read API -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(archived, warehouse_url):
    conn, _ = archived
    issued = {
        "archive": tokens.issue(conn, "card service", "archive")[1],
        "province": tokens.issue(conn, "province HR", "province")[1],
        "liulin": tokens.issue(conn, "Liulin HR office", "county", LIULIN)[1],
    }
    with TestClient(api.create_app(warehouse_url, pool_size=4)) as test_client:
        yield test_client, issued


def get(client, path: str, token: str | None = None, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(path, headers=headers, params=params)


def test_the_api_needs_a_live_token_and_refuses_bad_input_with_a_4xx(client, archived):
    test_client, issued = client
    conn, _ = archived
    person = pseudonym_of(LIULIN, 2)
    assert get(test_client, "/healthz").json() == {"status": "ok", "warehouse": "primary"}
    assert get(test_client, f"/v1/persons/{person}").status_code == 401
    assert get(test_client, f"/v1/persons/{person}", "skp_not-a-token").status_code == 401
    assert get(test_client, "/v1/persons/NOT-A-PSEUDONYM", issued["archive"]).status_code == 422
    assert get(test_client, "/v1/changes", issued["archive"], limit=10**9).status_code == 422
    assert get(test_client, "/v1/changes", issued["archive"], after=-1).status_code == 422
    assert get(test_client, "/v1/metrics/skilled-shares", issued["province"], from_month="2026-13").status_code == 422
    assert get(test_client, "/v1/metrics/skilled-shares", issued["province"], from_month="2026-06",
               to_month="2026-01").status_code == 422  # fmt: skip
    # an archive token reads archives, not metrics: the warehouse refuses archive_reader, the API says 403
    assert get(test_client, "/v1/metrics/employment-rates", issued["archive"]).status_code == 403

    token_id, revoked = tokens.issue(conn, "to revoke", "archive")
    assert tokens.revoke(conn, token_id)
    assert get(test_client, f"/v1/persons/{person}", revoked).status_code == 401
    listed = "\n".join(str(row) for row in tokens.listing(conn))
    assert revoked not in listed and tokens.token_hash(revoked) not in listed  # never shown again, not even hashed


def test_a_county_token_sees_its_county_only(client):
    test_client, issued = client
    liulin, yaodu = pseudonym_of(LIULIN, 1), pseudonym_of(YAODU, 1)
    document = get(test_client, f"/v1/persons/{liulin}", issued["liulin"]).json()
    assert document["person"]["pseudonym"] == liulin and not list(documents.validator().iter_errors(document))
    assert get(test_client, f"/v1/persons/{yaodu}", issued["liulin"]).status_code == 404
    assert get(test_client, f"/v1/persons/{yaodu}", issued["archive"]).status_code == 200

    county_feed = get(test_client, "/v1/changes", issued["liulin"], limit=1000).json()["changes"]
    assert county_feed and {c["document"]["person"]["region_code"] for c in county_feed} == {LIULIN}
    full_feed = get(test_client, "/v1/changes", issued["archive"], limit=1000).json()["changes"]
    assert {c["document"]["person"]["region_code"] for c in full_feed} >= {LIULIN, YAODU}

    county_rows = get(test_client, "/v1/metrics/skilled-shares", issued["liulin"]).json()["rows"]
    province_rows = get(test_client, "/v1/metrics/skilled-shares", issued["province"]).json()["rows"]
    assert county_rows and {row["region_code"] for row in county_rows} == {LIULIN}
    assert {YAODU, LIULIN} <= {row["region_code"] for row in province_rows}
    # Another county's figures are refused by name (403), not answered with an empty page.
    refused = get(test_client, "/v1/metrics/employment-rates", issued["liulin"], region=YAODU)
    assert refused.status_code == 403 and f"county {LIULIN}" in refused.json()["detail"]
    assert get(test_client, "/v1/talent-pool", issued["liulin"], region=YAODU).status_code == 403
    assert get(test_client, "/v1/metrics/skilled-shares", issued["liulin"], region=LIULIN).status_code == 200


def test_the_api_serves_the_published_document_as_stored(client, archived, capsys):
    test_client, issued = client
    conn, _ = archived
    person = pseudonym_of(LIULIN, 2)
    (stored,) = conn.execute(
        "select document from delivery.archive_documents where person_id = %s", (person,)
    ).fetchone()
    served = get(test_client, f"/v1/persons/{person}", issued["archive"])
    assert served.status_code == 200 and served.text == stored  # the stored text, not re-encoded
    (made_now,) = documents.documents(conn, [person])
    assert changes.digest(served.json()) == changes.digest(made_now)  # the archive as the marts give it today
    feed = get(test_client, "/v1/changes", issued["archive"], limit=1000).json()["changes"]
    assert [c["document"] for c in feed if c["pseudonym"] == person] == [served.json()]

    # A warehouse published before documents were kept: the next publication stores them and records no change.
    persons = conn.execute("select count(*) from archive.persons").fetchone()[0]
    conn.execute("delete from delivery.archive_documents")
    assert get(test_client, f"/v1/persons/{person}", issued["archive"]).status_code == 404
    assert cli.main(["archive", "publish"]) == 0
    assert "none changed, nothing recorded" in capsys.readouterr().out
    assert conn.execute("select count(*) from delivery.archive_documents").fetchone()[0] == persons
    assert get(test_client, f"/v1/persons/{person}", issued["archive"]).json() == json.loads(
        conn.execute("select document from delivery.archive_documents where person_id = %s", (person,)).fetchone()[0]
    )


def test_the_hot_path_answers_found_documents_and_leaves_the_rest_to_the_routes(client, archived):
    """ArchiveAPI's hot path sends a found document for an archive or province token; a county token, an unknown
    person or a lookup whose connection was cut goes to the route, which answers as before."""
    test_client, issued = client
    conn, _ = archived
    app, answered = test_client.app, []
    original = app.stored_document

    async def spy(scope):
        body = await original(scope)
        answered.append(body is not None)
        return body

    app.stored_document = spy
    try:
        liulin, yaodu = pseudonym_of(LIULIN, 2), pseudonym_of(YAODU, 1)
        (stored,) = conn.execute("select document from delivery.archive_documents where person_id = %s",
                                 (liulin,)).fetchone()  # fmt: skip
        for token in (issued["archive"], issued["province"]):
            served = [get(test_client, f"/v1/persons/{liulin}", token) for _ in range(2)]  # the first caches the token
            assert [r.status_code for r in served] == [200, 200] and served[-1].text == stored
            assert answered[-1] is True and served[-1].headers["content-type"] == "application/json"
        answered.clear()
        assert get(test_client, f"/v1/persons/{yaodu}", issued["liulin"]).status_code == 404
        assert get(test_client, f"/v1/persons/{liulin}", issued["liulin"]).status_code == 200
        assert get(test_client, f"/v1/persons/{'0' * 32}", issued["archive"]).status_code == 404
        assert get(test_client, f"/v1/persons/{liulin.upper()}", issued["archive"]).status_code == 422
        assert answered == [False, False, False, False]  # all four answered by the route

        # The warehouse cuts the lookups' connections (a restart, an operator): the next lookup is still answered.
        cut = conn.execute("select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = %s",
                           (lookups.APPLICATION_NAME,)).fetchone()[0]  # fmt: skip
        assert cut >= 1
        assert get(test_client, f"/v1/persons/{liulin}", issued["archive"]).text == stored
        assert get(test_client, f"/v1/persons/{liulin}", issued["archive"]).text == stored
        assert answered[-1] is True
    finally:
        app.stored_document = original


def test_concurrent_lookups_share_statements_under_the_roles_security(archived, warehouse_url):
    """delivery/lookups.py: concurrent lookups of one role go out together, each gets its own document (or None),
    and the statements run as the role: analyst_county without a county sees no archive at all."""
    conn, _ = archived
    people = [pseudonym_of(LIULIN, 1), pseudonym_of(YAODU, 1), pseudonym_of(LIULIN, 2)]
    stored = dict(conn.execute("select person_id, document from delivery.archive_documents where person_id = any(%s)",
                               (people,)).fetchall())  # fmt: skip
    assert len(stored) == 3
    asked = people * 10 + ["0" * 32]

    async def scenario():
        reader = lookups.CoalescedLookups(warehouse_url, "archive_reader")
        unscoped = lookups.CoalescedLookups(warehouse_url, "analyst_county", lanes=2)
        try:
            found = await asyncio.gather(*(reader.get(p) for p in asked))
            hidden = await asyncio.gather(*(unscoped.get(p) for p in people))
            return found, hidden, reader
        finally:
            await reader.close()
            await unscoped.close()

    found, hidden, reader = asyncio.run(scenario())
    assert [d.decode() if d is not None else None for d in found] == [stored.get(p) for p in asked]
    assert reader.lookups == 31 and reader.statements <= 2  # 31 lookups, one or two statements
    assert hidden == [None, None, None]

    async def unreachable():
        down = lookups.CoalescedLookups("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", "archive_reader")
        with pytest.raises(lookups.UNAVAILABLE):
            await down.get(people[0])

    asyncio.run(unreachable())


def test_the_county_scope_is_the_databases_not_the_apis(archived, warehouse_url):
    """As the API's own login: without becoming a role it reads nothing; as analyst_county with skills.api_county
    set it sees that county; a county analyst login setting skills.api_county gains nothing."""
    from psycopg import sql

    conn, _ = archived
    for login, group in (("t_api", "archive_api"), ("t_yaodu_analyst", None)):
        if not conn.execute("select 1 from pg_roles where rolname = %s", (login,)).fetchone():
            conn.execute(sql.SQL("create role {} login").format(sql.Identifier(login)))
        if group:
            conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(group), sql.Identifier(login)))
    conn.execute("select access.register_county_analyst('t_yaodu_analyst', %s)", (YAODU,))
    from urllib.parse import urlsplit, urlunsplit

    def as_login(user):
        parts = urlsplit(warehouse_url)
        return urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc.rpartition('@')[2]}"))

    with psycopg.connect(as_login("t_api")) as api_login:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            api_login.execute("select count(*) from archive.persons")
        api_login.rollback()
        api_login.execute("select set_config('role', 'analyst_county', true), set_config('skills.api_county', %s, "
                          "true)", (LIULIN,))  # fmt: skip
        regions = api_login.execute("select distinct home_region_code from archive.persons").fetchall()
        assert regions == [(LIULIN,)]
    with psycopg.connect(as_login("t_yaodu_analyst")) as analyst:
        analyst.execute("select set_config('skills.api_county', %s, false)", (LIULIN,))
        regions = analyst.execute("select distinct home_region_code from archive.persons").fetchall()
        assert regions == [(YAODU,)]


def test_the_talent_pool_is_paged_filtered_and_county_scoped(client):
    test_client, issued = client
    province = get(test_client, "/v1/talent-pool", issued["province"]).json()
    assert sorted((row["region_code"], row["skill_rank"], row["evidence_kind"]) for row in province["rows"]) == [
        (YAODU, 4, "competition"), (YAODU, 5, "competition"), (LIULIN, 4, "competition")
    ] and province["next_after"] is None  # fmt: skip
    # a county token sees its own residents only, whatever it asks for
    county = get(test_client, "/v1/talent-pool", issued["liulin"]).json()["rows"]
    assert [row["pseudonym"] for row in county] == [pseudonym_of(LIULIN, 2)]
    assert get(test_client, "/v1/talent-pool", issued["liulin"], region=YAODU).status_code == 403
    assert [
        r["skill_rank"] for r in get(test_client, "/v1/talent-pool", issued["province"], min_rank=5).json()["rows"]
    ] == [5]
    # pages of one, in pseudonym order, until next_after is null
    seen, after = [], None
    while True:
        page = get(test_client, "/v1/talent-pool", issued["province"], limit=1, **({"after": after} if after else {}))
        body = page.json()
        seen += [row["pseudonym"] for row in body["rows"]]
        after = body["next_after"]
        if after is None:
            break
    assert seen == sorted(row["pseudonym"] for row in province["rows"])
    assert get(test_client, "/v1/talent-pool", issued["province"], after="not-a-cursor").status_code == 422
    assert (
        get(test_client, "/v1/talent-pool", issued["archive"]).status_code == 403
    )  # an archive token reads no metrics


def test_every_error_is_a_problem_document(client):
    """RFC 9457: application/problem+json with type, title, status, detail and the path, from every kind of error."""
    test_client, issued = client
    answers = {
        401: get(test_client, f"/v1/persons/{'0' * 32}"),
        403: get(test_client, "/v1/metrics/employment-rates", issued["archive"]),
        404: get(test_client, f"/v1/persons/{'0' * 32}", issued["archive"]),
        422: get(test_client, "/v1/metrics/skilled-shares", issued["province"], from_month="2026-13"),
    }
    for status, answer in answers.items():
        assert answer.status_code == status and answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert {"type", "title", "status", "detail", "instance"} <= set(problem) and problem["status"] == status
        assert problem["instance"].startswith(("/v1/persons/", "/v1/metrics/")) and problem["detail"]
    assert answers[422].json()["errors"][0]["parameter"] == "query.from_month"
    assert answers[401].headers["www-authenticate"] == "Bearer"


def test_documents_and_pages_carry_etags_and_are_gzipped(client, archived):
    """If-None-Match answers 304 for an unchanged document (by the route and by the hot path alike) and for an
    unchanged page; a client that accepts gzip gets the page compressed."""
    test_client, issued = client
    person = pseudonym_of(LIULIN, 2)
    for token in (issued["liulin"], issued["archive"], issued["archive"]):  # county route; archive route, hot path
        first = get(test_client, f"/v1/persons/{person}", token)
        etag = first.headers["etag"]
        assert (
            first.status_code == 200 and etag.startswith('"') and first.headers["cache-control"] == "private, no-cache"
        )
        again = test_client.get(f"/v1/persons/{person}",
                                headers={"Authorization": f"Bearer {token}", "If-None-Match": etag})  # fmt: skip
        assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
        stale = test_client.get(f"/v1/persons/{person}",
                                headers={"Authorization": f"Bearer {token}", "If-None-Match": '"old"'})  # fmt: skip
        assert stale.status_code == 200 and stale.json() == first.json()
    headers = {"Authorization": f"Bearer {issued['archive']}", "Accept-Encoding": "gzip"}
    page = test_client.get("/v1/changes", headers=headers, params={"limit": 1000})
    assert page.headers["content-encoding"] == "gzip" and page.json()["changes"]
    assert int(page.headers["content-length"]) < len(page.content) / 3  # what crossed the wire, against the JSON
    not_modified = test_client.get("/v1/changes", params={"limit": 1000},
                                   headers={**headers, "If-None-Match": page.headers["etag"]})  # fmt: skip
    assert not_modified.status_code == 304
    # The hot path compresses a document as the middleware would (the card service's clients send Accept-Encoding).
    hot = api.hot_path_response({"headers": [(b"accept-encoding", b"gzip, br")]}, b"{" + b" " * 2000 + b"}")
    assert hot[0] == 200 and (b"content-encoding", b"gzip") in hot[1]
    assert gzip.decompress(hot[2]) == b"{" + b" " * 2000 + b"}"


def test_a_batch_lookup_returns_the_stored_documents_and_names_the_missing(client, archived):
    test_client, issued = client
    conn, _ = archived
    liulin, yaodu, unknown = pseudonym_of(LIULIN, 2), pseudonym_of(YAODU, 1), "f" * 32
    stored = dict(conn.execute("select person_id, document from delivery.archive_documents where person_id = any(%s)",
                               ([liulin, yaodu],)).fetchall())  # fmt: skip

    def batch(token, pseudonyms):
        return test_client.post("/v1/persons/batch", json={"pseudonyms": pseudonyms},
                                headers={"Authorization": f"Bearer {token}"})  # fmt: skip

    answer = batch(issued["archive"], [liulin, yaodu, unknown, liulin]).json()
    assert answer["documents"] == [json.loads(stored[liulin]), json.loads(stored[yaodu])]  # in order, each once
    assert answer["missing"] == [unknown]
    county = batch(issued["liulin"], [liulin, yaodu]).json()  # the county scope holds for a batch too
    assert [d["person"]["pseudonym"] for d in county["documents"]] == [liulin] and county["missing"] == [yaodu]
    assert batch(issued["archive"], ["f" * 32] * 0).status_code == 422
    assert batch(issued["archive"], [f"{n:032x}" for n in range(api.MAX_BATCH + 1)]).status_code == 422
    assert batch(issued["archive"], ["NOT-A-PSEUDONYM"]).status_code == 422
    assert test_client.post("/v1/persons/batch", json={"pseudonyms": [liulin]}).status_code == 401


def test_the_developer_portal_renders_offline(client, tmp_path):
    """/docs and /redoc load their scripts from the API itself; in headless Chromium with no host resolving (an
    intranet), Swagger UI renders every operation and nothing is asked of any other host."""
    import threading

    import uvicorn

    from helpers import headless_chromium

    test_client, _ = client
    for page in ("/docs", "/redoc"):
        html = test_client.get(page).text
        assert not re.findall(r"""(?:src|href)=["']https?://""", html), page
    assert test_client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert test_client.get("/docs/assets/../../etc/passwd").status_code == 404

    server = uvicorn.Server(uvicorn.Config(test_client.app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        rendered = headless_chromium(
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--virtual-time-budget=15000",
            f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom", f"http://127.0.0.1:{port}/docs",
        )  # fmt: skip
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert "opblock" in rendered.stdout and "/v1/persons/batch" in rendered.stdout, rendered.stderr[-2000:]
    requests = re.findall(r"NotifyBeforeURLRequest: (\S+)", rendered.stderr)
    outside = [
        url
        for url in requests
        if not url.startswith(("http://127.0.0.1", "data:", "blob:"))
        and not re.match(r"^https?://([a-z0-9-]+\.)*(google\.com|googleapis\.com|gvt1\.com)/", url)
    ]
    assert not outside, outside


def test_schemathesis_finds_no_server_error(client):
    """Property-based requests generated from the served OpenAPI document, with a county token: never a 5xx."""
    import hypothesis
    import schemathesis

    test_client, issued = client
    schema = schemathesis.openapi.from_asgi("/openapi.json", test_client.app)
    headers = {"Authorization": f"Bearer {issued['liulin']}"}
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @hypothesis.settings(max_examples=25, deadline=None, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck))  # fmt: skip
        @hypothesis.given(case=operation.as_strategy())
        def no_server_error(case):
            # Every check: no 5xx, and every status, content type, header and body the document promises. Not
            # "valid data is accepted": from_month after to_month is refused (422) by a rule across two parameters,
            # which OpenAPI cannot state.
            response = case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
            assert response.status_code < 500, (case.path, case.query, response.text[:200])

        no_server_error()
        checked += 1
    assert checked == 7


def test_the_committed_openapi_document_is_the_served_one():
    from skills_pipeline.settings import project_root

    committed = (project_root() / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert committed == api.openapi_document(), "regenerate: skills-pipeline api openapi > docs/openapi.json"
