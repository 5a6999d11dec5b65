"""Faults during a night: a killed loader, a restarted server, a killed local run. Each must leave a state that a
plain re-run turns into exactly the clean run's state (bench/fault_injection.py runs the same at length)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skills_pipeline.local import runner
from skills_pipeline.local.embedded_watchdog import pg_ctl

pytestmark = pytest.mark.integration
BENCH = Path(__file__).resolve().parents[2] / "bench" / "fault_injection.py"


def _faults_module():
    spec = importlib.util.spec_from_file_location("fault_injection", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def faults():
    return _faults_module()


def test_killed_and_restarted_ingestion_converges_to_the_clean_run(faults, tmp_path):
    """Two SIGKILLs of the loader at random moments and one PostgreSQL restart under it, on a server of the test's
    own (restarting the session's server would break the other tests' connections)."""
    import pgserver

    runner.ensure_local_pseudonym_key()
    server = pgserver.get_server(tmp_path / "pgdata", cleanup_mode="stop")
    try:
        url = server.get_uri()
        faults.generate(tmp_path / "landing", persons=300)
        pipeline = faults.Pipeline(url, tmp_path / "landing", tmp_path / "state", steps=("ingest",))
        results, clean = faults.run_trials(pipeline, tmp_path / "pgdata", trials=2, restarts=1, seed=7, log=print)
    finally:
        server.cleanup()
        # A server that pg_ctl restarted under the loader is no longer the one pgserver started, and its cleanup
        # left it running after the suite: stop whatever still holds the data directory.
        if (tmp_path / "pgdata" / "postmaster.pid").exists():
            pg_ctl(tmp_path / "pgdata", "stop")
    assert [t.converged for t in results] == [True, True, True], [t.detail for t in results]
    assert sum("interrupted" in t.detail for t in results) >= 1, "no fault struck while the loader was working"


def test_a_killed_local_run_does_not_leave_its_embedded_server_running(tmp_path):
    env = {**os.environ, "SKILLS_STATE_DIR": str(tmp_path)}
    env.pop("SKILLS_WAREHOUSE_URL", None)
    script = (
        "from skills_pipeline.local import embedded; import time; "
        "embedded.start_embedded(); print('up', flush=True); time.sleep(300)"
    )
    process = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "up"
    pid_file = tmp_path / "pgdata" / "postmaster.pid"
    assert pid_file.exists()
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 60
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not pid_file.exists(), "the embedded PostgreSQL outlived the killed run"


def test_a_worker_with_no_warehouse_configured_fails_naming_the_variable_and_the_connection(monkeypatch):
    from skills_pipeline import settings, warehouse

    monkeypatch.delenv("SKILLS_WAREHOUSE_URL", raising=False)
    with pytest.raises(settings.ConfigurationError) as error:
        warehouse.warehouse_url()
    assert "SKILLS_WAREHOUSE_URL" in str(error.value) and "skills_warehouse" in str(error.value)
    from skills_pipeline.local import embedded

    assert not embedded.uses_embedded_server()  # nothing was started behind the worker's back


def test_a_worker_told_to_use_the_embedded_server_refuses_instead_of_starting_one(monkeypatch):
    """`embedded` is a request to the local tools; production code never starts a private database."""
    from skills_pipeline import settings, warehouse
    from skills_pipeline.local import embedded

    monkeypatch.setenv("SKILLS_WAREHOUSE_URL", settings.EMBEDDED_WAREHOUSE)
    with pytest.raises(settings.ConfigurationError, match="not by a deployed worker"):
        warehouse.warehouse_url()
    assert not embedded.uses_embedded_server()


def test_configuration_errors_are_one_line_before_anything_starts(monkeypatch, tmp_path, capsys):
    from skills_pipeline import cli

    monkeypatch.setenv("SKILLS_WAREHOUSE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert cli.main(["ingest", "--date", "2026-06-01", "--landing-root", str(tmp_path)]) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("error: cannot connect to the warehouse") and "\n" not in message
    assert "SKILLS_WAREHOUSE_URL" in message

    assert cli.main(["ingest", "--date", "2026-06-01", "--landing-root", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err

    monkeypatch.setenv("SKILLS_PSEUDONYM_KEY", "short")
    assert cli.main(["run", "--landing-root", str(tmp_path), "--date", "2026-06-01"]) == 2
    message = capsys.readouterr().err.strip()
    assert "too short" in message and "\n" not in message

    monkeypatch.setenv("SKILLS_MAX_BAD_ROW_SHARE", "lots")
    assert cli.main(["ingest", "--date", "2026-06-01", "--landing-root", str(tmp_path)]) == 2
    assert "SKILLS_MAX_BAD_ROW_SHARE='lots'" in capsys.readouterr().err


def test_every_cli_option_has_help_text():
    from skills_pipeline import cli

    def walk(parser):
        for action in parser._actions:
            if action.dest in ("help",) or action.help == "==SUPPRESS==":
                continue
            if action.choices and isinstance(action.choices, dict):  # sub-commands
                for sub in action.choices.values():
                    yield from walk(sub)
                continue
            yield parser.prog, action

    missing = [f"{prog} {action.dest}" for prog, action in walk(cli.build_parser()) if not action.help]
    assert missing == []
