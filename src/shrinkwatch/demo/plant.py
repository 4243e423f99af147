"""Generate the demo plant: ERP and MES SQLite databases, WMS landing files and answers.

`generate_plant` is deterministic for its arguments: it draws only from
`random.Random(seed)` and the seed's world style (`style.draw_style`), never from
the clock, and sets every landing file's mtime itself, so two runs give
byte-identical files (and identical mtimes). The seed selects a *world*: its
codes, layout, flows, calendar and spellings are recorded in `plant.json` under
`"world"`.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from shrinkwatch.demo.simulation import (
    CASE_TYPES,
    EPOCH,
    GROUND_TRUTH_COLUMNS,
    NOISE_COLUMNS,
    PLANT_UTC_OFFSET,
    Simulation,
)
from shrinkwatch.demo.sinks import ErpSink, MesSink, wms_csv_bytes
from shrinkwatch.demo.style import LINE_ZONE, draw_style
from shrinkwatch.demo.world import World, build_world

LOCATION_MAP_COLUMNS = ("werks", "lgort", "warehouse", "zone", "mes_line", "mes_work_center",
                        "description")
ZONE_DESCRIPTIONS = {"raw": "原材料库", "fg": "成品库", "qa": "质检区", "ret": "退货区"}

# One WMS exports every warehouse into the landing directory; each export job
# writes its own encoding (the item master comes from an old Windows job).
WMS_ENCODINGS = {"item": "gb18030", "bin_stock": "utf-8-sig", "task": "utf-8",
                 "cycle_count": "utf-8"}


def _mtime(day: date, hours: float) -> float:
    local = datetime.combine(day, datetime.min.time()) + timedelta(hours=hours)
    return (local - PLANT_UTC_OFFSET - EPOCH).total_seconds()


class _Landing:
    """The WMS landing directory and the story of each file in it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.files: list[dict[str, Any]] = []
        self.rows: Counter[str] = Counter()

    def write(self, entity: str, day: date, rows: list[dict[str, Any]], *, seq: int = 0,
              role: str = "export", data: bytes | None = None, hours: float = 24.5) -> Path:
        encoding = WMS_ENCODINGS[entity]
        suffix = f"_{seq}" if seq else ""
        path = self.directory / f"wms_{entity}_{day:%Y%m%d}{suffix}.csv"
        path.write_bytes(data if data is not None else wms_csv_bytes(entity, rows, encoding))
        os.utime(path, (_mtime(day, hours), _mtime(day, hours)))
        self.files.append({"file": path.name, "entity": entity, "file_date": day.isoformat(),
                           "seq": seq, "encoding": encoding, "rows": len(rows), "role": role})
        if role != "duplicate":
            self.rows[entity] += len(rows)
        return path


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _location_map_rows(world: World) -> list[dict[str, str]]:
    rows = []
    for plant in world.plants:
        for role, lgort in plant.slocs.items():
            for zone in plant.zones[lgort]:
                rows.append({"werks": plant.werks, "lgort": lgort, "warehouse": plant.warehouse,
                             "zone": zone, "mes_line": "", "mes_work_center": "",
                             "description": f"{ZONE_DESCRIPTIONS[role]} {zone}区"})
        for lgort in plant.line_slocs:
            served = [line.name for line in plant.lines if line.lgort == lgort]
            rows.append({"werks": plant.werks, "lgort": lgort, "warehouse": plant.warehouse,
                         "zone": LINE_ZONE, "mes_line": "", "mes_work_center": "",
                         "description": f"线边库 {'/'.join(served)}"})
        for line in plant.lines:
            for center in line.work_centers:
                rows.append({"werks": plant.werks, "lgort": line.lgort, "warehouse": "",
                             "zone": "", "mes_line": line.name, "mes_work_center": center,
                             "description": f"产线 {line.name} 工作中心 {center}"})
    return rows


def _user_rows(world: World) -> list[dict[str, Any]]:
    return [{"usnam": u.usnam, "name": u.name, "department": u.department, "werks": u.werks,
             "wms_user": u.wms_user, "mes_operator": u.mes_operator}
            for plant in world.plants for u in plant.users]


def _material_rows(world: World, first_day: date) -> list[dict[str, Any]]:
    changed = datetime.combine(first_day - timedelta(days=200), datetime.min.time())
    return [{"matnr": m.padded, "maktx": m.maktx, "meins": m.meins, "matkl": m.matkl,
             "spec": m.spec, "gtin": world.style.gtin(m.gtin, "erp") if m.erp_gtin else None,
             "critical": "X" if m.critical else "",
             "std_price": m.std_price, "changed_at": changed + timedelta(minutes=i)}
            for i, m in enumerate(world.materials)]


def generate_plant(out_dir: Path, *, seed: int = 42, scale: float = 0.04, days: int = 90,
                   plants: int = 2, end_date: date = date(2026, 6, 30)) -> dict:
    """Write a complete demo plant into out_dir and return its plant.json content."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("erp.sqlite", "mes.sqlite"):
        (out_dir / name).unlink(missing_ok=True)
    shutil.rmtree(out_dir / "wms_landing", ignore_errors=True)

    rng = random.Random(seed)
    style = draw_style(seed)
    first_day = end_date - timedelta(days=days - 1)
    world = build_world(rng, style, scale, plants, first_day, end_date)
    simulation = Simulation(rng, world, first_day, end_date, scale)
    simulation.schedule_incidents(per_type=max(2, round(6 * scale / 0.04 * plants * days / 180)))
    simulation.schedule_look_alikes()

    erp, mes = ErpSink(out_dir / "erp.sqlite"), MesSink(out_dir / "mes.sqlite")
    landing = _Landing(out_dir / "wms_landing")
    erp.write("erp_material", _material_rows(world, first_day))
    erp.write("erp_user", _user_rows(world))

    all_days = simulation.days()
    last_items: list[dict[str, Any]] = []
    # the special files fall on days some plant works, so they are never empty
    busy = [d for d in all_days if any(d not in p.shutdown for p in world.plants)]
    special = {"end": end_date, "replaced": busy[len(busy) // 2],
               "duplicate": busy[len(busy) // 3], "late": busy[len(busy) // 4]}
    for day in all_days:
        simulation.run_day(day, scale)
        for table, rows in simulation.out.erp.items():
            erp.write(table, rows)
        for table, rows in simulation.out.mes.items():
            mes.write(table, rows)
        wms_rows = simulation.out.wms
        items = simulation.item_rows()
        if day.weekday() == 0 or items != last_items:
            landing.write("item", day, items)
            last_items = items
        _write_day_files(landing, day, wms_rows, simulation.bin_stock_rows(day), special)
        simulation.out.erp.clear()
        simulation.out.mes.clear()
        simulation.out.wms.clear()
    erp.close()
    mes.close()
    simulation.finish()
    for material in world.materials:
        if material.meins == "G":
            simulation.record_noise("unit_conversion", world.plants[0], material,
                                    datetime.combine(first_day, datetime.min.time()),
                                    "ERP base unit G, WMS keeps the material in KG")

    _write_csv(out_dir / "location_map.csv", LOCATION_MAP_COLUMNS, _location_map_rows(world))
    _write_csv(out_dir / "ground_truth.csv", GROUND_TRUTH_COLUMNS, simulation.ground_truth)
    _write_csv(out_dir / "noise.csv", NOISE_COLUMNS, simulation.noise)

    metadata = {
        "parameters": {"seed": seed, "scale": scale, "days": days, "plants": plants,
                       "first_day": first_day.isoformat(), "end_date": end_date.isoformat()},
        "world": style.as_json(),
        "plants": [_plant_entry(p) for p in world.plants],
        "wms_files": landing.files,
        "counts": {
            "erp": erp.counts, "wms": dict(sorted(landing.rows.items())), "mes": mes.counts,
            "ground_truth": dict(sorted(
                Counter(r["case_type"] for r in simulation.ground_truth).items())),
            "noise": dict(sorted(Counter(r["pattern"] for r in simulation.noise).items())),
        },
        "case_types": list(CASE_TYPES),
    }
    (out_dir / "plant.json").write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    return metadata


def _plant_entry(plant) -> dict[str, Any]:
    return {
        "werks": plant.werks, "warehouse": plant.warehouse,
        "storage_locations": {**plant.slocs,
                              "line_side": {line.name: line.lgort for line in plant.lines}},
        "zones": {lgort: list(zones) for lgort, zones in plant.zones.items()},
        "lines": [line.name for line in plant.lines],
        "work_centers": {line.name: line.work_centers for line in plant.lines},
        "feed_bins": {line.name: line.feed_bin for line in plant.lines},
        "pseudo_bins": sorted(plant.pseudo_bins),
        "shutdown_days": sorted(d.isoformat() for d in plant.shutdown),
    }


def _write_day_files(landing: _Landing, day: date, wms_rows: dict[str, list[dict[str, Any]]],
                     bin_stock: list[dict[str, Any]], special: dict[str, date]) -> None:
    tasks = wms_rows.get("task", [])
    if day == special["replaced"] and len(tasks) > 1:
        # the first export lost its tail and misread one quantity; _1 corrects it
        broken = [dict(row) for row in tasks[: max(1, len(tasks) - 3)]]
        broken[0]["qty"] = round(float(broken[0]["qty"]) * 10, 3)
        landing.write("task", day, broken, role="replaced")
        landing.rows["task"] -= len(broken)
        landing.write("task", day, tasks, seq=1, role="correction", hours=27)
    else:
        landing.write("task", day, tasks)
    counts = wms_rows.get("cycle_count", [])
    first = landing.write("cycle_count", day, counts)
    if day == special["duplicate"]:
        landing.write("cycle_count", day, counts, seq=1, role="duplicate",
                      data=first.read_bytes(), hours=26)
    if day == special["late"]:
        landing.write("bin_stock", day, bin_stock, role="late",
                      hours=24 * ((special["end"] - day).days + 3))
    else:
        landing.write("bin_stock", day, bin_stock)
