"""docker-compose.yml structure (this machine has no Docker engine; `docker compose config` runs where one is)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_has_the_stack_with_health_checks_and_no_secrets():
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker", "airflow-triggerer",
            "airflow-init", "airflow-metadata", "warehouse", "redis", "archive-api"} <= set(services)  # fmt: skip
    # the heavy queue has a worker of its own, which also serves the default queue
    assert "--queues heavy,default" in services["airflow-worker-heavy"]["command"]
    assert compose["x-airflow-common"]["environment"]["SKILLS_HEAVY_QUEUE"] == "heavy"
    for name, service in services.items():
        if name != "airflow-init":
            assert "healthcheck" in service, name
    assert services["airflow-scheduler"]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert "change-me" not in text and "password:" not in text.lower().replace("_password:", "")
    assert (ROOT / ".env.example").exists()


def _compose_command() -> list[str]:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor `docker-compose` is installed: run `make test` (it installs one)")


def test_docker_compose_config_accepts_the_file(tmp_path):
    """The file passes `docker compose config` with the variables of .env.example filled in."""
    example = (ROOT / ".env.example").read_text()
    env_file = tmp_path / ".env"
    env_file.write_text(
        example.replace("change-me", "example-only").replace(
            "SKILLS_PSEUDONYM_KEY=\n", "SKILLS_PSEUDONYM_KEY=0123456789abcdef0123456789abcdef\n"
        )
    )
    result = subprocess.run(
        [*_compose_command(), "--env-file", str(env_file), "--project-directory", str(ROOT), "config"],
        cwd=ROOT, capture_output=True, text=True, env={"PATH": os.environ["PATH"]},  # only the env file's values
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    worker = rendered["services"]["airflow-worker"]
    assert worker["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert worker["environment"]["SKILLS_PSEUDONYM_KEY"] == "0123456789abcdef0123456789abcdef"  # from .env only
    # People log in as themselves (FAB), services as their own warehouse logins, never as the administrator.
    assert worker["environment"]["AIRFLOW__CORE__AUTH_MANAGER"].endswith("fab_auth_manager.FabAuthManager")
    assert worker["environment"]["SKILLS_WAREHOUSE_URL"].startswith("postgresql://skills_loader_svc:")
    assert worker["environment"]["SKILLS_TRANSFORMER_URL"].startswith("postgresql://skills_transformer_svc:")
    assert worker["environment"]["SKILLS_DBT_USER"] == "skills_transformer_svc"
    for name, service in rendered["services"].items():
        if name != "airflow-init":
            assert "postgresql://skills:" not in str(service.get("environment", {})), name
    init = " ".join(rendered["services"]["airflow-init"]["command"])
    assert "airflow pools set skills_heavy" in init and "airflow users create --role Admin" in init
    assert "add-login skills_loader_svc skills_loader" in init
    assert "add-login skills_api_svc archive_api" in init
    api = rendered["services"]["archive-api"]["environment"]
    assert api["SKILLS_WAREHOUSE_URL"].startswith("postgresql://skills_api_svc:")
    assert api["SKILLS_API_HOST"] == "0.0.0.0"
    assert {"SKILLS_ALERT_EMAILS", "SKILLS_NIGHTLY_DEADLINE", "AIRFLOW_CONN_SMTP_DEFAULT"} <= set(worker["environment"])

    # Without the secrets, compose refuses to render rather than starting with empty passwords.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    refused = subprocess.run(
        [*_compose_command(), "--env-file", str(empty), "--project-directory", str(ROOT), "config"],
        cwd=ROOT, capture_output=True, text=True, env={"PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert refused.returncode != 0 and "set it in .env" in refused.stderr
