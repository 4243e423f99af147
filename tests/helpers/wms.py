"""WMS export files, written into a test's landing directory."""

from __future__ import annotations

from pathlib import Path

TASK_HEADER = (
    "task_id,task_type,sku,lot,from_bin,to_bin,qty,uom,ref_doc,created_at,confirmed_at,"
    "confirmed_by,device_id,scanned_barcode"
)
STOCK_HEADER = "snapshot_at,warehouse,zone,bin,sku,lot,qty,uom,status"
ITEM_HEADER = "sku,erp_material,gtin,description,uom,units_per_uom,base_uom,spec"


def task(task_id: str, qty: str = "2") -> str:
    return (
        f"{task_id},PICK,SKU-10001234,LOT-B2604120A7,A-01-02-03,LINE-01,{qty},BAG,"
        "000001000123,2026-04-12T01:23:45Z,2026-04-12T01:40:00Z,wms.li,RF-07,"
    )


def stock(bin_code: str, qty: str) -> str:
    return f"2026-04-12T16:00:00Z,WH01,A,{bin_code},SKU-10001234,b2604120a7,{qty},BAG,AVAILABLE"


def csv_bytes(header: str, lines: list[str], encoding="utf-8") -> bytes:
    """An export as the WMS writes it: the header, then one CRLF-terminated line per record."""
    return "\r\n".join([header, *lines, ""]).encode(encoding)


def write(landing: Path, name: str, header: str, lines: list[str], encoding="utf-8") -> Path:
    path = landing / name
    path.write_bytes(csv_bytes(header, lines, encoding))
    return path
