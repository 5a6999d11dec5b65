"""`skills-pipeline`: generate feeds, ingest them, run the nightly pipeline, inspect the ledger.

One module per command group (loading, money, delivery, admin), each adding its commands with register();
this module parses the command line and runs the handler, turning known failures into one line and an exit code.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from skills_pipeline import settings
from skills_pipeline.cli import admin, delivery, loading, money
from skills_pipeline.settlement.runs import SettlementError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skills-pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="also show progress logs on the console")
    commands = parser.add_subparsers(dest="command", required=True)
    for group in (loading, money, delivery, admin):
        group.register(commands)
    return parser


# Commands whose remaining arguments belong to another tool, options included (`warehouse psql -c ...`): argparse's
# REMAINDER does not take an option as its first word, so they are split off before parsing.
PASSTHROUGH = {("dbt",): "dbt_args", ("warehouse", "psql"): "psql_args"}


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    words = [word for word in argv if word not in ("-v", "--verbose")]
    for prefix, destination in PASSTHROUGH.items():
        if tuple(words[: len(prefix)]) == prefix and not {"-h", "--help"} & set(words[len(prefix) : len(prefix) + 1]):
            args = parser.parse_args([*argv[: argv.index(prefix[-1]) + 1]])
            setattr(args, destination, argv[argv.index(prefix[-1]) + 1 :])
            return args
    return parser.parse_args(argv)


def use_local_keys() -> None:
    """With make run's local warehouse, its local keys too (the pseudonym key and the export signing key it made
    under the state folder) where none is configured: the commands its summary suggests then work as printed."""
    from skills_pipeline.local.runner import ensure_local_archive_exports, ensure_local_pseudonym_key

    ensure_local_pseudonym_key()
    ensure_local_archive_exports()


def main(argv: list[str] | None = None) -> int:
    import psycopg

    from skills_pipeline import console, warehouse
    from skills_pipeline.ingest.pseudonyms import PseudonymKeyError

    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    log_path = console.setup(args.command, verbose=args.verbose)
    try:
        if os.environ.get(settings.WAREHOUSE_URL_ENV) == settings.EMBEDDED_WAREHOUSE and args.command != "generate":
            # Asked for by name: the local server, started here so every command (and its children) finds its URL.
            from skills_pipeline.local.embedded import start_embedded

            start_embedded()
            use_local_keys()
        return args.handler(args)
    except (settings.ConfigurationError, PseudonymKeyError, SettlementError, PermissionError, ValueError) as error:
        logging.getLogger(__name__).info("stopped: %s", error, exc_info=True)
        print(f"error: {error}", file=sys.stderr)
        return 2
    except warehouse.WarehouseUnreachable as error:
        logging.getLogger(__name__).info("stopped: %s", error, exc_info=True)
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as any command-line tool does, and keep Python from
        # complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except psycopg.OperationalError as error:
        logging.getLogger(__name__).exception("warehouse connection lost")
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        print(
            f"error: the warehouse connection was lost ({reason}); every file and run is written all or nothing, "
            "so nothing is half-done: run the same command again once the server is back",
            file=sys.stderr,
        )
        return 3
    except Exception as error:
        logging.getLogger(__name__).exception("unexpected failure")
        print(f"error: unexpected {type(error).__name__}; the traceback is in {log_path}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
