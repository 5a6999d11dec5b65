# The Airflow image plus this project's pinned dependencies and package (dags/ and dbt_project/
# are mounted by docker-compose.yml so they can change without a rebuild).
FROM apache/airflow:3.3.2-python3.11
# requirements/worker.txt: the worker's pins only; the local tools (pgserver, test tools) are not installed here.
COPY --chown=airflow:root requirements/worker.txt pyproject.toml README.md /opt/skills/
COPY --chown=airflow:root plugins /opt/skills/plugins
RUN pip install --no-cache-dir -r /opt/skills/worker.txt \
 && pip install --no-cache-dir --no-deps -e /opt/skills
