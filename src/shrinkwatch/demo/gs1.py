"""GS1 identifiers as the demo plant prints them on pack labels.

MES scanners and WMS hand-helds read the same labels in two renderings: the
human-readable form with bracketed application identifiers, and the raw scan
where a variable-length field is closed by FNC1 (ASCII 29).
"""

from __future__ import annotations

from datetime import date

FNC1 = chr(29)

# Application identifiers whose value has a fixed length need no separator after them.
_FIXED_LENGTH_AIS = {"01", "17", "3103", "3110"}


def gtin_check_digit(payload: str) -> int:
    """Mod-10 check digit of a GTIN payload (all digits but the last)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(payload)))
    return (10 - total % 10) % 10


def gtin13(company_prefix: str, item_reference: int) -> str:
    payload = f"{company_prefix}{item_reference:0{12 - len(company_prefix)}d}"
    return payload + str(gtin_check_digit(payload))


def pack_elements(gtin: str, batch: str, pack_qty: float, mes_uom: str, *,
                  expiry: date | None = None, quantity: str = "measure") -> list[tuple[str, str]]:
    """The elements of a pack label: GTIN, expiry if printed, batch and the pack content.

    `pack_qty` is the pack content in `mes_uom`; `quantity` says which content
    AIs the plant's labels print: `measure` ((30) count, (3103) net kilograms,
    (3110) metres), `count_only` ((30) on piece goods only) or `none`.
    """
    elements = [("01", gtin.zfill(14))]
    if expiry is not None:
        elements.append(("17", expiry.strftime("%y%m%d")))
    elements.append(("10", batch))
    if quantity == "none" or (quantity == "count_only" and mes_uom != "pcs"):
        return elements
    if mes_uom == "pcs":
        elements.append(("30", str(int(pack_qty))))
    elif mes_uom in ("kg", "g"):
        kilograms = pack_qty / 1000 if mes_uom == "g" else pack_qty
        elements.append(("3103", f"{round(kilograms * 1000):06d}"))
    else:
        elements.append(("3110", f"{round(pack_qty):06d}"))
    return elements


def bracketed(elements: list[tuple[str, str]]) -> str:
    return "".join(f"({ai}){value}" for ai, value in elements)


def raw_scan(elements: list[tuple[str, str]]) -> str:
    parts = []
    for index, (ai, value) in enumerate(elements):
        last = index == len(elements) - 1
        separator = "" if last or ai in _FIXED_LENGTH_AIS else FNC1
        parts.append(f"{ai}{value}{separator}")
    return "".join(parts)
