"""`skills-pipeline` commands for administrators and the person on call: the vault, warehouse roles and logins,
psql and dbt."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from skills_pipeline import settings
from skills_pipeline.cli.arguments import positive_argument


def cmd_vault_rotate(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.ingest import pseudonyms

    current = pseudonyms.load_key()
    secret = Path(args.new_key_file).read_text().strip() if args.new_key_file else ""
    if not secret:
        raise settings.ConfigurationError("--new-key-file names an empty file: put the new secret (32+ characters) in")
    new = pseudonyms.PseudonymKey(args.new_version or current.version + 1, secret.encode())
    warehouse.migrate()
    with warehouse.connect() as conn:
        rotation = pseudonyms.rotate(conn, current, new)
    print(
        f"vault re-keyed: {rotation.people:,} people have version {rotation.new_version} pseudonyms beside version "
        f"{rotation.old_version}.\nNext: give the loader and dbt the new key ({pseudonyms.KEY_ENV} or "
        f"{pseudonyms.KEY_FILE_ENV}) with {pseudonyms.KEY_VERSION_ENV}={rotation.new_version}, rebuild every mart "
        "with a full refresh (dbt build --full-refresh: incremental models hold the old pseudonyms), and tell "
        "downstream consumers; approved settlement runs keep their "
        "pseudonyms, which the vault still maps. Retire the old key once no job uses it."
    )
    return 0


def cmd_warehouse_roles(args) -> int:
    from skills_pipeline import warehouse

    warehouse.apply_roles()
    print("warehouse roles, grants and row-level security applied (plugins/skills_pipeline/sql/roles.sql)")
    return 0


def cmd_warehouse_add_login(args) -> int:
    from skills_pipeline import warehouse

    password = os.environ.get(args.password_env, "")
    if len(password) < 12:
        raise settings.ConfigurationError(f"{args.password_env} is unset or shorter than 12 characters")
    warehouse.add_login(args.login, args.role, password)
    print(f"{args.login} logs in as a member of {args.role}")
    return 0


def cmd_warehouse_county_analyst(args) -> int:
    from skills_pipeline import warehouse

    warehouse.register_county_analyst(args.login, args.county)
    print(f"{args.login} sees county {args.county} only; set its password with ALTER ROLE ... PASSWORD")
    return 0


def warehouse_groups() -> tuple[str, ...]:
    return ("skills_loader", "skills_transformer", "analyst_province", "archive_reader", "vault_officer", "archive_api")


def cmd_warehouse_psql(args) -> int:
    import shutil
    import subprocess

    from skills_pipeline import warehouse

    found = shutil.which("psql")
    if found is None:  # pgserver's PostgreSQL ships its own psql
        try:
            import pgserver

            candidate = Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql"
            found = str(candidate) if candidate.exists() else None
        except ImportError:
            found = None
    if found is None:
        raise settings.ConfigurationError("no psql on PATH: install PostgreSQL's client (Debian: postgresql-client)")
    return subprocess.run([found, warehouse.warehouse_url(), *args.psql_args]).returncode


def cmd_dbt(args) -> int:
    from skills_pipeline import dbt_build

    if not args.dbt_args:
        raise settings.ConfigurationError("give dbt's command, e.g. skills-pipeline dbt build --select persons")
    try:
        dbt_build.run(*args.dbt_args)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


# Commands whose remaining arguments belong to another tool, options included (`warehouse psql -c ...`): argparse's
# REMAINDER does not take an option as its first word, so they are split off before parsing.


def register(commands) -> None:
    """Add this group's commands to the top-level subparsers."""
    vault = commands.add_parser("vault", help="the vault officer's commands: pseudonymisation key rotation")
    vault_commands = vault.add_subparsers(dest="vault_command", required=True)
    rotate = vault_commands.add_parser(
        "rotate", help="start a new key version: record it and re-key every person in the vault (one transaction)"
    )
    rotate.add_argument("--new-key-file", required=True, help="file holding the new secret (from the secrets manager)")
    rotate.add_argument("--new-version", type=positive_argument, help="the new version (default: the current one + 1)")
    rotate.set_defaults(handler=cmd_vault_rotate)

    wh = commands.add_parser("warehouse", help="administration: roles and county analysts")
    wh_commands = wh.add_subparsers(dest="warehouse_command", required=True)
    roles = wh_commands.add_parser("roles", help="create/refresh roles, grants and policies (idempotent; as admin)")
    roles.set_defaults(handler=cmd_warehouse_roles)
    login = wh_commands.add_parser("add-login", help="create (or update) a service's own login in one group role")
    login.add_argument("login", help="the login to create, e.g. skills_loader_svc")
    login.add_argument("role", choices=list(warehouse_groups()), help="the group role it belongs to")
    login.add_argument("--password-env", required=True, help="the environment variable holding its password")
    login.set_defaults(handler=cmd_warehouse_add_login)
    county = wh_commands.add_parser("add-county-analyst", help="create or move a county analyst login")
    county.add_argument("login", help="the analyst's PostgreSQL login (created if missing)")
    county.add_argument("county", help="6-digit county code, e.g. 141125")
    county.set_defaults(handler=cmd_warehouse_county_analyst)
    psql = wh_commands.add_parser(
        "psql", help="psql on the warehouse (make run's local one is started for it with SKILLS_WAREHOUSE_URL=embedded)"
    )
    psql.add_argument("psql_args", nargs=argparse.REMAINDER, help="passed to psql, e.g. -c 'select 1'")
    psql.set_defaults(handler=cmd_warehouse_psql)

    dbt = commands.add_parser(
        "dbt", help="dbt on the project with the warehouse's profile (e.g. skills-pipeline dbt build --select persons)"
    )
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER, help="dbt's command and options")
    dbt.set_defaults(handler=cmd_dbt)
