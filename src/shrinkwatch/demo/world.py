"""The demo plant's standing world: materials, users, plants, lines and locations.

Everything here is drawn once from the seeded random generator before the first
simulated day, in a fixed order, so the same seed always builds the same world.
How the world is coded and laid out (storage locations, zones, bins, lines,
work centres, SKUs, GTIN forms, calendar) comes from its `WorldStyle`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from shrinkwatch.demo.gs1 import gtin13
from shrinkwatch.demo.style import LINE_ZONE, PLANT_ROLES, WorldStyle, share

# (ERP base unit, WMS handling unit, WMS base unit, ERP base units per handling unit, MES unit)
RAW_UNIT_PROFILES = {
    "KG": ("BAG", "KG", 25.0, "kg"),
    "G": ("BAG", "KG", 20000.0, "g"),  # the WMS keeps grams in kilograms: a 20 KG bag
    "M": ("ROL", "M", 100.0, "m"),
    "EA": ("CS", "EA", 50.0, "pcs"),
}
# materials whose issue is weighed or measured: a small weighing difference is normal
WEIGHED_UNITS = ("KG", "G", "M")

_RAW_KINDS = [
    ("KG", "ROH1", "不锈钢棒材", "Φ{a}×{b}mm 304不锈钢", "{a}x{b}mm SS304"),
    ("KG", "ROH2", "聚丙烯颗粒", "PP T30S 本色", "PP T30S natural"),
    ("G", "ROH3", "色母粒", "色号 {a}{b} 高浓度", "masterbatch {a}{b}"),
    ("G", "ROH4", "导热硅脂", "{a}W/m·K 灰色", "thermal paste {a}W"),
    ("M", "ROH5", "电源线", "RVV 3×{a}mm² 黑色", "RVV 3x{a}mm2 black"),
    ("M", "ROH6", "热缩管", "Φ{a}mm 阻燃", "shrink tube {a}mm"),
    ("EA", "ROH7", "六角螺栓", "M{a}×{b} 8.8级 镀锌", "M{a}x{b} 8.8 zinc"),
    ("EA", "ROH8", "PCB组件", "主控板 V{a}.{b}", "main board v{a}.{b}"),
]
_LIQUIDS = [("液压油", "L-HM {a}", "hydraulic oil {a}"), ("切削液", "乳化型 {a}%", "coolant {a}%")]
_PRODUCTS = [("电热水壶", "1.{a}L 不锈钢", "kettle 1.{a}L"), ("电风扇", "{a}寸 落地", "fan {a}in"),
             ("电饭煲", "{a}L 智能", "rice cooker {a}L"),
             ("吸尘器", "{a}00W 手持", "vacuum {a}00W")]

_SURNAMES = [("ZHANG", "张"), ("WANG", "王"), ("LI", "李"), ("LIU", "刘"), ("CHEN", "陈"),
             ("YANG", "杨"), ("HUANG", "黄"), ("ZHAO", "赵"), ("WU", "吴"), ("ZHOU", "周")]
_GIVEN = [("WEI", "伟"), ("FANG", "芳"), ("NA", "娜"), ("MIN", "敏"), ("JING", "静"),
          ("LEI", "磊"), ("QIANG", "强"), ("YAN", "艳"), ("JUN", "军"), ("TAO", "涛")]

# Chinese public holidays the demo plants observe, as (month, day).
_HOLIDAYS = {(1, 1), (5, 1), (5, 2), (5, 3), (5, 4), (5, 5), (10, 1), (10, 2), (10, 3),
             (10, 4), (10, 5), (10, 6), (10, 7)}

# cost centres that maintenance and released material are issued to (201)
MAINTENANCE_COST_CENTRE, RELEASE_COST_CENTRE = "4100", "4200"
TRUCK = "TRUCK"


@dataclass
class Material:
    matnr: str  # without padding; the ERP stores it zero-padded to 18
    maktx: str
    meins: str
    matkl: str
    spec: str
    wms_spec: str
    gtin: str  # GTIN-13; each system writes it in its own form (`WorldStyle.gtin`)
    critical: bool
    std_price: float
    wms_uom: str
    wms_base_uom: str
    pack_base: float  # ERP base units in one WMS handling unit
    mes_uom: str | None
    kind: str  # raw, liquid or product
    sku: str = ""
    erp_gtin: bool = True  # False: the ERP material master has no GTIN
    wms_erp_material: bool = True  # False: the WMS item leaves erp_material blank
    weighing_loss: float = 0.0  # share of an issue that the line's scales never account for
    direct_feed: bool = True  # replenish worlds: still fed straight from the raw store
    # components with their quantity in base units per finished piece
    bom: list[tuple[Material, float]] = field(default_factory=list)

    @property
    def padded(self) -> str:
        return self.matnr.zfill(18)

    @property
    def units_per_uom(self) -> float:
        """Pack size in the WMS base unit (kilograms for a gram material)."""
        return self.pack_base / 1000 if self.meins == "G" else self.pack_base

    @property
    def mes_factor(self) -> float:
        """MES units per ERP base unit (a KG material the MES weighs in grams: 1000)."""
        return 1000.0 if self.meins == "KG" and self.mes_uom == "g" else 1.0


@dataclass
class User:
    usnam: str
    name: str
    department: str
    werks: str
    wms_user: str | None
    mes_operator: str | None


@dataclass
class Line:
    name: str  # the MES line code
    lgort: str  # its line-side storage location (shared layout: the plant's one)
    work_centers: list[str]
    feed_bin: str  # where LINE_FEED delivers: the line's LINE bin, or the line code itself
    side_bins: list[str]  # line-side storage bins (replenished packs, kept remnants)


@dataclass
class Plant:
    number: int
    werks: str
    warehouse: str
    slocs: dict[str, str]  # role (raw, fg, qa, ret) -> storage location
    zones: dict[str, tuple[str, ...]]  # storage location -> its zones
    lines: list[Line]
    clerks: list[User]
    supervisors: list[User]
    operators: list[User]
    controller: User
    quality: User
    shutdown: set[date]
    style: WorldStyle
    # every real bin and its zone; pseudo-bins name places where nothing is stored
    bin_zone: dict[str, str] = field(default_factory=dict)
    pseudo_bins: set[str] = field(default_factory=set)

    @property
    def RAW(self) -> str:
        return self.slocs["raw"]

    @property
    def FG(self) -> str:
        return self.slocs["fg"]

    @property
    def QA(self) -> str:
        return self.slocs["qa"]

    @property
    def RET(self) -> str:
        return self.slocs["ret"]

    @property
    def line_slocs(self) -> list[str]:
        return list(dict.fromkeys(line.lgort for line in self.lines))

    def make_bin(self, zone: str, aisle: int, rack: int, level: int) -> str:
        code = self.style.bin_code(self.number, self.warehouse, zone, aisle, rack, level)
        self.bin_zone[code] = zone
        return code

    def bin_for(self, rng: random.Random, lgort: str) -> str:
        zone = rng.choice(self.zones[lgort])
        aisle, rack, level = rng.randint(1, 9), rng.randint(1, 20), rng.randint(1, 5)
        return self.make_bin(zone, aisle, rack, level)

    def dock(self, direction: str) -> str:
        return self.style.dock(self.warehouse, direction)

    @property
    def users(self) -> list[User]:
        return self.clerks + self.supervisors + self.operators + [self.controller, self.quality]


@dataclass
class World:
    style: WorldStyle
    materials: list[Material]
    plants: list[Plant]
    vendors: list[str]
    subcontractors: list[str]

    @property
    def raw(self) -> list[Material]:
        return [m for m in self.materials if m.kind == "raw"]

    @property
    def liquids(self) -> list[Material]:
        return [m for m in self.materials if m.kind == "liquid"]

    @property
    def products(self) -> list[Material]:
        return [m for m in self.materials if m.kind == "product"]


def _material(style, number, kind, meins, matkl, maktx, spec, wms_spec, critical, price):
    if kind == "liquid":
        wms_uom, wms_base, pack, mes = "EA", "L", 200.0, None
    elif kind == "product":
        wms_uom, wms_base, pack, mes = "CS", "EA", 10.0, "pcs"
    else:
        wms_uom, wms_base, pack, mes = RAW_UNIT_PROFILES[meins]
        if meins == "KG":
            mes = style.mes_kg_unit
    return Material(
        matnr=str(10000000 + number), maktx=maktx, meins=meins, matkl=matkl, spec=spec,
        wms_spec=wms_spec, gtin=gtin13(style.company_prefix, number), critical=critical,
        std_price=price, wms_uom=wms_uom, wms_base_uom=wms_base, pack_base=pack, mes_uom=mes,
        kind=kind,
    )


def _link_and_code(rng: random.Random, style: WorldStyle, materials: list[Material]) -> None:
    """SKU codes, the master-data links each system keeps, feeding and weighing."""
    unrelated = rng.sample(range(1000000, 9999999), len(materials))
    for material, number in zip(materials, unrelated, strict=True):
        material.sku = (f"SKU-{material.matnr}" if style.sku_codes == "embedded"
                        else f"SKU-7{number:07d}")
        # a material loses at most one link, never both: GTIN or material number remains
        if share(f"gtin/{material.matnr}", style.null_gtin_share):
            material.erp_gtin = False
        elif share(f"item/{material.matnr}", style.blank_erp_material_share):
            material.wms_erp_material = False
        if material.kind == "raw":
            material.direct_feed = share(f"feed/{material.matnr}", style.direct_share)
            if material.meins in WEIGHED_UNITS:
                material.weighing_loss = round(rng.uniform(*style.weighing_loss), 5)


def build_materials(rng: random.Random, style: WorldStyle, scale: float) -> list[Material]:
    materials: list[Material] = []
    raw_count = max(12, round(900 * scale))
    for index in range(raw_count):
        meins, matkl, name, spec, wms_spec = _RAW_KINDS[index % len(_RAW_KINDS)]
        a, b = rng.randint(2, 30), rng.randint(10, 200)
        price = {"KG": 18.0, "G": 0.35, "M": 6.5, "EA": 1.2}[meins] * rng.uniform(0.5, 3.0)
        materials.append(_material(
            style, 1000 + index, "raw", meins, matkl, f"{name}{a}", spec.format(a=a, b=b),
            wms_spec.format(a=a, b=b), critical=index % 5 == 3, price=round(price, 4),
        ))
    for index, (name, spec, wms_spec) in enumerate(_LIQUIDS):
        a = rng.randint(32, 68)
        materials.append(_material(
            style, 5000 + index, "liquid", "L", "HIBE", name, spec.format(a=a),
            wms_spec.format(a=a), critical=False, price=round(rng.uniform(15, 40), 4),
        ))
    raw = [m for m in materials if m.kind == "raw"]
    for index in range(max(4, round(250 * scale))):
        name, spec, wms_spec = _PRODUCTS[index % len(_PRODUCTS)]
        a = rng.randint(2, 9)
        product = _material(
            style, 8000 + index, "product", "EA", "FERT", f"{name}{a}", spec.format(a=a),
            wms_spec.format(a=a), critical=False, price=round(rng.uniform(80, 400), 4),
        )
        # one component of each unit family keeps every MES unit in use
        families = {}
        for component in rng.sample(raw, len(raw)):
            families.setdefault(component.meins, component)
        for component in list(families.values())[: rng.randint(3, 4)]:
            usage = {"KG": 0.35, "G": 12.0, "M": 1.5, "EA": 4.0}[component.meins]
            product.bom.append((component, round(usage * rng.uniform(0.5, 1.5), 3)))
        materials.append(product)
    _link_and_code(rng, style, materials)
    return materials


def _shutdown_days(rng: random.Random, style: WorldStyle, first_day: date,
                   last_day: date) -> set[date]:
    span = max(0, (last_day - first_day).days - style.maintenance_days)
    maintenance_start = first_day + timedelta(days=rng.randint(0, span))
    shutdown = {maintenance_start + timedelta(days=i) for i in range(style.maintenance_days)}
    day = first_day
    while day <= last_day:
        if style.is_shutdown_weekday(day) or (
                style.observes_holidays and (day.month, day.day) in _HOLIDAYS):
            shutdown.add(day)
        day += timedelta(days=1)
    return shutdown


def _lines(style: WorldStyle, plant: Plant, first_global_line: int) -> list[Line]:
    lines = []
    shared_bins = ([plant.make_bin(LINE_ZONE, aisle, rack, 1)
                    for aisle in (1, 2) for rack in (1, 2, 3, 4)]
                   if style.line_side == "shared" else [])
    for line_no in range(1, style.lines_per_plant + 1):
        name = style.line_code(plant.number, line_no)
        centers = style.work_centre_codes(plant.number, line_no, first_global_line + line_no - 1)
        plant.pseudo_bins.add(name)
        if style.line_side == "shared":
            feed_bin, side_bins = name, shared_bins
        else:
            # the line's own storage location: its feed point and a few storage bins
            feed_bin = plant.make_bin(LINE_ZONE, line_no, 1, 1)
            side_bins = [plant.make_bin(LINE_ZONE, line_no, rack, 1) for rack in (2, 3, 4)]
        lines.append(Line(name, style.line_sloc(line_no), centers, feed_bin, side_bins))
    return lines


def build_plants(
    rng: random.Random, style: WorldStyle, plant_count: int, first_day: date, last_day: date,
    subcontractors: list[str],
) -> list[Plant]:
    plants = []
    names = [(s, g) for s in _SURNAMES for g in _GIVEN]
    rng.shuffle(names)
    for number in range(1, plant_count + 1):
        werks = style.plant_code(number)

        def user(department, wms=False, mes=False, _werks=werks, _number=number):
            (s_py, s_cn), (g_py, g_cn) = names.pop()
            usnam = f"{s_py}{g_py}{_number}"[:12]
            return User(
                usnam, s_cn + g_cn, department, _werks,
                f"wms{_number}_{s_py.lower()}{g_py[0].lower()}" if wms else None,
                f"OP{_number}{len(names):04d}" if mes else None,
            )

        slocs = {role: style.sloc(role) for role in PLANT_ROLES}
        plant = Plant(
            number=number, werks=werks, warehouse=style.warehouse_code(number), slocs=slocs,
            zones={slocs[role]: style.zones(role) for role in PLANT_ROLES}, lines=[],
            clerks=[user("仓库", wms=True) for _ in range(3)],
            supervisors=[user("生产", wms=True, mes=True) for _ in range(2)],
            operators=[user("生产", mes=True) for _ in range(4)],
            controller=user("财务", wms=True), quality=user("质量"),
            shutdown=_shutdown_days(rng, style, first_day, last_day), style=style,
        )
        plant.lines = _lines(style, plant, (number - 1) * style.lines_per_plant + 1)
        plant.pseudo_bins |= {plant.dock("IN"), plant.dock("OUT"), TRUCK,
                              f"CC-{MAINTENANCE_COST_CENTRE}", f"CC-{RELEASE_COST_CENTRE}",
                              *subcontractors}
        plants.append(plant)
    return plants


def build_world(rng: random.Random, style: WorldStyle, scale: float, plant_count: int,
                first_day: date, last_day: date) -> World:
    materials = build_materials(rng, style, scale)
    vendors = [f"{100001 + i:010d}" for i in range(6)]
    subcontractors = [f"{300001 + i:010d}" for i in range(max(2, math.ceil(plant_count * 1.5)))]
    plants = build_plants(rng, style, plant_count, first_day, last_day, subcontractors)
    return World(style, materials, plants, vendors, subcontractors)
