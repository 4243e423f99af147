"""`shrinkwatch quarantine replay`: quarantined records judged again against
today's contract, as a load of their own (real PostgreSQL, real loads)."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from helpers.erp import doc
from helpers.erp import insert as insert_erp
from helpers.location_map import ZONE_ROW
from helpers.location_map import write as write_map
from helpers.wms import TASK_HEADER, task, write
from shrinkwatch import report
from shrinkwatch.cli import main
from shrinkwatch.contracts import BY_NAME, MOVEMENT_TYPES, one_of
from shrinkwatch.extract import quarantine
from shrinkwatch.extract.erp import extract_erp, extract_table
from shrinkwatch.extract.ledger import last_watermark, unconserved_loads
from shrinkwatch.extract.loader import _to_json, record_from_json
from shrinkwatch.extract.location_map import load_location_map
from shrinkwatch.extract.warehouse import ensure_schemas
from shrinkwatch.extract.wms import extract_wms

DOCS = BY_NAME["erp_material_doc"]
# The contract as it was before it learnt movement type 122 (return delivery to vendor)
DOCS_BEFORE_122 = dataclasses.replace(DOCS, rules=tuple(
    one_of("bwart", *(t for t in MOVEMENT_TYPES if t != "122")) if r.name == "value_set:bwart" else r
    for r in DOCS.rules
))


def query(conninfo: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(sql, params).fetchall()


def states(conninfo: str, table: str, load_id: int) -> list[tuple]:
    """(source_ref, rule, resolution) of a load's quarantined rows."""
    return query(
        conninfo,
        f"select source_ref, rule, resolution from quarantine.{table} where load_id = %s order by source_ref",
        (load_id,),
    )


def assert_conserved(conninfo: str, load_id: int, table: str) -> None:
    """The ledger's counts hold, and agree with what the load left in raw and
    in quarantine, counted there."""
    (read, loaded, quarantined, inserted), = query(
        conninfo,
        "select rows_read, rows_loaded, rows_quarantined, rows_inserted from ops.load_ledger where load_id = %s",
        (load_id,),
    )
    assert read == loaded + quarantined
    assert query(conninfo, f"select count(*) from quarantine.{table} where load_id = %s", (load_id,)) == [
        (quarantined,)
    ]
    assert query(conninfo, f"select count(*) from raw.{table} where _load_id = %s", (load_id,)) == [(inserted,)]
    with psycopg.connect(conninfo) as conn:
        assert unconserved_loads(conn) == []


def cli(monkeypatch, warehouse, *args: str):
    monkeypatch.setenv("SHRINKWATCH_DATABASE_URL", warehouse.sqlalchemy_url())
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "unused")  # no airflow database for this
    return CliRunner().invoke(main, ["quarantine", "replay", *args])


def test_a_document_quarantined_under_a_rule_since_fixed_comes_back_by_replay(warehouse, erp_source, monkeypatch):
    conninfo = warehouse.conninfo()
    url = f"sqlite:///{erp_source}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ensure_schemas(conn)
    engine = sa.create_engine(url)

    def extract_under_the_old_contract():
        return extract_table(conninfo, engine, DOCS_BEFORE_122, lookback_hours=48, chunk_rows=1000)

    insert_erp(erp_source, "erp_material_doc", [
        doc("4900000001", "2026-04-10", "08:00:00"),
        doc("4900000002", "2026-04-10", "09:00:00") | {"bwart": "122", "shkzg": "H"},
        doc("4900000003", "2026-04-10", "10:00:00") | {"bwart": "999"},  # wrong under any contract
    ])
    first = extract_under_the_old_contract()
    assert (first.rows_loaded, first.rows_quarantined) == (1, 2)
    insert_erp(erp_source, "erp_material_doc", [
        doc("4900000004", "2026-04-15", "10:00:00") | {"bwart": "122"},
        doc("4900000005", "2026-04-20", "08:00:00"),
    ])
    second = extract_under_the_old_contract()
    assert (second.rows_loaded, second.rows_quarantined) == (2, 3)  # 0002 and 0003 again, as repeats
    with psycopg.connect(conninfo) as conn:  # a reviewer lets the publish go on past 0004
        assert quarantine.release(conn, "erp_material_doc", second.load_id,
                                  released_by="qa.lead", note="return to vendor, 122 not in the contract") == 1
    engine.dispose()

    # The contract learns 122, but both documents have left the 48 h lookback: no extract reads them again.
    (third,) = extract_erp(conninfo, url, tables=["erp_material_doc"])
    assert third.rows_read == 1
    in_raw = "select mblnr, _load_id from raw.erp_material_doc order by 1"
    assert [m for m, _ in query(conninfo, in_raw)] == ["4900000001", "4900000005"]
    watermark = "2026-04-20T08:00:00"
    ledger_rows = query(conninfo, "select count(*) from ops.load_ledger")

    dry = cli(monkeypatch, warehouse, "erp_material_doc", "--load-id", str(first.load_id), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines() == [
        f"dry run of a replay of load {first.load_id} (erp_material_doc): nothing written",
        "  would read again: 2 quarantined rows (open or released)",
        "  would pass:       1",
        "  would fail:       1",
        "    value_set:bwart              critical      1  would stay quarantined",
    ]
    assert query(conninfo, "select count(*) from ops.load_ledger") == ledger_rows
    assert [m for m, _ in query(conninfo, in_raw)] == ["4900000001", "4900000005"]

    done = cli(monkeypatch, warehouse, "erp_material_doc", "--load-id", str(first.load_id))
    assert done.exit_code == 0, done.output
    (replay_id, status, replay_of, message, watermark_to), = query(
        conninfo,
        "select load_id, status, replay_of, message, watermark_to from ops.load_ledger where load_id > %s",
        (third.load_id,),
    )
    assert (status, replay_of, watermark_to) == ("replayed", first.load_id, None)
    assert message.startswith(f"replay of load {first.load_id};")
    assert done.output.splitlines() == [
        f"replay of load {first.load_id} (erp_material_doc): load {replay_id}, status replayed",
        "  read again:       2 quarantined rows (open or released)",
        "  merged into raw:  1 (1 inserted, 0 updated, 0 unchanged or newer in raw)",
        "  still failing:    1",
        f"    value_set:bwart              critical      1  still open, as a row of load {first.load_id}",
    ]
    assert ("4900000002", replay_id) in query(conninfo, in_raw)
    doc_ref = "mblnr={}/mjahr=2026/zeile=1".format
    assert states(conninfo, "erp_material_doc", first.load_id) == [
        (doc_ref("4900000002"), "value_set:bwart", f"replayed by load {replay_id}"),
        (doc_ref("4900000003"), "value_set:bwart", None),  # still wrong: still open, one row for one record
    ]
    assert states(conninfo, "erp_material_doc", replay_id) == [
        (doc_ref("4900000003"), "value_set:bwart", f"repeat of load {first.load_id}"),
    ]
    assert_conserved(conninfo, replay_id, "erp_material_doc")

    # A released row comes back too; the second load's repeats are left to the rows they repeat.
    again = cli(monkeypatch, warehouse, "erp_material_doc", "--load-id", str(second.load_id))
    assert again.exit_code == 0, again.output
    assert "  merged into raw:  1 (1 inserted, 0 updated, 0 unchanged or newer in raw)" in again.output
    assert "  still failing:    0" in again.output
    assert f"  left alone:       2 rows of load {second.load_id}" in again.output
    assert f"    repeat of load {first.load_id}" in again.output
    assert [m for m, _ in query(conninfo, in_raw)] == [f"490000000{i}" for i in (1, 2, 4, 5)]
    assert states(conninfo, "erp_material_doc", second.load_id)[2][2].startswith("replayed by load ")

    # No watermark moved: the next extract reads what it would have read, and changes nothing.
    with psycopg.connect(conninfo) as conn:
        assert last_watermark(conn, DOCS) == watermark
    (fourth,) = extract_erp(conninfo, url, tables=["erp_material_doc"])
    assert (fourth.watermark_from, fourth.rows_read, fourth.rows_unchanged) == ("2026-04-18T08:00:00", 1, 1)
    with psycopg.connect(conninfo) as conn:
        still_open = [(r.rule, r.source_ref) for r in quarantine.open_rows(conn)]
        assert still_open == [("value_set:bwart", doc_ref("4900000003"))]
        assert unconserved_loads(conn) == []
    # the run report counts the replays among the loads, as it counts their rows
    assert [(r["system"], r["loads"]) for r in report.collect(conninfo)["ledger"]] == [("erp", 6)]


def test_a_replay_never_overwrites_what_a_later_load_read(warehouse, erp_source):
    conninfo = warehouse.conninfo()
    url = f"sqlite:///{erp_source}"
    # plant-local and 5 minutes past the latest any zone may be: future, with no clock skew allowed
    ahead = (datetime.now(UTC) + timedelta(hours=14, minutes=5)).replace(tzinfo=None).isoformat(" ", "seconds")
    insert_erp(erp_source, "erp_material", [{"matnr": "000000000010001234", "maktx": "old text", "changed_at": ahead}])
    (first,) = extract_erp(conninfo, url, tables=["erp_material"], clock_skew=timedelta(0))
    with psycopg.connect(conninfo) as conn:
        quarantine.release(conn, "erp_material", first.load_id, released_by="qa", note="clock of the ERP host")
    with sqlite3.connect(erp_source) as conn:  # the source changes the material again
        conn.execute("update erp_material set maktx = 'new text', changed_at = '2026-04-01 08:00:00'")
    (later,) = extract_erp(conninfo, url, tables=["erp_material"])

    outcome = quarantine.replay(conninfo, "erp_material", first.load_id)
    assert (outcome.passed, outcome.load.rows_inserted, outcome.load.rows_updated) == (1, 0, 0)
    assert query(conninfo, "select maktx, _load_id from raw.erp_material") == [("new text", later.load_id)]
    assert states(conninfo, "erp_material", first.load_id)[0][2] == f"replayed by load {outcome.load.load_id}"
    assert_conserved(conninfo, outcome.load.load_id, "erp_material")


def _in(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_wms_row_replayed_joins_its_export_day_with_its_lineage(warehouse, landing):
    conninfo = warehouse.conninfo()
    ahead = task("T2").replace("2026-04-12T01:40:00Z", _in(5))  # the WMS clock ran 5 minutes fast
    repeated_key = task("T1", qty="3").replace("2026-04-12T01:40:00Z", _in(5))
    write(landing, "wms_task_20260412.csv", TASK_HEADER, [task("T1"), ahead, task("T3", qty="x"), repeated_key])
    (first,) = extract_wms(conninfo, landing, clock_skew=timedelta(0))  # no skew allowed, then
    assert (first.rows_loaded, first.rows_quarantined) == (1, 3)

    outcome = quarantine.replay(conninfo, "wms_task", first.load_id)  # the default 15 minutes
    replay_id = outcome.load.load_id
    assert (outcome.rows, outcome.passed) == (3, 1)
    assert [(g.rule, g.rows, g.state) for g in outcome.failing] == [
        ("duplicate_key_in_batch", 1, "open, as a row of this replay"),
        ("type:numeric", 1, f"still open, as a row of load {first.load_id}"),
    ]
    assert query(
        conninfo, "select task_id, qty, _source_file, _file_date, _file_seq, _line_no, _load_id "
                  "from raw.wms_task order by _line_no",
    ) == [
        ("T1", 2, "wms_task_20260412.csv", date(2026, 4, 12), 0, 2, first.load_id),
        ("T2", 2, "wms_task_20260412.csv", date(2026, 4, 12), 0, 3, replay_id),
    ]
    assert states(conninfo, "wms_task", first.load_id) == [
        ("wms_task_20260412.csv:3", "not_future:confirmed_at", f"replayed by load {replay_id}"),
        ("wms_task_20260412.csv:4", "type:numeric", None),
        # now judged a repeat of line 2's key, which the day holds: that finding is the replay's row
        ("wms_task_20260412.csv:5", "not_future:confirmed_at", f"replayed by load {replay_id}"),
    ]
    (reason,), = query(conninfo, "select reason from quarantine.wms_task where load_id = %s and "
                                 "rule = 'duplicate_key_in_batch'", (replay_id,))
    assert reason == "key (task_id) already read at wms_task_20260412.csv:2"
    assert_conserved(conninfo, replay_id, "wms_task")

    # A later export of the day replaces it, the replayed row and the replay's open row included ...
    write(landing, "wms_task_20260412_2.csv", TASK_HEADER, [task("T1"), task("T2"), task("T3")])
    (fixed,) = extract_wms(conninfo, landing)
    assert query(conninfo, "select task_id, _source_file from raw.wms_task order by 1") == [
        (t, "wms_task_20260412_2.csv") for t in ("T1", "T2", "T3")
    ]
    superseded = f"superseded by load {fixed.load_id} (wms_task_20260412_2.csv)"
    assert [s[2] for s in states(conninfo, "wms_task", replay_id)] == [f"repeat of load {first.load_id}", superseded]
    assert states(conninfo, "wms_task", first.load_id)[1][2] == superseded
    # ... so a released row of the replaced export may not come back
    with psycopg.connect(conninfo) as conn:
        conn.execute("update quarantine.wms_task set resolution = 'released by qa: x' where load_id = %s",
                     (first.load_id,))
    with pytest.raises(quarantine.ReplayRefused, match=f"was replaced by load {fixed.load_id}"):
        quarantine.replay(conninfo, "wms_task", first.load_id)


def test_replays_that_would_be_wrong_are_refused(warehouse, erp_source, landing, tmp_path, monkeypatch):
    conninfo = warehouse.conninfo()
    # an export whose every row was quarantined kept the day's earlier export in raw
    write(landing, "wms_task_20260412.csv", TASK_HEADER, [task("T1")])
    extract_wms(conninfo, landing)
    write(landing, "wms_task_20260412_2.csv", TASK_HEADER, [task("T1").replace("2026-04-12T01:40:00Z", _in(5))])
    (kept,) = extract_wms(conninfo, landing, clock_skew=timedelta(0))
    assert "earlier exports were kept" in kept.message
    refused = cli(monkeypatch, warehouse, "wms_task", "--load-id", str(kept.load_id))
    assert refused.exit_code != 0
    assert "holds the rows of 2026-04-12 from wms_task_20260412.csv, not from wms_task_20260412_2.csv" in (
        refused.output
    )

    # a table read whole: a later read is the source's word
    insert_erp(erp_source, "erp_user", [{"usnam": "LI.WEI"}, {"usnam": " ", "name": "no user name"}])
    (users,) = extract_erp(conninfo, f"sqlite:///{erp_source}", tables=["erp_user"])
    assert users.rows_quarantined == 1
    extract_erp(conninfo, f"sqlite:///{erp_source}", tables=["erp_user"])
    with pytest.raises(quarantine.ReplayRefused, match="read whole by every extract"):
        quarantine.replay(conninfo, "erp_user", users.load_id)

    map_load = load_location_map(conninfo, write_map(tmp_path / "location_map.csv", [ZONE_ROW, ",0002,WH01,B"]))
    with pytest.raises(quarantine.ReplayRefused, match="replaced whole by its next file"):
        quarantine.replay(conninfo, "location_map", map_load.load_id)
    with pytest.raises(quarantine.ReplayRefused, match=f"load {users.load_id} is not a load of wms_task"):
        quarantine.replay(conninfo, "wms_task", users.load_id)
    nothing = cli(monkeypatch, warehouse, "erp_material_doc", "--load-id", str(users.load_id))
    assert nothing.exit_code != 0 and "is not a load of erp_material_doc" in nothing.output


def test_a_quarantined_record_reads_back_as_it_was_written(warehouse):
    record = {"device_id": "RF\x0007", "qty": "1.50", "n": 3, "empty": None, "text": "不锈钢"}
    with psycopg.connect(warehouse.conninfo()) as conn:
        (stored,), = conn.execute("select %s::jsonb::text", (_to_json(record),)).fetchall()
    assert record_from_json(stored) == record
