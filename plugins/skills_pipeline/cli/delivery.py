"""`skills-pipeline` commands for downstream systems: the change feed, signed exports and the read API."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from skills_pipeline import settings
from skills_pipeline.cli.arguments import MAX_CHANGES_PAGE, positive_argument

TALENT_POOL_COLUMNS = {
    "person_id": "人员假名",
    "region_code": "常住地区划",
    "occupation_code": "职业编码",
    "occupation_name": "职业名称",
    "skill_rank": "技能等级序号",
    "level_name": "技能等级",
    "attained_date": "取得日期",
    "evidence_kind": "依据",
    "evidence_id": "依据编号",
}


def cmd_archive_changes(args) -> int:

    from skills_pipeline import warehouse
    from skills_pipeline.delivery import changes

    if args.limit > MAX_CHANGES_PAGE:
        raise settings.ConfigurationError(f"--limit {args.limit}: at most {MAX_CHANGES_PAGE:,} changes a page")
    with warehouse.connect() as conn:
        page = changes.documents_after(conn, args.after, args.limit)
    for change_id, _, document in page:
        print(f'{{"change_id":{json.dumps(change_id)},"document":{document or "null"}}}')
    watermark = page[-1][0] if page else args.after
    print(f"{len(page)} change(s); next watermark: {watermark}", file=sys.stderr)
    return 0


def cmd_archive_publish(args) -> int:
    from skills_pipeline import tasks

    print(tasks.record_archive_changes(everyone=args.everyone)["text"])
    return 0


def cmd_export_changes(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.delivery import exports, signing

    root = args.out or settings.archive_export_root() or str(settings.state_dir() / "exports" / "archive")
    key = signing.load_private_key()
    with warehouse.connect(as_transformer=True) as conn:
        delivery = exports.export_changes(conn, root, key, run_id="cli")
    if delivery is None:
        print("no archive changed since the last delivery: nothing written")
    else:
        print(delivery.describe())
    return 0


def cmd_export_snapshot(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.delivery import exports, signing

    root = args.out or settings.archive_export_root() or str(settings.state_dir() / "exports" / "archive")
    key = signing.load_private_key()
    with warehouse.connect(as_transformer=True) as conn:
        delivery = exports.export_snapshot(conn, root, key, run_id="cli")
    print(delivery.describe())
    return 0


def cmd_export_verify(args) -> int:
    from skills_pipeline.delivery import exports, signing

    public_key = signing.load_public_key(args.public_key)
    result = exports.verify(args.delivery, public_key, check_documents=not args.skip_documents)
    if not result.ok:
        for problem in result.problems:
            print(f"TAMPERED: {problem}", file=sys.stderr)
        print(f"{args.delivery}: verification failed ({len(result.problems)} problem(s)); do not load it")
        return 1
    watermark = result.manifest["watermark"]
    print(
        f"{args.delivery}: verified — signature, {len(result.manifest['files'])} file(s), "
        f"{result.manifest['archives']:,} archive(s), change_id {watermark['after_change_id']}.."
        f"{watermark['through_change_id']}"
    )
    return 0


def cmd_export_keygen(args) -> int:
    from skills_pipeline.delivery import signing

    out = Path(args.out)
    if out.exists():
        raise settings.ConfigurationError(f"{out} exists: choose another file (a signing key is never overwritten)")
    pem = signing.new_private_key_pem()
    out.touch(mode=0o600)
    out.write_bytes(pem)
    print(f"private key written to {out} (mode 600): keep it in your secrets manager, point {signing.KEY_FILE_ENV} "
          "at it; give consumers this public key:", file=sys.stderr)  # fmt: skip
    print(signing.public_key_pem(signing.private_key_from_pem(pem)).decode(), end="")
    return 0


def cmd_export_public_key(args) -> int:
    from skills_pipeline.delivery import signing

    print(signing.public_key_pem(signing.load_private_key()).decode(), end="")
    return 0


def cmd_export_talent_pool(args) -> int:
    """The high-skilled talent pool as CSV (UTF-8 with a BOM): pseudonyms, never ID numbers or names."""
    import csv

    from skills_pipeline import warehouse
    from skills_pipeline.delivery import talent_pool

    with warehouse.connect() as conn:
        if conn.execute("select to_regclass('metrics.high_skilled_talent_pool')").fetchone()[0] is None:
            raise settings.ConfigurationError(
                "the talent pool is built by build_archive: run it (or make run) before exporting"
            )
        rows = conn.execute(
            f"select {', '.join(TALENT_POOL_COLUMNS)} from metrics.high_skilled_talent_pool "
            f"where {talent_pool.IN_REGION} "
            "and (%(occupation)s::text is null or occupation_code = %(occupation)s) "
            "order by region_code, occupation_code, skill_rank desc, person_id",
            {"region": args.region, "occupation": args.occupation},
        ).fetchall()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TALENT_POOL_COLUMNS.values())
        writer.writerows(rows)
    print(f"{len(rows):,} high-skilled person-occupations written to {out}")
    return 0


def cmd_export_public_lists(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.reports import public_lists

    with warehouse.connect() as conn:
        years = [args.year] if args.year else public_lists.catalogue_years(conn)
        if not years:
            print("no catalogue loaded yet: deliver the catalogue feed (docs/feeds.md) and run the pipeline")
            return 1
        for year in sorted(years):
            written = public_lists.write(conn, year)
            print(
                f"{year}: {written.entries:,} catalogue entries, {written.graded:,} graded institutions: {written.page}"
            )
    return 0


def cmd_api_serve(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.delivery import api

    # Refused here, before listening: unconfigured, a server would start and answer every request with a 500.
    warehouse.api_url()
    host, port = settings.api_address()
    host, port = args.host or host, args.port or port
    print(f"archive API on http://{host}:{port} (OpenAPI at /docs and /openapi.json); Ctrl-C stops it", file=sys.stderr)
    api.serve(host, port, workers=args.workers)
    return 0


def cmd_api_openapi(args) -> int:
    from skills_pipeline.delivery import api

    print(api.openapi_document(), end="")
    return 0


def cmd_api_token_issue(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.delivery import tokens

    warehouse.migrate()
    with warehouse.connect() as conn:
        token_id, token = tokens.issue(conn, args.label, args.scope, args.county)
    print(f"token {token_id} ({args.scope}{' ' + args.county if args.county else ''}), shown once:", file=sys.stderr)
    print(token)
    return 0


def cmd_api_token_revoke(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.delivery import api, tokens

    with warehouse.connect() as conn:
        if not tokens.revoke(conn, args.token_id):
            raise settings.ConfigurationError(f"no live token {args.token_id} (see `skills-pipeline api token list`)")
    print(f"token {args.token_id} revoked; running APIs refuse it within {api.TOKEN_CACHE_SECONDS:.0f} s")
    return 0


def cmd_api_token_list(args) -> int:
    from skills_pipeline import warehouse
    from skills_pipeline.delivery import tokens

    with warehouse.connect() as conn:
        rows = tokens.listing(conn)
    for token_id, label, scope, county, created, revoked in rows:
        status = f"revoked {revoked:%Y-%m-%d %H:%M}" if revoked else "live"
        print(f"{token_id:>5}  {scope:<8} {county or '':<7} {created:%Y-%m-%d}  {status:<22} {label}")
    if not rows:
        print("no tokens yet: skills-pipeline api token issue --label ... --scope archive|province|county")
    return 0


def register(commands) -> None:
    """Add this group's commands to the top-level subparsers."""
    archive = commands.add_parser("archive", help="the archive change feed, for downstream systems")
    archive_commands = archive.add_subparsers(dest="archive_command", required=True)
    feed = archive_commands.add_parser(
        "changes",
        help="archives changed after a watermark, as JSON lines {change_id, document} (the last published document)",
    )
    feed.add_argument("--after", type=int, default=0, help="the last change_id you have read (default 0: all)")
    feed.add_argument(
        "--limit",
        type=positive_argument,
        default=1_000,
        help=f"at most this many (default 1,000; max {MAX_CHANGES_PAGE:,})",
    )
    feed.set_defaults(handler=cmd_archive_changes)
    publish = archive_commands.add_parser(
        "publish",
        help="after a build by hand: record the changed archives in the change feed and store their documents for "
        "the API and exports (build_archive's publish task does this every night)",
    )
    publish.add_argument(
        "--all", action="store_true", dest="everyone",
        help="rebuild every document, not only those touched since the last publication (after a seed such as the "
        "skill levels changed and `dbt build --full-refresh`)",
    )  # fmt: skip
    publish.set_defaults(handler=cmd_archive_publish)

    export = commands.add_parser("export", help="signed archive deliveries (gzip JSON Lines + Parquet + manifest)")
    export_commands = export.add_subparsers(dest="export_command", required=True)
    root_help = (
        f"export root, a path or fsspec URL (default {settings.ARCHIVE_EXPORT_ROOT_ENV} or .local/exports/archive)"
    )
    export_changes = export_commands.add_parser("changes", help="deliver the archives changed since the last delivery")
    export_changes.add_argument("--out", help=root_help)
    export_changes.set_defaults(handler=cmd_export_changes)
    snapshot = export_commands.add_parser(
        "snapshot", help="deliver every published archive (a full snapshot as of the last publication)"
    )
    snapshot.add_argument("--out", help=root_help)
    snapshot.set_defaults(handler=cmd_export_snapshot)
    check = export_commands.add_parser("verify", help="check a delivery's signature, files and documents")
    check.add_argument("delivery", help="the delivery folder (path or fsspec URL), e.g. .../changes-000000000001-...")
    check.add_argument("--public-key", required=True, help="the publisher's Ed25519 public key (PEM)")
    check.add_argument("--skip-documents", action="store_true", help="do not validate each document (faster)")
    check.set_defaults(handler=cmd_export_verify)
    keygen = export_commands.add_parser("keygen", help="write a new Ed25519 signing key (PEM) for the secrets manager")
    keygen.add_argument("--out", required=True, help="file to create (never overwritten)")
    keygen.set_defaults(handler=cmd_export_keygen)
    public = export_commands.add_parser("public-key", help="print the public key consumers verify deliveries with")
    public.set_defaults(handler=cmd_export_public_key)
    pool = export_commands.add_parser("talent-pool", help="the high-skilled talent pool as CSV (pseudonyms only)")
    pool.add_argument("--out", required=True, help="the CSV file to write")
    pool.add_argument("--region", help="a province, city or county code")
    pool.add_argument("--occupation", help="an occupation code, D-DD-DD-DD")
    pool.set_defaults(handler=cmd_export_talent_pool)
    lists = export_commands.add_parser(
        "public-lists", help="each catalogue year's published lists and credit grades (HTML and CSV, no personal data)"
    )
    lists.add_argument("--year", type=int, help="one catalogue year (default: every year loaded)")
    lists.set_defaults(handler=cmd_export_public_lists)

    api = commands.add_parser("api", help="the archive read API (serves by default; tokens; OpenAPI document)")
    api.add_argument("--host", help=f"listen address (default {settings.API_HOST_ENV} or 127.0.0.1)")
    api.add_argument("--port", type=positive_argument, help=f"port (default {settings.API_PORT_ENV} or 8000)")
    api.add_argument("--workers", type=positive_argument, default=1, help="uvicorn worker processes (default 1)")
    api.set_defaults(handler=cmd_api_serve)
    api_commands = api.add_subparsers(dest="api_command")
    openapi = api_commands.add_parser("openapi", help="print the OpenAPI document (docs/openapi.json is this)")
    openapi.set_defaults(handler=cmd_api_openapi)
    token = api_commands.add_parser("token", help="issue, revoke and list API tokens (stored hashed)")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    issue = token_commands.add_parser("issue", help="a new token, printed once")
    issue.add_argument("--label", required=True, help="who holds it, e.g. 'social-security card service'")
    issue.add_argument(
        "--scope", required=True, choices=["archive", "province", "county"],
        help="archive: every archive (archive_reader); province: archives and metrics; county: one county's",
    )  # fmt: skip
    issue.add_argument("--county", help="the county of a county token, e.g. 141125")
    issue.set_defaults(handler=cmd_api_token_issue)
    revoke = token_commands.add_parser("revoke", help="revoke a token by its number")
    revoke.add_argument("token_id", type=positive_argument, help="the number `token list` shows")
    revoke.set_defaults(handler=cmd_api_token_revoke)
    tokens_list = token_commands.add_parser("list", help="every token's number, scope, county, label and status")
    tokens_list.set_defaults(handler=cmd_api_token_list)
