"""Stop the embedded PostgreSQL once the process that started it is gone, however it ended.

pgserver stops its server from an atexit hook when the last process using it exits; a SIGKILL (or an OOM kill)
skips the hook and leaves the server running, and leaves the dead process in pgserver's list of users, which
would keep every later run from stopping it too. Started detached by embedded.start_embedded():

    python -m skills_pipeline.local.embedded_watchdog PARENT_PID PGDATA
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

POLL_SECONDS = 1.0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_if_unused(pgdata: Path) -> bool:
    """Forget users that no longer exist; stop the server if none is left. Returns whether it was stopped."""
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import DiskList

    with PostgresServer._lock:  # the same inter-process lock pgserver takes when it adds or removes a user
        users = DiskList(pgdata / ".handle_pids.json")
        living = [pid for pid in users.get() if alive(pid)]
        users.put(living)
        if living or not (pgdata / "postmaster.pid").exists():
            return False
        pg_ctl(pgdata, "stop")
        return True


def pg_ctl(pgdata: Path, action: str, wait_seconds: int = 120) -> None:
    """`pg_ctl -w -m fast <action>` on an embedded server, as the user pgserver runs it as (under root: pgserver).
    A restart that fails (on a loaded machine the server can miss pg_ctl's wait) is tried once more: restarting a
    stopped server starts it with the options it was last started with."""
    from pgserver import _commands

    user = "pgserver" if os.geteuid() == 0 else None
    command = ["-w", "-t", str(wait_seconds), "-m", "fast", action]
    try:
        _commands.pg_ctl(command, pgdata=pgdata, user=user)
    except Exception:
        if action != "restart":
            raise
        time.sleep(2)
        _commands.pg_ctl(command, pgdata=pgdata, user=user)


def main(argv: list[str]) -> int:
    parent, pgdata = int(argv[0]), Path(argv[1])
    while alive(parent):
        time.sleep(POLL_SECONDS)
    try:
        stop_if_unused(pgdata)
    except Exception:  # the server may already be stopping (a normal exit): nothing left to do
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
