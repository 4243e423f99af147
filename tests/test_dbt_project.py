"""The dbt project: its sources match contracts.py, and `dbt build` runs green
on a real PostgreSQL with representative raw rows (staging, mart, unit tests).
"""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import yaml

from helpers.dbt import run_dbt
from helpers.raw_rows import DERIVED_DDL, M1, M2, create_raw_tables, epoch_ms, insert_raw, load_raw, wms_file
from shrinkwatch import contracts
from shrinkwatch.postgres import PgTarget

DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"
STAGING = DBT_PROJECT / "models" / "staging"
SYSTEMS = ("erp", "wms", "mes")

STAGING_MODELS = {
    "erp_material": "stg_erp__materials",
    "erp_batch": "stg_erp__batches",
    "erp_material_doc": "stg_erp__material_docs",
    "erp_phys_inv": "stg_erp__phys_inv_items",
    "erp_release": "stg_erp__releases",
    "erp_user": "stg_erp__users",
    "wms_item": "stg_wms__items",
    "wms_bin_stock": "stg_wms__bin_stock",
    "wms_task": "stg_wms__tasks",
    "wms_cycle_count": "stg_wms__cycle_counts",
    "mes_work_orders": "stg_mes__work_orders",
    "mes_consumptions": "stg_mes__consumptions",
    "mes_scrap": "stg_mes__scrap",
    "mes_line_returns": "stg_mes__line_returns",
    "mes_outsourcing": "stg_mes__outsourcing",
}

DERIVED_STAGING_MODELS = {
    "gs1_barcodes": "stg_derived__gs1_barcodes",
    "location_map": "stg_derived__location_map",
}
# The pipeline's own records in `ops` (load ledger, quarantined rows, GX results):
# the inputs of the data-quality KPIs and of the publish gate.
OPS_STAGING_MODELS = {
    "load_ledger": "stg_ops__load_ledger",
    "dq_results": "stg_ops__dq_results",
    "quarantine": "stg_ops__quarantine",
}


def _sources(system: str) -> dict:
    doc = yaml.safe_load((STAGING / system / f"_{system}__sources.yml").read_text(encoding="utf-8"))
    (source,) = doc["sources"]
    return source


def _model_docs() -> dict[str, dict]:
    models = {}
    for path in sorted((DBT_PROJECT / "models").rglob("_*__models.yml")):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models") or []:
            models[model["name"]] = model
    return models


# --- static: the YAML can never drift from contracts.py ----------------------


@pytest.mark.parametrize("system", SYSTEMS)
def test_sources_declare_exactly_the_contract_tables_and_columns(system: str):
    source = _sources(system)
    assert source["name"] == system
    assert source["schema"] == contracts.RAW_SCHEMA
    declared = {t["name"]: t for t in source["tables"]}
    expected = {t.name: t for t in contracts.tables_of(system)}
    assert list(declared) == list(expected)
    for name, table in expected.items():
        yml = declared[name]
        assert yml.get("description"), name
        columns = [(c["name"], c.get("data_type")) for c in yml["columns"]]
        assert columns == [(c.name, contracts.PG_TYPES[c.type]) for c in table.raw_columns], name
        undocumented = [c["name"] for c in yml["columns"] if not c.get("description")]
        assert not undocumented, (name, undocumented)


def test_derived_sources_declare_exactly_the_derived_tables():
    doc = yaml.safe_load((STAGING / "derived" / "_derived__sources.yml").read_text(encoding="utf-8"))
    (source,) = doc["sources"]
    assert source["name"] == "derived"
    assert source["schema"] == contracts.RAW_SCHEMA
    # the derived tables are no contract tables: the contract sources stay strict
    assert not set(DERIVED_STAGING_MODELS) & set(contracts.BY_NAME)
    expected = {}
    for statement in filter(str.strip, DERIVED_DDL.split(";")):
        head, _, body = statement.partition("(")
        columns = [c.split()[:2] for c in body.rsplit(")", 1)[0].split(",")]
        expected[head.split(".")[-1].strip()] = [(name, type_) for name, type_ in columns]
    declared = {
        t["name"]: [(c["name"], c["data_type"]) for c in t["columns"]] for t in source["tables"]
    }
    assert declared == expected
    for table in source["tables"]:
        assert all(c.get("description") for c in table["columns"]), table["name"]


def test_every_source_table_has_exactly_one_staging_model():
    assert set(STAGING_MODELS) == set(contracts.BY_NAME)
    for table, model in STAGING_MODELS.items():
        system = contracts.BY_NAME[table].system
        path = STAGING / system / f"{model}.sql"
        assert f"source('{system}', '{table}')" in path.read_text(encoding="utf-8"), path
    selecting = [
        p.name
        for p in (DBT_PROJECT / "models").rglob("*.sql")
        if "source(" in p.read_text(encoding="utf-8")
    ]
    staging_models = [*STAGING_MODELS.values(), *DERIVED_STAGING_MODELS.values(), *OPS_STAGING_MODELS.values()]
    assert sorted(selecting) == sorted(f"{m}.sql" for m in staging_models)
    for table, model in DERIVED_STAGING_MODELS.items():
        path = STAGING / "derived" / f"{model}.sql"
        assert f"source('derived', '{table}')" in path.read_text(encoding="utf-8"), path


LAYERS = ("staging", "intermediate", "marts")


def test_layers_point_one_way():
    """staging reads sources, intermediate reads staging and intermediate,
    marts read anything below: no ref runs from a lower layer to a higher one."""
    models = DBT_PROJECT / "models"
    layer_of = {path.stem: path.relative_to(models).parts[0] for path in models.rglob("*.sql")}
    upward = []
    for path in models.rglob("*.sql"):
        layer = layer_of[path.stem]
        for ref in re.findall(r"ref\(\s*'([a-z0-9_]+)'\s*\)", path.read_text(encoding="utf-8")):
            if ref in layer_of and LAYERS.index(layer_of[ref]) > LAYERS.index(layer):
                upward.append(f"{path.stem} ({layer}) -> {ref} ({layer_of[ref]})")
    assert upward == []


def test_mart_accepts_every_source_table_with_an_activity_time():
    mart = _model_docs()["fct_daily_source_activity"]
    (column,) = [c for c in mart["columns"] if c["name"] == "source_table"]
    (accepted,) = [t["accepted_values"] for t in column["data_tests"] if "accepted_values" in t]
    # erp_user is the one table without an activity time
    assert accepted["arguments"]["values"] == [
        t.name for t in contracts.TABLES if t.name != "erp_user"
    ]


RULE_ID = re.compile(r"(?<![-\w])(?:RECON-STOCK|FLOW|STOCK|TIME|DUP|SOD|DQ)-[A-Z0-9]{3}\b")


def test_rule_catalog_names_every_rule_of_the_sql():
    """seeds/detection_rules.csv has one row per rule the SQL raises or
    reconciles, each described; its thresholds are the vars of
    dbt_project.yml, which the models read, so the catalog holds none."""
    with (DBT_PROJECT / "seeds" / "detection_rules.csv").open(encoding="utf-8", newline="") as f:
        catalog = list(csv.DictReader(f))
    rule_ids = [row["rule_id"] for row in catalog]
    assert len(rule_ids) == len(set(rule_ids))
    named_in_sql = {
        rule_id
        for path in (DBT_PROJECT / "models").rglob("*.sql")
        for rule_id in RULE_ID.findall(path.read_text(encoding="utf-8"))
    }
    assert set(rule_ids) == named_in_sql
    assert list(catalog[0]) == ["rule_id", "case_type", "description"]
    for row in catalog:
        assert row["description"], row["rule_id"]


# --- dbt build on a real PostgreSQL -------------------------------------------

SHANGHAI_TO_UTC = timedelta(hours=-8)

def _no_op_exposure(unique_id: str, status: str) -> bool:
    """`dbt build` lists the exposures (models/marts/_marts__exposures.yml) as no-op."""
    return unique_id.startswith("exposure.") and status == "no-op"


MART_ROWS = """
    select activity_date, source_table, site_code, row_count, material_count
    from marts.fct_daily_source_activity
"""


def test_dbt_build_stages_the_raw_rows_and_builds_the_mart(warehouse: PgTarget, tmp_path: Path):
    load_raw(warehouse)

    result = run_dbt(warehouse, tmp_path, "build")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]

    run = json.loads((tmp_path / "target" / "run_results.json").read_text())
    statuses = {r["unique_id"]: r["status"] for r in run["results"]}
    # clean rows: not even a warning (an exposure has nothing to build: no-op)
    not_clean = {uid: s for uid, s in statuses.items() if s not in ("success", "pass") and not _no_op_exposure(uid, s)}
    assert not not_clean, not_clean
    unit_tests = [uid for uid in statuses if uid.startswith("unit_test.")]
    for expected in (
        "stg_erp__material_docs.test_stg_erp__material_docs_entry_time_is_utc",
        "stg_mes__consumptions.test_stg_mes__consumptions_epoch_ms_is_utc",
        "stg_wms__tasks.test_stg_wms__tasks_keeps_the_newest_export",
    ):
        assert f"unit_test.shrinkwatch.{expected}" in unit_tests, unit_tests

    with psycopg.connect(warehouse.conninfo()) as conn:
        conn.execute("set time zone 'UTC'")
        schemas = {r[0] for r in conn.execute("select nspname from pg_namespace")}
        assert {"raw", "staging", "marts"} <= schemas
        assert not {s for s in schemas if s.startswith("staging_")}, schemas
        views = dict(
            conn.execute(
                "select table_name, table_type from information_schema.tables"
                " where table_schema = 'staging'"
            ).fetchall()
        )
        staging_models = [*STAGING_MODELS.values(), *DERIVED_STAGING_MODELS.values(), *OPS_STAGING_MODELS.values()]
        assert views == {model: "VIEW" for model in staging_models}

        counts = {
            m: conn.execute(f"select count(*) from staging.{m}").fetchone()[0]
            for m in staging_models
        }
        assert counts == {
            **{m: 0 for m in staging_models},
            "stg_erp__materials": 2,
            "stg_erp__users": 1,
            "stg_erp__material_docs": 4,
            "stg_wms__items": 2,
            "stg_wms__bin_stock": 2,
            "stg_wms__tasks": 2,
            "stg_mes__work_orders": 1,
            "stg_mes__consumptions": 2,
        }

        # every column of every staging view (and the mart) is documented
        docs = _model_docs()
        for model in docs:
            actual = [
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns"
                    " where table_name = %s order by ordinal_position",
                    (model,),
                )
            ]
            documented = [c["name"] for c in docs[model]["columns"] if c.get("description")]
            assert sorted(actual) == sorted(documented), model

        entered = dict(
            conn.execute(
                "select material_doc_number, entered_at from staging.stg_erp__material_docs"
            )
        )
        assert entered["4900000002"] == datetime(2026, 4, 12, 7, tzinfo=UTC) + SHANGHAI_TO_UTC
        assert conn.execute(
            "select material_number, is_critical from staging.stg_erp__materials order by 1"
        ).fetchall() == [(M1, True), (M2, False)]
        assert conn.execute(
            "select sku, item_description from staging.stg_wms__items order by 1"
        ).fetchall() == [("SKU-10001234", "new"), ("SKU-10005678", "resin")]
        assert conn.execute(
            "select task_id, quantity, file_seq from staging.stg_wms__tasks order by 1"
        ).fetchall() == [("T1", 2, 1), ("T3", 1, 0)]
        consumed = conn.execute(
            "select min(consumed_at) from staging.stg_mes__consumptions"
        ).fetchone()[0]
        assert consumed == datetime(2026, 4, 12, 1, 23, 45, 123000, tzinfo=UTC)

        mart = set(conn.execute(MART_ROWS).fetchall())
    d11, d12, d01 = date(2026, 4, 11), date(2026, 4, 12), date(2026, 4, 1)
    assert mart == {
        (d01, "erp_material", None, 2, 2),
        (d12, "erp_material_doc", "1000", 2, 1),
        (d11, "erp_material_doc", "1000", 1, 1),
        (d12, "erp_material_doc", "2000", 1, 1),
        (d12, "wms_item", None, 1, 1),
        (d11, "wms_item", None, 1, 1),
        (d12, "wms_bin_stock", "WH01", 2, 2),
        (d12, "wms_task", "WH01", 1, 1),  # placed by its from_bin's snapshot
        (d11, "wms_task", None, 1, 1),  # its bin is in no snapshot
        (d12, "mes_work_orders", None, 1, 1),
        (d12, "mes_consumptions", None, 2, None),
    }

    # A rerun with no new data rebuilds the same table, and where it belongs
    # whatever the target schema (Cosmos sets it from its connection).
    profile = (DBT_PROJECT / "profiles.yml").read_text(encoding="utf-8")
    assert "schema: staging" in profile
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "profiles.yml").write_text(profile.replace("schema: staging", "schema: elsewhere"))
    with psycopg.connect(warehouse.conninfo()) as conn:
        before = conn.execute("select 'marts.fct_daily_source_activity'::regclass::oid").fetchone()
    rerun = run_dbt(
        warehouse, tmp_path, "run", "-s", "fct_daily_source_activity", profiles_dir=elsewhere
    )
    assert rerun.returncode == 0, rerun.stdout[-4000:]
    with psycopg.connect(warehouse.conninfo()) as conn:
        after = conn.execute("select 'marts.fct_daily_source_activity'::regclass::oid").fetchone()
        assert after != before  # rebuilt in place, not beside it
        assert set(conn.execute(MART_ROWS).fetchall()) == mart
        schemas = {r[0] for r in conn.execute("select nspname from pg_namespace")}
        assert not {s for s in schemas if s.startswith("elsewhere")}, schemas


# --- the canonical model: one schema across ERP, WMS and MES --------------------

M3 = "000000000010001002"  # base unit G, kept in KG by the WMS
GTIN_M2, GTIN_M3 = "6901234000016", "06901234000023"
BARCODE_M2 = f"(01)0{GTIN_M2}(10)B2604120A7(30)25"
BARCODE_M3 = f"01{GTIN_M3}10b2604120c1\x1d3103020000"
BARCODE_UNKNOWN = "(01)09999999999994(10)X1(30)1"


def _load_canonical_raw(target: PgTarget) -> None:
    """A handful of rows in every dialect: padded matnr / unpadded erp_material /
    GTIN-13 vs GTIN-14, batch spellings, BAG / KG / G / g / kg, LINE zone shared
    by two lines, user ids of three systems, order numbers with and without MO."""
    at = datetime(2026, 4, 12, 1, tzinfo=UTC)
    with psycopg.connect(target.conninfo(), autocommit=True) as conn:
        create_raw_tables(conn)
        insert_raw(
            conn,
            "erp_material",
            [
                {"matnr": M1, "meins": "EA", "spec": "Φ12×100mm 304不锈钢", "gtin": "6901234567892", "critical": "X"},
                {"matnr": M2, "meins": "KG", "spec": "PP T30S 本色", "gtin": GTIN_M2, "critical": ""},
                {"matnr": M3, "meins": "G", "spec": "色号 2536", "gtin": GTIN_M3.lstrip("0")},
            ],
        )
        insert_raw(
            conn,
            "erp_batch",
            [{"matnr": M2, "charg": "B2604120A7"}, {"matnr": M3, "charg": "B2604120C1"}],
        )
        insert_raw(
            conn,
            "erp_user",
            [{"usnam": "ZHANGW", "werks": "1000", "wms_user": "wms1_zhangw", "mes_operator": "OP1"}],
        )
        doc = {"mjahr": 2026, "zeile": 1, "werks": "1000", "lgort": "1001", "usnam": "ZHANGW",
               "budat": date(2026, 4, 12), "cpudt": date(2026, 4, 12), "cputm": "09:00:00"}
        insert_raw(
            conn,
            "erp_material_doc",
            [
                {**doc, "mblnr": "4900000001", "bwart": "261", "shkzg": "H", "matnr": M2,
                 "charg": "B2604120A7", "menge": 50, "meins": "KG", "erfmg": 50, "erfme": "KG",
                 "aufnr": "000001000123"},
                {**doc, "mblnr": "5000000001", "bwart": "101", "shkzg": "S", "matnr": M3,
                 "charg": "B2604120C1", "menge": 20000, "meins": "G", "erfmg": 20, "erfme": "KG",
                 "ebeln": "4500000001"},
            ],
        )
        item = wms_file("item", "2026-04-11", 0, 2)
        insert_raw(
            conn,
            "wms_item",
            [
                {**item, "sku": "SKU-10005678", "erp_material": "10005678", "uom": "BAG",
                 "units_per_uom": 25, "base_uom": "KG"},
                {**item, "sku": "SKU-X", "erp_material": "", "gtin": GTIN_M3, "uom": "BAG",
                 "units_per_uom": 20, "base_uom": "KG", "_line_no": 3},
                {**item, "sku": "SKU-10001234", "erp_material": "10001234", "uom": "CS",
                 "units_per_uom": 50, "base_uom": "EA", "spec": "12x100mm SS304", "_line_no": 4},
                {**item, "sku": "SKU-10001234B", "erp_material": "10001234", "uom": "CS",
                 "units_per_uom": 100, "base_uom": "EA", "spec": "12x100 MM", "_line_no": 5},
            ],
        )
        stock = {"snapshot_at": datetime(2026, 4, 12, 15, 59, 59, tzinfo=UTC), "warehouse": "WH01",
                 "qty": 3, "uom": "BAG", "status": "AVAILABLE", **wms_file("bin_stock", "2026-04-12", 0, 2)}
        insert_raw(
            conn,
            "wms_bin_stock",
            [
                {**stock, "zone": "A", "bin": "A-01-01-01", "sku": "SKU-10005678", "lot": "lot-b2604120a7"},
                {**stock, "zone": "LINE", "bin": "LINE-11-01-01", "sku": "SKU-10005678",
                 "lot": "LOT-B2604120A7", "_line_no": 3},
            ],
        )
        task = {"qty": 2, "uom": "BAG", "created_at": at, "confirmed_at": at,
                "confirmed_by": "wms1_zhangw", **wms_file("task", "2026-04-12", 0, 2)}
        insert_raw(
            conn,
            "wms_task",
            [
                {**task, "task_id": "T1", "task_type": "LINE_FEED", "sku": "SKU-10005678",
                 "lot": "B2604-120A7", "from_bin": "A-01-01-01", "to_bin": "LINE-11-01-01",
                 "ref_doc": "MO1000123"},
                {**task, "task_id": "T2", "task_type": "PUTAWAY", "sku": "SKU-X", "lot": "LOT-B2604120C1",
                 "to_bin": "A-01-01-01", "qty": 1, "ref_doc": "4500000001", "_line_no": 3},
            ],
        )
        insert_raw(
            conn,
            "mes_work_orders",
            [{"order_no": "1000123", "material": "06901234000030", "line": "L11", "work_center": "WC1101",
              "status": "RUNNING", "released_at": epoch_ms("2026-04-12T00:00:00+00:00"),
              "updated_at": epoch_ms("2026-04-12T00:00:00+00:00")}],
        )
        event = {"order_no": "1000123", "line": "L11", "work_center": "WC1101", "operator_id": "OP1",
                 "consumed_at": epoch_ms("2026-04-12T02:00:00+00:00"),
                 "updated_at": epoch_ms("2026-04-12T02:00:00+00:00")}
        insert_raw(
            conn,
            "mes_consumptions",
            [
                {**event, "event_id": "C-1", "barcode": BARCODE_M2, "batch": None, "qty": 30, "uom": "kg"},
                {**event, "event_id": "C-2", "barcode": BARCODE_M3, "batch": "b2604120c1", "qty": 1500, "uom": "g"},
                {**event, "event_id": "C-3", "barcode": BARCODE_UNKNOWN, "batch": "X1", "qty": 1, "uom": "pcs"},
            ],
        )
        insert_raw(
            conn,
            "gs1_barcodes",
            [
                {"barcode": BARCODE_M2, "is_valid": True, "gtin": "0" + GTIN_M2, "batch": "B2604120A7", "quantity": 25},
                {"barcode": BARCODE_M3, "is_valid": True, "gtin": GTIN_M3, "batch": "b2604120c1", "quantity": 20},
                {"barcode": BARCODE_UNKNOWN, "is_valid": True, "gtin": "09999999999994", "batch": "X1", "quantity": 1},
            ],
        )
        zone = {"werks": "1000", "warehouse": "WH01"}
        line = {"werks": "1000", "warehouse": "", "zone": ""}
        insert_raw(
            conn,
            "location_map",
            [
                {**zone, "lgort": "1001", "zone": "A", "mes_line": "", "mes_work_center": ""},
                {**zone, "lgort": "1101", "zone": "LINE", "mes_line": "", "mes_work_center": ""},
                {**zone, "lgort": "1102", "zone": "LINE", "mes_line": "", "mes_work_center": ""},
                {**line, "lgort": "1101", "mes_line": "L11", "mes_work_center": "WC1101"},
                {**line, "lgort": "1102", "mes_line": "L12", "mes_work_center": "WC1201"},
            ],
        )


MOVEMENT_COLUMNS = (
    "werks", "location", "to_location", "material", "batch", "batch_as_recorded", "quantity_base",
    "base_unit", "unit_as_recorded", "user_id", "order_no", "is_material_resolved", "is_unit_resolved",
)


def test_dbt_build_unifies_the_three_dialects(warehouse: PgTarget, tmp_path: Path):
    _load_canonical_raw(warehouse)

    result = run_dbt(warehouse, tmp_path, "build")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    run = json.loads((tmp_path / "target" / "run_results.json").read_text())
    statuses = {r["unique_id"]: r["status"] for r in run["results"]}
    not_clean = {uid: s for uid, s in statuses.items() if s not in ("success", "pass") and not _no_op_exposure(uid, s)}
    assert not not_clean, not_clean
    assert "seed.shrinkwatch.unit_conversions" in statuses
    assert len([uid for uid in statuses if uid.startswith("unit_test.")]) >= 29

    with psycopg.connect(warehouse.conninfo()) as conn:
        conn.execute("set time zone 'UTC'")
        rows = conn.execute(
            f"select movement_id, {', '.join(MOVEMENT_COLUMNS)} from marts.fct_movement"
        ).fetchall()
        movements = {r[0]: dict(zip(MOVEMENT_COLUMNS, r[1:], strict=True)) for r in rows}
        conflicts = dict(
            conn.execute("select material, has_master_data_conflict from marts.dim_material")
        )
        positions = conn.execute(
            "select location, book_quantity, physical_quantity from marts.fct_stock_position"
            " where stock_date = '2026-04-12' and material = '10005678' and batch = 'B2604120A7'"
            " order by location"
        ).fetchall()
        spec = conn.execute("select spec_normalized from marts.dim_material where material = '10001234'")
        # the numbers a spec states, sorted: `Φ12×100mm 304不锈钢`
        assert spec.fetchone() == ("100|12|304",)
        # every column of every model is documented (all mismatches at once)
        docs = _model_docs()
        undocumented = {}
        for model, doc in docs.items():
            actual = {
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns where table_name = %s",
                    (model,),
                )
            }
            documented = {c["name"] for c in doc["columns"] if c.get("description")}
            if actual != documented:
                undocumented[model] = {
                    "not documented": sorted(actual - documented),
                    "not in the model": sorted(documented - actual),
                }
        assert not undocumented, undocumented
        built = {
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables"
                " where table_schema in ('intermediate', 'marts')"
            )
        }
        seeds = {"unit_conversions", "detection_rules"}
        assert built - seeds <= set(docs), sorted(built - seeds - set(docs))

    assert set(movements) == {
        "erp:material_doc:4900000001/2026/1",
        "erp:material_doc:5000000001/2026/1",
        "wms:task:T1",
        "wms:task:T2",
        "mes:consumptions:C-1",
        "mes:consumptions:C-2",
        "mes:consumptions:C-3",
    }
    erp_261, wms_bag = movements["erp:material_doc:4900000001/2026/1"], movements["wms:task:T1"]
    # a WMS line feed of 2 BAG and the ERP 261 of 50 KG: one material, batch and quantity
    for movement in (erp_261, wms_bag):
        assert (movement["material"], movement["batch"], movement["base_unit"]) == ("10005678", "B2604120A7", "KG")
        assert movement["quantity_base"] == 50
        assert (movement["user_id"], movement["order_no"], movement["werks"]) == ("ZHANGW", "1000123", "1000")
        assert movement["location"] == "1001"
    assert wms_bag["batch_as_recorded"] == "B2604-120A7"
    assert wms_bag["to_location"] == "1101"  # the LINE zone narrowed by the order's line L11
    # G material: ERP entered in KG, WMS BAG of 20 KG (item mapped by GTIN), MES in g
    assert movements["erp:material_doc:5000000001/2026/1"]["quantity_base"] == 20000
    assert movements["erp:material_doc:5000000001/2026/1"]["unit_as_recorded"] == "KG"
    assert movements["wms:task:T2"]["material"] == "10001002"
    assert movements["wms:task:T2"]["quantity_base"] == 20000
    assert movements["wms:task:T2"]["batch"] == "B2604120C1"
    assert movements["mes:consumptions:C-2"]["quantity_base"] == 1500
    assert movements["mes:consumptions:C-2"]["batch"] == "B2604120C1"
    # MES: batch only in the barcode; material from its GTIN; placed by line + work centre
    consumed = movements["mes:consumptions:C-1"]
    assert (consumed["material"], consumed["batch"], consumed["batch_as_recorded"]) == ("10005678", "B2604120A7", None)
    assert (consumed["quantity_base"], consumed["location"], consumed["user_id"]) == (30, "1101", "ZHANGW")
    # an unknown GTIN is kept, flagged
    unknown = movements["mes:consumptions:C-3"]
    assert not unknown["is_material_resolved"]
    assert (unknown["is_unit_resolved"], unknown["quantity_base"]) == (False, None)
    # book (ERP: 50 KG issued from 1001) against physical (3 BAG in each bin, 75 KG)
    assert positions == [("1001", -50, 75), ("1101", 0, 75)]
    # two WMS skus disagree on the pack size of M1
    assert conflicts == {"10001234": True, "10005678": False, "10001002": False}
