# The meshmark Airflow image: the official Apache Airflow image plus this package and its pinned
# dependencies. Used by docker-compose.yml and, pushed to a registry, by the Helm values in
# deploy/helm/values.yaml. The tag's Airflow version must equal pyproject's apache-airflow pin
# (tests/deploy checks it).
#
#   docker build -t meshmark-airflow:0.1.0 .
FROM apache/airflow:3.3.2-python3.11

# Runtime dependencies first, in their own layer, so code changes rebuild in seconds. Only what the
# image lacks is installed: the official image already holds Airflow and its providers at the versions
# of Airflow's constraints for 3.3.2, and those stay as they are (see deploy/image/missing_requirements.py
# for the rule). requirements-runtime.lock has no dev tools (`make lock` writes it); `pip check` below
# fails the build if what we add does not fit what the image has.
COPY --chown=airflow:0 requirements-runtime.lock pyproject.toml deploy/image/missing_requirements.py /opt/meshmark/
RUN python /opt/meshmark/missing_requirements.py /opt/meshmark/requirements-runtime.lock \
        /opt/meshmark/pyproject.toml > /tmp/meshmark-missing.txt \
    && pip install --no-cache-dir --no-deps "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/meshmark-missing.txt \
    && rm /tmp/meshmark-missing.txt

# The package itself (no dependency resolution: everything it needs is in place above).
COPY --chown=airflow:0 README.md /opt/meshmark/
COPY --chown=airflow:0 meshmark_tasks /opt/meshmark/meshmark_tasks
RUN pip install --no-cache-dir --no-deps /opt/meshmark && pip check

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
