"""The id of every DAG and task, named once: the DAG definitions, the tasks
that read their run's task states and the main job that runs the DAGs all
import them from here. Plain strings, so that importing them pulls in no
Airflow."""

from __future__ import annotations

SYSTEMS = ("erp", "wms", "mes")
EXTRACT_DAGS = {system: f"extract_{system}" for system in SYSTEMS}
LOAD_TASKS = {system: f"load_{system}" for system in SYSTEMS}

TRANSFORM_DAG = "transform"
DBT_BUILD_STAGING = "dbt_build_staging"
VALIDATE_STAGING = "validate_staging"
VALIDATE_STAGING_WARNINGS = "validate_staging_warnings"
DBT_BUILD_MARTS = "dbt_build_marts"
VALIDATE_MARTS = "validate_marts"
PUBLISH_MARTS = "publish_marts"
REPORT = "report"

# The transform tasks whose failure blocks the publish (the warnings task does not).
CRITICAL_TRANSFORM_TASKS = (
    DBT_BUILD_STAGING,
    VALIDATE_STAGING,
    DBT_BUILD_MARTS,
    VALIDATE_MARTS,
    PUBLISH_MARTS,
)
