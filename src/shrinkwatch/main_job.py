"""The main job: the demo plant through the whole Airflow pipeline to the report.

Runs the real DAGs with `airflow dags test` (each a real DAG run recorded in the
Airflow metadata database on the warehouse's server): the three extract DAGs,
then the transform DAG that their Assets schedule.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from shrinkwatch import report
from shrinkwatch.airflow.ids import EXTRACT_DAGS, TRANSFORM_DAG
from shrinkwatch.postgres import drop_database, ensure_database
from shrinkwatch.quality.context import data_docs_index, results_dir
from shrinkwatch.runtime import Runtime
from shrinkwatch.settings import Settings, mask_secrets

log = logging.getLogger(__name__)

DEMO_MES_FAULT_EVERY = 40  # the demo MES answers 429 / 503 now and then, as real ones do


@dataclass
class MainJobRun:
    summary: dict
    seconds: dict[str, float] = field(default_factory=dict)
    # DAGs whose run failed: only the transform DAG may fail without stopping
    # the job, since a blocked publish is a result the report must show
    failed_dags: list[str] = field(default_factory=list)


def _generator_fingerprint() -> str:
    """Changes whenever the simulator's code does: a plant made by older code is stale."""
    import hashlib
    from pathlib import Path

    import shrinkwatch.demo as demo

    digest = hashlib.sha256()
    for source in sorted(Path(demo.__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def ensure_demo_plant(settings: Settings) -> tuple[dict, bool]:
    """Generate the demo plant unless the same one (same parameters, same
    simulator) is there: a rerun then reads exactly the same source data.
    Returns the plant's manifest and whether it was (re)generated."""
    from shrinkwatch.demo import generate_plant

    params = {
        "seed": settings.demo_seed,
        "scale": settings.demo_scale,
        "days": settings.demo_days,
        "plants": settings.demo_plants,
    }
    manifest = settings.demo_dir / "plant.json"
    fingerprint_file = settings.demo_dir / ".generator"
    fingerprint = _generator_fingerprint()
    if manifest.exists() and fingerprint_file.exists() and fingerprint_file.read_text() == fingerprint:
        existing = json.loads(manifest.read_text())
        if all(existing.get("parameters", {}).get(k) == v for k, v in params.items()):
            return existing, False
    plant = generate_plant(settings.demo_dir, **params)
    fingerprint_file.write_text(fingerprint)
    return plant, True


# What the main job on configured sources must be told: it never falls back to
# the demo plant's paths.
SOURCE_SETTINGS = (
    "SHRINKWATCH_ERP_URL",
    "SHRINKWATCH_WMS_LANDING_DIR",
    "SHRINKWATCH_MES_BASE_URL",
    "SHRINKWATCH_LOCATION_MAP",
)


def check_configured_sources(settings: Settings) -> None:
    """Raise ValueError naming every source setting that is unset or points nowhere."""
    from shrinkwatch.settings import env

    problems = [f"{name} is not set" for name in SOURCE_SETTINGS if env(name) is None]
    if not problems:
        if not settings.wms_landing_dir.is_dir():
            problems.append(f"SHRINKWATCH_WMS_LANDING_DIR={settings.wms_landing_dir} is not a directory")
        if not settings.location_map.is_file():
            problems.append(f"SHRINKWATCH_LOCATION_MAP={settings.location_map} is not a file")
    if problems:
        raise ValueError("the main job on configured sources needs every source configured: " + "; ".join(problems))


def run_main_job(settings: Settings, *, demo: bool = True,
                 dags: tuple[str, ...] = (*EXTRACT_DAGS.values(), TRANSFORM_DAG),
                 mes_fault_every: int = DEMO_MES_FAULT_EVERY, keep_warehouse: bool = False) -> MainJobRun:
    """Run the DAGs and write the run report. `demo`: generate (or reuse) the
    demo plant and serve its MES unless a MES is configured; otherwise the
    sources are the configured ones (`check_configured_sources`) and nothing
    is generated or dropped."""
    if not demo:
        check_configured_sources(settings)
    runtime = Runtime(settings)
    seconds: dict[str, float] = {}
    with ExitStack() as stack:
        started = time.monotonic()
        warehouse = runtime.start_warehouse()
        if not keep_warehouse:
            stack.callback(runtime.stop_warehouse)
        seconds["warehouse"] = time.monotonic() - started

        if demo:
            started = time.monotonic()
            _, regenerated = ensure_demo_plant(settings)
            if regenerated and runtime.embedded:
                # a new plant is a new world: the embedded warehouse must not mix the
                # previous plant's rows into it (an external warehouse is never dropped)
                drop_database(warehouse, warehouse.dbname)
                ensure_database(warehouse, warehouse.dbname)
            seconds["demo_plant"] = time.monotonic() - started

        mes_base_url = settings.mes_base_url
        if not mes_base_url:
            from shrinkwatch.demo.mes_server import MesServer

            server = MesServer(settings.demo_dir / "mes.sqlite", settings.mes_token,
                               fault_every=mes_fault_every)
            server.start()
            stack.callback(server.stop)
            mes_base_url = server.base_url

        env = {**runtime.airflow_env(warehouse, mes_base_url), **runtime.dbt_env(warehouse)}
        started = time.monotonic()
        runtime.prepare_airflow(env)
        seconds["setup"] = time.monotonic() - started

        failed_dags = []
        for dag_id in dags:
            started = time.monotonic()
            log.info("running DAG %s", dag_id)
            # an extract failure stops the job; a failed transform run (the
            # publish gate held the marts back) is reported below
            done = runtime.run(["airflow", "dags", "test", dag_id], env, check=dag_id != TRANSFORM_DAG)
            if done.returncode:
                log.error("DAG %s failed: see its task logs in %s", dag_id, f"{env['AIRFLOW_HOME']}/logs")
                failed_dags.append(dag_id)
            seconds[dag_id] = time.monotonic() - started

        summary = report.collect(warehouse.conninfo())
        summary["data_docs"] = str(data_docs_index(results_dir(settings.home)))
        summary["warehouse"] = mask_secrets(warehouse.sqlalchemy_url())
        report.write(summary, settings.home / "reports" / "run_summary.json")
    return MainJobRun(summary, seconds, failed_dags)
