"""GS1 barcodes as data: parse one element string with biip, judge its check digits.

The MES reports what a line consumed, scrapped, returned or sent out by the
barcode on the pack, and WMS tasks carry the barcode their hand-held scanned:
a GS1 element string, either bracketed (`(01)06901234567892(10)B2604120A7(30)25`)
or raw with FNC1 as ASCII 29. `parse_barcode` gives its GTIN, batch and count
(the `raw.gs1_barcodes` row, loaded by `barcodes.py`); `check_digit_error` is
the MES row rule `gs1_check_digit` (validation.py). Pure functions: no
database, no I/O.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal

from biip import ParseError
from biip.gs1_messages import GS1Message
from biip.symbology import SymbologyIdentifier

# the AIs whose value is a count of trade items: (30) variable count, (37) count in a logistic unit
COUNT_AIS = ("30", "37")


@dataclass(frozen=True, slots=True)
class ParsedBarcode:
    barcode: str
    is_valid: bool
    gtin: str | None = None
    batch: str | None = None
    quantity: Decimal | None = None
    error: str | None = None


def _message(barcode: str) -> GS1Message:
    value = barcode.strip()
    if value.startswith("]"):  # a scanner's symbology identifier, e.g. ]C1 or ]d2
        value = value[len(SymbologyIdentifier.extract(value)) :]
    if value.lstrip().startswith("("):
        return GS1Message.parse_hri(value)
    return GS1Message.parse(value)


def parse_barcode(barcode: str) -> ParsedBarcode:
    """One barcode as a `raw.gs1_barcodes` row; never raises on bad input."""
    try:
        message = _message(barcode)
    except (ParseError, ValueError) as problem:
        return ParsedBarcode(barcode, False, error=f"not a GS1 element string: {problem}")
    elements = message.element_strings
    if not elements:
        return ParsedBarcode(barcode, False, error="not a GS1 element string: no element found")

    def first(*ais: str):
        return next((e for ai in ais for e in elements if e.ai.ai == ai), None)

    gtin, batch, count = first("01"), first("10"), first(*COUNT_AIS)
    gtin_errors = _gtin_errors(message)
    return ParsedBarcode(
        barcode,
        is_valid=not gtin_errors,
        gtin=gtin.value if gtin else None,  # as printed, even with a wrong check digit
        batch=batch.value if batch else None,
        quantity=Decimal(count.value) if count else None,
        error="; ".join(gtin_errors) or None,
    )


def _gtin_errors(message: GS1Message) -> list[str]:
    # biip validates the check digit of every GTIN-bearing AI: (01), (02), (03)
    return [f"({e.ai.ai}) {e.gtin_error}" for e in message.element_strings if e.gtin_error]


@functools.lru_cache(maxsize=65536)  # the same pack barcode is scanned many times
def check_digit_error(barcode: str) -> str | None:
    """biip's reason when a GS1 barcode carries a GTIN with a wrong check digit,
    else None. A barcode that is not GS1 at all is not judged here: it loads,
    and staging reports it as a data-quality defect."""
    try:
        return "; ".join(_gtin_errors(_message(barcode))) or None
    except (ParseError, ValueError):
        return None
