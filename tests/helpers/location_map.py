"""Location map files as a plant keeps them."""

from __future__ import annotations

from pathlib import Path

from shrinkwatch.demo.plant import LOCATION_MAP_COLUMNS

HEADER = ",".join(LOCATION_MAP_COLUMNS)
ZONE_ROW = "1000,0001,WH01,A,,,原材料库 A区"
LINE_ZONE_ROW = "1000,0100,WH01,LINE,,,线边库 L1"
LINE_ROW = "1000,0100,,,L1,WC10,产线 L1 工作中心 WC10"


def write(path: Path, lines: list[str], *, header: str = HEADER, bom: bool = True) -> Path:
    path.write_bytes(("\ufeff" if bom else "").encode() + "\r\n".join([header, *lines, ""]).encode("utf-8"))
    return path
