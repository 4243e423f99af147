"""Row validation against the source contracts.

Every value is parsed per its contract logical type, whatever shape the source
delivered it in: WMS gives strings, ERP gives driver-native objects (or strings
from SQLite), MES gives JSON scalars. A row either comes out as a list of values
ready for COPY into its raw table, or as a `Rejection` naming the rule and the
column and value at fault, so the loader can quarantine it instead of losing it.

Numerics stay decimal strings (no float rounding on the way to PostgreSQL);
ERP local timestamps stay naive and MES epoch milliseconds stay integers, as
`contracts.py` prescribes for an honest raw layer.

A value that parses is one PostgreSQL stores as it is, so a COPY never fails
on a value and one bad record never fails its load: numbers in ASCII digits
within numeric's range (Python's `Decimal` also reads `"١٢"` and `"1e999999"`;
PostgreSQL refuses both), text without NUL or a lone UTF-16 surrogate (a
JSON `"\ud800"`), UTC offsets up to ±15:59:59. Where PostgreSQL reads more than
the contract means (NaN, infinities, hexadecimal numbers) the parser is the
stricter one.

A row whose values all parse is then held to its table's row rules
(`SourceTable.rules`, declared in contracts.py with the reasoning for which
rules quarantine and which are left to the GX warning suites); the first rule
it breaks is its rejection, named e.g. `value_set:bwart` or `gs1_check_digit`.
"No future event" is judged against the load's start time plus a clock-skew
allowance; plant-local ERP values carry no zone, so for them the allowance
also covers the largest UTC offset (+14 h).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from shrinkwatch.contracts import RowRule, SourceTable
from shrinkwatch.extract.gs1 import check_digit_error

# ASCII digits only: `\d` also matches other scripts' digits, which PostgreSQL does not read
_INT_RE = re.compile(r"[+-]?\d+", re.ASCII)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_TIME_RE = re.compile(r"\d{2}:\d{2}:\d{2}(\.\d{1,6})?", re.ASCII)
# PostgreSQL numeric input: decimal notation, `_` allowed between two digits
_DIGITS = r"\d(?:_?\d)*"
_DECIMAL_RE = re.compile(rf"[+-]?(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?", re.ASCII)
# PostgreSQL numeric holds up to 131072 digits before the decimal point and 16383 after it
_NUMERIC_INTEGER_DIGITS = 131_072
_NUMERIC_SCALE = 16_383
# the largest UTC offset PostgreSQL accepts in a timestamptz is 15:59:59
_TZ_OFFSET_LIMIT = timedelta(hours=16)
# half of a UTF-16 pair on its own (JSON "\ud800"): no UTF-8 text, so not PostgreSQL text
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_INT32 = 2**31
_INT64 = 2**63
DEFAULT_CLOCK_SKEW = timedelta(minutes=15)
# No zone is further ahead of UTC: a plant-local value up to this far past UTC
# "now" may still be in the plant's present.
_LARGEST_UTC_OFFSET = timedelta(hours=14)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidValue(ValueError):
    """A value that does not parse as its column's contract type."""


@dataclass(frozen=True, slots=True)
class Rejection:
    rule: str  # e.g. type:numeric, not_null_key
    reason: str


def _blank_to_none(value: object) -> object:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def parse_text(value: object) -> str | None:
    # `__class__ is` checks first: this runs once per value of every row
    if value.__class__ is str:
        text = value.strip()
    elif value is None:
        return None
    else:
        text = value.strip() if isinstance(value, str) else str(value)
    # PostgreSQL text holds neither; better a visible rejection than a failed COPY.
    if "\x00" in text:
        raise InvalidValue("contains a NUL character, which PostgreSQL text cannot hold")
    if not text.isascii() and _LONE_SURROGATE.search(text):
        raise InvalidValue("contains a lone UTF-16 surrogate, which is not text PostgreSQL can hold")
    return text or None


def storable_text(text: str) -> str:
    """`text` as PostgreSQL text can hold it, for a key or a message naming a
    value that was refused: NUL and lone surrogates spelled as escapes."""
    if text.isascii() and "\x00" not in text:
        return text
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _parse_integer(value: object, bound: int) -> int | None:
    if value.__class__ is int:
        number = value
    else:
        value = _blank_to_none(value)
        if value is None:
            return None
        if isinstance(value, bool):
            raise InvalidValue("is a boolean, not an integer")
        if isinstance(value, int):
            number = value
        elif isinstance(value, float | Decimal):
            if value != value or value % 1 != 0:  # NaN, or a fraction
                raise InvalidValue("is not a whole number")
            number = int(value)
        elif isinstance(value, str) and _INT_RE.fullmatch(value):
            number = int(value)
        else:
            raise InvalidValue("is not an integer")
    if not -bound <= number < bound:
        raise InvalidValue("is out of range")
    return number


def parse_int(value: object) -> int | None:
    return _parse_integer(value, _INT32)


def parse_epoch_ms(value: object) -> int | None:
    return _parse_integer(value, _INT64)


def parse_numeric(value: object) -> str | None:
    value = _blank_to_none(value)
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidValue("is a boolean, not a number")
    if isinstance(value, str):
        if not _DECIMAL_RE.fullmatch(value):
            raise InvalidValue(_why_not_decimal(value))
        number = Decimal(value.replace("_", ""))
        text = value  # valid as written; PostgreSQL reads the same decimal
    elif isinstance(value, int | Decimal):
        number = Decimal(value)
        text = str(number)
    elif isinstance(value, float):
        number = Decimal(repr(value))
        text = repr(value)  # shortest round-trip form, not the binary expansion
    else:
        raise InvalidValue("is not a number")
    if not number.is_finite():
        raise InvalidValue("is not a finite number")
    if number and number.adjusted() >= _NUMERIC_INTEGER_DIGITS:
        raise InvalidValue(f"is beyond PostgreSQL numeric's range ({_NUMERIC_INTEGER_DIGITS:,} digits "
                           "before the decimal point)")
    if -number.as_tuple().exponent > _NUMERIC_SCALE:
        raise InvalidValue(f"has more digits after the decimal point than PostgreSQL numeric holds "
                           f"({_NUMERIC_SCALE:,})")
    return text


def _why_not_decimal(text: str) -> str:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return "is not a number"
    if not number.is_finite():
        return "is not a finite number"
    if not text.isascii():
        return "is not a number in ASCII digits, the only digits PostgreSQL reads"
    return "is not a number"


def parse_date(value: object) -> date | None:
    if value.__class__ is date:
        return value
    value = _blank_to_none(value)
    if value is None:
        return None
    if isinstance(value, datetime):
        raise InvalidValue("is a timestamp, not a date")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE_RE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidValue("is not a date YYYY-MM-DD")


def parse_time(value: object) -> time | None:
    if value.__class__ is time:
        return value
    value = _blank_to_none(value)
    if value is None:
        return None
    if isinstance(value, time):
        return value
    if isinstance(value, str) and _TIME_RE.fullmatch(value):
        try:
            return time.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidValue("is not a time HH:MM:SS")


def _parse_iso_timestamp(value: object) -> datetime | None:
    value = _blank_to_none(value)
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidValue("is not an ISO-8601 timestamp")


def parse_timestamp(value: object) -> datetime | None:
    parsed = _parse_iso_timestamp(value)
    if parsed is not None and parsed.tzinfo is not None:
        raise InvalidValue("carries a time zone; ERP times are plant-local without zone")
    return parsed


def parse_timestamptz(value: object) -> datetime | None:
    parsed = _parse_iso_timestamp(value)
    if parsed is None:
        return None
    offset = parsed.utcoffset()
    if offset is None:
        raise InvalidValue("has no time zone (Z or offset)")
    if abs(offset) >= _TZ_OFFSET_LIMIT:
        raise InvalidValue("has a UTC offset beyond ±15:59:59, the largest PostgreSQL accepts")
    return parsed


PARSERS: dict[str, Callable[[object], object]] = {
    "text": parse_text,
    "int": parse_int,
    "numeric": parse_numeric,
    "date": parse_date,
    "time": parse_time,
    "timestamp": parse_timestamp,
    "timestamptz": parse_timestamptz,
    "epoch_ms": parse_epoch_ms,
}


def _shorten(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# A rule's check takes a parsed, non-null value and says what is wrong with it, or None.
Check = Callable[[object], str | None]


def _value_set_check(allowed: tuple[str, ...]) -> Check:
    values = frozenset(allowed)
    listed = ", ".join(allowed)
    return lambda value: None if value in values else f"is not one of {listed}"


def _format_check(pattern: str) -> Check:
    regex = re.compile(pattern)
    return lambda value: None if regex.fullmatch(value) else f"does not match {pattern}"


def _non_negative_check(value: object) -> str | None:
    return "is negative" if Decimal(value) < 0 else None  # numerics are parsed decimal strings


def _not_future_check(column_type: str, latest_utc: datetime) -> Check:
    """`latest_utc`: the load's start plus the clock-skew allowance, aware UTC."""
    latest_local = (latest_utc + _LARGEST_UTC_OFFSET).replace(tzinfo=None)
    latest: object = {
        "date": latest_local.date(),
        "timestamp": latest_local,
        "timestamptz": latest_utc,
        "epoch_ms": (latest_utc - _EPOCH) // timedelta(milliseconds=1),
    }[column_type]
    problem = f"is in the future: after {latest} (load time + clock skew)"
    return lambda value: None if value <= latest else problem


def _check_of(rule: RowRule, column_type: str, latest_utc: datetime) -> Check:
    if rule.kind == "value_set":
        return _value_set_check(rule.allowed)
    if rule.kind == "format":
        (pattern,) = rule.allowed
        return _format_check(pattern)
    if rule.kind == "non_negative":
        return _non_negative_check
    if rule.kind == "not_future":
        return _not_future_check(column_type, latest_utc)
    if rule.kind == "gs1_check_digit":
        return check_digit_error
    raise ValueError(f"unknown row rule kind {rule.kind!r}")


class RowValidator:
    """Parses the contract columns of one source table, in contract order, and
    holds the parsed row to the table's row rules.

    `loaded_at` (aware; default now) plus `clock_skew` is the latest moment a
    source event may carry."""

    def __init__(
        self,
        table: SourceTable,
        *,
        loaded_at: datetime | None = None,
        clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    ):
        self.table = table
        self._names = [c.name for c in table.columns]
        self._types = [c.type for c in table.columns]
        self._parsers = [PARSERS[c.type] for c in table.columns]
        self._key_positions = [table.column_names.index(k) for k in table.key if k not in table.nullable_key]
        latest_utc = (loaded_at or datetime.now(UTC)) + clock_skew
        self._rules = [
            (
                rule.name,
                table.column_names.index(rule.column),
                _check_of(rule, table.column(rule.column).type, latest_utc),
            )
            for rule in table.rules
        ]

    def validate(self, values: Sequence[object]) -> list[object] | Rejection:
        if len(values) != len(self._parsers):
            return Rejection(
                "column_count", f"expected {len(self._parsers)} values, got {len(values)}"
            )
        try:
            parsed = [parse(value) for parse, value in zip(self._parsers, values, strict=True)]
        except InvalidValue:
            return self._find_invalid_value(values)
        for position in self._key_positions:
            if parsed[position] is None:
                return Rejection("not_null_key", f"key column {self._names[position]} is empty")
        for rule_name, position, check in self._rules:
            value = parsed[position]
            if value is not None and (problem := check(value)):
                return Rejection(rule_name, f"{self._names[position]} = {_shorten(value)} {problem}")
        return parsed

    def _find_invalid_value(self, values: Sequence[object]) -> Rejection:
        # the slow path, for rejected rows only: which column, and why
        for name, type_, value in zip(self._names, self._types, values, strict=True):
            try:
                PARSERS[type_](value)
            except InvalidValue as problem:
                return Rejection(f"type:{type_}", f"{name} = {_shorten(value)} {problem}")
        raise AssertionError("a value failed to parse, then parsed")
