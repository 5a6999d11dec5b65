from skills_pipeline.warehouse import redacted, sqlalchemy_url


def test_passwords_are_masked_for_printing():
    assert redacted("postgresql://skills:s3cret@db:5432/skills") == "postgresql://skills:***@db:5432/skills"
    assert redacted("postgresql://postgres:@/postgres?host=/tmp/x") == "postgresql://postgres:***@/postgres?host=/tmp/x"
    assert redacted("postgresql://db/skills") == "postgresql://db/skills"


def test_sqlalchemy_url_uses_psycopg3():
    assert sqlalchemy_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"


def test_the_warehouse_can_come_from_an_airflow_connection(monkeypatch):
    """Under Airflow, without SKILLS_WAREHOUSE_URL, the `skills_warehouse` connection (any secrets backend) is used."""
    import airflow  # noqa: F401  (the lookup only happens inside Airflow processes)

    from skills_pipeline import warehouse

    monkeypatch.delenv("SKILLS_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_SKILLS_WAREHOUSE", "postgresql://loader:s3cret@warehouse.internal:5432/skills")
    url = warehouse.warehouse_url()
    assert url.startswith("postgresql://loader:s3cret@warehouse.internal:5432/skills")


def test_the_api_refuses_to_start_without_a_warehouse(monkeypatch, capsys):
    """Unconfigured, `skills-pipeline api` says what to set and never starts a server that would answer 500s."""
    from skills_pipeline import cli
    from skills_pipeline.delivery import api

    for name in (
        "SKILLS_WAREHOUSE_URL",
        "SKILLS_API_WAREHOUSE_URL",
        "AIRFLOW_CONN_SKILLS_WAREHOUSE",
        "SKILLS_API_HOST",
        "SKILLS_API_PORT",
    ):
        monkeypatch.delenv(name, raising=False)
    served = []
    monkeypatch.setattr(api, "serve", lambda *args, **kwargs: served.append(args))
    assert cli.main(["api"]) == 2
    assert "no warehouse configured" in capsys.readouterr().err and served == []
    monkeypatch.setenv("SKILLS_API_WAREHOUSE_URL", "postgresql://api_svc@db/skills")
    assert cli.main(["api"]) == 0 and served == [("127.0.0.1", 8000)]


def test_a_warehouse_never_reached_is_one_line_naming_where_and_exit_2(monkeypatch, capsys):
    from skills_pipeline import cli

    monkeypatch.setenv("SKILLS_WAREHOUSE_URL", "postgresql://reader@127.0.0.1:1/warehouse")  # nothing listens on 1
    assert cli.main(["ledger", "--date", "2026-06-01"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: cannot connect to the warehouse at 127.0.0.1:1 (")
    assert "Traceback" not in err and "SKILLS_WAREHOUSE_URL" in err


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """`skills-pipeline … | head`: a closed pipe is not an error and prints no traceback."""
    import subprocess
    import sys

    script = (
        "from skills_pipeline import cli\n"
        "def handler(args):\n"
        "    for n in range(100000): print('line', n)\n"
        "    return 0\n"
        "cli.loading.cmd_ledger = handler\n"
        "raise SystemExit(cli.main(['ledger', '--date', '2026-06-01']))\n"
    )
    reader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.readline()
    reader.stdout.close()  # what `head -1` does after its line
    stderr = reader.stderr.read().decode()
    assert reader.wait(timeout=60) == 0 and "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_with_make_runs_warehouse_the_cli_uses_make_runs_local_keys(monkeypatch, tmp_path, capsys):
    """`export public-key` right after `make run`: the local signing key make run made is the one used."""
    from skills_pipeline import cli
    from skills_pipeline.delivery import signing

    monkeypatch.setenv("SKILLS_STATE_DIR", str(tmp_path))
    for name in (signing.KEY_ENV, signing.KEY_FILE_ENV, "SKILLS_ARCHIVE_EXPORT_ROOT"):
        monkeypatch.delenv(name, raising=False)
    pem = signing.new_private_key_pem()
    (tmp_path / "export-signing.pem").write_bytes(pem)
    cli.use_local_keys()
    assert cli.main(["export", "public-key"]) == 0
    expected = signing.public_key_pem(signing.private_key_from_pem(pem)).decode()
    assert capsys.readouterr().out == expected
