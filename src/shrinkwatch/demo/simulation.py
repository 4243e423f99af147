"""Day-by-day simulation of the demo plants, writing all three systems' records.

Physical stock moves once and each system records it in its own dialect: ERP
material documents (plant-local time, base units, padded keys), WMS tasks and
snapshots (UTC, handling units, respelled lots) and MES events (epoch ms, GS1
barcodes). Incidents are the deliberate breaks of that agreement, one per
ground-truth row; noise rows are legitimate disagreements that are not losses.

Every flow follows the world's `WorldStyle`: how material reaches the line
(a LINE_FEED from the raw store, or a MOVE + 311 to the line side first), how
a remnant flows (back to the raw store, or kept line-side and re-issued), whether
tasks name pseudo-bins, the calendar, spellings, units and rounding. Incidents
are injected into those same flows, so each world breaks in its own dialect.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from shrinkwatch.demo import gs1
from shrinkwatch.demo.style import share, variant
from shrinkwatch.demo.world import (
    MAINTENANCE_COST_CENTRE,
    RELEASE_COST_CENTRE,
    TRUCK,
    Line,
    Material,
    Plant,
    User,
    World,
)

PLANT_UTC_OFFSET = timedelta(hours=8)  # Asia/Shanghai has no daylight saving
EPOCH = datetime(1970, 1, 1)
CASE_TYPES = (
    "stock_discrepancy", "excess_issue", "unreturned_remnant", "phantom_scrap",
    "unverified_return", "batch_mismatch", "posting_time_anomaly", "duplicate_posting",
    "sod_violation", "outsourcing_leakage", "data_quality",
)
# Incidents that happen inside one production order.
ORDER_CASES = ("excess_issue", "unreturned_remnant", "phantom_scrap", "unverified_return",
               "batch_mismatch", "duplicate_posting")
# order incidents whose remnant is the evidence
REMNANT_CASES = ("unreturned_remnant", "unverified_return")
# ...and those that need one at all (phantom scrap scraps from it): issued with room for it
ROOMY_CASES = (*REMNANT_CASES, "phantom_scrap")
GROUND_TRUTH_COLUMNS = ("incident_id", "case_type", "werks", "location", "material", "batch",
                        "user_id", "order_no", "window_start", "window_end", "qty", "uom",
                        "description")
NOISE_COLUMNS = ("noise_id", "pattern", "werks", "material", "batch", "order_no", "erp_doc",
                 "wms_ref", "mes_ref", "at", "description")
SMALL_COUNT_VALUE = 60.0  # CNY: a count difference below this is recounted, approved, posted
LAGGED_POSTING_DAYS = 8
# legitimate look-alikes every world shows at least once per plant (besides their usual rate)
LOOK_ALIKES = ("reversal", "issue_reversal", "repeated_equal_feed")
RUN_ON_SHUTDOWN = ("night_issue",)  # pending actions that do not wait for a working day


def utc_iso(local: datetime) -> str:
    return (local - PLANT_UTC_OFFSET).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_ms(local: datetime) -> int:
    return int((local - PLANT_UTC_OFFSET - EPOCH).total_seconds() * 1000)


@dataclass
class Incident:
    case_type: str
    variant: int
    plant: Plant
    day: date
    kind: str = ""  # which way this incident happens (see `Simulation.incident_kind`)


@dataclass
class Lot:
    """One batch of one material in one bin."""

    material: Material
    charg: str
    lgort: str
    bin: str


@dataclass
class Pick:
    """One LINE_FEED of a component to its order, and the ERP 261 line it needs."""

    lot: Lot
    qty: float
    at: datetime
    alone: bool = False  # posted in a document of its own (a second equal feed)


@dataclass
class ComponentRun:
    component: Material
    need: float
    work_center: str
    hit: str | None
    picks: list[Pick] = field(default_factory=list)

    @property
    def issued(self) -> float:
        return sum(p.qty for p in self.picks)


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
        self.style = world.style
        self.first_day = first_day
        self.last_day = last_day
        self.data_end = datetime.combine(last_day, time(23, 59, 59))
        self.orders_per_line = max(1, round(700 * scale / self.style.lines_per_plant))
        self.out = DayOutput()
        self.ground_truth: list[dict[str, Any]] = []
        self.noise: list[dict[str, Any]] = []
        self.counters: dict[str, int] = defaultdict(int)
        # physical stock as each system believes it, in ERP base units
        self.erp_book: dict[tuple[str, str, str, str], float] = defaultdict(float)
        self.wms_stock: dict[tuple[str, str, str, str], float] = defaultdict(float)
        self.lots: dict[tuple[str, str], list[Lot]] = defaultdict(list)  # raw store (werks, matnr)
        # line-side stock: replenished packs and kept remnants, (werks, lgort, matnr)
        self.side_lots: dict[tuple[str, str, str], list[Lot]] = defaultdict(list)
        self.pending: dict[date, list] = defaultdict(list)
        self.wms_units_per_uom = {m.matnr: m.units_per_uom for m in world.materials}
        self.unit_defect_lines: dict[str, Material] = {}
        self.incidents: dict[tuple[str, date], list[Incident]] = defaultdict(list)
        self.look_alikes: dict[tuple[str, date], list[str]] = defaultdict(list)
        self.used_chargs: set[str] = set()
        self.expiry: dict[str, date] = {}
        self.plant_of_warehouse = {p.warehouse: p for p in world.plants}

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

    def new_aufnr(self) -> str:
        return str(self.style.order_number_base + self.next_id("aufnr"))

    def new_ebeln(self) -> str:
        return f"45{self.next_id('ebeln'):08d}"

    def new_vbeln(self) -> str:
        return f"80{self.next_id('vbeln'):08d}"

    # ------------------------------------------------------------ incidents

    def incident_kind(self, case_type: str, variant_no: int) -> str:
        kinds = {
            "outsourcing_leakage": ("shortfall", "never_returned"),
            "unverified_return": ("line_return", "customer_return"),
            "duplicate_posting": ("receipt", "issue"),
            "sod_violation": ("self_approved_release", "self_posted_inventory"),
            "stock_discrepancy": ("count_never_posted", "erp_write_off"),
            "posting_time_anomaly": ("backdated", "night", "lagged"),
            "phantom_scrap": ("phantom",),
        }.get(case_type)
        return kinds[variant_no % len(kinds)] if kinds else ""

    def schedule_incidents(self, per_type: int) -> None:
        working = {p.werks: [d for d in self.days() if d not in p.shutdown and d < self.last_day]
                   for p in self.world.plants}
        turn_max = self.style.turnaround[1]
        disposal_max = self.style.scrap_disposal_days[1]

        def before(days: list[date], margin: int) -> list[date]:
            return [d for d in days if (self.last_day - d).days >= margin]

        for case_type in CASE_TYPES:
            for variant_no in range(per_type):
                plant = self.world.plants[variant_no % len(self.world.plants)]
                days = working[plant.werks]
                kind = self.incident_kind(case_type, variant_no)
                if kind == "never_returned":
                    # never returned *long after* the usual turnaround: sent early enough
                    days = before(days, 2 * turn_max + 2)
                    if not days:
                        kind, days = "shortfall", working[plant.werks]
                if kind == "shortfall":
                    days = before(days, turn_max + 1) or days
                if kind == "lagged":
                    days = before(days, LAGGED_POSTING_DAYS + 2)
                    if not days:
                        kind, days = "backdated", working[plant.werks]
                if case_type == "phantom_scrap":
                    # "never disposed" must be told from "disposal still to come"
                    days = before(days, disposal_max + 2) or days
                day = self.rng.choice(days)
                self.incidents[(plant.werks, day)].append(
                    Incident(case_type, variant_no, plant, day, kind))

    def schedule_look_alikes(self) -> None:
        """At least one of each legitimate look-alike per plant, whatever the scale."""
        for plant in self.world.plants:
            days = [d for d in self.days() if d not in plant.shutdown and d < self.last_day]
            for pattern in LOOK_ALIKES:
                self.look_alikes[(plant.werks, self.rng.choice(days))].append(pattern)

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

    def office_time(self, day: date, lo: float = 0.0, hi: float = 1.0) -> datetime:
        """A moment in the clerks' office hours; lo/hi are fractions of them."""
        start, end = self.style.office
        return self.at(day, start + (end - start) * self.rng.uniform(lo, hi))

    def work_floor(self, when: datetime) -> datetime:
        """The start of the working block `when` falls in: what prepares an activity
        happens in the same block, never in the night or the quiet hour before it."""
        hour = (when - datetime.combine(when.date(), time())).total_seconds() / 3600
        blocks = self.style.working_blocks()
        start = max((a for a, _ in blocks if a <= hour), default=blocks[0][0])
        return self.at(when.date(), start)

    def next_working_day(self, plant: Plant, day: date) -> date | None:
        following = day + timedelta(days=1)
        while following <= self.last_day:
            if following not in plant.shutdown:
                return following
            following += timedelta(days=1)
        return None

    def next_morning(self, plant: Plant, day: date) -> datetime | None:
        """First thing on the plant's next working day, if the data reach it."""
        following = self.next_working_day(plant, day)
        return None if following is None else self.office_time(following, 0.0, 0.06)

    def order_slots(self, count: int) -> list[tuple[float, float]]:
        """(start hour, slot length) of count orders spread over the production windows."""
        windows = self.style.production_windows
        lengths = [end - start for start, end in windows]
        total = sum(lengths)
        exact = [count * length / total for length in lengths]
        alloc = [math.floor(x) for x in exact]
        by_fraction = sorted(range(len(windows)), key=lambda i: exact[i] - alloc[i], reverse=True)
        for i in by_fraction[: count - sum(alloc)]:
            alloc[i] += 1
        slots = []
        for (start, _), length, n in zip(windows, lengths, alloc, strict=True):
            slots += [(start + i * length / n, length / n) for i in range(n)]
        return slots

    # ------------------------------------------------------------ quantities

    def wms_qty(self, material: Material, base_qty: float) -> float:
        """A base quantity in the WMS handling unit, rounded as this WMS rounds."""
        return round(base_qty / material.pack_base, self.style.wms_decimals)

    def mes_qty(self, material: Material, base_qty: float) -> float:
        return round(base_qty * material.mes_factor, self.style.mes_decimals)

    def counted(self, material: Material, qty: float) -> float:
        """Piece goods come in whole pieces."""
        return float(round(qty)) if material.meins == "EA" else round(qty, 3)

    # ------------------------------------------------------------------ ERP

    def post(self, plant: Plant, when: datetime, user: User, lines: list[dict[str, Any]],
             budat: date | None = None) -> str:
        """One material document; each line names bwart, shkzg, material, lgort, charg, menge."""
        mblnr = f"49{self.next_id('mblnr'):08d}"
        when = when.replace(microsecond=0)
        for zeile, line in enumerate(lines, start=1):
            material: Material = line["material"]
            menge = round(line["menge"], 3)
            erfmg, erfme = menge, material.meins
            if material.meins in ("KG", "G") and menge >= 1 and share(
                    f"entry/{mblnr}/{zeile}", self.style.entry_unit_share):
                # entered in the other weight unit; menge stays in the base unit
                erfmg, erfme = ((round(menge * 1000, 3), "G") if material.meins == "KG"
                                else (round(menge / 1000, 3), "KG"))
                self.record_noise("entry_unit_g_kg", plant, material, when,
                                  f"entered as {erfmg} {erfme}, posted as {menge} {material.meins}",
                                  batch=line.get("charg") or "", erp_doc=f"{mblnr}/{zeile}")
            self.out.erp["erp_material_doc"].append({
                "mblnr": mblnr, "mjahr": when.year, "zeile": zeile, "bwart": line["bwart"],
                "shkzg": line["shkzg"], "matnr": material.padded, "werks": plant.werks,
                "lgort": line.get("lgort"), "charg": line.get("charg"), "menge": menge,
                "meins": material.meins, "erfmg": erfmg, "erfme": erfme,
                "budat": budat or when.date(), "cpudt": when.date(), "cputm": when.time(),
                "usnam": user.usnam, "aufnr": line.get("aufnr"), "ebeln": line.get("ebeln"),
                "vbeln": line.get("vbeln"), "lifnr": line.get("lifnr"), "grund": line.get("grund"),
                "sgtxt": line.get("sgtxt"), "smbln": line.get("smbln"), "smblp": line.get("smblp"),
                "dmbtr": round(menge * material.std_price, 2),
            })
            if line.get("lgort"):
                sign = 1 if line["shkzg"] == "S" else -1
                self.erp_book[(plant.werks, line["lgort"], material.matnr, line["charg"])] += (
                    sign * menge)
        return mblnr

    def new_batch(self, material: Material, day: date, when: datetime) -> str:
        charg = self.new_charg(day)
        vfdat = day + timedelta(days=self.rng.choice([180, 365, 730]))
        self.expiry[charg] = vfdat
        self.out.erp["erp_batch"].append({
            "matnr": material.padded, "charg": charg,
            "licha": f"V{self.rng.randint(100000, 999999)}" if material.kind != "product" else None,
            "hsdat": day - timedelta(days=self.rng.randint(0, 20)),
            "vfdat": vfdat, "created_at": when.replace(microsecond=0),
        })
        return charg

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

    # ------------------------------------------------------------------ WMS

    def pseudo(self, name: str) -> str:
        """A pseudo-bin where this WMS names one, else empty."""
        return name if self.style.pseudo_bins == "filled" else ""

    def move_stock(self, plant: Plant, bin_code: str, material: Material, charg: str,
                   base_qty: float) -> None:
        if bin_code and bin_code not in plant.pseudo_bins:
            self.wms_stock[(plant.warehouse, bin_code, material.matnr, charg)] += base_qty

    def label(self, material: Material, charg: str) -> list[tuple[str, str]]:
        return gs1.pack_elements(
            material.gtin, charg, material.pack_base * material.mes_factor,
            material.mes_uom or "pcs",
            expiry=self.expiry.get(charg) if self.style.gs1_expiry else None,
            quantity=self.style.gs1_quantity)

    def task(self, plant: Plant, task_type: str, material: Material, charg: str,
             from_bin: str, to_bin: str, base_qty: float, ref_doc: str, when: datetime,
             user: User, *, move: bool = True) -> str:
        task_id = f"T{self.next_id('task'):09d}"
        elements = self.label(material, charg)
        raw = share(task_id, self.style.wms_raw_scan_share)
        barcode = gs1.raw_scan(elements) if raw else gs1.bracketed(elements)
        self.out.wms["task"].append({
            "task_id": task_id, "task_type": task_type, "sku": material.sku,
            "lot": self.style.lot(charg), "from_bin": from_bin, "to_bin": to_bin,
            "qty": self.wms_qty(material, base_qty), "uom": material.wms_uom, "ref_doc": ref_doc,
            "created_at": utc_iso(when - timedelta(minutes=self.rng.randint(2, 40))),
            "confirmed_at": utc_iso(when), "confirmed_by": user.wms_user,
            "device_id": f"RF-{plant.warehouse}-{self.rng.randint(1, 12):02d}",
            "scanned_barcode": "" if task_type == "SHIP" else barcode,
        })
        if move:
            self.move_stock(plant, from_bin, material, charg, -base_qty)
            self.move_stock(plant, to_bin, material, charg, base_qty)
        return task_id

    def stock(self, plant: Plant, lot: Lot) -> float:
        return self.wms_stock[(plant.warehouse, lot.bin, lot.material.matnr, lot.charg)]

    # ------------------------------------------------------------------ MES

    def barcode(self, material: Material, charg: str, key: str) -> str:
        elements = self.label(material, charg)
        raw = share(key, self.style.mes_raw_scan_share)
        return gs1.raw_scan(elements) if raw else gs1.bracketed(elements)

    def mes_batch(self, charg: str, key: str) -> str | None:
        return None if share(f"null/{key}", self.style.mes_batch_null_share) else charg

    def mes_event(self, resource: str, prefix: str, row: dict[str, Any], when: datetime,
                  corrected_after: timedelta | None = None) -> str:
        event_id = f"{prefix}-{self.next_id(prefix):08d}"
        updated = when + timedelta(seconds=self.rng.randint(1, 90))
        if corrected_after is not None and when + corrected_after <= self.data_end:
            updated = when + corrected_after
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
        ebeln = self.new_ebeln()
        clerk = self.rng.choice(plant.clerks)
        if putaway:
            self.task(plant, "PUTAWAY", material, charg, self.pseudo(plant.dock("IN")), lot.bin,
                      base_qty, self.style.ref("ebeln", ebeln), when, clerk)
        if post:
            self.post(plant, when + timedelta(minutes=self.rng.randint(1, 20)), clerk, [{
                "bwart": "101", "shkzg": "S", "material": material, "lgort": lgort,
                "charg": charg, "menge": base_qty, "ebeln": ebeln,
                "lifnr": self.rng.choice(self.world.vendors)}])
        if lgort == plant.RAW:
            self.lots[(plant.werks, material.matnr)].append(lot)
        return lot

    def lot_with(self, plant: Plant, material: Material, base_qty: float, when: datetime) -> Lot:
        """A raw-store lot holding base_qty, received just before `when` if none does."""
        for lot in self.lots[(plant.werks, material.matnr)]:
            if self.stock(plant, lot) >= base_qty - 1e-6:
                return lot
        packs = math.ceil(base_qty / material.pack_base - 1e-9) + self.rng.randint(4, 12)
        received = when - timedelta(minutes=self.rng.randint(30, 90))
        received = min(max(received, self.work_floor(when)), when - timedelta(minutes=2))
        return self.receive(plant, material, packs * material.pack_base, received)

    def keep(self, pool: list[Lot], material: Material, charg: str, lgort: str,
             bin_code: str) -> Lot:
        """The pool's lot of this batch in this bin, added if new."""
        for lot in pool:
            if lot.charg == charg and lot.bin == bin_code:
                return lot
        lot = Lot(material, charg, lgort, bin_code)
        pool.append(lot)
        return lot

    def side_pool(self, plant: Plant, line: Line, material: Material) -> list[Lot]:
        return self.side_lots[(plant.werks, line.lgort, material.matnr)]

    def drop_empty_lots(self, plant: Plant) -> None:
        for pools in (self.lots, self.side_lots):
            for key, lots in pools.items():
                if key[0] == plant.werks:
                    lots[:] = [lot for lot in lots if self.stock(plant, lot) > 1e-6]

    # ----------------------------------------------------------- production

    def run_order(self, plant: Plant, line: Line, day: date, start: datetime, end: datetime,
                  incident: Incident | None, state: str = "CLOSED",
                  look_alike: str | None = None) -> None:
        rng = self.rng
        product = rng.choice(self.world.products)
        planned = rng.choice([50, 80, 100, 120, 150, 200])
        aufnr = self.new_aufnr()
        work_center = (line.work_centers[1] if self.style.work_centres == "process"
                       else rng.choice(line.work_centers))
        supervisor = rng.choice(plant.supervisors)
        operator = rng.choice(plant.operators)
        order_row = {
            "order_no": aufnr, "material": self.style.gtin(product.gtin, "mes"),
            "planned_qty": planned, "uom": "pcs", "line": line.name, "work_center": work_center,
            "status": state, "released_at": epoch_ms(start - timedelta(minutes=45)),
            "closed_at": None,
        }
        if state == "RELEASED":
            self.out.mes["mes_work_orders"].append(
                {**order_row, "updated_at": epoch_ms(start - timedelta(minutes=44))})
            self.record_noise("order_released_at_extraction", plant, product, start,
                              "order released, not started when the data end", order_no=aufnr)
            return
        case = incident.case_type if incident else None
        target = rng.randrange(len(product.bom))
        # legitimate look-alikes, on orders without an incident
        draw = rng.random()
        if look_alike is None and case is None and state == "CLOSED":
            look_alike = ("issue_reversal" if draw < 0.03 else
                          "repeated_equal_feed" if draw < 0.06 else None)
        runs = []
        for index, (component, usage) in enumerate(product.bom):
            need = usage * planned
            if component.meins == "EA":
                need = float(math.ceil(need))
            center = (line.work_centers[variant(component.matnr, 2)]
                      if self.style.work_centres == "process" else work_center)
            run = ComponentRun(component, need, center, case if index == target else None)
            feed_at = start - timedelta(minutes=rng.randint(10, 40))
            feed_at = max(feed_at, self.work_floor(start) + timedelta(minutes=10))
            split = look_alike == "repeated_equal_feed" and index == target
            self.feed(plant, line, aufnr, run, feed_at, split=split)
            runs.append(run)
        self.post_issues(plant, aufnr, runs, supervisor,
                         reversal=runs[target] if look_alike == "issue_reversal" else None)
        for run in runs:
            self.use_component(plant, line, aufnr, run, start, end, supervisor, operator, state)
        if state == "RUNNING":
            self.out.mes["mes_work_orders"].append(
                {**order_row, "updated_at": epoch_ms(start + timedelta(minutes=1))})
            self.record_noise("order_running_at_extraction", plant, product, start,
                              "order still running when the data end: issued, partly consumed, "
                              "no receipt and no return yet", order_no=aufnr)
            return
        fg_charg = self.new_batch(product, day, end)
        fg_bin = plant.bin_for(rng, plant.FG)
        clerk = rng.choice(plant.clerks)
        self.task(plant, "PUTAWAY", product, fg_charg, self.pseudo(line.name), fg_bin, planned,
                  self.style.ref("aufnr", aufnr), end + timedelta(minutes=15), clerk)
        self.post(plant, end + timedelta(minutes=20), supervisor, [{
            "bwart": "101", "shkzg": "S", "material": product, "lgort": plant.FG,
            "charg": fg_charg, "menge": planned, "aufnr": aufnr.zfill(12)}])
        self.pending[day + timedelta(days=rng.randint(1, 3))].append(
            ("deliver", plant, Lot(product, fg_charg, plant.FG, fg_bin), planned))
        self.out.mes["mes_work_orders"].append({
            **order_row, "closed_at": epoch_ms(end),
            "updated_at": epoch_ms(end + timedelta(seconds=30))})

    def line_feed(self, plant: Plant, line: Line, aufnr: str, lot: Lot, qty: float,
                  when: datetime, *, alone: bool = False) -> Pick:
        self.task(plant, "LINE_FEED", lot.material, lot.charg, lot.bin, line.feed_bin, qty,
                  self.style.ref("aufnr", aufnr), when, self.rng.choice(plant.clerks))
        return Pick(lot, qty, when, alone)

    def opened_pack(self, plant: Plant, material: Material) -> Lot | None:
        """A raw-store lot holding less than a pack: a remnant returned from the line."""
        return next((lot for lot in self.lots[(plant.werks, material.matnr)]
                     if 1e-6 < self.stock(plant, lot) < material.pack_base - 1e-6), None)

    def replenish_line(self, plant: Plant, line: Line, aufnr: str, material: Material,
                       qty: float, feed_at: datetime, source: Lot | None = None) -> Lot:
        """Packs moved from the raw store to the line side first: WMS MOVE + ERP 311."""
        when = feed_at - timedelta(minutes=self.rng.randint(15, 45))
        when = min(max(when, self.work_floor(feed_at) + timedelta(minutes=5)),
                   feed_at - timedelta(minutes=3))
        extra = 0 if source else self.rng.choice([0, 0, 1, 2]) * material.pack_base
        raw_lot = source or self.lot_with(plant, material, qty + extra, when)
        moved = min(qty + extra, self.stock(plant, raw_lot))
        side_bin = self.rng.choice(line.side_bins)
        clerk = self.rng.choice(plant.clerks)
        self.task(plant, "MOVE", material, raw_lot.charg, raw_lot.bin, side_bin, moved,
                  self.style.ref("aufnr", aufnr), when, clerk)
        self.post(plant, when + timedelta(minutes=self.rng.randint(2, 6)), clerk, [
            {"bwart": "311", "shkzg": "H", "material": material, "lgort": plant.RAW,
             "charg": raw_lot.charg, "menge": moved},
            {"bwart": "311", "shkzg": "S", "material": material, "lgort": line.lgort,
             "charg": raw_lot.charg, "menge": moved}])
        return self.keep(self.side_pool(plant, line, material), material, raw_lot.charg,
                         line.lgort, side_bin)

    def feed(self, plant: Plant, line: Line, aufnr: str, run: ComponentRun, feed_at: datetime,
             *, split: bool = False) -> None:
        """Bring what the component needs to the line, the way this world does it."""
        component = run.component
        pack = component.pack_base
        # an order whose remnant is the evidence gets one worth seeing (well above weighing noise)
        remaining = run.need * (1.12 if run.hit in ROOMY_CASES else 1.0)
        line_side_stock = self.style.remnant == "line_side" or self.style.feed == "replenish"
        if line_side_stock and not split:
            for lot in list(self.side_pool(plant, line, component)):
                available = self.stock(plant, lot)
                if remaining <= 1e-6:
                    break
                if available <= 1e-6:
                    continue
                take = round(min(available, math.ceil(remaining / pack - 1e-9) * pack), 3)
                run.picks.append(self.line_feed(plant, line, aufnr, lot, take, feed_at))
                remaining -= take
                feed_at += timedelta(minutes=self.rng.randint(1, 4))
        replenished = self.style.feed == "replenish" and not component.direct_feed
        opened = None if split else self.opened_pack(plant, component)
        if opened is not None and remaining > 1e-6:
            # an opened pack back in the raw store is used up first, as a whole
            take = self.stock(plant, opened)
            lot = (self.replenish_line(plant, line, aufnr, component, take, feed_at, opened)
                   if replenished else opened)
            run.picks.append(self.line_feed(plant, line, aufnr, lot, take, feed_at))
            remaining -= take
            feed_at += timedelta(minutes=self.rng.randint(1, 4))
        if remaining <= 1e-6:
            return
        packs = math.ceil(remaining / pack - 1e-9)
        if split:
            packs = max(2, packs + packs % 2)  # two equal feeds of whole packs
        qty = packs * pack
        if replenished:
            lot = self.replenish_line(plant, line, aufnr, component, qty, feed_at)
        else:
            lot = self.lot_with(plant, component, qty, feed_at)
        if split:
            half = qty / 2
            run.picks.append(self.line_feed(plant, line, aufnr, lot, half, feed_at))
            again = feed_at + timedelta(minutes=self.rng.randint(4, 9))
            run.picks.append(self.line_feed(plant, line, aufnr, lot, half, again, alone=True))
            self.record_noise("repeated_equal_feed", plant, component, feed_at,
                              "two equal feeds minutes apart, each with its 261, both consumed",
                              order_no=aufnr, batch=lot.charg)
        else:
            run.picks.append(self.line_feed(plant, line, aufnr, lot, qty, feed_at))

    def post_issues(self, plant: Plant, aufnr: str, runs: list[ComponentRun],
                    supervisor: User, reversal: ComponentRun | None) -> None:
        """The 261s: one document per component or one per order, as this ERP is used."""
        documents: list[list[tuple[ComponentRun, Pick]]] = []
        together: list[tuple[ComponentRun, Pick]] = []
        for run in runs:
            mine = [(run, p) for p in run.picks if not p.alone]
            if self.style.issue_document == "per_order":
                together += mine
            elif mine:
                documents.append(mine)
            documents += [[(run, p)] for p in run.picks if p.alone]
        if together:
            documents.insert(0, together)
        for lines in documents:
            when = max(p.at for _, p in lines) + timedelta(minutes=self.rng.randint(2, 4))
            wrong = reversal is not None and any(run is reversal for run, _ in lines)
            erp_lines = []
            for run, pick in lines:
                menge = pick.qty
                if wrong and run is reversal and pick is run.picks[0]:
                    menge = pick.qty + run.component.pack_base  # keyed in one pack too many
                erp_lines.append({"bwart": "261", "shkzg": "H", "material": run.component,
                                  "lgort": pick.lot.lgort, "charg": pick.lot.charg,
                                  "menge": menge, "aufnr": aufnr.zfill(12)})
            mblnr = self.post(plant, when, supervisor, [dict(line) for line in erp_lines])
            for run, pick in lines:
                if run.component.critical:
                    self.release(plant, run.component, pick.lot.charg, pick.qty, pick.at,
                                 supervisor, mblnr)
            if wrong:
                zeile = next(i for i, (run, pick) in enumerate(lines, start=1)
                             if run is reversal and pick is run.picks[0])
                self.reverse_issue(plant, aufnr, erp_lines[zeile - 1], mblnr, zeile, when,
                                   supervisor, reversal.picks[0].qty)
            for run, pick in lines:
                if run.hit == "duplicate_posting" and pick is run.picks[-1]:
                    self.duplicate_issue(plant, aufnr, run, pick, mblnr, when, supervisor)

    def reverse_issue(self, plant: Plant, aufnr: str, wrong: dict[str, Any], mblnr: str,
                      zeile: int, when: datetime, supervisor: User, right_qty: float) -> None:
        """A 261 keyed with the wrong quantity, reversed by a 262 and posted again."""
        reversed_at = when + timedelta(minutes=self.rng.randint(5, 15))
        self.post(plant, reversed_at, supervisor, [{
            **wrong, "bwart": "262", "shkzg": "S", "smbln": mblnr, "smblp": zeile}])
        right = self.post(plant, reversed_at + timedelta(minutes=2), supervisor,
                          [{**wrong, "menge": right_qty}])
        self.record_noise("issue_reversal", plant, wrong["material"], when,
                          "261 with the wrong quantity reversed by 262 and posted again",
                          order_no=aufnr, batch=wrong["charg"], erp_doc=f"{mblnr}/{right}")

    def duplicate_issue(self, plant: Plant, aufnr: str, run: ComponentRun, pick: Pick,
                        mblnr: str, when: datetime, supervisor: User) -> None:
        again = when + timedelta(minutes=self.rng.randint(20, 50))
        self.post(plant, again, supervisor, [{
            "bwart": "261", "shkzg": "H", "material": run.component, "lgort": pick.lot.lgort,
            "charg": pick.lot.charg, "menge": pick.qty, "aufnr": aufnr.zfill(12)}])
        self.record("duplicate_posting", plant, pick.lot.lgort, run.component, when, again,
                    pick.qty, f"issue {mblnr} to the order posted a second time, one feed",
                    batch=pick.lot.charg, user=supervisor.usnam, order_no=aufnr)

    def use_component(self, plant: Plant, line: Line, aufnr: str, run: ComponentRun,
                      start: datetime, end: datetime, supervisor: User, operator: User,
                      state: str) -> None:
        component, need, case = run.component, run.need, run.hit
        issued = run.issued
        # every quantity stays on the ERP's 0.001 grid (whole pieces for piece goods), so
        # what is fed, used, lost, scrapped and returned adds up exactly
        weighing = round(issued * component.weighing_loss, 3)
        consumed = min(self.counted(component, need * (1 + self.rng.uniform(-0.003, 0.003))),
                       round(issued - weighing, 3))
        if component.meins == "EA":
            consumed = float(math.floor(consumed))
        if abs(consumed - need) > 0 and self.rng.random() < 0.05:
            self.record_noise("rounding", plant, component, end,
                              "consumption differs from the order's need within tolerance",
                              order_no=aufnr, batch=run.picks[-1].lot.charg)
        # first in, first used: each pick is used up before the next one is opened
        uses = []
        to_use = consumed
        for pick in run.picks:
            uses.append(round(min(pick.qty, to_use), 3))
            to_use = round(to_use - uses[-1], 3)
        left_over = [round(pick.qty - used, 3) for pick, used in zip(run.picks, uses, strict=True)]
        # the movement a batch mismatch is about: the pick most of the consumption came from
        main = run.picks[max(range(len(uses)), key=lambda i: uses[i])]
        scanned = {id(p): p.lot.charg for p in run.picks}
        if case == "batch_mismatch":
            scanned[id(main)] = self.new_batch(component, start.date(), main.at)
        for pick, used in zip(run.picks, uses, strict=True):
            if case == "batch_mismatch" and pick is main:
                self.record("batch_mismatch", plant, line.name, component, main.at, end, used,
                            f"ERP issued batch {pick.lot.charg}, MES scanned {scanned[id(pick)]}",
                            batch=pick.lot.charg, order_no=aufnr)
            self.consume(plant, line, run, aufnr, pick, scanned[id(pick)], used, start, end,
                         operator, partial=state == "RUNNING")
        if state == "RUNNING":
            return
        # the scales' share is physically gone, from the last pack opened
        for index in reversed(range(len(left_over))):
            lost = round(min(weighing, left_over[index]), 3)
            left_over[index] = round(left_over[index] - lost, 3)
            weighing = round(weighing - lost, 3)
            self.move_stock(plant, line.feed_bin, component, run.picks[index].lot.charg, -lost)
        if case == "phantom_scrap" or self.rng.random() < 0.12:
            # scrap comes from the last pack opened that still holds something; nothing left
            # on the line (consumption used up the issue): nothing to scrap. A scrap
            # posting's quantity, like every ERP quantity, is positive
            index = max((i for i, qty in enumerate(left_over) if qty > 0), default=None)
            if index is not None:
                scrapped = round(min(left_over[index], max(need * 0.02, 0.001)), 3)
                if component.meins == "EA":
                    scrapped = float(min(left_over[index], max(1, math.floor(scrapped))))
                left_over[index] = round(left_over[index] - scrapped, 3)
                self.scrap(plant, line, run, aufnr, run.picks[index].lot, scrapped, end,
                           supervisor, operator, phantom=case == "phantom_scrap")
        close = end + timedelta(minutes=self.rng.randint(5, 40))
        if case == "excess_issue":
            self.top_up(plant, line, aufnr, run, start, end, close, supervisor)
        remnants = []
        for pick, qty in zip(run.picks, left_over, strict=True):
            if qty <= 0:
                continue
            if self.wms_qty(component, qty) <= 0:
                # less than the WMS can express in its unit: swept up with the line's dust
                self.move_stock(plant, line.feed_bin, component, pick.lot.charg, -qty)
                self.record_noise("remnant_below_wms_resolution", plant, component, close,
                                  f"{qty} {component.meins} left, under one WMS rounding step: "
                                  "not returned", order_no=aufnr, batch=pick.lot.charg)
                continue
            remnants.append((pick.lot, qty))
        if not remnants:
            return
        if case in REMNANT_CASES:
            total = sum(qty for _, qty in remnants)
            main = next(p for p in run.picks if p.lot is max(remnants, key=lambda r: r[1])[0])
            for lot, qty in remnants:
                self.move_stock(plant, line.feed_bin, component, lot.charg, -qty)
            if case == "unreturned_remnant":
                self.record("unreturned_remnant", plant, line.name, component, start, close,
                            total, "partial pack left at the line after close, returned nowhere",
                            batch=main.lot.charg, order_no=aufnr)
            else:
                lgort = plant.RAW if self.style.remnant == "to_store" else line.lgort
                for lot, qty in remnants:
                    self.post(plant, close + timedelta(minutes=8), supervisor, [{
                        "bwart": "262", "shkzg": "S", "material": component, "lgort": lgort,
                        "charg": lot.charg, "menge": qty, "aufnr": aufnr.zfill(12)}])
                self.record("unverified_return", plant, lgort, component, close,
                            close + timedelta(minutes=10), total,
                            "262 posted without MES line return or WMS receipt of the remnant",
                            batch=main.lot.charg, user=supervisor.usnam, order_no=aufnr)
            return
        for lot, qty in remnants:
            self.line_return(plant, line, aufnr, lot, qty, close, supervisor, operator)

    def consume(self, plant: Plant, line: Line, run: ComponentRun, aufnr: str, pick: Pick,
                scanned_charg: str, consumed: float, start: datetime, end: datetime,
                operator: User, *, partial: bool = False) -> None:
        component = run.component
        if consumed <= 0:
            return
        scans = max(1, min(4, math.ceil(consumed / component.pack_base)))
        unit_defect = self.unit_defect_lines.get(line.name)
        done = scans if not partial else max(1, scans // 2)
        left = consumed
        used = 0.0
        for scan in range(done):
            qty = round(consumed / scans, 3) if scan < scans - 1 else round(left, 3)
            if component.meins == "EA":
                qty = float(math.floor(consumed / scans)) if scan < scans - 1 else round(left)
            left -= qty
            used += qty
            when = start + (end - start) * ((scan + 0.5) / scans)
            uom = component.mes_uom
            reported = self.mes_qty(component, qty)
            if unit_defect is component:
                uom = "kg"  # the line's scale sends grams labelled as kilograms
            key = f"{aufnr}/{component.matnr}/{pick.lot.charg}/{scan}"
            corrected = timedelta(days=self.rng.randint(1, 2)) if variant(key, 40) == 0 else None
            self.mes_event("mes_consumptions", "CON", {
                "order_no": aufnr, "operation": f"{(scan + 1) * 10:04d}",
                "work_center": run.work_center, "line": line.name,
                "barcode": self.barcode(component, scanned_charg, key),
                "batch": self.mes_batch(scanned_charg, key), "qty": reported, "uom": uom,
                "consumed_at": epoch_ms(when), "operator_id": operator.mes_operator}, when,
                corrected)
        self.move_stock(plant, line.feed_bin, component, pick.lot.charg, -used)

    def scrap(self, plant: Plant, line: Line, run: ComponentRun, aufnr: str, lot: Lot,
              qty: float, end: datetime, supervisor: User, operator: User,
              phantom: bool) -> None:
        component = run.component
        when = end - timedelta(minutes=self.rng.randint(5, 60))
        without_event = phantom and self.rng.random() < 0.5
        if not without_event:
            lag = timedelta(days=self.rng.randint(*self.style.scrap_disposal_days),
                            hours=self.rng.uniform(0, 6))
            disposed = not phantom and when + lag <= self.data_end
            key = f"scrap/{aufnr}/{component.matnr}"
            self.mes_event("mes_scrap", "SCR", {
                "order_no": aufnr, "work_center": run.work_center,
                "barcode": self.barcode(component, lot.charg, key),
                "batch": self.mes_batch(lot.charg, key), "qty": self.mes_qty(component, qty),
                "uom": component.mes_uom,
                "reason_code": self.rng.choice(["SC01", "SC02", "SC07"]),
                "disposal_ref": f"DSP{self.next_id('disposal'):07d}" if disposed else None,
                "recorded_at": epoch_ms(when), "operator_id": operator.mes_operator},
                when, lag if disposed else None)
            if not phantom and not disposed:
                self.record_noise("scrap_disposal_pending_at_extraction", plant, component, when,
                                  "scrap recorded in the last days, disposal still to come",
                                  order_no=aufnr, batch=lot.charg)
            elif disposed and self.style.scrap_disposal_days[0] >= 7:
                self.record_noise("scrap_disposed_late_within_tolerance", plant, component, when,
                                  f"scrap disposed {lag.days} days after it was recorded",
                                  order_no=aufnr, batch=lot.charg)
        posted_qty = qty * (10 if phantom else 1)
        self.post(plant, when + timedelta(minutes=30), supervisor, [{
            "bwart": "551", "shkzg": "H", "material": component, "lgort": line.lgort,
            "charg": lot.charg, "menge": posted_qty, "aufnr": aufnr.zfill(12), "grund": "0001"}])
        self.move_stock(plant, line.feed_bin, component, lot.charg, -qty)
        if phantom:
            evidence = "no MES scrap record" if without_event else "MES scrap never disposed"
            self.record("phantom_scrap", plant, line.name, component, when,
                        when + timedelta(minutes=30), posted_qty - (0 if without_event else qty),
                        f"551 posted with {evidence}", batch=lot.charg, user=supervisor.usnam,
                        order_no=aufnr)

    def top_up(self, plant: Plant, line: Line, aufnr: str, run: ComponentRun, start: datetime,
               end: datetime, close: datetime, supervisor: User) -> None:
        """One pack more issued to the order, through the world's feed flow; never used."""
        component = run.component
        topup = component.pack_base
        when = end - timedelta(minutes=30)
        if self.style.feed == "replenish" and not component.direct_feed:
            lot = self.replenish_line(plant, line, aufnr, component, topup, when)
        else:
            lot = self.lot_with(plant, component, topup, when)
        self.line_feed(plant, line, aufnr, lot, topup, when)
        mblnr = self.post(plant, when + timedelta(minutes=2), supervisor, [{
            "bwart": "261", "shkzg": "H", "material": component, "lgort": lot.lgort,
            "charg": lot.charg, "menge": topup, "aufnr": aufnr.zfill(12)}])
        if component.critical:
            self.release(plant, component, lot.charg, topup, when, supervisor, mblnr)
        self.record("excess_issue", plant, line.name, component, when, close, topup,
                    "top-up issued to the order, never consumed nor returned",
                    batch=lot.charg, user=supervisor.usnam, order_no=aufnr)

    def line_return(self, plant: Plant, line: Line, aufnr: str, lot: Lot, qty: float,
                    when: datetime, supervisor: User, operator: User) -> None:
        """The remnant goes back to the raw store, or is kept line-side for a later order."""
        material = lot.material
        clerk = self.rng.choice(plant.clerks)
        ref = self.style.ref("aufnr", aufnr)
        if self.style.remnant == "to_store":
            # back into the raw-store bin that holds the batch, if one still does
            stored = [other.bin for other in self.lots[(plant.werks, material.matnr)]
                      if other.charg == lot.charg and self.stock(plant, other) > 1e-6]
            target = (lot.bin if lot.lgort == plant.RAW else stored[0] if stored
                      else plant.bin_for(self.rng, plant.RAW))
            task_id = self.task(plant, "RETURN_RECEIPT", material, lot.charg, line.feed_bin,
                                target, qty, ref, when, clerk)
            lgort, pool = plant.RAW, self.lots[(plant.werks, material.matnr)]
        else:
            target = lot.bin if lot.lgort == line.lgort else self.rng.choice(line.side_bins)
            task_id = self.task(plant, "PUTAWAY", material, lot.charg, line.feed_bin, target,
                                qty, ref, when, clerk)
            lgort, pool = line.lgort, self.side_pool(plant, line, material)
        key = f"ret/{aufnr}/{material.matnr}/{lot.charg}"
        self.mes_event("mes_line_returns", "RET", {
            "order_no": aufnr, "barcode": self.barcode(material, lot.charg, key),
            "batch": self.mes_batch(lot.charg, key), "qty": self.mes_qty(material, qty),
            "uom": material.mes_uom, "returned_at": epoch_ms(when - timedelta(minutes=5)),
            "operator_id": operator.mes_operator, "wms_task_ref": task_id}, when)
        posted_at, budat = when + timedelta(minutes=8), None
        morning = self.next_morning(plant, when.date())
        if morning is not None and share(key, self.style.late_262_share):
            posted_at, budat = morning, when.date()
        mblnr = self.post(plant, posted_at, supervisor, [{
            "bwart": "262", "shkzg": "S", "material": material, "lgort": lgort,
            "charg": lot.charg, "menge": qty, "aufnr": aufnr.zfill(12)}], budat=budat)
        if budat is not None:
            self.record_noise("next_morning_lag", plant, material, when,
                              "remnant returned in the evening, 262 posted next morning "
                              "with the return day as posting date",
                              order_no=aufnr, batch=lot.charg, erp_doc=mblnr, wms_ref=task_id)
        self.keep(pool, material, lot.charg, lgort, target)

    # ------------------------------------------------------------ logistics

    def deliver(self, plant: Plant, lot: Lot, qty: float, day: date) -> None:
        when = self.office_time(day)
        vbeln = self.new_vbeln()
        clerk = self.rng.choice(plant.clerks)
        ref = self.style.ref("vbeln", vbeln)
        dock = self.pseudo(plant.dock("OUT"))
        self.task(plant, "PICK", lot.material, lot.charg, lot.bin, dock, qty, ref, when, clerk)
        self.task(plant, "SHIP", lot.material, lot.charg, dock, self.pseudo(TRUCK), qty, ref,
                  when + timedelta(minutes=40), clerk, move=False)
        self.post(plant, when + timedelta(minutes=45), clerk, [{
            "bwart": "601", "shkzg": "H", "material": lot.material, "lgort": plant.FG,
            "charg": lot.charg, "menge": qty, "vbeln": vbeln}])
        if self.rng.random() < 0.04:
            self.pending[day + timedelta(days=self.rng.randint(3, 10))].append(
                ("customer_return", plant, lot, vbeln, False))

    def customer_return(self, plant: Plant, lot: Lot, vbeln: str, unverified: bool,
                        day: date) -> None:
        when = self.office_time(day, 0.1, 0.8)
        qty = lot.material.pack_base
        clerk = self.rng.choice(plant.clerks)
        if unverified:
            self.record("unverified_return", plant, plant.RET, lot.material, when,
                        when + timedelta(minutes=10), qty,
                        "651 customer return posted, no WMS return receipt",
                        batch=lot.charg, user=clerk.usnam)
        else:
            self.task(plant, "RETURN_RECEIPT", lot.material, lot.charg,
                      self.pseudo(plant.dock("IN")), plant.bin_for(self.rng, plant.RET), qty,
                      self.style.ref("vbeln", vbeln), when, clerk)
        self.post(plant, when + timedelta(minutes=10), clerk, [{
            "bwart": "651", "shkzg": "S", "material": lot.material, "lgort": plant.RET,
            "charg": lot.charg, "menge": qty, "vbeln": vbeln}])

    def pending_customer_return(self, plant: Plant, day: date) -> None:
        product = self.rng.choice(self.world.products)
        charg = self.new_batch(product, day, self.office_time(day, 0.0, 0.05))
        lot = Lot(product, charg, plant.FG, "")
        self.customer_return(plant, lot, self.new_vbeln(), True, day)

    def quality_receipt(self, plant: Plant, day: date) -> None:
        """Critical material arrives into quality inspection and is released by a 311."""
        material = self.rng.choice([m for m in self.world.raw if m.critical])
        when = self.office_time(day, 0.0, 0.7)
        lot = self.receive(plant, material, material.pack_base * self.rng.randint(6, 20), when,
                           plant.QA)
        self.pending[day + timedelta(days=1)].append(("qa_release", plant, lot))

    def qa_release(self, plant: Plant, lot: Lot, day: date) -> None:
        when = self.office_time(day, 0.0, 0.3)
        qty = self.stock(plant, lot)
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
        qty = self.stock(plant, lot)
        target = plant.bin_for(self.rng, plant.RAW)
        if qty <= 1e-6 or any(o.bin == target and o.charg == lot.charg for o in candidates):
            return
        self.task(plant, "REPLENISH", lot.material, lot.charg, lot.bin, target, qty, "",
                  self.office_time(day, 0.0, 0.15), self.rng.choice(plant.clerks))
        lot.bin = target

    def maintenance_issue(self, plant: Plant, day: date, when: datetime | None = None,
                          material: Material | None = None) -> tuple[datetime, Material, Lot]:
        material = material or self.rng.choice(self.world.liquids)
        when = when or self.office_time(day)
        lot = self.lot_with(plant, material, material.pack_base, when)
        clerk = self.rng.choice(plant.clerks)
        cost_centre = f"CC-{MAINTENANCE_COST_CENTRE}"
        self.task(plant, "PICK", material, lot.charg, lot.bin, self.pseudo(cost_centre),
                  material.pack_base, cost_centre, when, clerk)
        self.post(plant, when + timedelta(minutes=5), clerk, [{
            "bwart": "201", "shkzg": "H", "material": material, "lgort": plant.RAW,
            "charg": lot.charg, "menge": material.pack_base, "grund": MAINTENANCE_COST_CENTRE}])
        return when, material, lot

    def return_day(self, plant: Plant, day: date, incident: bool) -> date | None:
        """The working day a subcontracted lot comes back, None if after the data end."""
        back = day + timedelta(days=self.rng.randint(*self.style.turnaround) - 1)
        back = self.next_working_day(plant, back)
        if back is None and incident:
            # the incident must be visible in the data: back on the last working day
            back = max((d for d in self.days() if d > day and d not in plant.shutdown),
                       default=None)
        return back

    def send_to_subcontractor(self, plant: Plant, day: date, incident: Incident | None) -> None:
        material = self.rng.choice([m for m in self.world.raw if m.meins in ("KG", "EA")])
        sent = material.pack_base * self.rng.randint(4, 10)
        when = self.office_time(day, 0.1, 0.7)
        lot = self.lot_with(plant, material, sent, when)
        partner = self.rng.choice(self.world.subcontractors)
        ebeln = self.new_ebeln()
        vbeln = self.new_vbeln() if self.style.outsourcing_vbeln else None
        clerk = self.rng.choice(plant.clerks)
        ref = self.style.ref("vbeln", vbeln) if vbeln else self.style.ref("ebeln", ebeln)
        dock = self.pseudo(plant.dock("OUT"))
        self.task(plant, "PICK", material, lot.charg, lot.bin, dock, sent, ref, when, clerk)
        if self.style.pseudo_bins == "filled":
            self.task(plant, "SHIP", material, lot.charg, dock, partner, sent, ref,
                      when + timedelta(minutes=30), clerk, move=False)
        self.post(plant, when + timedelta(minutes=35), clerk, [{
            "bwart": "541", "shkzg": "H", "material": material, "lgort": plant.RAW,
            "charg": lot.charg, "menge": sent, "ebeln": ebeln, "vbeln": vbeln,
            "lifnr": partner}])
        key = f"out/{ebeln}"
        self.mes_event("mes_outsourcing", "OUT", {
            "partner_id": partner, "direction": "OUT",
            "barcode": self.barcode(material, lot.charg, key),
            "batch": self.mes_batch(lot.charg, key), "qty": self.mes_qty(material, sent),
            "uom": material.mes_uom, "event_at": epoch_ms(when),
            "ref": self.style.ref("ebeln", ebeln)}, when)
        if incident and incident.kind == "never_returned":
            self.record("outsourcing_leakage", plant, partner, material, when,
                        self.at(self.last_day, 23.99), sent,
                        "lot sent to the subcontractor and never returned",
                        batch=lot.charg, user=clerk.usnam)
            return
        if incident:
            consumed_at_partner = self.counted(material, sent * 0.01)
            yield_loss = self.counted(material, sent * 0.11)
        else:
            consumed_at_partner = self.counted(material, sent * self.rng.uniform(0.002, 0.01))
            yield_loss = (self.counted(material, sent * self.rng.uniform(0.002, 0.012))
                          if self.rng.random() < 0.6 else 0.0)
        consumed_at_partner = max(consumed_at_partner, 1.0 if material.meins == "EA" else 0.001)
        returned = round(sent - consumed_at_partner - yield_loss, 3)
        back = self.return_day(plant, day, incident is not None)
        if incident and back is None:  # no working day left to come back on
            self.record("outsourcing_leakage", plant, partner, material, when,
                        self.at(self.last_day, 23.99), sent,
                        "lot sent to the subcontractor and never returned",
                        batch=lot.charg, user=clerk.usnam)
            return
        if incident:
            self.record("outsourcing_leakage", plant, partner, material, when,
                        self.office_time(back, 0.8, 0.8), yield_loss,
                        "returned plus consumed at the partner falls short of the quantity sent",
                        batch=lot.charg, user=clerk.usnam)
        if back is None:
            self.record_noise("outsourcing_open_at_extraction", plant, material, when,
                              "lot still at the subcontractor when the data end, "
                              "within the usual turnaround", batch=lot.charg, erp_doc=ebeln)
            return
        self.pending[back].append(("subcontract_return", plant, lot, partner, ebeln, returned,
                                   consumed_at_partner, yield_loss if not incident else 0.0))

    def subcontract_return(self, plant: Plant, lot: Lot, partner: str, ebeln: str,
                           returned: float, consumed: float, yield_loss: float,
                           day: date) -> None:
        when = self.office_time(day, 0.1, 0.75)
        material = lot.material
        clerk = self.rng.choice(plant.clerks)
        lot = Lot(material, lot.charg, plant.RAW, plant.bin_for(self.rng, plant.RAW))
        self.task(plant, "PUTAWAY", material, lot.charg, self.pseudo(plant.dock("IN")), lot.bin,
                  returned, self.style.ref("ebeln", ebeln), when, clerk)
        key = f"in/{ebeln}"
        self.mes_event("mes_outsourcing", "OUT", {
            "partner_id": partner, "direction": "IN",
            "barcode": self.barcode(material, lot.charg, key),
            "batch": self.mes_batch(lot.charg, key), "qty": self.mes_qty(material, returned),
            "uom": material.mes_uom, "event_at": epoch_ms(when),
            "ref": self.style.ref("ebeln", ebeln)}, when)
        self.post(plant, when + timedelta(minutes=15), clerk, [
            {"bwart": "101", "shkzg": "S", "material": material, "lgort": plant.RAW,
             "charg": lot.charg, "menge": returned, "ebeln": ebeln, "lifnr": partner},
            {"bwart": "543", "shkzg": "H", "material": material, "lgort": None,
             "charg": lot.charg, "menge": consumed, "ebeln": ebeln, "lifnr": partner}])
        if yield_loss > 0:
            self.record_noise("outsourcing_yield_loss_within_allowance", plant, material, when,
                              f"{yield_loss} {material.meins} lost at the partner, within the "
                              "2 % allowance", batch=lot.charg, erp_doc=ebeln)
        self.keep(self.lots[(plant.werks, material.matnr)], material, lot.charg, plant.RAW,
                  lot.bin)

    # --------------------------------------------------------------- counts

    def store_lots(self, plant: Plant) -> list[Lot]:
        return [lot for (werks, _), lots in sorted(self.lots.items()) if werks == plant.werks
                for lot in lots if self.stock(plant, lot) >= lot.material.pack_base]

    def small_difference(self, material: Material) -> float | None:
        """A count difference in handling units worth less than SMALL_COUNT_VALUE, if any."""
        step = 10 ** -self.style.wms_decimals
        if material.meins == "EA":
            pieces = math.floor((SMALL_COUNT_VALUE - 0.01) / material.std_price)
            if pieces < 1:
                return None
            hu = round(self.rng.randint(1, min(pieces, 10)) / material.pack_base,
                       self.style.wms_decimals)
            whole = abs(hu * material.pack_base - round(hu * material.pack_base)) < 1e-9
            return hu if hu > 0 and whole else None  # a count is whole pieces
        steps = math.floor((SMALL_COUNT_VALUE - 0.01) / (step * material.pack_base
                                                         * material.std_price))
        if steps < 1:
            return None
        return round(self.rng.randint(1, min(steps, 40)) * step, self.style.wms_decimals)

    def cycle_count(self, plant: Plant, day: date, lot: Lot, kind: str) -> None:
        """kind: match, recount (noise), difference (legit, posted) or never_posted (incident)."""
        material = lot.material
        when = self.office_time(day, 0.5, 0.8)
        exact = self.stock(plant, lot)
        system = self.wms_qty(material, exact)
        counter = self.rng.choice(plant.clerks)
        decimals = self.style.wms_decimals

        def row(counted: float, recount: str, at: datetime) -> str:
            count_id = f"CC{self.next_id('count'):08d}"
            self.out.wms["cycle_count"].append({
                "count_id": count_id, "counted_at": utc_iso(at), "warehouse": plant.warehouse,
                "bin": lot.bin, "sku": material.sku, "lot": self.style.lot(lot.charg),
                "system_qty": system, "counted_qty": counted, "uom": material.wms_uom,
                "counter_id": counter.wms_user, "recount": recount,
                "approved_by": plant.controller.wms_user})
            return count_id

        if kind == "match":
            count_id = row(system, "N", when)
            if (abs(system * material.pack_base - exact) > 1e-6
                    and self.wms_units_per_uom[material.matnr] == material.units_per_uom):
                self.record_noise("count_unit_rounding", plant, material, when,
                                  f"{system} {material.wms_uom} counted; in base units that is "
                                  f"{round(system * material.pack_base, 3)}, the book holds "
                                  f"{round(exact, 3)}", batch=lot.charg, wms_ref=count_id)
            return
        if kind == "recount":
            row(system - 1, "N", when)
            count_id = row(system, "Y", when + timedelta(minutes=25))
            self.record_noise("recount", plant, material, when,
                              "first count off by one pack, recount matches the system",
                              batch=lot.charg, wms_ref=count_id)
            return
        small = self.small_difference(material) if kind == "difference" else None
        if kind == "difference" and small is not None and self.rng.random() < 0.7:
            delta_hu = small
        else:
            delta_hu = 1.0
        loss = kind == "never_posted" or self.rng.random() < 0.6
        counted = round(system - delta_hu if loss else system + delta_hu, decimals)
        row(counted, "N", when)
        count_id = row(counted, "Y", when + timedelta(minutes=25))  # the recount confirms it
        base_delta = round(delta_hu * material.pack_base, 3)
        adjusted_at = when + timedelta(minutes=40)
        self.task(plant, "COUNT_ADJUST", material, lot.charg, lot.bin if loss else "",
                  "" if loss else lot.bin, base_delta, count_id, adjusted_at, plant.controller)
        if kind == "never_posted":
            self.record("stock_discrepancy", plant, plant.RAW, material, when,
                        when + timedelta(hours=1), base_delta,
                        "WMS count adjustment (loss) never posted in the ERP",
                        batch=lot.charg, user=plant.controller.usnam)
            return
        posted_at, budat = when + timedelta(hours=1), None
        morning = self.next_morning(plant, day)
        late = {"same_day": False, "next_morning": True,
                "mixed": self.rng.random() < 0.5}[self.style.count_posting]
        if late and morning is not None:
            posted_at, budat = morning, day
        mblnr = self.post(plant, posted_at, plant.controller, [{
            "bwart": "702" if loss else "701", "shkzg": "H" if loss else "S",
            "material": material, "lgort": plant.RAW, "charg": lot.charg,
            "menge": base_delta, "grund": "0007", "sgtxt": f"WMS count {count_id}"}], budat=budat)
        value = round(base_delta * material.std_price, 2)
        self.record_noise("count_difference_adjusted", plant, material, when,
                          f"count difference of {delta_hu} {material.wms_uom} ({value} CNY) "
                          "recounted, approved, adjusted and posted"
                          + (" next morning" if budat else ""),
                          batch=lot.charg, wms_ref=count_id, erp_doc=mblnr)

    def physical_inventory(self, plant: Plant, day: date, lots: list[Lot],
                           self_posted_loss: bool) -> None:
        iblnr = f"{self.next_id('iblnr'):010d}"
        when = self.office_time(day, 0.9, 0.9)
        for zeili, lot in enumerate(lots, start=1):
            material = lot.material
            book = round(self.erp_book[(plant.werks, plant.RAW, material.matnr, lot.charg)], 3)
            counter = self.rng.choice(plant.clerks)
            counted, mblnr, poster = book, None, plant.controller
            if self_posted_loss and zeili == 1:
                counted = round(book - material.pack_base, 3)
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
                "matnr": material.padded, "charg": lot.charg, "buchm": book,
                "menge": max(counted, 0.0), "meins": material.meins, "zldat": day,
                "counted_by": counter.usnam, "posted_by": poster.usnam, "mblnr": mblnr})

    # ------------------------------------------------------------ anomalies

    def posting_anomaly(self, plant: Plant, day: date, incident: Incident) -> None:
        material = self.rng.choice(self.world.raw)
        clerk = self.rng.choice(plant.clerks)
        when = self.office_time(day, 0.1, 0.7)
        qty = material.pack_base * self.rng.randint(2, 6)
        if incident.kind == "night":
            # the drum is in stock by day; it is issued in the coming night
            liquid = self.rng.choice(self.world.liquids)
            self.lot_with(plant, liquid, liquid.pack_base, when)
            self.pending[day + timedelta(days=1)].append(("night_issue", plant, liquid))
            return
        lot = self.receive(plant, material, qty, when, post=False)
        ebeln = self.new_ebeln()
        lagged = None
        if incident.kind == "lagged":
            later = self.next_working_day(plant, day + timedelta(days=LAGGED_POSTING_DAYS - 1))
            lagged = None if later is None else self.office_time(later, 0.1, 0.7)
        if lagged is None:
            posted_at, budat, text = when + timedelta(minutes=30), day - timedelta(days=15), (
                "receipt dated 15 days before it was entered")
        else:
            posted_at, budat, text = lagged, None, (
                f"receipt posted {(lagged.date() - day).days} days after the physical putaway")
        self.post(plant, posted_at, clerk, [{
            "bwart": "101", "shkzg": "S", "material": material, "lgort": plant.RAW,
            "charg": lot.charg, "menge": qty, "ebeln": ebeln,
            "lifnr": self.rng.choice(self.world.vendors)}], budat=budat)
        self.record("posting_time_anomaly", plant, plant.RAW, material, when, posted_at, qty,
                    text, batch=lot.charg, user=clerk.usnam)

    def night_issue(self, plant: Plant, liquid: Material, day: date) -> None:
        when = self.at(day, self.rng.uniform(*self.style.off_hours()))
        issued_at, liquid, lot = self.maintenance_issue(plant, day, when, liquid)
        self.record("posting_time_anomaly", plant, plant.RAW, liquid, issued_at,
                    issued_at + timedelta(minutes=5), liquid.pack_base,
                    "issue posted while the plant does not work", batch=lot.charg,
                    user=self.out.erp["erp_material_doc"][-1]["usnam"])

    def duplicate_receipt(self, plant: Plant, day: date) -> None:
        material = self.rng.choice(self.world.raw)
        when = self.office_time(day, 0.1, 0.7)
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
        when = self.office_time(day, 0.1, 0.7)
        qty = material.pack_base * self.rng.randint(2, 8)
        lot = self.receive(plant, material, qty, when, post=False)
        clerk = self.rng.choice(plant.clerks)
        line = {"bwart": "101", "shkzg": "S", "material": material, "lgort": plant.RAW,
                "charg": lot.charg, "ebeln": self.new_ebeln(),
                "lifnr": self.rng.choice(self.world.vendors)}
        wrong = self.post(plant, when, clerk, [{**line, "menge": qty + material.pack_base}])
        self.post(plant, when + timedelta(minutes=12), clerk, [{
            **line, "bwart": "102", "shkzg": "H", "menge": qty + material.pack_base,
            "smbln": wrong, "smblp": 1}])
        right = self.post(plant, when + timedelta(minutes=15), clerk, [{**line, "menge": qty}])
        self.record_noise("reversal", plant, material, when,
                          "wrong receipt reversed by 102 and re-entered",
                          batch=lot.charg, erp_doc=f"{wrong}/{right}")

    def late_evening_receipt(self, plant: Plant, day: date) -> None:
        """Received at the end of the working day, posted next morning, dated the day before."""
        morning = self.next_morning(plant, day)
        if morning is None:
            return
        material = self.rng.choice(self.world.raw)
        when = self.at(day, self.rng.uniform(*self.style.late_receipt_hours()))
        qty = material.pack_base * self.rng.randint(2, 8)
        lot = self.receive(plant, material, qty, when, post=False)
        mblnr = self.post(plant, morning, self.rng.choice(plant.clerks), [{
            "bwart": "101", "shkzg": "S", "material": material, "lgort": plant.RAW,
            "charg": lot.charg, "menge": qty, "ebeln": self.new_ebeln(),
            "lifnr": self.rng.choice(self.world.vendors)}], budat=day)
        self.record_noise("posting_lag", plant, material, when,
                          "evening receipt posted next morning with the previous posting date",
                          batch=lot.charg, erp_doc=mblnr)

    def self_approved_release(self, plant: Plant, day: date) -> None:
        material = self.rng.choice([m for m in self.world.raw if m.critical])
        when = self.office_time(day, 0.1, 0.7)
        lot = self.lot_with(plant, material, material.pack_base, when)
        supervisor = self.rng.choice(plant.supervisors)
        cost_centre = f"CC-{RELEASE_COST_CENTRE}"
        self.task(plant, "PICK", material, lot.charg, lot.bin, self.pseudo(cost_centre),
                  material.pack_base, cost_centre, when, self.rng.choice(plant.clerks))
        mblnr = self.post(plant, when + timedelta(minutes=3), supervisor, [{
            "bwart": "201", "shkzg": "H", "material": material, "lgort": plant.RAW,
            "charg": lot.charg, "menge": material.pack_base, "grund": RELEASE_COST_CENTRE}])
        self.release(plant, material, lot.charg, material.pack_base, when, supervisor, mblnr,
                     approver=supervisor)
        self.record("sod_violation", plant, plant.RAW, material, when - timedelta(minutes=50),
                    when + timedelta(minutes=3), material.pack_base,
                    "critical material released and approved by the same user",
                    batch=lot.charg, user=supervisor.usnam)

    def erp_write_off(self, plant: Plant, day: date) -> None:
        lots = self.store_lots(plant)
        if not lots:
            lots = [self.lot_with(plant, self.rng.choice(self.world.raw), 1,
                                  self.office_time(day, 0.0, 0.1))]
        lot = self.rng.choice(lots)
        when = self.office_time(day, 0.2, 0.8)
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
            if day in plant.shutdown and action not in RUN_ON_SHUTDOWN:
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
        order_incidents = []
        for incident in self.take_incidents(plant, day, ORDER_CASES):
            if incident.kind == "customer_return":
                self.pending_customer_return(plant, day)
            elif incident.kind == "receipt":
                self.duplicate_receipt(plant, day)
            else:
                order_incidents.append(incident)
        final = day == self.last_day
        look_alikes = self.look_alikes.pop((plant.werks, day), [])
        order_look_alikes = [p for p in look_alikes if p != "reversal"]
        for line_index, line in enumerate(plant.lines):
            mine = order_incidents[line_index::len(plant.lines)]
            count = max(len(mine), round(self.orders_per_line * rng.uniform(0.8, 1.2)))
            if final:
                count = max(count, len(mine) + 1)  # the last order is still running
            for index, (hour, slot) in enumerate(self.order_slots(count)):
                start = self.at(day, hour)
                end = start + timedelta(hours=slot * rng.uniform(0.6, 0.85))
                incident = mine[index] if index < len(mine) else None
                state = "RUNNING" if final and index == count - 1 else "CLOSED"
                forced = (order_look_alikes.pop() if incident is None and state == "CLOSED"
                          and order_look_alikes else None)
                self.run_order(plant, line, day, start, end, incident, state, forced)
            if final and line_index == 0:
                start = self.at(day, self.style.production_windows[-1][1] - 0.5)
                self.run_order(plant, line, day, start, start, None, "RELEASED")
        following = self.next_working_day(plant, day)
        if order_look_alikes and following is not None:  # no order free of incidents today
            self.look_alikes[(plant.werks, following)] += order_look_alikes
        per_day = max(1, round(25 * scale))
        for _ in range(per_day):
            self.maintenance_issue(plant, day)
            self.replenish(plant, day)
        if rng.random() < min(1.0, 10 * scale):
            self.quality_receipt(plant, day)
        for incident in self.take_incidents(plant, day, ("outsourcing_leakage",)):
            self.send_to_subcontractor(plant, day, incident)
        if rng.random() < min(1.0, 8 * scale):
            self.send_to_subcontractor(plant, day, None)
        for incident in self.take_incidents(plant, day, ("posting_time_anomaly",)):
            self.posting_anomaly(plant, day, incident)
        if rng.random() < min(1.0, 6 * scale) or "reversal" in look_alikes:
            self.reversed_receipt(plant, day)
        if rng.random() < min(1.0, 6 * scale):
            self.late_evening_receipt(plant, day)
        self_posted_inventory = False
        for incident in self.take_incidents(plant, day, ("sod_violation",)):
            if incident.kind == "self_posted_inventory":
                self_posted_inventory = True
            else:
                self.self_approved_release(plant, day)
        stock_incidents = self.take_incidents(plant, day, ("stock_discrepancy",))
        self.count_day(plant, day, scale, stock_incidents, self_posted_inventory)
        self.drop_empty_lots(plant)

    def count_day(self, plant: Plant, day: date, scale: float, stock_incidents: list[Incident],
                  self_posted_inventory: bool) -> None:
        lots = self.store_lots(plant)
        for incident in stock_incidents:
            if incident.kind == "erp_write_off" or not lots:
                self.erp_write_off(plant, day)
        if not lots:
            return
        self.rng.shuffle(lots)
        for incident in stock_incidents:
            if incident.kind == "count_never_posted":
                self.cycle_count(plant, day, lots.pop(), "never_posted")
        for lot in lots[: max(1, round(60 * scale))]:
            draw = self.rng.random()
            kind = "recount" if draw < 0.08 else "difference" if draw < 0.14 else "match"
            self.cycle_count(plant, day, lot, kind)
        if self_posted_inventory or (day - self.first_day).days % 30 == 15:
            # a count of lots the book holds at least a pack of (a book figure is never negative)
            booked = [lot for lot in lots if self.erp_book[
                (plant.werks, plant.RAW, lot.material.matnr, lot.charg)] >= lot.material.pack_base]
            if booked:
                self.physical_inventory(plant, day, booked[-5:], self_posted_inventory)

    def finish(self) -> None:
        """Noise rows for the world's standing conventions, once the days are done."""
        start = datetime.combine(self.first_day, time())
        plant = self.world.plants[0]
        for material in self.world.materials:
            if material.weighing_loss:
                self.record_noise("weighing_difference", plant, material, start,
                                  f"about {material.weighing_loss:.2%} of each issue is never "
                                  "weighed out at the line (scales, dust, spillage)")
            if not material.erp_gtin:
                self.record_noise("erp_material_without_gtin", plant, material, start,
                                  "ERP material master has no GTIN: WMS erp_material links it")
            if not material.wms_erp_material:
                self.record_noise("wms_item_without_erp_material", plant, material, start,
                                  "WMS item leaves erp_material blank: its GTIN links it")

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
            if self.wms_qty(material, qty) <= 0:
                del self.wms_stock[key]
                continue
            zone = self.plant_of_warehouse[warehouse].bin_zone[bin_code]
            rows.append({
                "snapshot_at": snapshot_at, "warehouse": warehouse, "zone": zone,
                "bin": bin_code, "sku": material.sku, "lot": self.style.lot(charg),
                "qty": self.wms_qty(material, qty), "uom": material.wms_uom,
                "status": {"QA": "QA", "RET": "HOLD"}.get(zone, "AVAILABLE"),
            })
        return rows

    def item_rows(self) -> list[dict[str, Any]]:
        return [{
            "sku": m.sku, "erp_material": m.matnr if m.wms_erp_material else "",
            "gtin": self.style.gtin(m.gtin, "wms"), "description": m.maktx,
            "uom": m.wms_uom, "units_per_uom": self.wms_units_per_uom[m.matnr],
            "base_uom": m.wms_base_uom, "spec": m.wms_spec,
        } for m in self.world.materials]
