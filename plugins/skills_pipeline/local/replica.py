"""A streaming replica (hot standby) of the warehouse, started locally: what serves reads past one machine.

The read API and the analysts' queries do not need the primary: a hot standby replays the primary's WAL and answers
read-only queries, with the same roles, grants and row-level security (they are catalog rows, replicated too). In
production the standby is a server of its own (docs/scaling.md); locally, `make stack` and the tests start one beside
the warehouse with PostgreSQL's own tools: pg_basebackup copies the primary and writes standby.signal with the
primary's connection (-R), and pg_ctl starts it on a socket folder of its own. The binaries are the embedded
server's (pgserver ships them), else the PATH's.

The primary must accept a replication connection from this machine: the embedded server and a default Debian
cluster do over their local socket (initdb's `local replication all trust`).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

REPLICATION_ROLE = "skills_replicator"


class ReplicaError(RuntimeError):
    """The standby could not be copied or started; the message names the step and its log."""


def _binary(name: str) -> str:
    try:
        import pgserver  # noqa: F401  (its binaries match the embedded server's version)

        bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / name
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which(name)
    if found is None:
        raise ReplicaError(f"{name} not found: install PostgreSQL's client tools (Debian: postgresql-client)")
    return found


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, the standby runs as the embedded server's own system user."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    from pgserver.utils import ensure_user_exists

    return ensure_user_exists("pgserver").pw_name


def _own_folder(path: Path, user: str | None) -> None:
    """An empty folder of mode 0700 that `user` owns and can reach (its parents made traversable, as pgserver does)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    if user is not None:
        from pgserver.utils import ensure_prefix_permissions

        ensure_prefix_permissions(path)
        shutil.chown(path, user, user)


@dataclass
class Standby:
    """A hot standby in `data_dir`, listening on the socket folder `socket_dir` (no TCP port)."""

    data_dir: Path
    socket_dir: Path
    primary_url: str

    @property
    def url(self) -> str:
        """The standby's URL for the same user and database as the primary's."""
        params = psycopg.conninfo.conninfo_to_dict(self.primary_url)
        params.pop("port", None)
        params["host"] = str(self.socket_dir)
        return psycopg.conninfo.make_conninfo(**params)

    @classmethod
    def start(cls, primary_url: str, data_dir: Path, timeout: float = 120) -> Standby:
        """Copy the primary into `data_dir` (emptied first) and start it as a hot standby streaming from it."""
        data_dir = Path(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
        run_dir = data_dir.with_name(data_dir.name + "-run")  # its socket and its log
        user = _server_user()
        for folder in (data_dir, run_dir):
            _own_folder(folder, user)
        as_user = {"user": user} if user else {}
        socket_dir = run_dir
        standby = cls(data_dir, socket_dir, primary_url)
        with psycopg.connect(primary_url, autocommit=True) as conn:
            if not conn.execute("select from pg_roles where rolname = %s", (REPLICATION_ROLE,)).fetchone():
                conn.execute(f"create role {REPLICATION_ROLE} with login replication")
        params = psycopg.conninfo.conninfo_to_dict(primary_url)
        params.update(user=REPLICATION_ROLE, dbname="replication")
        params.pop("password", None)
        copy = subprocess.run(
            [_binary("pg_basebackup"), "--dbname", psycopg.conninfo.make_conninfo(**params), "--pgdata",
             str(data_dir), "--write-recovery-conf", "--wal-method", "stream", "--checkpoint", "fast",
             "--no-password"],
            capture_output=True, text=True, timeout=timeout, **as_user,
        )  # fmt: skip
        if copy.returncode != 0:
            raise ReplicaError(f"pg_basebackup of the primary failed: {copy.stderr.strip()}")
        # The standby's own settings: a socket folder of its own, no TCP, and it must not ship WAL anywhere.
        with open(data_dir / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
            conf.write(
                f"\nunix_socket_directories = '{socket_dir}'\nlisten_addresses = ''\nhot_standby = on\n"
                "hot_standby_feedback = on\narchive_mode = off\n"
            )
        log_file = run_dir / "standby.log"
        # stdout and stderr to files: a pipe held by the server pg_ctl leaves running would never reach its end
        with open(run_dir / "pg_ctl.out", "w+") as output:
            started = subprocess.run(
                [_binary("pg_ctl"), "--pgdata", str(data_dir), "--log", str(log_file), "--wait",
                 f"--timeout={int(timeout)}", "start"],
                stdout=output, stderr=subprocess.STDOUT, text=True, **as_user,
            )  # fmt: skip
            output.seek(0)
            said = output.read().strip()
        if started.returncode != 0:
            raise ReplicaError(f"the standby did not start: {said} (log: {log_file})")
        standby.wait_until_streaming(timeout)
        log.info("hot standby of %s streaming in %s", primary_url, data_dir)
        return standby

    def wait_until_streaming(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.url, connect_timeout=2) as conn:
                    receiving = conn.execute(
                        "select pg_is_in_recovery() and exists (select from pg_stat_wal_receiver "
                        "where status = 'streaming')"
                    ).fetchone()[0]
                if receiving:
                    return
            except psycopg.OperationalError:
                pass
            time.sleep(0.2)
        raise ReplicaError(f"the standby in {self.data_dir} is not streaming after {timeout:.0f}s")

    def wait_for_primary(self, timeout: float = 60) -> float:
        """Wait until the standby has replayed everything the primary had written when called; returns seconds."""
        started = time.monotonic()
        with psycopg.connect(self.primary_url, autocommit=True) as primary:
            target = primary.execute("select pg_current_wal_lsn()").fetchone()[0]
        with psycopg.connect(self.url, autocommit=True) as standby:
            while time.monotonic() - started < timeout:
                if standby.execute("select pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()[0]:
                    return time.monotonic() - started
                time.sleep(0.05)
        raise ReplicaError(f"the standby did not replay the primary's WAL up to {target} within {timeout:.0f}s")

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            user = _server_user()
            subprocess.run(
                [_binary("pg_ctl"), "--pgdata", str(self.data_dir), "--mode", "fast", "--wait", "stop"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **({"user": user} if user else {}),
            )  # fmt: skip

    def __enter__(self) -> Standby:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
