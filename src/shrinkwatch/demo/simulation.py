"""Day-by-day simulation of the demo plants, writing all three systems' records.

Physical stock moves once and each system records it in its own dialect: ERP
material documents (plant-local time, base units, padded keys), WMS tasks and
snapshots (UTC, handling units, respelled lots) and MES events (epoch ms, GS1
barcodes). Incidents are the deliberate breaks of that agreement, one per
ground-truth row; noise rows are legitimate disagreements that are not losses.
"""

from __future__ import annotations

import math
import random
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from shrinkwatch.demo import gs1
from shrinkwatch.demo.world import Line, Material, Plant, User, World

PLANT_UTC_OFFSET = timedelta(hours=8)  # Asia/Shanghai has no daylight saving
EPOCH = datetime(1970, 1, 1)
CASE_TYPES = (
    "stock_discrepancy", "excess_issue", "unreturned_remnant", "phantom_scrap",
    "unverified_return", "batch_mismatch", "posting_time_anomaly", "duplicate_posting",
    "sod_violation", "outsourcing_leakage", "data_quality",
)
# Incidents that happen inside one production order.
ORDER_CASES = ("excess_issue", "unreturned_remnant", "phantom_scrap", "unverified_return",
               "batch_mismatch")
GROUND_TRUTH_COLUMNS = ("incident_id", "case_type", "werks", "location", "material", "batch",
                        "user_id", "order_no", "window_start", "window_end", "qty", "uom",
                        "description")
NOISE_COLUMNS = ("noise_id", "pattern", "werks", "material", "batch", "order_no", "erp_doc",
                 "wms_ref", "mes_ref", "at", "description")


def utc_iso(local: datetime) -> str:
    return (local - PLANT_UTC_OFFSET).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_ms(local: datetime) -> int:
    return int((local - PLANT_UTC_OFFSET - EPOCH).total_seconds() * 1000)


def _variant(key: str, count: int) -> int:
    """A stable choice per key, so one lot or document is always spelled the same way."""
    return zlib.crc32(key.encode()) % count


def wms_lot(charg: str) -> str:
    return [charg, charg.lower(), f"LOT-{charg}", f"{charg[:7]}-{charg[7:]}"][_variant(charg, 4)]


def ref_spelling(kind: str, number: str) -> str:
    forms = {
        "aufnr": [number, number.zfill(12), f"MO{number}"],
        "ebeln": [number, f"PO-{number}", f"PO{number}"],
        "vbeln": [number, f"DN{number}", f"DN-{number}"],
    }[kind]
    return forms[_variant(number, len(forms))]


@dataclass
class Incident:
    case_type: str
    variant: int
    plant: Plant
    day: date


@dataclass
class Lot:
    material: Material
    charg: str
    lgort: str
    bin: str


@dataclass
class DayOutput:
    """Rows produced for one simulated day, flushed to the sinks at its end."""

    erp: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    mes: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    wms: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))


class Simulation:
    def __init__(self, rng: random.Random, world: World, first_day: date, last_day: date,
                 scale: float) -> None:
        self.rng = rng
        self.world = world
        self.first_day = first_day
        self.last_day = last_day
        self.orders_per_line = max(1, round(350 * scale))
        self.out = DayOutput()
        self.ground_truth: list[dict[str, Any]] = []
        self.noise: list[dict[str, Any]] = []
        self.counters: dict[str, int] = defaultdict(int)
        # physical stock as each system believes it, in ERP base units
        self.erp_book: dict[tuple[str, str, str, str], float] = defaultdict(float)
        self.wms_stock: dict[tuple[str, str, str, str], float] = defaultdict(float)
        self.lots: dict[tuple[str, str], list[Lot]] = defaultdict(list)  # (werks, matnr)
        self.pending: dict[date, list] = defaultdict(list)
        self.wms_units_per_uom = {m.matnr: m.units_per_uom for m in world.materials}
        self.unit_defect_lines: dict[str, Material] = {}
        self.incidents: dict[tuple[str, date], list[Incident]] = defaultdict(list)
        self.used_chargs: set[str] = set()

    # ------------------------------------------------------------------ ids

    def next_id(self, kind: str) -> int:
        self.counters[kind] += 1
        return self.counters[kind]

    def new_charg(self, day: date) -> str:
        alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
        while True:
            charg = "B" + day.strftime("%y%m%d") + "".join(self.rng.choices(alphabet, k=3))
            if charg not in self.used_chargs:
                self.used_chargs.add(charg)
                return charg

    # ------------------------------------------------------------ incidents

    def schedule_incidents(self, per_type: int) -> None:
        working = {p.werks: [d for d in self.days() if d not in p.shutdown and d < self.last_day]
                   for p in self.world.plants}
        for case_type in CASE_TYPES:
            for variant in range(per_type):
                plant = self.world.plants[variant % len(self.world.plants)]
                days = working[plant.werks]
                if case_type == "outsourcing_leakage" and variant % 2 == 1:
                    days = days[: max(1, len(days) // 2)]  # never returned: sent early
                day = self.rng.choice(days)
                self.incidents[(plant.werks, day)].append(Incident(case_type, variant, plant, day))

    def take_incidents(self, plant: Plant, day: date,
                       case_types: tuple[str, ...]) -> list[Incident]:
        todays = self.incidents[(plant.werks, day)]
        taken = [i for i in todays if i.case_type in case_types]
        self.incidents[(plant.werks, day)] = [i for i in todays if i not in taken]
        return taken

    def record(self, case_type: str, plant: Plant, location: str, material: Material,
               start: datetime, end: datetime, qty: float, description: str, *,
               batch: str = "", user: str = "", order_no: str = "") -> None:
        self.ground_truth.append({
            "incident_id": f"INC-{len(self.ground_truth) + 1:04d}", "case_type": case_type,
            "werks": plant.werks, "location": location, "material": material.matnr,
            "batch": batch, "user_id": user, "order_no": order_no,
            "window_start": utc_iso(start), "window_end": utc_iso(end),
            "qty": round(qty, 3), "uom": material.meins, "description": description,
        })

    def record_noise(self, pattern: str, plant: Plant, material: Material, at: datetime,
                     description: str, **keys: str) -> None:
        row = dict.fromkeys(NOISE_COLUMNS, "")
        row.update(noise_id=f"NOISE-{len(self.noise) + 1:05d}", pattern=pattern,
                   werks=plant.werks, material=material.matnr, at=utc_iso(at),
                   description=description, **keys)
        self.noise.append(row)

    # ---------------------------------------------------------------- time

    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(count)]

    def at(self, day: date, hour: float) -> datetime:
        return datetime.combine(day, time()) + timedelta(seconds=round(hour * 3600))

    # ------------------------------------------------------------------ ERP

    def post(self, plant: Plant, when: datetime, user: User, lines: list[dict[str, Any]],
             budat: date | None = None) -> str:
        """One material document; each line names bwart, shkzg, material, lgort, charg, menge."""
        mblnr = f"49{self.next_id('mblnr'):08d}"
        when = when.replace(microsecond=0)
        for zeile, line in enumerate(lines, start=1):
            material: Material = line.pop("material")
            menge = round(line["menge"], 3)
            entry_in_kg = material.meins == "G" and _variant(mblnr, 3) == 0
            self.out.erp["erp_material_doc"].append({
                "mblnr": mblnr, "mjahr": when.year, "zeile": zeile, "bwart": line["bwart"],
                "shkzg": line["shkzg"], "matnr": material.padded, "werks": plant.werks,
                "lgort": line.get("lgort"), "charg": line.get("charg"), "menge": menge,
                "meins": material.meins,
                "erfmg": round(menge / 1000, 3) if entry_in_kg else menge,
                "erfme": "KG" if entry_in_kg else material.meins,
                "budat": budat or when.date(), "cpudt": when.date(), "cputm": when.time(),
                "usnam": user.usnam, "aufnr": line.get("aufnr"), "ebeln": line.get("ebeln"),
                "vbeln": line.get("vbeln"), "lifnr": line.get("lifnr"), "grund": line.get("grund"),
                "sgtxt": line.get("sgtxt"), "smbln": line.get("smbln"), "smblp": line.get("smblp"),
                "dmbtr": round(menge * material.std_price, 2),
            })
            if line.get("lgort") and line.get("book", True):
                sign = 1 if line["shkzg"] == "S" else -1
                self.erp_book[(plant.werks, line["lgort"], material.matnr, line["charg"])] += (
                    sign * menge)
        return mblnr

    def new_batch(self, material: Material, day: date, when: datetime) -> str:
        charg = self.new_charg(day)
        self.out.erp["erp_batch"].append({
            "matnr": material.padded, "charg": charg,
            "licha": f"V{self.rng.randint(100000, 999999)}" if material.kind != "product" else None,
            "hsdat": day - timedelta(days=self.rng.randint(0, 20)),
            "vfdat": day + timedelta(days=self.rng.choice([180, 365, 730])),
            "created_at": when.replace(microsecond=0),
        })
        return charg

    # ------------------------------------------------------------------ WMS

    def task(self, plant: Plant, task_type: str, material: Material, charg: str,
             from_bin: str, to_bin: str, base_qty: float, ref_doc: str, when: datetime,
             user: User, *, move: bool = True) -> str:
        task_id = f"T{self.next_id('task'):09d}"
        elements = gs1.pack_elements(material.gtin, charg, material.pack_base,
                                     material.mes_uom or "pcs")
        barcode = gs1.raw_scan(elements) if _variant(task_id, 2) else gs1.bracketed(elements)
        self.out.wms["task"].append({
            "task_id": task_id, "task_type": task_type, "sku": material.sku, "lot": wms_lot(charg),
            "from_bin": from_bin, "to_bin": to_bin, "qty": material.to_wms_qty(base_qty),
            "uom": material.wms_uom, "ref_doc": ref_doc,
            "created_at": utc_iso(when - timedelta(minutes=self.rng.randint(2, 40))),
            "confirmed_at": utc_iso(when), "confirmed_by": user.wms_user,
            "device_id": f"RF-{plant.warehouse}-{self.rng.randint(1, 12):02d}",
            "scanned_barcode": "" if task_type == "SHIP" else barcode,
        })
        if move:
            if from_bin:
                self.wms_stock[(plant.warehouse, from_bin, material.matnr, charg)] -= base_qty
            if to_bin:
                self.wms_stock[(plant.warehouse, to_bin, material.matnr, charg)] += base_qty
        return task_id

    # ------------------------------------------------------------------ MES

    def barcode(self, material: Material, charg: str, key: str) -> str:
        elements = gs1.pack_elements(material.gtin, charg, material.pack_base, material.mes_uom)
        return gs1.bracketed(elements) if _variant(key, 3) == 0 else gs1.raw_scan(elements)

    def mes_event(self, resource: str, prefix: str, row: dict[str, Any], when: datetime,
                  corrected_after: timedelta | None = None) -> str:
        event_id = f"{prefix}-{self.next_id(prefix):08d}"
        updated = when + (corrected_after or timedelta(seconds=self.rng.randint(1, 90)))
        self.out.mes[resource].append(
            {"event_id": event_id, **row, "updated_at": epoch_ms(updated)})
        return event_id

    # ---------------------------------------------------------------- stock

    def receive(self, plant: Plant, material: Material, base_qty: float, when: datetime,
                lgort: str | None = None, *, putaway: bool = True, post: bool = True) -> Lot:
        """A purchase receipt: 101 against a PO, putaway in the WMS."""
        lgort = lgort or (plant.FG if material.kind == "product" else plant.RAW)
        charg = self.new_batch(material, when.date(), when)
        lot = Lot(material, charg, lgort, plant.bin_for(self.rng, lgort))
        ebeln = f"45{self.next_id('ebeln'):08d}"
        clerk = self.rng.choice(plant.clerks)
        if putaway:
            self.task(plant, "PUTAWAY", material, charg, "", lot.bin, base_qty,
                      ref_spelling("ebeln", ebeln), when, clerk)
        if post:
            self.post(plant, when + timedelta(minutes=self.rng.randint(1, 20)), clerk, [{
                "bwart": "101", "shkzg": "S", "material": material, "lgort": lgort,
                "charg": charg, "menge": base_qty, "ebeln": ebeln,
                "lifnr": self.rng.choice(self.world.vendors)}])
        if lgort == plant.RAW:
            self.lots[(plant.werks, material.matnr)].append(lot)
        return lot

    def wms_qty(self, plant: Plant, lot: Lot) -> float:
        return self.wms_stock[(plant.warehouse, lot.bin, lot.material.matnr, lot.charg)]

    def lot_with(self, plant: Plant, material: Material, base_qty: float, when: datetime) -> Lot:
        for lot in self.lots[(plant.werks, material.matnr)]:
            if self.wms_qty(plant, lot) >= base_qty - 1e-6:
                return lot
        packs = math.ceil(base_qty / material.pack_base) + self.rng.randint(4, 12)
        return self.receive(plant, material, packs * material.pack_base,
                            when - timedelta(minutes=self.rng.randint(30, 90)))

    def drop_empty_lots(self, plant: Plant) -> None:
        for key, lots in self.lots.items():
            if key[0] == plant.werks:
                lots[:] = [lot for lot in lots if self.wms_qty(plant, lot) > 1e-6]

    # ----------------------------------------------------------- production

    def run_order(self, plant: Plant, line: Line, day: date, start: datetime, end: datetime,
                  incident: Incident | None) -> None:
        product = self.rng.choice(self.world.products)
        planned = self.rng.choice([50, 80, 100, 120, 150, 200])
        aufnr = str(1000000 + self.next_id("aufnr"))
        work_center = self.rng.choice(line.work_centers)
        supervisor = self.rng.choice(plant.supervisors)
        operator = self.rng.choice(plant.operators)
        case = incident.case_type if incident else None
        target = self.rng.randrange(len(product.bom))
        for index, (component, usage) in enumerate(product.bom):
            hit = case if index == target else None
            self.run_component(plant, line, work_center, aufnr, component, usage * planned,
                               start, end, supervisor, operator, hit)
        fg_charg = self.new_batch(product, day, end)
        fg_bin = plant.bin_for(self.rng, plant.FG)
        clerk = self.rng.choice(plant.clerks)
        self.task(plant, "PUTAWAY", product, fg_charg, "", fg_bin, planned,
                  ref_spelling("aufnr", aufnr), end + timedelta(minutes=15), clerk)
        self.post(plant, end + timedelta(minutes=20), supervisor, [{
            "bwart": "101", "shkzg": "S", "material": product, "lgort": plant.FG,
            "charg": fg_charg, "menge": planned, "aufnr": aufnr.zfill(12)}])
        self.pending[day + timedelta(days=self.rng.randint(1, 3))].append(
            ("deliver", plant, Lot(product, fg_charg, plant.FG, fg_bin), planned))
        self.out.mes["mes_work_orders"].append({
            "order_no": aufnr, "material": product.gtin.zfill(14), "planned_qty": planned,
            "uom": "pcs", "line": line.name, "work_center": work_center, "status": "CLOSED",
            "released_at": epoch_ms(start - timedelta(minutes=45)), "closed_at": epoch_ms(end),
            "updated_at": epoch_ms(end + timedelta(seconds=30)),
        })

    def issue(self, plant: Plant, line: Line, aufnr: str, lot: Lot, base_qty: float,
              when: datetime, supervisor: User) -> str:
        material = lot.material
        self.task(plant, "LINE_FEED", material, lot.charg, lot.bin, line.bin, base_qty,
                  ref_spelling("aufnr", aufnr), when, self.rng.choice(plant.clerks))
        mblnr = self.post(plant, when + timedelta(minutes=2), supervisor, [{
            "bwart": "261", "shkzg": "H", "material": material, "lgort": plant.RAW,
            "charg": lot.charg, "menge": base_qty, "aufnr": aufnr.zfill(12)}])
        if material.critical:
            self.release(plant, material, lot.charg, base_qty, when, supervisor, mblnr)
        return mblnr

    def release(self, plant: Plant, material: Material, charg: str, base_qty: float,
                when: datetime, requester: User, mblnr: str, approver: User | None = None) -> None:
        approver = approver or plant.quality
        when = when.replace(microsecond=0)
        self.out.erp["erp_release"].append({
            "release_id": f"REL{self.next_id('release'):07d}", "matnr": material.padded,
            "charg": charg, "menge": round(base_qty, 3), "meins": material.meins,
            "requested_by": requester.usnam, "requested_at": when - timedelta(minutes=50),
            "approved_by": approver.usnam, "approved_at": when - timedelta(minutes=20),
            "mblnr": mblnr, "status": "POSTED",
        })

    def run_component(self, plant: Plant, line: Line, work_center: str, aufnr: str,
                      component: Material, need: float, start: datetime, end: datetime,
                      supervisor: User, operator: User, case: str | None) -> None:
        packs = math.ceil(need / component.pack_base)
        issued = packs * component.pack_base
        lot = self.lot_with(plant, component, issued, start)
        feed_at = start - timedelta(minutes=self.rng.randint(10, 40))
        self.issue(plant, line, aufnr, lot, issued, feed_at, supervisor)
        consumed = round(need * (1 + self.rng.uniform(-0.003, 0.003)), 3)
        if abs(consumed - need) > 0 and self.rng.random() < 0.05:
            self.record_noise("rounding", plant, component, end,
                              "consumption differs from the order's need within tolerance",
                              order_no=aufnr, batch=lot.charg)
        scanned_charg = lot.charg
        if case == "batch_mismatch":
            scanned_charg = self.new_batch(component, start.date(), feed_at)
            self.record("batch_mismatch", plant, line.name, component, feed_at, end, consumed,
                        f"ERP issued batch {lot.charg}, MES scanned {scanned_charg}",
                        batch=lot.charg, order_no=aufnr)
        self.consume(plant, line, work_center, aufnr, component, lot, scanned_charg, consumed,
                     start, end, operator)
        scrapped = 0.0
        if case == "phantom_scrap" or self.rng.random() < 0.12:
            # nothing left on the line (consumption used up the issue): nothing to scrap;
            # a scrap posting's quantity, like every ERP quantity, is positive
            scrapped = max(round(min(issued - consumed, max(need * 0.02, 0.001)), 3), 0.0)
            if scrapped > 0:
                self.scrap(plant, line, work_center, aufnr, component, lot, scrapped, end, supervisor,
                           operator, phantom=case == "phantom_scrap")
        remnant = round(issued - consumed - scrapped, 3)
        close = end + timedelta(minutes=self.rng.randint(5, 40))
        if case == "excess_issue":
            topup = component.pack_base
            top_lot = self.lot_with(plant, component, topup, start)
            self.issue(plant, line, aufnr, top_lot, topup, end - timedelta(minutes=30), supervisor)
            self.record("excess_issue", plant, line.name, component, end - timedelta(minutes=30),
                        close, topup, "top-up issued to the order, never consumed nor returned",
                        batch=top_lot.charg, user=supervisor.usnam, order_no=aufnr)
        if remnant <= 0.0005:
            return
        if case == "unreturned_remnant":
            self.wms_stock[(plant.warehouse, line.bin, component.matnr, lot.charg)] -= remnant
            self.record("unreturned_remnant", plant, line.name, component, start, close, remnant,
                        "partial pack left at the line after close, returned nowhere",
                        batch=lot.charg, order_no=aufnr)
            return
        self.line_return(plant, line, aufnr, lot, remnant, close, supervisor, operator,
                         unverified=case == "unverified_return")

    def consume(self, plant: Plant, line: Line, work_center: str, aufnr: str,
                component: Material, lot: Lot, scanned_charg: str, consumed: float,
                start: datetime, end: datetime, operator: User) -> None:
        scans = max(1, min(4, math.ceil(consumed / component.pack_base)))
        unit_defect = self.unit_defect_lines.get(line.name)
        left = consumed
        for scan in range(scans):
            qty = round(consumed / scans, 3) if scan < scans - 1 else round(left, 3)
            left -= qty
            when = start + (end - start) * ((scan + 0.5) / scans)
            uom = component.mes_uom
            if unit_defect is component:
                uom = "kg"  # the line's scale sends grams labelled as kilograms
            key = f"{aufnr}/{component.matnr}/{scan}"
            corrected = timedelta(days=self.rng.randint(1, 2)) if _variant(key, 40) == 0 else None
            self.mes_event("mes_consumptions", "CON", {
                "order_no": aufnr, "operation": f"{(scan + 1) * 10:04d}",
                "work_center": work_center, "line": line.name,
                "barcode": self.barcode(component, scanned_charg, key),
                "batch": None if _variant(key, 7) == 0 else scanned_charg,
                "qty": qty, "uom": uom, "consumed_at": epoch_ms(when),
                "operator_id": operator.mes_operator}, when, corrected)
        self.wms_stock[(plant.warehouse, line.bin, component.matnr, lot.charg)] -= consumed

    def scrap(self, plant: Plant, line: Line, work_center: str, aufnr: str, component: Material,
              lot: Lot, qty: float, end: datetime, supervisor: User, operator: User,
              phantom: bool) -> None:
        when = end - timedelta(minutes=self.rng.randint(5, 60))
        without_event = phantom and self.rng.random() < 0.5
        if not without_event:
            disposed = not phantom
            self.mes_event("mes_scrap", "SCR", {
                "order_no": aufnr, "work_center": work_center,
                "barcode": self.barcode(component, lot.charg, f"scrap/{aufnr}/{component.matnr}"),
                "batch": lot.charg, "qty": qty, "uom": component.mes_uom,
                "reason_code": self.rng.choice(["SC01", "SC02", "SC07"]),
                "disposal_ref": f"DSP{self.next_id('disposal'):07d}" if disposed else None,
                "recorded_at": epoch_ms(when), "operator_id": operator.mes_operator},
                when, timedelta(days=self.rng.randint(1, 3)) if disposed else None)
        posted_qty = qty * (10 if phantom else 1)
        self.post(plant, when + timedelta(minutes=30), supervisor, [{
            "bwart": "551", "shkzg": "H", "material": component, "lgort": line.lgort,
            "charg": lot.charg, "menge": posted_qty, "aufnr": aufnr.zfill(12), "grund": "0001",
            "book": False}])
        self.wms_stock[(plant.warehouse, line.bin, component.matnr, lot.charg)] -= qty
        if phantom:
            evidence = "no MES scrap record" if without_event else "MES scrap never disposed"
            self.record("phantom_scrap", plant, line.name, component, when,
                        when + timedelta(minutes=30), posted_qty - (0 if without_event else qty),
                        f"551 posted with {evidence}", batch=lot.charg, user=supervisor.usnam,
                        order_no=aufnr)

    def line_return(self, plant: Plant, line: Line, aufnr: str, lot: Lot, qty: float,
                    when: datetime, supervisor: User, operator: User, unverified: bool) -> None:
        material = lot.material
        if unverified:
            self.wms_stock[(plant.warehouse, line.bin, material.matnr, lot.charg)] -= qty
            self.record("unverified_return", plant, plant.RAW, material, when,
                        when + timedelta(minutes=10), qty,
                        "262 posted without MES line return or WMS return receipt",
                        batch=lot.charg, user=supervisor.usnam, order_no=aufnr)
        else:
            task_id = self.task(plant, "RETURN_RECEIPT", material, lot.charg, line.bin, lot.bin,
                                qty, ref_spelling("aufnr", aufnr), when,
                                self.rng.choice(plant.clerks))
            self.mes_event("mes_line_returns", "RET", {
                "order_no": aufnr,
                "barcode": self.barcode(material, lot.charg, f"ret/{aufnr}/{material.matnr}"),
                "batch": lot.charg, "qty": qty, "uom": material.mes_uom,
                "returned_at": epoch_ms(when - timedelta(minutes=5)),
                "operator_id": operator.mes_operator, "wms_task_ref": task_id}, when)
            if lot not in self.lots[(plant.werks, material.matnr)]:
                self.lots[(plant.werks, material.matnr)].append(lot)
        self.post(plant, when + timedelta(minutes=8), supervisor, [{
            "bwart": "262", "shkzg": "S", "material": material, "lgort": plant.RAW,
            "charg": lot.charg, "menge": qty, "aufnr": aufnr.zfill(12)}])

    # ------------------------------------------------------------ logistics

    def deliver(self, plant: Plant, lot: Lot, qty: float, day: date) -> None:
        when = self.at(day, self.rng.uniform(8, 17))
        vbeln = f"80{self.next_id('vbeln'):08d}"
        clerk = self.rng.choice(plant.clerks)
        ref = ref_spelling("vbeln", vbeln)
        self.task(plant, "PICK", lot.material, lot.charg, lot.bin, "", qty, ref, when, clerk)
        self.task(plant, "SHIP", lot.material, lot.charg, "", "", qty, ref,
                  when + timedelta(minutes=40), clerk, move=False)
        self.post(plant, when + timedelta(minutes=45), clerk, [{
            "bwart": "601", "shkzg": "H", "material": lot.material, "lgort": plant.FG,
            "charg": lot.charg, "menge": qty, "vbeln": vbeln}])
        if self.rng.random() < 0.04:
            self.pending[day + timedelta(days=self.rng.randint(3, 10))].append(
                ("customer_return", plant, lot, vbeln, False))

    def customer_return(self, plant: Plant, lot: Lot, vbeln: str, unverified: bool,
                        day: date) -> None:
        when = self.at(day, self.rng.uniform(9, 16))
        qty = lot.material.pack_base
        clerk = self.rng.choice(plant.clerks)
        if unverified:
            self.record("unverified_return", plant, plant.RET, lot.material, when,
                        when + timedelta(minutes=10), qty,
                        "651 customer return posted, no WMS return receipt",
                        batch=lot.charg, user=clerk.usnam)
        else:
            self.task(plant, "RETURN_RECEIPT", lot.material, lot.charg, "",
                      plant.bin_for(self.rng, plant.RET), qty, ref_spelling("vbeln", vbeln),
                      when, clerk)
        self.post(plant, when + timedelta(minutes=10), clerk, [{
            "bwart": "651", "shkzg": "S", "material": lot.material, "lgort": plant.RET,
            "charg": lot.charg, "menge": qty, "vbeln": vbeln}])

    def quality_receipt(self, plant: Plant, day: date) -> None:
        """Critical material arrives into quality inspection and is released by a 311."""
        material = self.rng.choice([m for m in self.world.raw if m.critical])
        when = self.at(day, self.rng.uniform(8, 15))
        lot = self.receive(plant, material, material.pack_base * self.rng.randint(6, 20), when,
                           plant.QA)
        self.pending[day + timedelta(days=1)].append(("qa_release", plant, lot))

    def qa_release(self, plant: Plant, lot: Lot, day: date) -> None:
        when = self.at(day, self.rng.uniform(8, 11))
        qty = self.wms_qty(plant, lot)
        target = plant.bin_for(self.rng, plant.RAW)
        self.task(plant, "MOVE", lot.material, lot.charg, lot.bin, target, qty, "", when,
                  self.rng.choice(plant.clerks))
        self.post(plant, when + timedelta(minutes=5), plant.quality, [
            {"bwart": "311", "shkzg": "H", "material": lot.material, "lgort": plant.QA,
             "charg": lot.charg, "menge": qty},
            {"bwart": "311", "shkzg": "S", "material": lot.material, "lgort": plant.RAW,
             "charg": lot.charg, "menge": qty}])
        lot.lgort, lot.bin = plant.RAW, target
        self.lots[(plant.werks, lot.material.matnr)].append(lot)

    def replenish(self, plant: Plant, day: date) -> None:
        """A bin-to-bin move inside one storage location: the ERP posts nothing."""
        candidates = [lot for (werks, _), lots in sorted(self.lots.items()) if werks == plant.werks
                      for lot in lots]
        if not candidates:
            return
        lot = self.rng.choice(candidates)
        qty = self.wms_qty(plant, lot)
        target = plant.bin_for(self.rng, plant.RAW)
        self.task(plant, "REPLENISH", lot.material, lot.charg, lot.bin, target, qty, "",
                  self.at(day, self.rng.uniform(7, 9)), self.rng.choice(plant.clerks))
        lot.bin = target

    def maintenance_issue(self, plant: Plant, day: date,
                          hour: float | None = None) -> tuple[datetime, Material, Lot]:
        material = self.rng.choice(self.world.liquids)
        when = self.at(day, hour if hour is not None else self.rng.uniform(8, 18))
        lot = self.lot_with(plant, material, material.pack_base, when)
        clerk = self.rng.choice(plant.clerks)
        self.task(plant, "PICK", material, lot.charg, lot.bin, "", material.pack_base, "CC-4100",
                  when, clerk)
        self.post(plant, when + timedelta(minutes=5), clerk, [{
            "bwart": "201", "shkzg": "H", "material": material, "lgort": plant.RAW,
            "charg": lot.charg, "menge": material.pack_base, "grund": "4100"}])
        return when, material, lot

    def send_to_subcontractor(self, plant: Plant, day: date, incident: Incident | None) -> None:
        material = self.rng.choice([m for m in self.world.raw if m.meins in ("KG", "EA")])
        sent = material.pack_base * self.rng.randint(4, 10)
        when = self.at(day, self.rng.uniform(9, 15))
        lot = self.lot_with(plant, material, sent, when)
        partner = self.rng.choice(self.world.subcontractors)
        ebeln = f"45{self.next_id('ebeln'):08d}"
        clerk = self.rng.choice(plant.clerks)
        self.task(plant, "PICK", material, lot.charg, lot.bin, "", sent,
                  ref_spelling("ebeln", ebeln), when, clerk)
        self.post(plant, when + timedelta(minutes=10), clerk, [{
            "bwart": "541", "shkzg": "H", "material": material, "lgort": plant.RAW,
            "charg": lot.charg, "menge": sent, "ebeln": ebeln, "lifnr": partner}])
        self.mes_event("mes_outsourcing", "OUT", {
            "partner_id": partner, "direction": "OUT",
            "barcode": self.barcode(material, lot.charg, f"out/{ebeln}"), "batch": lot.charg,
            "qty": sent, "uom": material.mes_uom, "event_at": epoch_ms(when), "ref": ebeln}, when)
        if incident and incident.variant % 2 == 1:
            self.record("outsourcing_leakage", plant, partner, material, when,
                        self.at(self.last_day, 23.99), sent,
                        "lot sent to the subcontractor and never returned",
                        batch=lot.charg, user=clerk.usnam)
            return
        loss = 0.11 if incident else self.rng.uniform(0.002, 0.015)
        returned = round(sent * (1 - loss), 3)
        consumed_at_partner = round(sent * 0.01, 3) if incident else round(sent - returned, 3)
        back = day + timedelta(days=self.rng.randint(2, 4))
        if incident:
            self.record("outsourcing_leakage", plant, partner, material, when,
                        self.at(back, 17), sent - returned - consumed_at_partner,
                        "returned plus consumed at the partner falls short of the quantity sent",
                        batch=lot.charg, user=clerk.usnam)
        self.pending[back].append(("subcontract_return", plant, lot, partner, ebeln, returned,
                                   consumed_at_partner))

    def subcontract_return(self, plant: Plant, lot: Lot, partner: str, ebeln: str,
                           returned: float, consumed: float, day: date) -> None:
        when = self.at(day, self.rng.uniform(9, 16))
        material = lot.material
        clerk = self.rng.choice(plant.clerks)
        lot = Lot(material, lot.charg, plant.RAW, plant.bin_for(self.rng, plant.RAW))
        self.task(plant, "PUTAWAY", material, lot.charg, "", lot.bin, returned,
                  ref_spelling("ebeln", ebeln), when, clerk)
        self.mes_event("mes_outsourcing", "OUT", {
            "partner_id": partner, "direction": "IN",
            "barcode": self.barcode(material, lot.charg, f"in/{ebeln}"), "batch": lot.charg,
            "qty": returned, "uom": material.mes_uom, "event_at": epoch_ms(when), "ref": ebeln},
            when)
        self.post(plant, when + timedelta(minutes=15), clerk, [
            {"bwart": "101", "shkzg": "S", "material": material, "lgort": plant.RAW,
             "charg": lot.charg, "menge": returned, "ebeln": ebeln, "lifnr": partner},
            {"bwart": "543", "shkzg": "H", "material": material, "lgort": None,
             "charg": lot.charg, "menge": consumed, "ebeln": ebeln, "lifnr": partner}])
        self.lots[(plant.werks, material.matnr)].append(lot)

    # --------------------------------------------------------------- counts

    def store_lots(self, plant: Plant) -> list[Lot]:
        return [lot for (werks, _), lots in sorted(self.lots.items()) if werks == plant.werks
                for lot in lots if self.wms_qty(plant, lot) >= lot.material.pack_base]

    def cycle_count(self, plant: Plant, day: date, lot: Lot, *, counted_delta_packs: int = 0,
                    recount_noise: bool = False, post_difference: bool = True) -> None:
        material = lot.material
        when = self.at(day, self.rng.uniform(13, 16))
        system = material.to_wms_qty(self.wms_qty(plant, lot))
        counter = self.rng.choice(plant.clerks)
        count_id = f"CC{self.next_id('count'):08d}"

        def row(cid: str, counted: float, recount: str, at: datetime) -> None:
            self.out.wms["cycle_count"].append({
                "count_id": cid, "counted_at": utc_iso(at), "warehouse": plant.warehouse,
                "bin": lot.bin, "sku": material.sku, "lot": wms_lot(lot.charg),
                "system_qty": system, "counted_qty": counted, "uom": material.wms_uom,
                "counter_id": counter.wms_user, "recount": recount,
                "approved_by": plant.controller.wms_user})

        if recount_noise:
            row(count_id, system - 1, "N", when)
            count_id = f"CC{self.next_id('count'):08d}"
            row(count_id, system, "Y", when + timedelta(minutes=25))
            self.record_noise("recount", plant, material, when,
                              "first count off by one pack, recount matches the system",
                              batch=lot.charg, wms_ref=count_id)
            return
        row(count_id, round(system + counted_delta_packs, 3), "N", when)
        if not counted_delta_packs:
            return
        base_delta = abs(counted_delta_packs) * material.pack_base
        loss = counted_delta_packs < 0
        self.task(plant, "COUNT_ADJUST", material, lot.charg, lot.bin if loss else "",
                  "" if loss else lot.bin, base_delta, count_id, when + timedelta(minutes=40),
                  plant.controller)
        if post_difference:
            self.post(plant, when + timedelta(hours=1), plant.controller, [{
                "bwart": "702" if loss else "701", "shkzg": "H" if loss else "S",
                "material": material, "lgort": plant.RAW, "charg": lot.charg,
                "menge": base_delta, "grund": "0007", "sgtxt": f"WMS count {count_id}"}])
        else:
            self.record("stock_discrepancy", plant, plant.RAW, material, when,
                        when + timedelta(hours=1), base_delta,
                        "WMS count adjustment (loss) never posted in the ERP",
                        batch=lot.charg, user=plant.controller.usnam)

    def physical_inventory(self, plant: Plant, day: date, lots: list[Lot],
                           self_posted_loss: bool) -> None:
        iblnr = f"{self.next_id('iblnr'):010d}"
        when = self.at(day, 17.5)
        for zeili, lot in enumerate(lots, start=1):
            material = lot.material
            book = round(self.erp_book[(plant.werks, plant.RAW, material.matnr, lot.charg)], 3)
            counter = self.rng.choice(plant.clerks)
            counted, mblnr, poster = book, None, plant.controller
            if self_posted_loss and zeili == 1:
                counted = book - material.pack_base
                poster = counter
                mblnr = self.post(plant, when, poster, [{
                    "bwart": "702", "shkzg": "H", "material": material, "lgort": plant.RAW,
                    "charg": lot.charg, "menge": material.pack_base, "grund": "0007",
                    "sgtxt": f"PI {iblnr}"}])
                self.task(plant, "COUNT_ADJUST", material, lot.charg, lot.bin, "",
                          material.pack_base, iblnr, when, plant.controller)
                self.record("sod_violation", plant, plant.RAW, material, when, when,
                            material.pack_base,
                            "the counter of a physical inventory posted its own loss",
                            batch=lot.charg, user=counter.usnam)
            self.out.erp["erp_phys_inv"].append({
                "iblnr": iblnr, "zeili": zeili, "werks": plant.werks, "lgort": plant.RAW,
                "matnr": material.padded, "charg": lot.charg, "buchm": book, "menge": counted,
                "meins": material.meins, "zldat": day, "counted_by": counter.usnam,
                "posted_by": poster.usnam, "mblnr": mblnr})

    # ------------------------------------------------------------ anomalies

    def posting_anomaly(self, plant: Plant, day: date, variant: int) -> None:
        material = self.rng.choice(self.world.raw)
        clerk = self.rng.choice(plant.clerks)
        when = self.at(day, self.rng.uniform(9, 15))
        qty = material.pack_base * self.rng.randint(2, 6)
        kind = variant % 3
        if kind == 1:
            issued_at, liquid, lot = self.maintenance_issue(plant, day, hour=2 + self.rng.random())
            self.record("posting_time_anomaly", plant, plant.RAW, liquid, issued_at,
                        issued_at + timedelta(minutes=5), liquid.pack_base,
                        "issue posted in the middle of the night", batch=lot.charg,
                        user=self.out.erp["erp_material_doc"][-1]["usnam"])
            return
        lot = self.receive(plant, material, qty, when, post=False)
        ebeln = f"45{self.next_id('ebeln'):08d}"
        if kind == 0:
            posted_at, budat, text = when + timedelta(minutes=30), day - timedelta(days=15), (
                "receipt dated 15 days before it was entered")
        else:
            posted_at, budat, text = when + timedelta(days=8), None, (
                "receipt posted 8 days after the physical putaway")
        self.post(plant, posted_at, clerk, [{
            "bwart": "101", "shkzg": "S", "material": material, "lgort": plant.RAW,
            "charg": lot.charg, "menge": qty, "ebeln": ebeln,
            "lifnr": self.rng.choice(self.world.vendors)}], budat=budat)
        self.record("posting_time_anomaly", plant, plant.RAW, material, when, posted_at, qty,
                    text, batch=lot.charg, user=clerk.usnam)

    def duplicate_receipt(self, plant: Plant, day: date) -> None:
        material = self.rng.choice(self.world.raw)
        when = self.at(day, self.rng.uniform(9, 15))
        lot = self.receive(plant, material, material.pack_base * self.rng.randint(2, 8), when)
        first = next(r for r in reversed(self.out.erp["erp_material_doc"])
                     if r["charg"] == lot.charg)
        again = when + timedelta(minutes=self.rng.randint(25, 50))
        user = next(u for u in plant.clerks if u.usnam == first["usnam"])
        self.post(plant, again, user, [{
            "bwart": "101", "shkzg": "S", "material": material, "lgort": plant.RAW,
            "charg": lot.charg, "menge": first["menge"], "ebeln": first["ebeln"],
            "lifnr": first["lifnr"]}])
        self.record("duplicate_posting", plant, plant.RAW, material, when, again,
                    first["menge"], f"PO receipt {first['mblnr']} posted a second time",
                    batch=lot.charg, user=user.usnam)

    def reversed_receipt(self, plant: Plant, day: date) -> None:
        """A receipt entered with the wrong quantity, reversed by a 102 and re-entered."""
        material = self.rng.choice(self.world.raw)
        when = self.at(day, self.rng.uniform(9, 15))
        qty = material.pack_base * self.rng.randint(2, 8)
        lot = self.receive(plant, material, qty, when, post=False)
        clerk = self.rng.choice(plant.clerks)
        ebeln = f"45{self.next_id('ebeln'):08d}"
        lifnr = self.rng.choice(self.world.vendors)
        line = {"bwart": "101", "shkzg": "S", "material": material, "lgort": plant.RAW,
                "charg": lot.charg, "ebeln": ebeln, "lifnr": lifnr}
        wrong = self.post(plant, when, clerk, [{**line, "menge": qty + material.pack_base}])
        self.post(plant, when + timedelta(minutes=12), clerk, [{
            **line, "bwart": "102", "shkzg": "H", "menge": qty + material.pack_base,
            "smbln": wrong, "smblp": 1}])
        right = self.post(plant, when + timedelta(minutes=15), clerk, [{**line, "menge": qty}])
        self.record_noise("reversal", plant, material, when,
                          "wrong receipt reversed by 102 and re-entered",
                          batch=lot.charg, erp_doc=f"{wrong}/{right}")

    def late_evening_receipt(self, plant: Plant, day: date, next_day: date) -> None:
        """Received after hours, posted first thing next morning, dated the day before."""
        material = self.rng.choice(self.world.raw)
        when = self.at(day, 21 + self.rng.random())
        qty = material.pack_base * self.rng.randint(2, 8)
        lot = self.receive(plant, material, qty, when, post=False)
        mblnr = self.post(plant, self.at(next_day, 7.5 + self.rng.random() / 2),
                          self.rng.choice(plant.clerks), [{
                              "bwart": "101", "shkzg": "S", "material": material,
                              "lgort": plant.RAW, "charg": lot.charg, "menge": qty,
                              "ebeln": f"45{self.next_id('ebeln'):08d}",
                              "lifnr": self.rng.choice(self.world.vendors)}], budat=day)
        self.record_noise("posting_lag", plant, material, when,
                          "evening receipt posted next morning with the previous posting date",
                          batch=lot.charg, erp_doc=mblnr)

    def self_approved_release(self, plant: Plant, day: date) -> None:
        material = self.rng.choice([m for m in self.world.raw if m.critical])
        when = self.at(day, self.rng.uniform(9, 15))
        lot = self.lot_with(plant, material, material.pack_base, when)
        supervisor = self.rng.choice(plant.supervisors)
        line = self.rng.choice(plant.lines)
        self.task(plant, "PICK", material, lot.charg, lot.bin, "", material.pack_base, "CC-4200",
                  when, self.rng.choice(plant.clerks))
        mblnr = self.post(plant, when + timedelta(minutes=3), supervisor, [{
            "bwart": "201", "shkzg": "H", "material": material, "lgort": plant.RAW,
            "charg": lot.charg, "menge": material.pack_base, "grund": "4200"}])
        self.release(plant, material, lot.charg, material.pack_base, when, supervisor, mblnr,
                     approver=supervisor)
        self.record("sod_violation", plant, line.lgort, material, when - timedelta(minutes=50),
                    when + timedelta(minutes=3), material.pack_base,
                    "critical material released and approved by the same user",
                    batch=lot.charg, user=supervisor.usnam)

    def erp_write_off(self, plant: Plant, day: date) -> None:
        lots = self.store_lots(plant)
        if not lots:
            lots = [self.lot_with(plant, self.rng.choice(self.world.raw), 1, self.at(day, 9))]
        lot = self.rng.choice(lots)
        when = self.at(day, self.rng.uniform(10, 16))
        self.post(plant, when, plant.controller, [{
            "bwart": "702", "shkzg": "H", "material": lot.material, "lgort": plant.RAW,
            "charg": lot.charg, "menge": lot.material.pack_base, "grund": "0009"}])
        self.record("stock_discrepancy", plant, plant.RAW, lot.material, when, when,
                    lot.material.pack_base, "ERP write-off the WMS never counted",
                    batch=lot.charg, user=plant.controller.usnam)

    # ---------------------------------------------------------------- days

    def master_data_defect(self, plant: Plant, incident: Incident) -> None:
        """A defect that distorts every movement it touches, recorded once."""
        window = (self.at(incident.day, 0), self.at(self.last_day, 23.99))
        if incident.variant in (1, 3) and incident.variant // 2 < len(plant.lines):
            line = plant.lines[incident.variant // 2]
            in_boms = sorted({c.matnr: c for p in self.world.products for c, _ in p.bom
                              if c.meins == "G"}.items())
            material = in_boms[0][1]
            self.unit_defect_lines[line.name] = material
            self.record("data_quality", plant, line.name, material, *window, 0,
                        f"line {line.name} reports grams of {material.matnr} labelled as kg")
            return
        candidates = [m for m in self.world.raw if m.meins == "KG"
                      and self.wms_units_per_uom[m.matnr] == m.units_per_uom]
        material = self.rng.choice(candidates)
        self.wms_units_per_uom[material.matnr] = material.units_per_uom - 5
        self.record("data_quality", plant, plant.RAW, material, *window, 0,
                    "WMS item master states 20 KG per bag, the bags hold 25 KG")

    def run_pending(self, day: date) -> None:
        for action, plant, *args in self.pending.pop(day, []):
            if day in plant.shutdown:
                self.pending[day + timedelta(days=1)].append((action, plant, *args))
                continue
            getattr(self, action)(plant, *args, day)

    def run_day(self, day: date, scale: float) -> None:
        self.run_pending(day)
        for plant in self.world.plants:
            if day in plant.shutdown:
                continue
            self.run_plant_day(plant, day, scale)

    def run_plant_day(self, plant: Plant, day: date, scale: float) -> None:
        rng = self.rng
        for incident in self.take_incidents(plant, day, ("data_quality",)):
            self.master_data_defect(plant, incident)
        order_incidents = self.take_incidents(plant, day, ORDER_CASES)
        for line_index, line in enumerate(plant.lines):
            mine = order_incidents[line_index::len(plant.lines)]
            count = max(len(mine), round(self.orders_per_line * rng.uniform(0.8, 1.2)))
            slot = 14 / count
            for index in range(count):
                start = self.at(day, 7 + index * slot)
                end = start + timedelta(hours=slot * rng.uniform(0.6, 0.85))
                incident = mine[index] if index < len(mine) else None
                if incident and incident.case_type == "unverified_return" and incident.variant % 2:
                    self.pending_customer_return(plant, day)
                    incident = None
                self.run_order(plant, line, day, start, end, incident)
        per_day = max(1, round(25 * scale))
        for _ in range(per_day):
            self.maintenance_issue(plant, day)
            self.replenish(plant, day)
        if rng.random() < min(1.0, 10 * scale):
            self.quality_receipt(plant, day)
        outsourcing = self.take_incidents(plant, day, ("outsourcing_leakage",))
        for incident in outsourcing:
            self.send_to_subcontractor(plant, day, incident)
        if rng.random() < min(1.0, 8 * scale):
            self.send_to_subcontractor(plant, day, None)
        for incident in self.take_incidents(plant, day, ("posting_time_anomaly",)):
            self.posting_anomaly(plant, day, incident.variant)
        for _ in self.take_incidents(plant, day, ("duplicate_posting",)):
            self.duplicate_receipt(plant, day)
        if rng.random() < min(1.0, 6 * scale):
            self.reversed_receipt(plant, day)
        next_day = day + timedelta(days=1)
        if next_day <= self.last_day and rng.random() < min(1.0, 6 * scale):
            self.late_evening_receipt(plant, day, next_day)
        self_posted_inventory = False
        for incident in self.take_incidents(plant, day, ("sod_violation",)):
            if incident.variant % 2:
                self_posted_inventory = True
            else:
                self.self_approved_release(plant, day)
        stock_incidents = self.take_incidents(plant, day, ("stock_discrepancy",))
        self.count_day(plant, day, scale, stock_incidents, self_posted_inventory)
        self.drop_empty_lots(plant)

    def pending_customer_return(self, plant: Plant, day: date) -> None:
        product = self.rng.choice(self.world.products)
        charg = self.new_batch(product, day, self.at(day, 8))
        lot = Lot(product, charg, plant.FG, "")
        self.customer_return(plant, lot, f"80{self.next_id('vbeln'):08d}", True, day)

    def count_day(self, plant: Plant, day: date, scale: float, stock_incidents: list[Incident],
                  self_posted_inventory: bool) -> None:
        lots = self.store_lots(plant)
        if not lots:
            return
        self.rng.shuffle(lots)
        for incident in stock_incidents:
            if incident.variant % 2:
                self.erp_write_off(plant, day)
            else:
                self.cycle_count(plant, day, lots.pop(), counted_delta_packs=-1,
                                 post_difference=False)
        for lot in lots[: max(1, round(60 * scale))]:
            draw = self.rng.random()
            if draw < 0.08:
                self.cycle_count(plant, day, lot, recount_noise=True)
            elif draw < 0.14:
                self.cycle_count(plant, day, lot, counted_delta_packs=self.rng.choice([-1, 1]))
            else:
                self.cycle_count(plant, day, lot)
        if self_posted_inventory or (day - self.first_day).days % 30 == 15:
            self.physical_inventory(plant, day, lots[-5:], self_posted_inventory)

    # ------------------------------------------------------------ snapshots

    def bin_stock_rows(self, day: date) -> list[dict[str, Any]]:
        snapshot_at = utc_iso(self.at(day, 23) + timedelta(minutes=59, seconds=59))
        materials = {m.matnr: m for m in self.world.materials}
        rows = []
        for key in sorted(self.wms_stock):
            qty = self.wms_stock[key]
            warehouse, bin_code, matnr, charg = key
            material = materials[matnr]
            # float residue of packs split across issues, consumption and returns: a bin
            # whose stock rounds to nothing (or below) in the WMS unit is empty
            if material.to_wms_qty(qty) <= 0:
                del self.wms_stock[key]
                continue
            zone = bin_code.split("-")[0]
            rows.append({
                "snapshot_at": snapshot_at, "warehouse": warehouse, "zone": zone,
                "bin": bin_code, "sku": material.sku, "lot": wms_lot(charg),
                "qty": material.to_wms_qty(qty), "uom": material.wms_uom,
                "status": {"QA": "QA", "RET": "HOLD"}.get(zone, "AVAILABLE"),
            })
        return rows

    def item_rows(self) -> list[dict[str, Any]]:
        return [{
            "sku": m.sku, "erp_material": m.matnr, "gtin": m.gtin, "description": m.maktx,
            "uom": m.wms_uom, "units_per_uom": self.wms_units_per_uom[m.matnr],
            "base_uom": m.wms_base_uom, "spec": m.wms_spec,
        } for m in self.world.materials]
