"""The conventions of one demo world: every choice the source contract leaves open.

shrinkwatch must work on plants built by others from the same contract, so a
seed selects a *world*, not just random numbers: how storage locations, zones,
bins, lines and work centres are coded, how material reaches the line and how
remnants flow back, whether WMS tasks name pseudo-bins, the shift pattern and
calendar, how lots, documents, SKUs and GTINs are spelled, units and rounding,
the outsourcing turnaround, how count differences are posted and how late scrap
is disposed.

`draw_style(seed)` draws every choice from its own `random.Random(f"style-{seed}")`,
one independent draw per field in a fixed order, so styling a world never
consumes the plant's own generator (`random.Random(seed)`). The style is
recorded in `plant.json` under `"world"`.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import asdict, dataclass, fields
from datetime import date

PLANT_ROLES = ("raw", "fg", "qa", "ret")
# storage location codes per scheme: the four plant-level locations, then the
# line side (one per line: first, second…; or one shared per plant)
_SLOCS = {
    "numeric": {"raw": "1001", "fg": "1002", "qa": "1003", "ret": "1004",
                "line": "11{:02d}", "shared": "1100"},
    "sap": {"raw": "0001", "fg": "0005", "qa": "0008", "ret": "0009",
            "line": "01{:02d}", "shared": "0100"},
    "mnemonic": {"raw": "RM10", "fg": "FG30", "qa": "QI40", "ret": "RT90",
                 "line": "LN{:02d}", "shared": "LN20"},
}
# mnemonic line slocs count from LN21 so the shared code LN20 stays distinct
_LINE_SLOC_OFFSET = {"numeric": 0, "sap": 0, "mnemonic": 20}
ZONE_ALPHABETS = ("ABCDEF", "KLMNPR", "STUVWX")
SPECIAL_ZONES = {"qa": "QA", "ret": "RET"}
LINE_ZONE = "LINE"
PROCESS_STEPS = ("PRE", "ASM", "PCK")  # work centres of the "process" scheme, in line order
_REF_FORMS = {
    "aufnr": ("plain", "padded", "MO"),
    "ebeln": ("plain", "padded", "PO-", "PO"),
    "vbeln": ("plain", "padded", "DN", "DN-"),
}
LOT_FORMS = ("erp", "lower", "prefix", "dash")

# (production windows, working window, clerks' office window) in plant-local hours;
# three shifts are completed by the quiet hour (see `WorldStyle.calendar_windows`)
_SHIFTS = {
    "one_long_day": (((7.0, 21.0),), (6.0, 22.0), (8.0, 18.5)),
    "two_shifts": (((6.0, 22.0),), (5.0, 23.0), (7.0, 20.5)),
}


def variant(key: str, count: int) -> int:
    """A stable choice per key, so one lot or document is always spelled the same way."""
    return zlib.crc32(key.encode()) % count


def share(key: str, fraction: float) -> bool:
    """True for a stable `fraction` of keys."""
    return zlib.crc32(key.encode()) % 10000 < round(fraction * 10000)


def weighted(key: str, weights: tuple[int, ...]) -> int:
    total = sum(weights)
    pick = zlib.crc32(key.encode()) % total
    for index, weight in enumerate(weights):
        if pick < weight:
            return index
        pick -= weight
    raise AssertionError("weights must not all be zero")


@dataclass(frozen=True)
class WorldStyle:
    """Every convention of one demo world; see the module docstring."""

    seed: int
    # 1. codes
    plant_code_first: int  # 1000 (then 2000, 3000…) or e.g. 3100 (then 3200…)
    plant_code_step: int
    sloc_codes: str  # numeric 1001… | sap 0001… | mnemonic RM10/FG30/QI40/RT90/LN20
    zones_per_sloc: int  # storage zones in the raw store and in finished goods
    zone_alphabet: str  # letters those zones take, raw store first
    warehouse_codes: str  # WH01 | WHA
    lines_per_plant: int
    line_codes: str  # L11 | L1-01
    work_centres: str  # generic: WC1101, WC1102 per line | process: PRE01, ASM01, PCK01
    bin_codes: str  # dashed A-11-01-01 | compact 1A03125 | prefixed WHA-A03-1205
    # 2. line-side layout
    line_side: str  # per_line: a storage location per line | shared: one per plant, zone LINE
    # 3. how material reaches the line
    feed: str  # direct: LINE_FEED from the raw store | replenish: MOVE + 311 first
    direct_share: float  # replenish worlds: share of materials still fed from the raw store
    issue_document: str  # per_component | per_order (one multi-line 261 document)
    # 4. how remnants flow
    remnant: str  # to_store: RETURN_RECEIPT + 262 into the raw store | line_side: PUTAWAY + 262
    late_262_share: float  # 262s posted next morning with the return day as budat
    # 5. pseudo-bins
    pseudo_bins: str  # empty: from/to left blank where nothing is stored | filled: dock, truck…
    # 6. shifts and calendar
    shifts: str  # one_long_day 07-21 | two_shifts 06-22 | three_shifts around the clock
    quiet_hour: int  # three_shifts: the hour nothing happens
    shutdown: str  # sundays_holidays | weekends_holidays | seven_day (maintenance stop only)
    maintenance_days: int
    # 7. spellings
    lot_weights: tuple[int, ...]  # WMS lot spellings: ERP form, lower case, LOT- prefix, dash
    lot_dash_at: int  # where the dash goes in the dash spelling
    mes_batch_null_share: float  # MES events whose batch only the barcode says
    mes_raw_scan_share: float  # MES barcodes raw (FNC1 = ASCII 29), the rest bracketed
    wms_raw_scan_share: float  # the same for WMS hand-held scans
    gs1_expiry: bool  # labels carry (17) expiry
    gs1_quantity: str  # measure: (30)/(3103)/(3110) | count_only: (30) on piece goods | none
    order_ref_forms: tuple[str, ...]  # ref_doc of orders: plain, padded (12), MO prefix
    po_ref_forms: tuple[str, ...]  # of POs: plain, padded, PO-, PO
    delivery_ref_forms: tuple[str, ...]  # of deliveries: plain, padded, DN, DN-
    order_number_base: int  # production orders are base + n
    sku_codes: str  # embedded SKU-10001234 | unrelated SKU-7xxxxxxx
    blank_erp_material_share: float  # WMS items linked by GTIN only
    null_gtin_share: float  # ERP materials linked by material number only
    erp_gtin_digits: int  # 13 | 14 (leading 0)
    wms_gtin_digits: int
    mes_gtin_digits: int  # work orders' material
    company_prefix: str
    # 8. units and rounding
    mes_kg_unit: str  # the MES unit of a KG material: kg | g
    entry_unit_share: float  # ERP lines entered in G for a KG material and vice versa
    wms_decimals: int  # handling-unit quantities
    mes_decimals: int
    weighing_loss: tuple[float, float]  # per-material range: share of an issue never weighed
    # 9. outsourcing
    outsourcing_vbeln: bool  # the 541 names a delivery note too
    turnaround: tuple[int, int]  # days at the partner
    # 10. counts
    count_posting: str  # same_day | next_morning | mixed: when the 701/702 follows a count
    # 11. scrap
    scrap_disposal_days: tuple[int, int]

    # ------------------------------------------------------------ codes

    def plant_code(self, number: int) -> str:
        return str(self.plant_code_first + (number - 1) * self.plant_code_step)

    def warehouse_code(self, number: int) -> str:
        return f"WH{number:02d}" if self.warehouse_codes == "WH01" else f"WH{chr(64 + number)}"

    def sloc(self, role: str) -> str:
        return _SLOCS[self.sloc_codes][role]

    def line_sloc(self, line_no: int) -> str:
        """The line-side storage location of a plant's line_no-th line (1-based)."""
        if self.line_side == "shared":
            return _SLOCS[self.sloc_codes]["shared"]
        return _SLOCS[self.sloc_codes]["line"].format(line_no + _LINE_SLOC_OFFSET[self.sloc_codes])

    def zones(self, role: str) -> tuple[str, ...]:
        if role in SPECIAL_ZONES:
            return (SPECIAL_ZONES[role],)
        start = 0 if role == "raw" else self.zones_per_sloc
        return tuple(self.zone_alphabet[start:start + self.zones_per_sloc])

    def line_code(self, number: int, line_no: int) -> str:
        return f"L{number}{line_no}" if self.line_codes == "L11" else f"L{number}-{line_no:02d}"

    def work_centre_codes(self, number: int, line_no: int, global_line: int) -> list[str]:
        """global_line counts lines across plants, so process work centres stay unique."""
        if self.work_centres == "generic":
            return [f"WC{number}{line_no}{wc:02d}" for wc in (1, 2)]
        return [f"{step}{global_line:02d}" for step in PROCESS_STEPS]

    def bin_code(self, number: int, warehouse: str, zone: str, aisle: int, rack: int,
                 level: int) -> str:
        """Unique within the one WMS: the plant number or warehouse leads every code."""
        if self.bin_codes == "dashed":
            return f"{zone}-{number}{aisle}-{rack:02d}-{level:02d}"
        if self.bin_codes == "compact":
            return f"{number}{zone}{aisle:02d}{rack:02d}{level}"
        return f"{warehouse}-{zone}{aisle:02d}-{rack:02d}{level:02d}"

    def dock(self, warehouse: str, direction: str) -> str:
        return f"{warehouse}-DOCK-{direction}"

    # -------------------------------------------------------- spellings

    def ref(self, kind: str, number: str) -> str:
        """A document number as the WMS (or MES) writes it; stable per number."""
        forms = {"aufnr": self.order_ref_forms, "ebeln": self.po_ref_forms,
                 "vbeln": self.delivery_ref_forms}[kind]
        form = forms[variant(number, len(forms))]
        if form == "plain":
            return number
        if form == "padded":
            return number.zfill(12)
        return f"{form}{number}"

    def lot(self, charg: str) -> str:
        form = LOT_FORMS[weighted(charg, self.lot_weights)]
        if form == "erp":
            return charg
        if form == "lower":
            return charg.lower()
        if form == "prefix":
            return f"LOT-{charg}"
        return f"{charg[:self.lot_dash_at]}-{charg[self.lot_dash_at:]}"

    def gtin(self, gtin13: str, system: str) -> str:
        digits = {"erp": self.erp_gtin_digits, "wms": self.wms_gtin_digits,
                  "mes": self.mes_gtin_digits}[system]
        return gtin13.zfill(digits)

    # ---------------------------------------------------------- calendar

    def calendar_windows(self) -> tuple[tuple[tuple[float, float], ...], tuple[float, float],
                                        tuple[float, float]]:
        """(production windows, working window, office window), plant-local hours."""
        if self.shifts != "three_shifts":
            return _SHIFTS[self.shifts]
        q = self.quiet_hour
        return ((1.0, q - 1.0), (q + 1.75, 23.0)), (0.0, 24.0), (q + 2.0, 22.5)

    @property
    def production_windows(self) -> tuple[tuple[float, float], ...]:
        return self.calendar_windows()[0]

    @property
    def office(self) -> tuple[float, float]:
        return self.calendar_windows()[2]

    def working_blocks(self) -> tuple[tuple[float, float], ...]:
        """The spans of the day in which anything happens (three shifts: all but the quiet hour)."""
        if self.shifts == "three_shifts":
            return ((0.05, float(self.quiet_hour)), (self.quiet_hour + 1.0, 24.0))
        return (self.calendar_windows()[1],)

    def off_hours(self) -> tuple[float, float]:
        """Hours in which nobody works: the middle of the night, or the quiet hour."""
        if self.shifts == "three_shifts":
            return (self.quiet_hour + 0.2, self.quiet_hour + 0.8)
        return (2.0, 3.0)

    def late_receipt_hours(self) -> tuple[float, float]:
        """A truck arriving at the end of the working day."""
        if self.shifts == "three_shifts":
            return (23.2, 23.8)
        end = self.calendar_windows()[1][1]
        return (end - 0.8, end - 0.1)

    def is_shutdown_weekday(self, day: date) -> bool:
        if self.shutdown == "seven_day":
            return False
        if self.shutdown == "weekends_holidays":
            return day.weekday() >= 5
        return day.weekday() == 6

    @property
    def observes_holidays(self) -> bool:
        return self.shutdown != "seven_day"

    # ------------------------------------------------------------ record

    def as_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def choices(self) -> dict[str, object]:
        """Every drawn choice (all fields but the seed)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "seed"}


def _subset(rng: random.Random, forms: tuple[str, ...]) -> tuple[str, ...]:
    chosen = set(rng.sample(forms, rng.randint(1, len(forms))))
    return tuple(f for f in forms if f in chosen)


def draw_style(seed: int) -> WorldStyle:
    """The world of a seed: one independent draw per choice, in field order."""
    rng = random.Random(f"style-{seed}")
    thousands = rng.random() < 0.5
    plant_code_first = 1000 if thousands else rng.choice((2100, 3100, 5100, 6100))
    plant_code_step = 1000 if thousands else 100
    sloc_codes = rng.choice(tuple(_SLOCS))
    zones_per_sloc = rng.randint(1, 3)
    zone_alphabet = rng.choice(ZONE_ALPHABETS)
    warehouse_codes = rng.choice(("WH01", "WHA"))
    lines_per_plant = rng.choice((2, 3))
    line_codes = rng.choice(("L11", "L1-01"))
    work_centres = rng.choice(("generic", "process"))
    bin_codes = rng.choice(("dashed", "compact", "prefixed"))
    line_side = rng.choice(("per_line", "shared"))
    feed = rng.choice(("direct", "replenish"))
    direct_share = 1.0 if feed == "direct" else rng.choice((0.0, 0.2, 0.35))
    issue_document = rng.choice(("per_component", "per_order"))
    remnant = rng.choice(("to_store", "line_side"))
    late_262_share = rng.choice((0.0, 0.05, 0.12))
    pseudo_bins = rng.choice(("empty", "filled"))
    shifts = rng.choice(("one_long_day", "two_shifts", "three_shifts"))
    quiet_hour = rng.choice((4, 5))
    shutdown = rng.choice(("sundays_holidays", "weekends_holidays", "seven_day"))
    maintenance_days = rng.randint(1, 3)
    # the ERP form is always in the mix, and at least one other spelling
    lot_weights = [rng.randint(1, 4)] + [rng.choice((0, 1, 2, 4)) for _ in LOT_FORMS[1:]]
    if not any(lot_weights[1:]):
        lot_weights[1 + rng.randrange(len(LOT_FORMS) - 1)] = 1
    lot_dash_at = rng.randint(3, 8)
    mes_batch_null_share = rng.choice((0.05, 0.15, 0.3))
    mes_raw_scan_share = rng.choice((0.25, 0.5, 0.75))
    wms_raw_scan_share = rng.choice((0.25, 0.5, 0.9))
    gs1_expiry = rng.random() < 0.5
    gs1_quantity = rng.choice(("measure", "count_only", "none"))
    order_ref_forms = _subset(rng, _REF_FORMS["aufnr"])
    po_ref_forms = _subset(rng, _REF_FORMS["ebeln"])
    delivery_ref_forms = _subset(rng, _REF_FORMS["vbeln"])
    order_number_base = rng.choice((1000000, 60000000, 73100000))
    sku_codes = rng.choice(("embedded", "unrelated"))
    blank_erp_material_share = rng.choice((0.0, 0.05, 0.1))
    null_gtin_share = rng.choice((0.0, 0.05, 0.1))
    erp_gtin_digits = rng.choice((13, 14))
    wms_gtin_digits = rng.choice((13, 14))
    mes_gtin_digits = rng.choice((13, 14))
    company_prefix = rng.choice(("6901234", "6923450", "69512345"))
    mes_kg_unit = rng.choice(("kg", "g"))
    entry_unit_share = rng.choice((0.03, 0.1, 0.25))
    wms_decimals = rng.choice((2, 3))
    mes_decimals = rng.choice((2, 3))
    weighing_loss = rng.choice(((0.001, 0.002), (0.001, 0.004), (0.002, 0.004)))
    outsourcing_vbeln = rng.random() < 0.5
    turnaround = rng.choice(((2, 4), (3, 12)))
    count_posting = rng.choice(("same_day", "next_morning", "mixed"))
    scrap_disposal_days = rng.choice(((1, 3), (8, 12)))
    return WorldStyle(
        seed=seed, plant_code_first=plant_code_first, plant_code_step=plant_code_step,
        sloc_codes=sloc_codes, zones_per_sloc=zones_per_sloc, zone_alphabet=zone_alphabet,
        warehouse_codes=warehouse_codes, lines_per_plant=lines_per_plant, line_codes=line_codes,
        work_centres=work_centres, bin_codes=bin_codes, line_side=line_side, feed=feed,
        direct_share=direct_share, issue_document=issue_document, remnant=remnant,
        late_262_share=late_262_share, pseudo_bins=pseudo_bins, shifts=shifts,
        quiet_hour=quiet_hour, shutdown=shutdown, maintenance_days=maintenance_days,
        lot_weights=tuple(lot_weights), lot_dash_at=lot_dash_at,
        mes_batch_null_share=mes_batch_null_share, mes_raw_scan_share=mes_raw_scan_share,
        wms_raw_scan_share=wms_raw_scan_share, gs1_expiry=gs1_expiry, gs1_quantity=gs1_quantity,
        order_ref_forms=order_ref_forms, po_ref_forms=po_ref_forms,
        delivery_ref_forms=delivery_ref_forms, order_number_base=order_number_base,
        sku_codes=sku_codes, blank_erp_material_share=blank_erp_material_share,
        null_gtin_share=null_gtin_share, erp_gtin_digits=erp_gtin_digits,
        wms_gtin_digits=wms_gtin_digits, mes_gtin_digits=mes_gtin_digits,
        company_prefix=company_prefix, mes_kg_unit=mes_kg_unit,
        entry_unit_share=entry_unit_share, wms_decimals=wms_decimals, mes_decimals=mes_decimals,
        weighing_loss=weighing_loss, outsourcing_vbeln=outsourcing_vbeln, turnaround=turnaround,
        count_posting=count_posting, scrap_disposal_days=scrap_disposal_days,
    )

