"""The publish gate on a real PostgreSQL with a real `dbt build`: marts are
built into shadow schemas and swapped in atomically; a run whose critical
contracts fail leaves the last good marts in place and is recorded `blocked`.

The transform DAG's tasks call exactly these functions; running the DAG on a
bad input would take minutes, so the test drives the steps itself in the
DAG's order (staging build, shadow build, mart checks, swap, record).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest

from shrinkwatch import publish, report
from shrinkwatch.extract.warehouse import ensure_schemas
from shrinkwatch.orchestration import CRITICAL_TRANSFORM_TASKS
from shrinkwatch.postgres import PgTarget
from test_dbt_project import M1, _dbt, _insert, _load_raw

MARTS_SELECTION = ("--select", "path:seeds", "path:models/intermediate", "path:models/marts")
MART_ROWS = "select * from marts.fct_daily_source_activity order by 1, 2, 3, 4"
STARTED_AT = datetime(2026, 4, 13, 6, tzinfo=UTC)


def _build_staging(warehouse: PgTarget, tmp_path: Path) -> None:
    built = _dbt(warehouse, tmp_path, "build", "--select", "path:models/staging")
    assert built.returncode == 0, built.stdout[-4000:]


def _build_shadow(warehouse: PgTarget, tmp_path: Path):
    publish.reset_shadow(warehouse.conninfo())
    return _dbt(warehouse, tmp_path, "build", *MARTS_SELECTION, "--vars", json.dumps(publish.SHADOW_DBT_VARS))


def _schemas(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("select nspname from pg_namespace where nspname not like 'pg\\_%'")}


def _states(failed_task: str | None) -> dict[str, str]:
    """Task states of a transform run that failed at `failed_task` (None: all succeeded)."""
    states, outcome = {}, "success"
    for task_id in CRITICAL_TRANSFORM_TASKS:
        if task_id == failed_task:
            states[task_id], outcome = "failed", "upstream_failed"
        else:
            states[task_id] = outcome
    return states


def _record(warehouse: PgTarget, run_id: str, failed_task: str | None = None) -> str:
    status, reason = publish.outcome(_states(failed_task), publish_task_id="publish_marts")
    publish.record_run(warehouse.conninfo(), run_id, STARTED_AT, status, reason)
    return status


def test_marts_are_swapped_in_whole_and_a_blocked_run_leaves_the_last_good_ones(warehouse: PgTarget, tmp_path):
    _load_raw(warehouse)
    with psycopg.connect(warehouse.conninfo()) as conn:
        ensure_schemas(conn)

    # run 1: clean rows → built in the shadow, checked, swapped in
    _build_staging(warehouse, tmp_path)
    built = _build_shadow(warehouse, tmp_path)
    assert built.returncode == 0, built.stdout[-4000:]
    with psycopg.connect(warehouse.conninfo()) as conn:
        assert {"intermediate__shadow", "marts__shadow"} <= _schemas(conn)
        assert not {"intermediate", "marts"} & _schemas(conn), "nothing is built in place"
    publish.validate_shadow(warehouse.conninfo())
    publish.swap_in_shadow(warehouse.conninfo())
    assert _record(warehouse, "run-1") == "published"
    with psycopg.connect(warehouse.conninfo()) as conn:
        schemas = _schemas(conn)
        assert {"intermediate", "marts"} <= schemas
        assert not {s for s in schemas if s.endswith(("__shadow", "__previous"))}, schemas
        published_rows = conn.execute(MART_ROWS).fetchall()
        assert published_rows
        # marts read the seeds that were built beside them
        assert conn.execute("select count(*) from intermediate.unit_conversions").fetchone()[0] > 0

    # run 2: a material keyed once padded and once unpadded is the same material
    # twice: staging (keyed by the padded number) passes, but dim_material's
    # unique key fails in `dbt build` of the marts → nothing is published
    with psycopg.connect(warehouse.conninfo()) as conn:
        _insert(
            conn,
            "erp_material",
            [
                {
                    "matnr": M1.lstrip("0"),
                    "maktx": "twin",
                    "meins": "EA",
                    "critical": "",
                    "std_price": 1,
                    "changed_at": datetime(2026, 4, 12, 10),
                }
            ],
        )
    _build_staging(warehouse, tmp_path)
    built = _build_shadow(warehouse, tmp_path)
    assert built.returncode != 0
    assert "unique_dim_material_material" in built.stdout
    assert _record(warehouse, "run-2", failed_task="dbt_build_marts") == "blocked"
    with psycopg.connect(warehouse.conninfo()) as conn:
        assert conn.execute(MART_ROWS).fetchall() == published_rows
        runs = conn.execute("select run_id, status, reason from ops.publish_runs order by run_id").fetchall()
    assert [(run_id, status) for run_id, status, _ in runs] == [("run-1", "published"), ("run-2", "blocked")]
    assert runs[0][2] is None
    assert "dbt_build_marts failed" in runs[1][2]
    assert "publish_marts upstream_failed" in runs[1][2]
    assert "last published run are still served" in runs[1][2]
    summary = report.collect(warehouse.conninfo())
    assert summary["publish"]["run_id"] == "run-2"
    assert "Marts: run run-2 BLOCKED: critical contracts failed" in report.format_text(summary)

    # run 3: the twin is gone, a new movement arrived; a BI view over the marts
    # would be dropped with the previous schema, so the swap refuses until it
    # is gone, and then publishes the new rows
    with psycopg.connect(warehouse.conninfo()) as conn:
        conn.execute("delete from raw.erp_material where matnr = %s", (M1.lstrip("0"),))
        new_movement = {"mblnr": "4900000005", "mjahr": 2026, "zeile": 1, "shkzg": "H", "bwart": "261"}
        _insert(
            conn,
            "erp_material_doc",
            [
                {
                    **new_movement,
                    "matnr": M1,
                    "werks": "1000",
                    "lgort": "0001",
                    "menge": 4,
                    "meins": "EA",
                    "usnam": "ZHANGW",
                    "cpudt": date(2026, 4, 12),
                    "cputm": "11:00:00",
                }
            ],
        )
        conn.execute("create view ops.bi_materials as select * from marts.dim_material")
    _build_staging(warehouse, tmp_path)
    assert _build_shadow(warehouse, tmp_path).returncode == 0
    publish.validate_shadow(warehouse.conninfo())
    with pytest.raises(publish.PublishRefused, match="ops.bi_materials"):
        publish.swap_in_shadow(warehouse.conninfo())
    with psycopg.connect(warehouse.conninfo()) as conn:
        assert conn.execute(MART_ROWS).fetchall() == published_rows, "a refused swap changes nothing"
        conn.execute("drop view ops.bi_materials")
    publish.swap_in_shadow(warehouse.conninfo())
    assert _record(warehouse, "run-3") == "published"
    with psycopg.connect(warehouse.conninfo()) as conn:
        assert conn.execute(MART_ROWS).fetchall() != published_rows


def test_the_mart_check_blocks_a_build_that_lost_its_movements(warehouse: PgTarget, tmp_path):
    _load_raw(warehouse)
    _build_staging(warehouse, tmp_path)
    assert _build_shadow(warehouse, tmp_path).returncode == 0
    with psycopg.connect(warehouse.conninfo()) as conn:
        conn.execute("truncate marts__shadow.fct_movement")
    with pytest.raises(publish.CriticalContractFailed, match=r"marts__shadow\.fct_movement is empty.*stg_erp__"):
        publish.validate_shadow(warehouse.conninfo())


def test_a_run_publishes_only_when_its_publish_task_succeeded():
    assert publish.outcome(_states(None), publish_task_id="publish_marts") == ("published", None)
    status, reason = publish.outcome(_states("validate_staging"), publish_task_id="publish_marts")
    assert status == "blocked"
    assert reason.startswith("critical contracts failed (validate_staging failed, dbt_build_marts upstream_failed")
