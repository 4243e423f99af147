# The two commands: `make demo` (the main job) and `make test` (the suite).
# Both install what they need: uv (pinned) into .tools/, then the locked
# environment from uv.lock into .venv/. Only Python 3.11 is assumed.

SHELL := /bin/bash
UV_VERSION := 0.13.9
PYTHON ?= 3.11
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never
export GX_ANALYTICS_ENABLED := false
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: demo test bench lint sql-fix db-start db-stop airflow airflow-down clean

demo: .venv/.synced
	.venv/bin/shrinkwatch demo

# Two workers, one per core: the pipeline module (collected first, see
# tests/conftest.py) on one, every other module on the other.
test: .venv/.synced test-tools
	.venv/bin/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

# Speed and memory of the extractors on a generated plant: prints figures.
bench: .venv/.synced
	.venv/bin/python -m shrinkwatch.benchmark --scale $(or $(SCALE),0.04)

# Style, none of it against a database: ruff (Python, with Airflow's AIR
# rules); sqlfluff with the dbt templater on the models (.sqlfluff; through
# .ci/sqlfluff_offline.py, which compiles them without a server); dbt-score
# on the manifest of `dbt parse` ([tool.dbt-score] in pyproject.toml). The
# dbt profile wants a host: a socket directory that does not exist, so that
# anything trying to connect fails at once.
LINT_DBT_ENV := SHRINKWATCH_PG_HOST=/nonexistent/lint-connects-to-no-database
lint: .venv/.synced
	$(UV) run --frozen ruff check src dags tests
	$(LINT_DBT_ENV) $(UV) run --frozen python .ci/sqlfluff_offline.py lint dbt_project/models
	$(LINT_DBT_ENV) $(UV) run --frozen dbt parse --quiet --project-dir dbt_project --profiles-dir dbt_project
	$(UV) run --frozen dbt-score lint --show failing-items --manifest dbt_project/target/manifest.json

# The fixes sqlfluff can make itself (then lint again for the rest).
sql-fix: .venv/.synced
	$(LINT_DBT_ENV) $(UV) run --frozen python .ci/sqlfluff_offline.py fix dbt_project/models

# The real scheduler in the background (UI and REST API on 127.0.0.1:8080);
# `make airflow EXECUTOR=celery` runs the tasks on Celery workers instead.
airflow: .venv/.synced
	.venv/bin/shrinkwatch airflow up --executor $(or $(EXECUTOR),local)

airflow-down: .venv/.synced
	.venv/bin/shrinkwatch airflow down

db-start: .venv/.synced
	.venv/bin/shrinkwatch db start

db-stop: .venv/.synced
	.venv/bin/shrinkwatch db stop

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

.venv/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

# Debian tools the tests drive: docker-compose validates docker-compose.yml
# (no Docker engine needed for `config`); headless chromium renders the GX
# Data Docs; redis-server is the Celery broker of the scheduler test (and of
# `shrinkwatch airflow up --executor celery`). Each is both the command and
# its Debian package; `apt-get update` only when a missing one is not in the
# package lists yet.
TEST_TOOLS := docker-compose chromium redis-server
.PHONY: test-tools
test-tools:
	@missing="$$(for tool in $(TEST_TOOLS); do command -v $$tool >/dev/null || echo $$tool; done)"; \
	if [ -n "$$missing" ]; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	    { apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; }; \
	fi

clean:
	-.venv/bin/shrinkwatch airflow down
	-.venv/bin/shrinkwatch db stop
	rm -rf .shrinkwatch .venv .tools dbt_project/target dbt_project/logs expectations/gx/uncommitted
