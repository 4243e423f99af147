"""The demo plant's standing world: materials, users, plants, lines and locations.

Everything here is drawn once from the seeded random generator before the first
simulated day, in a fixed order, so the same seed always builds the same world.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from shrinkwatch.demo.gs1 import gtin13

COMPANY_PREFIX = "6901234"

# (ERP base unit, WMS handling unit, WMS base unit, ERP base units per handling unit, MES unit)
RAW_UNIT_PROFILES = {
    "KG": ("BAG", "KG", 25.0, "kg"),
    "G": ("BAG", "KG", 20000.0, "g"),  # the WMS keeps grams in kilograms: a 20 KG bag
    "M": ("ROL", "M", 100.0, "m"),
    "EA": ("CS", "EA", 50.0, "pcs"),
}

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


@dataclass
class Material:
    matnr: str  # without padding; the ERP stores it zero-padded to 18
    maktx: str
    meins: str
    matkl: str
    spec: str
    wms_spec: str
    gtin: str
    critical: bool
    std_price: float
    wms_uom: str
    wms_base_uom: str
    pack_base: float  # ERP base units in one WMS handling unit
    mes_uom: str | None
    kind: str  # raw, liquid or product
    # components with their quantity in base units per finished piece
    bom: list[tuple[Material, float]] = field(default_factory=list)

    @property
    def padded(self) -> str:
        return self.matnr.zfill(18)

    @property
    def sku(self) -> str:
        return f"SKU-{self.matnr}"

    @property
    def units_per_uom(self) -> float:
        """Pack size in the WMS base unit (kilograms for a gram material)."""
        return self.pack_base / 1000 if self.meins == "G" else self.pack_base

    def to_wms_qty(self, base_qty: float) -> float:
        return round(base_qty / self.pack_base, 3)


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
    name: str
    lgort: str
    work_centers: list[str]
    bin: str


@dataclass
class Plant:
    number: int
    werks: str
    warehouse: str
    lines: list[Line]
    clerks: list[User]
    supervisors: list[User]
    operators: list[User]
    controller: User
    quality: User
    shutdown: set[date]

    # storage locations: raw store, finished goods, quality inspection, returns
    RAW, FG, QA, RET = "1001", "1002", "1003", "1004"
    ZONES = {"1001": ("A", "B", "C"), "1002": ("D", "E", "F"), "1003": ("QA",), "1004": ("RET",)}

    def bin_for(self, rng: random.Random, lgort: str) -> str:
        zone = rng.choice(self.ZONES[lgort])
        # the plant number leads the aisle, so bin codes stay unique across warehouses
        aisle, rack, level = rng.randint(1, 9), rng.randint(1, 20), rng.randint(1, 5)
        return f"{zone}-{self.number}{aisle}-{rack:02d}-{level:02d}"

    @property
    def users(self) -> list[User]:
        return self.clerks + self.supervisors + self.operators + [self.controller, self.quality]


@dataclass
class World:
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


def _material(rng, number, kind, meins, matkl, maktx, spec, wms_spec, critical, price):
    if kind == "liquid":
        wms_uom, wms_base, pack, mes = "EA", "L", 200.0, None
    elif kind == "product":
        wms_uom, wms_base, pack, mes = "CS", "EA", 10.0, "pcs"
    else:
        wms_uom, wms_base, pack, mes = RAW_UNIT_PROFILES[meins]
    return Material(
        matnr=str(10000000 + number), maktx=maktx, meins=meins, matkl=matkl, spec=spec,
        wms_spec=wms_spec, gtin=gtin13(COMPANY_PREFIX, number), critical=critical,
        std_price=price, wms_uom=wms_uom, wms_base_uom=wms_base, pack_base=pack, mes_uom=mes,
        kind=kind,
    )


def build_materials(rng: random.Random, scale: float) -> list[Material]:
    materials: list[Material] = []
    raw_count = max(12, round(900 * scale))
    for index in range(raw_count):
        meins, matkl, name, spec, wms_spec = _RAW_KINDS[index % len(_RAW_KINDS)]
        a, b = rng.randint(2, 30), rng.randint(10, 200)
        price = {"KG": 18.0, "G": 0.35, "M": 6.5, "EA": 1.2}[meins] * rng.uniform(0.5, 3.0)
        materials.append(_material(
            rng, 1000 + index, "raw", meins, matkl, f"{name}{a}", spec.format(a=a, b=b),
            wms_spec.format(a=a, b=b), critical=index % 5 == 3, price=round(price, 4),
        ))
    for index, (name, spec, wms_spec) in enumerate(_LIQUIDS):
        a = rng.randint(32, 68)
        materials.append(_material(
            rng, 5000 + index, "liquid", "L", "HIBE", name, spec.format(a=a),
            wms_spec.format(a=a), critical=False, price=round(rng.uniform(15, 40), 4),
        ))
    raw = [m for m in materials if m.kind == "raw"]
    for index in range(max(4, round(250 * scale))):
        name, spec, wms_spec = _PRODUCTS[index % len(_PRODUCTS)]
        a = rng.randint(2, 9)
        product = _material(
            rng, 8000 + index, "product", "EA", "FERT", f"{name}{a}", spec.format(a=a),
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
    return materials


def build_plants(
    rng: random.Random, plant_count: int, first_day: date, last_day: date
) -> list[Plant]:
    plants = []
    names = [(s, g) for s in _SURNAMES for g in _GIVEN]
    rng.shuffle(names)
    for number in range(1, plant_count + 1):
        werks = f"{number}000"

        def user(department, wms=False, mes=False, _werks=werks):
            (s_py, s_cn), (g_py, g_cn) = names.pop()
            usnam = f"{s_py}{g_py}{_werks[0]}"[:12]
            return User(
                usnam, s_cn + g_cn, department, _werks,
                f"wms{_werks[0]}_{s_py.lower()}{g_py[0].lower()}" if wms else None,
                f"OP{_werks[0]}{len(names):04d}" if mes else None,
            )

        lines = []
        for line_no in (1, 2):
            name = f"L{number}{line_no}"
            centers = [f"WC{number}{line_no}{wc:02d}" for wc in (1, 2)]
            lines.append(Line(name, f"11{line_no:02d}", centers, f"LINE-{number}{line_no}-01-01"))
        span = max(0, (last_day - first_day).days - 2)
        maintenance_start = first_day + timedelta(days=rng.randint(0, span))
        shutdown = {maintenance_start, maintenance_start + timedelta(days=1)}
        day = first_day
        while day <= last_day:
            if day.weekday() == 6 or (day.month, day.day) in _HOLIDAYS:
                shutdown.add(day)
            day += timedelta(days=1)
        plants.append(Plant(
            number=number, werks=werks, warehouse=f"WH{number:02d}", lines=lines,
            clerks=[user("仓库", wms=True) for _ in range(3)],
            supervisors=[user("生产", wms=True, mes=True) for _ in range(2)],
            operators=[user("生产", mes=True) for _ in range(4)],
            controller=user("财务", wms=True), quality=user("质量"), shutdown=shutdown,
        ))
    return plants


def build_world(rng: random.Random, scale: float, plant_count: int, first_day: date,
                last_day: date) -> World:
    materials = build_materials(rng, scale)
    plants = build_plants(rng, plant_count, first_day, last_day)
    vendors = [f"{100001 + i:010d}" for i in range(6)]
    subcontractors = [f"{300001 + i:010d}" for i in range(max(2, math.ceil(plant_count * 1.5)))]
    return World(materials, plants, vendors, subcontractors)
