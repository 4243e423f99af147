# One image for every Airflow component of docker-compose.yml: the locked
# environment, the package, the DAGs, the dbt project (pre-parsed, so Cosmos
# renders from the manifest) and the GX context.
FROM python:3.11-slim
ENV UV_PYTHON_DOWNLOADS=never \
    GX_ANALYTICS_ENABLED=false \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    PATH=/opt/shrinkwatch/.venv/bin:$PATH
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /opt/shrinkwatch
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
RUN uv sync --frozen --no-dev
COPY dags ./dags
COPY plugins ./plugins
COPY dbt_project ./dbt_project
COPY expectations ./expectations
# parsing needs no database; the profile only has to resolve
RUN SHRINKWATCH_PG_HOST=unused dbt parse --project-dir dbt_project --profiles-dir dbt_project
RUN useradd --create-home --uid 50000 airflow && mkdir -p /var/lib/shrinkwatch \
    && chown -R airflow /var/lib/shrinkwatch /opt/shrinkwatch/expectations /opt/shrinkwatch/dbt_project
USER airflow
