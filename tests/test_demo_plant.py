"""The demo plant: deterministic, shaped like the contracts, and served by its MES API."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from biip import parse
from biip.gs1_messages import GS1Message

from shrinkwatch.contracts import ERP_TABLES, MES_TABLES, WMS_TABLES, wms_table_for_entity
from shrinkwatch.demo import generate_plant
from shrinkwatch.demo.mes_server import MesServer
from shrinkwatch.demo.simulation import CASE_TYPES

SMALL = {"seed": 7, "scale": 0.002, "days": 10}
TOKEN = "test-token"


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


def test_mes_barcodes_are_gs1_with_valid_gtins(plant_dir: Path) -> None:
    with sqlite3.connect(plant_dir / "mes.sqlite") as connection:
        barcodes = [b for table in ("mes_consumptions", "mes_scrap", "mes_line_returns",
                                    "mes_outsourcing")
                    for (b,) in connection.execute(f"select barcode from {table}")]
    assert any(b.startswith("(") for b in barcodes) and any(chr(29) in b for b in barcodes)
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
         str(plant_dir / "mes.sqlite"), "--token", TOKEN, "--port-file", str(port_file),
         "--fault-every", "2"], stdout=subprocess.DEVNULL)
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
