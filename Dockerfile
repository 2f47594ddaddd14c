# The meshmark Airflow image: the official Apache Airflow image plus this package and its pinned
# dependencies. Used by docker-compose.yml and, pushed to a registry, by the Helm values in
# deploy/helm/values.yaml. The tag's Airflow version must equal pyproject's apache-airflow pin
# (tests/deploy checks it).
#
#   docker build -t meshmark-airflow:0.1.0 .
FROM apache/airflow:3.3.2-python3.11

# Pinned dependencies first, in their own layer, so code changes rebuild in seconds.
COPY --chown=airflow:0 requirements.lock /opt/meshmark/requirements.lock
RUN pip install --no-cache-dir -r /opt/meshmark/requirements.lock

# The package itself (no dependency resolution: everything it needs is pinned above).
COPY --chown=airflow:0 pyproject.toml README.md /opt/meshmark/
COPY --chown=airflow:0 meshmark_tasks /opt/meshmark/meshmark_tasks
RUN pip install --no-cache-dir --no-deps /opt/meshmark

# Profiles, expectation suites and DAGs are baked in; docker-compose.yml mounts ./dags over the DAG
# folder for development.
COPY --chown=airflow:0 profiles /opt/meshmark/profiles
COPY --chown=airflow:0 expectations /opt/meshmark/expectations
COPY --chown=airflow:0 dags /opt/airflow/dags

# An installed package cannot find the checkout's profiles/, expectations/ and var/data: say where.
ENV MESHMARK_PROFILES_DIR=/opt/meshmark/profiles \
    MESHMARK_EXPECTATIONS_DIR=/opt/meshmark/expectations \
    MESHMARK_STORAGE_ROOT=/opt/airflow/meshmark-data

USER airflow
