# The Airflow image plus this project's pinned dependencies and package (dags/ and dbt_project/
# are mounted by docker-compose.yml so they can change without a rebuild).

# The Data Docs' stylesheets and scripts come from the npm registry (checked against the hashes pinned in
# data_docs.py, which needs only the standard library); the Airflow image has no npm, so they are fetched here.
FROM node:20-bookworm AS data-docs-assets
COPY plugins/skills_pipeline/ingest/data_docs.py /tmp/data_docs.py
RUN python3 /tmp/data_docs.py install /data-docs-assets

FROM apache/airflow:3.3.2-python3.11
# requirements/worker.txt: the worker's pins only; the local tools (pgserver, test tools) are not installed here.
COPY --chown=airflow:root requirements/worker.txt pyproject.toml README.md /opt/skills/
COPY --chown=airflow:root plugins /opt/skills/plugins
RUN pip install --no-cache-dir -r /opt/skills/worker.txt \
 && pip install --no-cache-dir --no-deps -e /opt/skills
COPY --from=data-docs-assets --chown=airflow:root /data-docs-assets /opt/skills/data-docs-assets
ENV SKILLS_DATA_DOCS_ASSETS_DIR=/opt/skills/data-docs-assets
