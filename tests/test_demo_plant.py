"""The demo plant: deterministic, shaped like the contracts, and served by its MES API.

A seed selects a world (`shrinkwatch.demo.style`): the tests read codes, layout
and flows from `plant.json` instead of assuming one plant's conventions, and run
the contract checks on small worlds that between them cover both line-side
layouts, both feed flows, both remnant flows and both pseudo-bin conventions.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from biip import parse
from biip.gs1_messages import GS1Message

from shrinkwatch.contracts import ERP_TABLES, MES_TABLES, WMS_TABLES, wms_table_for_entity
from shrinkwatch.demo import generate_plant
from shrinkwatch.demo.mes_server import MesServer
from shrinkwatch.demo.simulation import CASE_TYPES, PLANT_UTC_OFFSET
from shrinkwatch.demo.style import WorldStyle, draw_style
from shrinkwatch.extract.validation import RowValidator

SMALL = {"seed": 7, "scale": 0.002, "days": 10}
TOKEN = "test-token"
# small worlds that between them cover every layout and flow (test_worlds_cover_the_flows)
WORLD_SEEDS = (7, 11, 42)


@pytest.fixture(scope="module")
def plant_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plant")
    generate_plant(out, **SMALL)
    return out


@pytest.fixture(scope="module")
def metadata(plant_dir: Path) -> dict:
    return json.loads((plant_dir / "plant.json").read_text(encoding="utf-8"))


def checksums(directory: Path) -> dict[str, tuple[str, float]]:
    return {str(p.relative_to(directory)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                            p.stat().st_mtime if "wms_landing" in p.parts else 0)
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files(plant_dir: Path, tmp_path: Path) -> None:
    generate_plant(tmp_path, **SMALL)
    assert checksums(tmp_path) == checksums(plant_dir)


def test_erp_tables_match_contract(plant_dir: Path, metadata: dict) -> None:
    inspector = sa.inspect(sa.create_engine(f"sqlite:///{plant_dir / 'erp.sqlite'}"))
    for table in ERP_TABLES:
        assert [c["name"] for c in inspector.get_columns(table.name)] == table.column_names
        assert metadata["counts"]["erp"][table.name] > 0


def test_erp_keys_are_padded(plant_dir: Path) -> None:
    with sqlite3.connect(plant_dir / "erp.sqlite") as connection:
        assert {len(m) for (m,) in connection.execute("select matnr from erp_material_doc")} == {18}
        assert {len(a) for (a,) in connection.execute(
            "select aufnr from erp_material_doc where aufnr is not null")} == {12}
        assert all(c == c.upper() and len(c) == 10
                   for (c,) in connection.execute("select charg from erp_batch"))


def test_mes_tables_match_contract(plant_dir: Path) -> None:
    with sqlite3.connect(plant_dir / "mes.sqlite") as connection:
        for table in MES_TABLES:
            columns = [row[1] for row in connection.execute(f"pragma table_info({table.name})")]
            assert columns == table.column_names
            assert connection.execute(f"select count(*) from {table.name}").fetchone()[0] > 0


def read_wms(path: Path, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(encoding))))


def test_wms_files_match_contract_and_decode(plant_dir: Path, metadata: dict) -> None:
    landing = plant_dir / "wms_landing"
    entities = set()
    for info in metadata["wms_files"]:
        rows = read_wms(landing / info["file"], info["encoding"])
        assert rows[0] == wms_table_for_entity(info["entity"]).column_names
        assert len(rows) - 1 == info["rows"]
        entities.add(info["entity"])
    assert entities == {t.source_name for t in WMS_TABLES}
    encodings = {info["encoding"] for info in metadata["wms_files"]}
    assert {"gb18030", "utf-8-sig", "utf-8"} <= encodings
    item_file = next(i for i in metadata["wms_files"] if i["encoding"] == "gb18030")
    raw = (landing / item_file["file"]).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    bom_file = next(i for i in metadata["wms_files"] if i["encoding"] == "utf-8-sig")
    assert (landing / bom_file["file"]).read_bytes().startswith(b"\xef\xbb\xbf")


def test_special_wms_files(plant_dir: Path, metadata: dict) -> None:
    landing = plant_dir / "wms_landing"
    by_role = {i["role"]: i for i in metadata["wms_files"]}
    duplicate = by_role["duplicate"]
    original = duplicate["file"].replace("_1.csv", ".csv")
    assert (landing / duplicate["file"]).read_bytes() == (landing / original).read_bytes()
    replaced, correction = by_role["replaced"], by_role["correction"]
    assert correction["file"] == replaced["file"].replace(".csv", "_1.csv")
    assert (landing / replaced["file"]).read_bytes() != (landing / correction["file"]).read_bytes()
    late = landing / by_role["late"]["file"]
    others = [p for p in landing.iterdir() if p != late]
    assert late.stat().st_mtime > max(p.stat().st_mtime for p in others)
    assert by_role["late"]["file_date"] < max(i["file_date"] for i in metadata["wms_files"])


def test_every_case_type_is_injected(plant_dir: Path) -> None:
    with (plant_dir / "ground_truth.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    counts = {case: sum(r["case_type"] == case for r in rows) for case in CASE_TYPES}
    assert min(counts.values()) >= 2, counts
    assert all(r["window_start"] <= r["window_end"] for r in rows)


def test_location_map_and_noise(plant_dir: Path) -> None:
    with (plant_dir / "location_map.csv").open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == ["werks", "lgort", "warehouse", "zone", "mes_line",
                                 "mes_work_center", "description"]
    assert any(r["mes_line"] for r in rows) and any(r["zone"] == "LINE" for r in rows)
    with (plant_dir / "noise.csv").open(encoding="utf-8") as handle:
        assert {r["pattern"] for r in csv.DictReader(handle)} >= {"unit_conversion", "rounding"}


def parse_barcode(barcode: str) -> GS1Message:
    if barcode.startswith("("):
        return GS1Message.parse_hri(barcode)
    return parse(barcode).gs1_message


def test_mes_barcodes_are_gs1_with_valid_gtins(plant_dir: Path, metadata: dict) -> None:
    with sqlite3.connect(plant_dir / "mes.sqlite") as connection:
        barcodes = [b for table in ("mes_consumptions", "mes_scrap", "mes_line_returns",
                                    "mes_outsourcing")
                    for (b,) in connection.execute(f"select barcode from {table}")]
    raw = [b for b in barcodes if not b.startswith("(")]
    assert raw and len(raw) < len(barcodes)
    if metadata["world"]["gs1_quantity"] == "measure":
        # the batch (variable length) is followed by the content: FNC1 closes it
        assert all(chr(29) in b for b in raw)
    for barcode in barcodes:
        message = parse_barcode(barcode)
        gtin = message.element_strings.get(ai="01").gtin
        assert gtin is not None and len(message.element_strings.get(ai="10").value) == 10


@pytest.fixture(scope="module")
def server(plant_dir: Path):
    with MesServer(plant_dir / "mes.sqlite", TOKEN) as running:
        yield running


def fetch(server: MesServer, resource: str, token: str = TOKEN, **params) -> requests.Response:
    return requests.get(f"{server.base_url}/api/v1/{resource}", params=params,
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_server_requires_token_and_known_resource(server: MesServer) -> None:
    assert fetch(server, "consumptions", token="wrong").status_code == 401
    assert fetch(server, "nope").status_code == 404
    assert fetch(server, "consumptions", limit="many").status_code == 400
    assert fetch(server, "consumptions", cursor="!!").status_code == 400


@pytest.mark.parametrize("resource", [t.source_name for t in MES_TABLES])
def test_pagination_serves_every_row_once(server: MesServer, plant_dir: Path,
                                          resource: str) -> None:
    table = next(t for t in MES_TABLES if t.source_name == resource)
    items, cursor = [], None
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = fetch(server, resource, **params).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    key = table.key[0]
    with sqlite3.connect(plant_dir / "mes.sqlite") as connection:
        expected = sorted(r for (r,) in connection.execute(f"select {key} from {table.name}"))
    assert sorted(i[key] for i in items) == expected
    assert [(i["updated_at"], i[key]) for i in items] == sorted(
        (i["updated_at"], i[key]) for i in items)
    assert set(items[0]) == set(table.column_names)


def test_updated_since_is_inclusive(server: MesServer) -> None:
    everything = fetch(server, "work-orders", limit=10000).json()["items"]
    pivot = everything[len(everything) // 2]["updated_at"]
    since = fetch(server, "work-orders", updated_since=pivot, limit=10000).json()["items"]
    assert since and since[0]["updated_at"] == pivot
    assert since == [i for i in everything if i["updated_at"] >= pivot]


def test_fault_injection(plant_dir: Path) -> None:
    with MesServer(plant_dir / "mes.sqlite", TOKEN, fault_every=4) as flaky:
        statuses = [fetch(flaky, "scrap").status_code for _ in range(8)]
        assert statuses == [200, 503, 200, 429, 200, 503, 200, 429]
        assert flaky.faults_served == 4 and flaky.requests_served == 8
        retry = fetch(flaky, "scrap")
        assert retry.status_code == 200


def test_server_refuses_remote_hosts(plant_dir: Path) -> None:
    with pytest.raises(ValueError):
        MesServer(plant_dir / "mes.sqlite", TOKEN, host="0.0.0.0")


def test_server_command_writes_port_and_stops_on_sigterm(plant_dir: Path, tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [sys.executable, "-m", "shrinkwatch.demo.mes_server", "--data",
         str(plant_dir / "mes.sqlite"), "--port-file", str(port_file), "--fault-every", "2"],
        env={**os.environ, "SHRINKWATCH_MES_TOKEN": TOKEN}, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text()}/api/v1/scrap"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        first = requests.get(url, headers=headers, timeout=10)
        second = requests.get(url, headers=headers, timeout=10)
        assert first.status_code == 503
        assert second.status_code == 429 and second.headers["Retry-After"] == "1"
    finally:
        process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert TOKEN not in " ".join(process.args)


# ------------------------------------------------------------------ worlds


def test_style_is_deterministic_per_seed_and_recorded(metadata: dict) -> None:
    style = draw_style(SMALL["seed"])
    assert style == draw_style(SMALL["seed"])
    assert isinstance(style, WorldStyle)
    assert metadata["world"] == json.loads(json.dumps(style.as_json()))
    # frozen: a world cannot be changed once drawn
    with pytest.raises(AttributeError):
        style.line_side = "shared"  # type: ignore[misc]


def test_seeds_42_and_11_give_worlds_that_differ_in_most_choices() -> None:
    default, other = draw_style(42).choices(), draw_style(11).choices()
    differing = [name for name in default if default[name] != other[name]]
    assert len(differing) > len(default) / 2, differing


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> dict[int, Path]:
    out = {}
    for seed in WORLD_SEEDS:
        out[seed] = tmp_path_factory.mktemp(f"world{seed}")
        generate_plant(out[seed], **{**SMALL, "seed": seed})
    return out


def test_worlds_cover_the_flows() -> None:
    styles = [draw_style(seed) for seed in WORLD_SEEDS]
    for choice, options in (("line_side", {"per_line", "shared"}), ("feed", {"direct", "replenish"}),
                            ("remnant", {"to_store", "line_side"}),
                            ("pseudo_bins", {"empty", "filled"})):
        assert {getattr(style, choice) for style in styles} == options, choice


@pytest.fixture(params=WORLD_SEEDS, ids=lambda seed: f"seed{seed}")
def world(request, worlds) -> tuple[Path, dict]:
    directory = worlds[request.param]
    return directory, json.loads((directory / "plant.json").read_text(encoding="utf-8"))


def wms_rows(directory: Path, metadata: dict, entity: str) -> list[dict[str, str]]:
    """Every row of an entity's exports, a replaced or duplicate file's once."""
    rows = []
    for info in metadata["wms_files"]:
        if info["entity"] == entity and info["role"] not in ("replaced", "duplicate"):
            text = (directory / "wms_landing" / info["file"]).read_bytes().decode(info["encoding"])
            rows += list(csv.DictReader(io.StringIO(text)))
    return rows


def mes_rows(directory: Path, table: str) -> list[dict]:
    with sqlite3.connect(directory / "mes.sqlite") as connection:
        connection.row_factory = sqlite3.Row
        return [dict(r) for r in connection.execute(f"select * from {table}")]


def erp_rows(directory: Path, table: str) -> list[dict]:
    with sqlite3.connect(directory / "erp.sqlite") as connection:
        connection.row_factory = sqlite3.Row
        return [dict(r) for r in connection.execute(f"select * from {table}")]


def location_map(directory: Path) -> list[dict[str, str]]:
    with (directory / "location_map.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_world_tables_are_shaped_like_the_contract(world) -> None:
    directory, metadata = world
    inspector = sa.inspect(sa.create_engine(f"sqlite:///{directory / 'erp.sqlite'}"))
    for table in ERP_TABLES:
        assert [c["name"] for c in inspector.get_columns(table.name)] == table.column_names
        assert metadata["counts"]["erp"][table.name] > 0, table.name
    with sqlite3.connect(directory / "mes.sqlite") as connection:
        for table in MES_TABLES:
            columns = [row[1] for row in connection.execute(f"pragma table_info({table.name})")]
            assert columns == table.column_names
            assert metadata["counts"]["mes"][table.name] > 0, table.name
    entities = set()
    for info in metadata["wms_files"]:
        rows = read_wms(directory / "wms_landing" / info["file"], info["encoding"])
        assert rows[0] == wms_table_for_entity(info["entity"]).column_names
        entities.add(info["entity"])
    assert entities == {t.source_name for t in WMS_TABLES}
    assert metadata["world"]["seed"] == metadata["parameters"]["seed"]


def test_world_rows_pass_every_row_rule_so_nothing_is_quarantined(world) -> None:
    """The extractors' own validation (contracts.py row rules), row by row."""
    directory, metadata = world
    broken = Counter()
    for system, tables in (("erp", ERP_TABLES), ("mes", MES_TABLES)):
        with sqlite3.connect(directory / f"{system}.sqlite") as connection:
            for table in tables:
                validator = RowValidator(table)
                rows = connection.execute(f"select {', '.join(table.column_names)} from {table.name}")
                keys = Counter()
                for row in rows:
                    result = validator.validate(row)
                    if not isinstance(result, list):
                        broken[(table.name, result.rule, result.reason)] += 1
                    keys[tuple(row[table.column_names.index(k)] for k in table.key)] += 1
                assert max(keys.values()) == 1, table.name
    for info in metadata["wms_files"]:
        table = wms_table_for_entity(info["entity"])
        validator = RowValidator(table)
        rows = read_wms(directory / "wms_landing" / info["file"], info["encoding"])[1:]
        keys = Counter(tuple(row[table.column_names.index(k)] for k in table.key) for row in rows)
        assert not rows or max(keys.values()) == 1, info["file"]
        for row in rows:
            result = validator.validate(row)
            if not isinstance(result, list):
                broken[(table.name, result.rule, result.reason)] += 1
    assert not broken, broken


def test_world_injects_every_incident_type(world) -> None:
    directory, _ = world
    with (directory / "ground_truth.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    counts = Counter(r["case_type"] for r in rows)
    assert {case: counts[case] for case in CASE_TYPES if counts[case] < 2} == {}
    assert all(r["window_start"] <= r["window_end"] for r in rows)


def test_world_incident_quantities_are_material(world) -> None:
    """Well above weighing noise: a remnant incident is at least 5 % of what its order was issued."""
    directory, _ = world
    with (directory / "ground_truth.csv").open(encoding="utf-8") as handle:
        incidents = list(csv.DictReader(handle))
    issued = defaultdict(float)
    for row in erp_rows(directory, "erp_material_doc"):
        if row["bwart"] == "261" and row["aufnr"]:
            issued[(row["aufnr"].lstrip("0"), row["matnr"].lstrip("0"))] += row["menge"]
    remnants = [i for i in incidents if i["case_type"] == "unreturned_remnant"
                or (i["case_type"] == "unverified_return" and i["order_no"])]
    assert remnants
    for incident in remnants:
        order_issue = issued[(incident["order_no"], incident["material"])]
        assert float(incident["qty"]) >= 0.05 * order_issue, incident
    assert all(float(i["qty"]) > 0 for i in incidents if i["case_type"] != "data_quality")


def test_pseudo_bins_never_appear_in_bin_stock(world) -> None:
    directory, metadata = world
    pseudo = {b for plant in metadata["plants"] for b in plant["pseudo_bins"]}
    stock_bins = {r["bin"] for r in wms_rows(directory, metadata, "bin_stock")}
    assert stock_bins and not stock_bins & pseudo
    tasks = wms_rows(directory, metadata, "task")
    named = {r["from_bin"] for r in tasks} | {r["to_bin"] for r in tasks}
    if metadata["world"]["pseudo_bins"] == "filled":
        # every task names both bins, but a count adjustment's one side (contract §5)
        assert all(r["from_bin"] and r["to_bin"] for r in tasks if r["task_type"] != "COUNT_ADJUST")
        docks = {b for plant in metadata["plants"] for b in plant["pseudo_bins"] if "DOCK" in b}
        assert docks <= named and "TRUCK" in named
    else:
        assert not {b for b in named if "DOCK" in b or b in ("TRUCK", "CC-4100")}


def test_every_line_return_names_an_existing_wms_task(world) -> None:
    directory, metadata = world
    tasks = {r["task_id"]: r for r in wms_rows(directory, metadata, "task")}
    returns = mes_rows(directory, "mes_line_returns")
    assert returns
    expected = "RETURN_RECEIPT" if metadata["world"]["remnant"] == "to_store" else "PUTAWAY"
    feed_bins = {b for plant in metadata["plants"] for b in plant["feed_bins"].values()}
    for event in returns:
        task = tasks[event["wms_task_ref"]]
        assert task["task_type"] == expected and task["from_bin"] in feed_bins


def test_location_map_places_every_mes_line_and_work_centre(world) -> None:
    directory, metadata = world
    rows = location_map(directory)
    placed = {(r["mes_line"], r["mes_work_center"]): (r["werks"], r["lgort"])
              for r in rows if r["mes_line"]}
    events = mes_rows(directory, "mes_work_orders") + mes_rows(directory, "mes_consumptions")
    assert {(e["line"], e["work_center"]) for e in events} <= set(placed)
    centres = [centre for _, centre in placed]
    assert len(centres) == len(set(centres)), "a work centre alone must place an event"
    zones = {(r["werks"], r["lgort"], r["warehouse"], r["zone"]) for r in rows if not r["mes_line"]}
    for (line, _), (werks, lgort) in placed.items():
        # the line's storage location is a LINE zone of its plant's warehouse
        assert any(z[:2] == (werks, lgort) and z[3] == "LINE" for z in zones), line
    stock_zones = {(r["warehouse"], r["zone"]) for r in wms_rows(directory, metadata, "bin_stock")}
    assert stock_zones <= {(z[2], z[3]) for z in zones}
    if metadata["world"]["line_side"] == "shared":
        for plant in metadata["plants"]:
            line_zone_rows = [z for z in zones if z[0] == plant["werks"] and z[3] == "LINE"]
            assert len(line_zone_rows) == 1
            assert {placed[key][1] for key in placed if key[0] in plant["lines"]} == {line_zone_rows[0][1]}
        feeds = {r["to_bin"] for r in wms_rows(directory, metadata, "task") if r["task_type"] == "LINE_FEED"}
        assert {line for plant in metadata["plants"] for line in plant["lines"]} == feeds


def test_world_flows_show_in_every_system(world) -> None:
    """Each world's choices are visible in the rows, not only recorded in plant.json."""
    directory, metadata = world
    style = metadata["world"]
    docs = erp_rows(directory, "erp_material_doc")
    line_slocs = {lgort for plant in metadata["plants"] for lgort in plant["storage_locations"]["line_side"].values()}
    raw_slocs = {plant["storage_locations"]["raw"] for plant in metadata["plants"]}
    transfers = [d for d in docs if d["bwart"] == "311" and d["lgort"] in line_slocs]
    issues_line_side = [d for d in docs if d["bwart"] == "261" and d["lgort"] in line_slocs]
    returns = [d for d in docs if d["bwart"] == "262" and not d["smbln"]]
    if style["feed"] == "replenish":
        assert transfers and issues_line_side
    else:
        assert not transfers
    if style["remnant"] == "line_side":
        assert {d["lgort"] for d in returns} <= line_slocs | raw_slocs and issues_line_side
        assert any(d["lgort"] in line_slocs for d in returns)
    else:
        assert {d["lgort"] for d in returns} == raw_slocs
    if style["issue_document"] == "per_order":
        assert max(Counter(d["mblnr"] for d in docs if d["bwart"] == "261").values()) > 1
    with (directory / "noise.csv").open(encoding="utf-8") as handle:
        patterns = {r["pattern"] for r in csv.DictReader(handle)}
    assert {"reversal", "issue_reversal", "repeated_equal_feed",
            "order_running_at_extraction"} <= patterns
    orders = mes_rows(directory, "mes_work_orders")
    assert any(o["status"] == "RUNNING" and o["closed_at"] is None for o in orders)
    items = wms_rows(directory, metadata, "item")
    skus = {r["sku"] for r in items}
    assert all(sku.startswith("SKU-") for sku in skus)
    embedded = all(r["sku"] == f"SKU-{r['erp_material']}" for r in items if r["erp_material"])
    assert embedded == (style["sku_codes"] == "embedded")


def test_world_keeps_to_its_calendar_and_to_the_data_end(world) -> None:
    """ERP entries fall in the world's working hours, but for the out-of-hours incidents;
    no source has an event after the end of the data."""
    directory, metadata = world
    style = draw_style(metadata["world"]["seed"])
    blocks = style.working_blocks()
    end = date.fromisoformat(metadata["parameters"]["end_date"])
    docs = erp_rows(directory, "erp_material_doc")
    assert max(date.fromisoformat(d["cpudt"]) for d in docs) <= end
    assert max(date.fromisoformat(d["budat"]) for d in docs) <= end

    def hour(value: str) -> float:
        clock = datetime.strptime(value[:8], "%H:%M:%S")
        return clock.hour + clock.minute / 60 + clock.second / 3600

    shutdown = {(p["werks"], d) for p in metadata["plants"] for d in p["shutdown_days"]}
    assert shutdown
    outside = [d for d in docs if (d["werks"], d["cpudt"]) in shutdown
               or not any(a <= hour(d["cputm"]) < b for a, b in blocks)]
    with (directory / "ground_truth.csv").open(encoding="utf-8") as handle:
        night = [r for r in csv.DictReader(handle)
                 if r["case_type"] == "posting_time_anomaly" and "does not work" in r["description"]]
    assert len(outside) <= len(night), outside[:3]
    data_end = datetime.combine(end, datetime.max.time()) - PLANT_UTC_OFFSET
    latest_ms = int(data_end.replace(tzinfo=UTC).timestamp() * 1000)
    for table in MES_TABLES:
        for row in mes_rows(directory, table.name):
            assert max(v for c, v in row.items() if c.endswith("_at") and v is not None) <= latest_ms
    latest = (data_end + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert max(r["confirmed_at"] for r in wms_rows(directory, metadata, "task")) < latest
