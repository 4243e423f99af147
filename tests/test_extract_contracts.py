"""Row-level contracts at extraction: bad rows of every system are quarantined
with their rule and its severity named, the rest loads, and no row is lost
(real PostgreSQL)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from helpers.erp import doc
from helpers.erp import insert as insert_erp
from helpers.mes import T0, TOKEN, consumption, write_rows
from helpers.wms import TASK_HEADER, task, write
from shrinkwatch.contracts import BY_NAME, CRITICAL_RULES, MES_TABLES, TABLES, WARNING_RULES, rule_severity
from shrinkwatch.demo import gs1
from shrinkwatch.demo.mes_server import MesServer
from shrinkwatch.extract.erp import extract_erp
from shrinkwatch.extract.ledger import unconserved_loads
from shrinkwatch.extract.mes import extract_mes
from shrinkwatch.extract.validation import Rejection, RowValidator
from shrinkwatch.extract.wms import extract_wms

GTIN = gs1.gtin13("690123", 4567).zfill(14)
WRONG_CHECK_DIGIT = GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10)
LOADED_AT = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def quarantined(conninfo: str, table: str) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        assert unconserved_loads(conn) == []  # every test: read = loaded + quarantined
        return conn.execute(
            f"select source_ref, rule, reason from quarantine.{table} order by source_ref"
        ).fetchall()


def severities(conninfo: str, table: str) -> dict[str, str]:
    """rule -> severity of the table's quarantined rows, all of them still open."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            f"select rule, severity, resolved_at, resolution from quarantine.{table}"
        ).fetchall()
    assert all(resolved_at is None and resolution is None for _, _, resolved_at, resolution in rows)
    return {rule: severity for rule, severity, _, _ in rows}


@pytest.mark.parametrize(
    ("rule", "severity"),
    [
        # the interface broke: what the day's data says is unknown
        ("missing_column", "critical"), ("encoding", "critical"), ("type:numeric", "critical"),
        ("type:epoch_ms", "critical"), ("not_null_key", "critical"), ("column_count", "critical"),
        ("not_an_object", "critical"), ("value_set:bwart", "critical"), ("value_set:status", "critical"),
        ("unbalanced_quote", "critical"), ("field_size", "critical"),
        # one record is wrong, the interface works
        ("format:matnr", "warning"), ("non_negative:menge", "warning"), ("not_future:budat", "warning"),
        ("gs1_check_digit", "warning"), ("duplicate_key_in_batch", "warning"),
        # unknown rules fail safe
        ("something_new", "critical"), ("formatted:matnr", "critical"), ("", "critical"),
    ],
)
def test_rule_severity(rule, severity):
    assert rule_severity(rule) == severity


def test_every_declared_rule_has_a_deliberate_severity():
    assert not WARNING_RULES & CRITICAL_RULES
    for table in TABLES:
        for rule in table.rules:
            assert rule.kind in WARNING_RULES | CRITICAL_RULES, rule


def test_every_rule_names_a_contract_column():
    for table in TABLES:
        for rule in table.rules:
            assert rule.column in table.column_names, (table.name, rule)


def test_erp_unknown_movement_type_and_future_posting_are_quarantined(warehouse, erp_source: Path):
    conninfo = warehouse.conninfo()
    erp = erp_source
    next_week = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
    insert_erp(erp, "erp_material_doc", [
        doc("4900000001", "2026-04-10", "08:00:00"),
        doc("4900000002", "2026-04-10", "09:00:00") | {"bwart": "999"},
        doc("4900000003", "2026-04-10", "10:00:00") | {"budat": next_week},
        doc("4900000004", "2026-04-11", "08:00:00"),
    ])
    (docs,) = extract_erp(conninfo, f"sqlite:///{erp}", tables=["erp_material_doc"])
    assert (docs.rows_read, docs.rows_loaded, docs.rows_quarantined) == (4, 2, 2)
    assert docs.watermark_to == "2026-04-11T08:00:00"  # a quarantined row never moves the watermark
    rows = quarantined(conninfo, "erp_material_doc")
    assert [(ref, rule) for ref, rule, _ in rows] == [
        ("mblnr=4900000002/mjahr=2026/zeile=1", "value_set:bwart"),
        ("mblnr=4900000003/mjahr=2026/zeile=1", "not_future:budat"),
    ]
    assert "bwart = '999' is not one of 101, 102," in rows[0][2]
    assert "is in the future" in rows[1][2]
    assert severities(conninfo, "erp_material_doc") == {
        "value_set:bwart": "critical", "not_future:budat": "warning",
    }
    with psycopg.connect(conninfo) as conn:
        loaded = conn.execute("select mblnr from raw.erp_material_doc order by 1").fetchall()
    assert loaded == [("4900000001",), ("4900000004",)]


@pytest.mark.parametrize(
    ("table", "change", "rule"),
    [
        ("erp_material_doc", {"shkzg": "X"}, "value_set:shkzg"),
        ("erp_material_doc", {"matnr": "10001234"}, "format:matnr"),
        ("erp_material_doc", {"charg": "b2604120a7"}, "format:charg"),
        ("erp_material_doc", {"aufnr": "1000123"}, "format:aufnr"),
        ("erp_material_doc", {"menge": "-10"}, "non_negative:menge"),
        ("erp_material_doc", {"meins": "kg"}, "value_set:meins"),
        ("erp_material_doc", {"cpudt": "2026-07-03"}, "not_future:cpudt"),
        ("mes_consumptions", {"uom": "lb"}, "value_set:uom"),
        ("mes_consumptions", {"barcode": f"(01){WRONG_CHECK_DIGIT}(10)B1"}, "gs1_check_digit"),
        ("mes_consumptions", {"updated_at": T0 + 10**11}, "not_future:updated_at"),
        ("mes_outsourcing", {"direction": "BACK"}, "value_set:direction"),
    ],
)
def test_a_row_breaking_one_rule_is_rejected_under_its_name(table, change, rule):
    contract = BY_NAME[table]
    good = doc("4900000001", "2026-04-10", "08:00:00") if table.startswith("erp") else (
        consumption(1, T0) | {"partner_id": "V1", "direction": "OUT", "event_at": T0})
    validator = RowValidator(contract, loaded_at=LOADED_AT)
    assert not isinstance(validator.validate([good.get(c) for c in contract.column_names]), Rejection)
    rejection = validator.validate([(good | change).get(c) for c in contract.column_names])
    assert isinstance(rejection, Rejection) and rejection.rule == rule


def test_plant_local_dates_within_the_utc_offset_and_skew_are_not_future():
    validator = RowValidator(BY_NAME["erp_material_doc"], loaded_at=LOADED_AT)
    # 20:00 local in UTC+8 on 1 July is still 12:00 UTC: today, not the future
    today = doc("4900000001", "2026-07-01", "20:00:00") | {"budat": "2026-07-02"}
    assert not isinstance(validator.validate(list(today.values())), Rejection)
    # a MES event 10 minutes ahead of the load clock is inside the 15-minute skew
    ahead = consumption(1, int(LOADED_AT.timestamp() * 1000) + 10 * 60_000)
    parsed = RowValidator(BY_NAME["mes_consumptions"], loaded_at=LOADED_AT).validate(
        [ahead.get(c) for c in BY_NAME["mes_consumptions"].column_names]
    )
    assert not isinstance(parsed, Rejection)


def test_mes_barcode_with_wrong_gtin_check_digit_is_quarantined(warehouse, tmp_path: Path):
    conninfo = warehouse.conninfo()
    mes = tmp_path / "mes.sqlite"
    with sqlite3.connect(mes) as conn:
        for table in MES_TABLES:
            columns = [f"{c} primary key" if c == table.key[0] else c for c in table.column_names]
            conn.execute(f"create table {table.name} ({', '.join(columns)})")
    good = f"(01){GTIN}(10)B2604120A7(30)25"
    write_rows(mes, "mes_consumptions", [
        consumption(1, T0) | {"barcode": good},
        consumption(2, T0) | {"barcode": f"(01){WRONG_CHECK_DIGIT}(10)B2604120A7(30)25"},
        consumption(3, T0) | {"barcode": "not a GS1 barcode"},  # a data-quality finding, loaded
    ])
    with MesServer(mes, TOKEN) as server:
        results = {r.table_name: r for r in extract_mes(conninfo, server.base_url, TOKEN)}
    events = results["mes_consumptions"]
    assert (events.rows_read, events.rows_loaded, events.rows_quarantined) == (3, 2, 1)
    ((ref, rule, reason),) = quarantined(conninfo, "mes_consumptions")
    assert (ref, rule) == ("event_id=C0002", "gs1_check_digit")
    assert "(01)" in reason and "check digit" in reason
    assert severities(conninfo, "mes_consumptions") == {"gs1_check_digit": "warning"}
    with psycopg.connect(conninfo) as conn:
        loaded = conn.execute("select event_id from raw.mes_consumptions order by 1").fetchall()
    assert loaded == [("C0001",), ("C0003",)]


WMS_SEVERITY = {
    "missing_column": "critical", "encoding": "critical", "type:numeric": "critical",
    "value_set:task_type": "critical", "duplicate_key_in_batch": "warning", "non_negative:qty": "warning",
    "not_future:confirmed_at": "warning",
}
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("header", "lines", "encoding", "counts", "rules"),
    [
        pytest.param(  # the header lacks qty: no row can be read, each is quarantined
            TASK_HEADER.replace(",qty,", ","), [task("T1").replace(",2,", ","), task("T2").replace(",2,", ",")],
            "utf-8", (2, 0, 2), ["missing_column", "missing_column"], id="missing_column",
        ),
        pytest.param(  # an extra column is ignored (and noted in the ledger): the rows load
            TASK_HEADER + ",shift", [task("T1") + ",N", task("T2") + ",D"],
            "utf-8", (2, 2, 0), [], id="extra_column",
        ),
        pytest.param(
            TASK_HEADER, [task("T1"), task("T2", qty="two")],
            "utf-8", (2, 1, 1), ["type:numeric"], id="non_numeric_quantity",
        ),
        pytest.param(  # neither UTF-8 nor GB18030 decodes these bytes
            TASK_HEADER, [task("T1") + "\udcff"],
            "utf-8-surrogateescape", (1, 0, 1), ["encoding"], id="wrong_encoding",
        ),
        pytest.param(
            TASK_HEADER, [task("T1"), task("T2"), task("T1")],
            "utf-8", (3, 2, 1), ["duplicate_key_in_batch"], id="duplicate_keys",
        ),
        pytest.param(
            TASK_HEADER, [task("T1"), task("T2").replace("PICK", "STEAL")],
            "utf-8", (2, 1, 1), ["value_set:task_type"], id="unknown_task_type",
        ),
        pytest.param(
            TASK_HEADER, [task("T1"), task("T2", qty="-2")],
            "utf-8", (2, 1, 1), ["non_negative:qty"], id="negative_quantity",
        ),
        pytest.param(
            TASK_HEADER, [task("T1"), task("T2").replace("2026-04-12T01:40:00Z", TOMORROW)],
            "utf-8", (2, 1, 1), ["not_future:confirmed_at"], id="future_confirmation",
        ),
    ],
)
def test_wms_file_defects_are_quarantined_with_their_rule(
    warehouse, tmp_path: Path, header, lines, encoding, counts, rules
):
    conninfo = warehouse.conninfo()
    landing = tmp_path / "landing"
    landing.mkdir()
    if encoding == "utf-8-surrogateescape":
        path = landing / "wms_task_20260412.csv"
        path.write_bytes("\r\n".join([header, *lines, ""]).encode("utf-8", "surrogateescape"))
    else:
        write(landing, "wms_task_20260412.csv", header, lines, encoding=encoding)
    (result,) = extract_wms(conninfo, landing)
    assert result.status == "loaded"
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == counts
    assert [rule for _, rule, _ in quarantined(conninfo, "wms_task")] == rules
    assert severities(conninfo, "wms_task") == {rule: WMS_SEVERITY[rule] for rule in rules}
    if "shift" in header:
        assert "ignored extra columns: shift" in result.message


def test_clock_skew_is_a_setting(monkeypatch):
    from shrinkwatch.settings import Settings

    monkeypatch.setenv("SHRINKWATCH_CLOCK_SKEW_MINUTES", "90")
    assert Settings.from_env().clock_skew == timedelta(minutes=90)
