"""The kinds of check a suite is made of: one GX expectation each, with its
severity and the quality dimension it judges.

A suite (suites.py) lists checks built by the functions here, so that each
kind of rule (not null, unique, a value set, a format, a time window, a SQL
query for offending rows) is written once, and so is the dimension it counts
under in `ops.dq_results` and `fct_daily_data_quality`. Column types are not
checked here: the staging models' enforced dbt contracts hold them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shrinkwatch.ops import DIMENSIONS

# Sane time window: nothing before the plant's systems went live, nothing in the
# future (a posting "tomorrow" is a clock or keying error, not an event).
EARLIEST = "2000-01-01"


@dataclass(frozen=True)
class Check:
    expectation: str  # GX expectation class name
    kwargs: dict
    dimension: str  # one of ops.DIMENSIONS, written to the expectation's meta
    severity: str = "critical"

    def __post_init__(self) -> None:
        if self.dimension not in DIMENSIONS:
            raise ValueError(f"{self.expectation}: unknown quality dimension {self.dimension!r}")


def ordered_columns(*columns: str) -> Check:
    return Check("ExpectTableColumnsToMatchOrderedList", {"column_list": list(columns)}, "validity")


def not_null(*columns: str, severity: str = "critical") -> tuple[Check, ...]:
    return tuple(Check("ExpectColumnValuesToNotBeNull", {"column": c}, "completeness", severity) for c in columns)


def unique(*columns: str, severity: str = "critical") -> Check:
    if len(columns) == 1:
        return Check("ExpectColumnValuesToBeUnique", {"column": columns[0]}, "uniqueness", severity)
    return Check("ExpectCompoundColumnsToBeUnique", {"column_list": list(columns)}, "uniqueness", severity)


def in_set(column: str, values: Sequence, severity: str = "critical") -> Check:
    return Check("ExpectColumnValuesToBeInSet", {"column": column, "value_set": list(values)}, "validity", severity)


def regex(column: str, regex: str, severity: str = "critical") -> Check:
    return Check("ExpectColumnValuesToMatchRegex", {"column": column, "regex": regex}, "validity", severity)


def between(column: str, min_value: float, max_value: float | None = None, severity: str = "critical") -> Check:
    bounds = {"min_value": min_value} if max_value is None else {"min_value": min_value, "max_value": max_value}
    return Check("ExpectColumnValuesToBeBetween", {"column": column, **bounds}, "validity", severity)


def at_least_zero(*columns: str, severity: str = "critical") -> tuple[Check, ...]:
    return tuple(between(c, 0, severity=severity) for c in columns)


def rows(description: str, query: str, severity: str = "critical", dimension: str = "consistency") -> Check:
    """A SQL expectation: the query returns the offending rows. GX Core 1.x
    has no cross-table expectation. GX substitutes `{batch}` with an aliased
    subquery of the validated table: never alias it again."""
    return Check("UnexpectedRowsExpectation",
                 {"description": description, "unexpected_rows_query": " ".join(query.split())}, dimension, severity)


def in_time_window(*columns: str, severity: str = "critical") -> Check:
    """No timestamp before EARLIEST or in the future (one day of clock skew allowed)."""
    outside = " or ".join(
        f"{c} < timestamp '{EARLIEST}' or {c} > now() + interval '1 day'" for c in columns
    )
    return rows(f"time window: {', '.join(columns)} between {EARLIEST} and now",
                f"select * from {{batch}} where {outside}",
                severity, dimension="timeliness")


def material_in_master(column: str = "material_number", severity: str = "critical") -> Check:
    return rows(
        f"every {column} exists in the ERP material master",
        f"""select * from {{batch}} where {column} not in
            (select material_number from staging.stg_erp__materials where material_number is not null)""",
        severity,
    )


def same_count(description: str, query: str) -> Check:
    """Row conservation: `query` returns one row per count that differs."""
    return rows(description, query)
