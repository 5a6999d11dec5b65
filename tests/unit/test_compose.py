"""docker-compose.yml structure (this machine has no Docker engine; `docker compose config` runs where one is)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_has_the_stack_with_health_checks_and_no_secrets():
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker", "airflow-triggerer",
            "airflow-init", "airflow-metadata", "warehouse", "redis"} <= set(services)  # fmt: skip
    for name, service in services.items():
        if name != "airflow-init":
            assert "healthcheck" in service, name
    assert services["airflow-scheduler"]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert "change-me" not in text and "password:" not in text.lower().replace("_password:", "")
    assert (ROOT / ".env.example").exists()
