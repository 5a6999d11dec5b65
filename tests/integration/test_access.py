"""Warehouse roles on real PostgreSQL: each role logs in and tries what it must not do, and is refused.

dbt runs here as a transformer login (the owner of every model), as in production, so the known traps are real:
the owner is bound by row-level security only when it is forced; a view owned by the table owner reads around the
policies unless it is security_invoker; a column list is the only safe column grant; an unkeyed hash of an ID
number is no pseudonym.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import errors

from helpers import LIULIN, two_county_deliveries
from skills_pipeline import dbt_build, feeds, warehouse
from skills_pipeline.ingest import loader, pseudonyms
from skills_pipeline.settlement import runs as settlement

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 6, 1)
LOGINS = {
    "t_province": "analyst_province",
    "t_archive_reader": "archive_reader",
    "t_vault_officer": "vault_officer",
    "t_loader": "skills_loader",
    "t_transformer": "skills_transformer",
}
ID_PATTERN = re.compile(r"\d{17}[\dXx]")


def as_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def build_as_transformer(url: str, monkeypatch) -> None:
    """dbt as the transformer login, so every model is owned by it (as in production)."""
    monkeypatch.setenv("SKILLS_WAREHOUSE_URL", as_user(url, "t_transformer"))
    try:
        dbt_build.run("build", "--quiet")
    finally:
        monkeypatch.setenv("SKILLS_WAREHOUSE_URL", url)
        dbt_build.export_profile_env(url)


@pytest.fixture(scope="module")
def secured(warehouse_url, tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    """Two counties' deliveries, ingested; roles applied; dbt built and a settlement run made by the transformer."""
    root = tmp_path_factory.mktemp("access_landing")
    with psycopg.connect(warehouse_url, autocommit=True) as admin:
        admin.execute(
            "drop schema if exists raw, ingest, scratch, vault, pseudonymised, payments, delivery, staging, "
            "intermediate, archive, metrics, settlement, reference cascade"
        )
        two_county_deliveries(root)
        for feed in feeds.FEEDS:
            loader.ingest(feed, DAY, landing_root=str(root), fail_on_rejected=False)
        warehouse.apply_roles()  # after the load: grants cover the tables that now exist (idempotent)
        for login, group in LOGINS.items():
            if not admin.execute("select 1 from pg_roles where rolname = %s", (login,)).fetchone():
                admin.execute(f"create role {login} login")
            admin.execute(f"grant {group} to {login}")
        warehouse.register_county_analyst("t_county_liulin", LIULIN)
        build_as_transformer(warehouse_url, monkeypatch)
        with psycopg.connect(warehouse_url, user="t_transformer", autocommit=True) as transformer:
            settlement.create_run(transformer, settlement.parse_period("2026-03"))
        yield admin, warehouse_url
    monkeypatch.undo()


def login(url: str, role: str) -> psycopg.Connection:
    return psycopg.connect(url, user=role, autocommit=True)


def refused(conn: psycopg.Connection, sql: str) -> bool:
    try:
        conn.execute(sql)
    except errors.InsufficientPrivilege:
        return True
    return False


def test_province_analyst_reads_the_marts_but_never_the_vault_raw_records_or_staging(secured):
    admin, url = secured
    with login(url, "t_province") as analyst:
        persons = analyst.execute("select count(*) from archive.persons").fetchone()[0]
        assert persons == admin.execute("select count(*) from archive.persons").fetchone()[0] == 6
        assert analyst.execute("select count(*) from settlement.settlement_lines").fetchone()[0] > 0
        assert analyst.execute("select count(*) from ingest.load_ledger").fetchone()[0] == 4
        assert refused(analyst, "select * from vault.person_pseudonyms")
        assert refused(analyst, "select id_number from raw.training")
        assert refused(analyst, "insert into raw.quarantined_rows values (1, 1, '{x}', null, '{}')")
        assert refused(analyst, "select * from staging.stg_training__enrollments")
        # Column grant: why a row was quarantined, yes; the quarantined record (ID number, name), no.
        assert analyst.execute("select failed_rules from raw.quarantined_rows").fetchall() == [
            (["id_number:check_character"],)
        ]
        assert refused(analyst, "select raw_record from raw.quarantined_rows")
        assert refused(analyst, "select * from raw.quarantined_rows")


def test_county_analyst_sees_only_the_county_of_the_login(secured):
    admin, url = secured
    with login(url, "t_county_liulin") as analyst:
        assert analyst.execute("select distinct home_region_code from archive.persons").fetchall() == [(LIULIN,)]
        assert analyst.execute("select count(*) from archive.persons").fetchone()[0] == 3
        assert {r[0] for r in analyst.execute("select region_code from settlement.settlement_lines")} == {LIULIN}
        assert {r[0] for r in analyst.execute("select region_code from payments.settlement_run_lines")} == {LIULIN}
        assert analyst.execute(
            "select distinct breakdown, breakdown_value from metrics.trainee_outcome_rates"
        ).fetchall() == [("county", LIULIN)]
        assert analyst.execute("select count(*) from settlement.risk_warnings").fetchone()[0] == 0  # no county column
        # The county is the login's, not a choice: becoming a province analyst is refused.
        assert refused(analyst, "set role analyst_province")
        assert refused(analyst, "select * from access.analyst_regions")


def test_views_run_with_the_readers_rights_not_their_owners(secured):
    admin, url = secured
    eligible_liulin = admin.execute(
        "select sum(amount_yuan) from settlement.settlement_lines where region_code = %s", (LIULIN,)
    ).fetchone()[0]
    assert eligible_liulin > 0
    query = "select coalesce(sum(eligible_yuan), 0) from settlement.settlement_deadline_status"
    with login(url, "t_county_liulin") as analyst:
        assert analyst.execute(query).fetchone()[0] == eligible_liulin
        # The trap, shown: without security_invoker the view reads as its owner (the transformer), around RLS.
        admin.execute("alter view settlement.settlement_deadline_status reset (security_invoker)")
        try:
            assert analyst.execute(query).fetchone()[0] > eligible_liulin
        finally:
            admin.execute("alter view settlement.settlement_deadline_status set (security_invoker = true)")


def test_row_security_is_forced_on_every_mart_so_the_owner_is_bound_too(secured):
    admin, url = secured
    tables = admin.execute(
        "select n.nspname || '.' || c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname in ('archive', 'metrics', 'settlement') and c.relkind = 'r'"
    ).fetchall()
    assert len(tables) >= 10
    assert all(rls and forced and owner == "t_transformer" for _, rls, forced, owner in tables), tables
    with login(url, "t_transformer") as owner:
        assert owner.execute("select count(*) from archive.persons").fetchone()[0] == 6
        admin.execute("drop policy all_rows on archive.persons")  # the owner now has no policy letting it read
        try:
            assert owner.execute("select count(*) from archive.persons").fetchone()[0] == 0
        finally:
            admin.execute(
                "create policy all_rows on archive.persons to analyst_province, archive_reader, skills_transformer "
                "using (true) with check (true)"
            )


def test_archive_reader_vault_officer_and_loader_stay_in_their_lanes(secured):
    _, url = secured
    with login(url, "t_archive_reader") as reader:
        assert reader.execute("select count(*) from archive.person_events").fetchone()[0] > 0
        assert refused(reader, "select * from metrics.trainee_outcome_rates")
        assert refused(reader, "select * from settlement.settlement_lines")
        assert refused(reader, "select * from vault.person_pseudonyms")
    with login(url, "t_vault_officer") as officer:
        assert officer.execute("select count(*) from vault.person_pseudonyms").fetchone()[0] == 6
        assert refused(officer, "select * from archive.persons")
        assert refused(officer, "select * from raw.training")
    with login(url, "t_loader") as loader_login:
        assert loader_login.execute("select count(*) from raw.training").fetchone()[0] == 6
        assert refused(loader_login, "select * from archive.persons")
        assert refused(loader_login, "select * from payments.settlement_runs")


def test_dbt_rebuilds_keep_grants_and_policies(secured, monkeypatch):
    admin, url = secured
    build_as_transformer(url, monkeypatch)  # every mart table is replaced
    with login(url, "t_county_liulin") as analyst:
        assert analyst.execute("select distinct home_region_code from archive.persons").fetchall() == [(LIULIN,)]
    with login(url, "t_archive_reader") as reader:
        assert reader.execute("select count(*) from archive.persons").fetchone()[0] == 6


def test_nothing_a_province_analyst_can_read_holds_an_id_number_or_a_name(secured):
    admin, url = secured
    ids = {row[0] for row in admin.execute("select id_number from vault.person_pseudonyms")}
    names = {row[0] for row in admin.execute("select distinct name from raw.training")}
    columns = admin.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_schema not in ('pg_catalog', 'information_schema') "
        "and has_column_privilege('analyst_province', format('%I.%I', table_schema, table_name), column_name, 'SELECT')"
    ).fetchall()
    schemas = {schema for schema, _, _ in columns}
    assert {"archive", "metrics", "settlement", "payments", "ingest", "reference"} <= schemas
    assert not schemas & {"vault", "staging", "intermediate"}
    with login(url, "t_province") as analyst:
        for schema, table, column in columns:
            for (value,) in analyst.execute(f'select distinct "{column}"::text from "{schema}"."{table}"'):
                if value is None:
                    continue
                assert not set(ID_PATTERN.findall(value)) & ids, f"an ID number in {schema}.{table}.{column}"
                assert not any(name in value for name in names), f"a name in {schema}.{table}.{column}"


def test_pseudonyms_are_keyed_not_a_hash_anyone_can_enumerate(secured):
    admin, _ = secured
    key = pseudonyms.load_key()
    for id_number, person_id in admin.execute("select id_number, person_id from vault.person_pseudonyms"):
        assert person_id == key.person_id(id_number)
        assert person_id not in (
            hashlib.md5(id_number.encode()).hexdigest(),
            hashlib.sha256(id_number.encode()).hexdigest()[:32],
        )


def test_a_role_that_may_not_migrate_is_told_who_can(secured, monkeypatch):
    admin, url = secured
    admin.execute("update ingest.schema_migrations set sha256 = repeat('0', 64) where name = '002_settlement.sql'")
    try:
        monkeypatch.setenv("SKILLS_WAREHOUSE_URL", as_user(url, "t_loader"))
        with pytest.raises(PermissionError, match="run `skills-pipeline warehouse roles` as the warehouse admin"):
            warehouse.migrate()
    finally:
        monkeypatch.setenv("SKILLS_WAREHOUSE_URL", url)
        warehouse.migrate()  # as the administrator: applied again, checksum restored


def test_the_transformer_builds_but_reads_no_quarantine_changes_no_payment_line_and_creates_no_function(secured):
    """Least privilege for the role that builds everything: it made the run above, but with its own login it can
    read no ID number or name (not the vault, not raw, not a quarantined record), change or delete no payment line,
    and create no routine, temporary or not."""
    admin, url = secured
    with login(url, "t_transformer") as transformer:
        assert transformer.execute("select count(*) from payments.settlement_run_lines").fetchone()[0] > 0
        assert refused(transformer, "select raw_record from raw.quarantined_rows")
        assert refused(transformer, "select id_number from vault.person_pseudonyms")
        for feed in feeds.FEEDS.values():
            assert refused(transformer, f"select * from {feed.raw_table} limit 1"), feed.raw_table
            assert transformer.execute(f"select count(*) from {feed.pseudonymised_view}").fetchone()[0] >= 0
        # It built the person spine from the loader's pseudonyms and attributes: everyone the vault holds.
        people, born = transformer.execute(
            "select count(*), count(birth_date) from intermediate.int_people__unified"
        ).fetchone()
        assert people > 0 and born == people
        assert refused(transformer, "update payments.settlement_run_lines set amount_yuan = 0")
        assert refused(transformer, "delete from payments.settlement_run_lines")
        assert refused(transformer, "update payments.payment_exports set amount_yuan = 0")
        for ddl in ("create function pg_temp.f() returns int language sql as 'select 1'",
                    "create function archive.f() returns int language sql as 'select 1'",
                    "create procedure pg_temp.p() language sql as 'select 1'"):  # fmt: skip
            with pytest.raises(errors.RaiseException, match="skills_transformer may not create"):
                transformer.execute(ddl)
        transformer.execute("create temporary table scratch_rows (a int)")  # dbt's incremental models need this
        assert transformer.execute("select count(*) from scratch_rows").fetchone()[0] == 0


def test_what_the_transformer_reads_holds_no_id_number_or_name(secured):
    """The views it reads leave the personal columns out, and no value in them is an ID number of the vault."""
    admin, _ = secured
    readable = admin.execute(
        "select table_schema, table_name, column_name from information_schema.column_privileges "
        "where grantee = 'skills_transformer' and privilege_type = 'SELECT' "
        "and table_schema in ('raw', 'vault', 'pseudonymised')"
    ).fetchall()
    assert readable and {schema for schema, _, _ in readable} == {"pseudonymised"}
    assert not {column for _, _, column in readable} & set(feeds.PERSONAL_COLUMNS)
    ids = {row[0] for row in admin.execute("select id_number from vault.person_pseudonyms")}
    shown = set()
    for feed in (f for f in feeds.FEEDS.values() if f.person_column):
        rows = admin.execute(f"select to_jsonb(v) from {feed.pseudonymised_view} as v").fetchall()
        shown |= {str(value) for (row,) in rows for value in row.values()}
    assert ids and len(shown) > len(ids)  # the fixture's training, contributions, registrations and certificates
    assert not shown & ids


def test_analysts_create_nothing_not_even_temporary_tables_functions_or_views(secured):
    _, url = secured
    for role in ("t_province", "t_county_liulin"):
        with login(url, role) as analyst:
            assert refused(analyst, "create temporary table scratchpad (a int)")
            assert refused(analyst, "create function pg_temp.archive_persons() returns int language sql as 'select 1'")
            assert refused(analyst, "create view pg_temp.persons as select 1 as person_id")
            assert refused(analyst, "create table public.mine (a int)")


def test_a_self_set_session_default_cannot_widen_a_county_and_is_cleared_by_the_roles_command(secured):
    admin, url = secured
    with login(url, "t_county_liulin") as analyst:
        analyst.execute("alter role current_user set row_security = off")  # PostgreSQL allows this on oneself
    with login(url, "t_county_liulin") as analyst:
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            analyst.execute("select count(*) from archive.persons").fetchone()  # fails instead of showing more
    warehouse.apply_roles()
    settings = admin.execute(
        "select count(*) from pg_db_role_setting as s join pg_roles as r on s.setrole = r.oid "
        "where r.rolname = 't_county_liulin'"
    ).fetchone()[0]
    assert settings == 0
    with login(url, "t_county_liulin") as analyst:
        regions = {r for (r,) in analyst.execute("select distinct home_region_code from archive.persons")}
        assert regions == {LIULIN}


def test_each_service_gets_its_own_login_in_one_group(secured, monkeypatch):
    from skills_pipeline import cli

    admin, _ = secured
    monkeypatch.setenv("LOADER_SECRET", "a-long-enough-secret")
    assert cli.main(["warehouse", "add-login", "t_loader_svc", "skills_loader", "--password-env", "LOADER_SECRET"]) == 0
    groups = admin.execute(
        "select g.rolname from pg_auth_members as m join pg_roles as g on m.roleid = g.oid "
        "join pg_roles as r on m.member = r.oid where r.rolname = 't_loader_svc'"
    ).fetchall()
    assert groups == [("skills_loader",)]
    assert admin.execute("select rolcanlogin, rolsuper from pg_roles where rolname = 't_loader_svc'").fetchone() == (
        True,
        False,
    )
    monkeypatch.setenv("LOADER_SECRET", "short")
    assert cli.main(["warehouse", "add-login", "t_loader_svc", "skills_loader", "--password-env", "LOADER_SECRET"]) == 2
