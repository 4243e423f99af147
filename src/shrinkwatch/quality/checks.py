"""The kinds of check a suite is made of: one GX expectation each, with its severity.

A suite (suites.py) lists checks built by the functions here, so that each
kind of rule (not null, unique, a value set, a format, a time window, a SQL
query for offending rows) is written once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Sane time window: nothing before the plant's systems went live, nothing in the
# future (a posting "tomorrow" is a clock or keying error, not an event).
EARLIEST = "2000-01-01"
# fct_daily_data_quality counts a SQL expectation whose description starts so
# under timeliness, every other one under consistency.
TIMELINESS_PREFIX = "time window: "


@dataclass(frozen=True)
class Check:
    expectation: str  # GX expectation class name
    kwargs: dict
    severity: str = "critical"


# `name:TYPE` items cannot hold a space
PG_TYPE_NAMES = {"TIMESTAMPTZ": "timestamp with time zone"}


def column_types(schema: str, table: str, columns: list[list[str]]) -> Check:
    """One SQL expectation per table for the column types, not one
    ExpectColumnValuesToBeOfType per column: GX's per-expectation overhead
    made those ~200 expectations most of a staging checkpoint's time. An
    offending row names the column, its contract type and its actual type."""
    expected = " union all ".join(
        f"select '{name}' as column_name, '{PG_TYPE_NAMES.get(type_, type_.lower())}' as contract_type"
        for name, type_ in columns
    )
    # GX wants every query to name its batch: the last branch does, and never returns a row
    return rows(
        f"schema: column types of {schema}.{table}",
        f"""select contract.column_name, contract.contract_type, actual.data_type as actual_type
            from ({expected}) as contract
            left join information_schema.columns as actual
                on actual.table_schema = '{schema}' and actual.table_name = '{table}'
                and actual.column_name = contract.column_name
            where actual.data_type is distinct from contract.contract_type
            union all select null, null, null from {{batch}} where false""",
    )


def not_null(*columns: str, severity: str = "critical") -> tuple[Check, ...]:
    return tuple(Check("ExpectColumnValuesToNotBeNull", {"column": c}, severity) for c in columns)


def unique(*columns: str, severity: str = "critical") -> Check:
    if len(columns) == 1:
        return Check("ExpectColumnValuesToBeUnique", {"column": columns[0]}, severity)
    return Check("ExpectCompoundColumnsToBeUnique", {"column_list": list(columns)}, severity)


def in_set(column: str, values: Sequence[str], severity: str = "critical") -> Check:
    return Check("ExpectColumnValuesToBeInSet", {"column": column, "value_set": list(values)}, severity)


def regex(column: str, regex: str, severity: str = "critical") -> Check:
    return Check("ExpectColumnValuesToMatchRegex", {"column": column, "regex": regex}, severity)


def at_least_zero(*columns: str, severity: str = "critical") -> tuple[Check, ...]:
    return tuple(Check("ExpectColumnValuesToBeBetween", {"column": c, "min_value": 0}, severity) for c in columns)


def rows(description: str, query: str, severity: str = "critical") -> Check:
    """A SQL expectation: the query returns the offending rows. GX Core 1.x
    has no cross-table expectation. GX substitutes `{batch}` with an aliased
    subquery of the validated table: never alias it again."""
    return Check("UnexpectedRowsExpectation",
                 {"description": description, "unexpected_rows_query": " ".join(query.split())}, severity)


def in_time_window(*columns: str, severity: str = "critical") -> Check:
    """No timestamp before EARLIEST or in the future (one day of clock skew allowed)."""
    outside = " or ".join(
        f"{c} < timestamp '{EARLIEST}' or {c} > now() + interval '1 day'" for c in columns
    )
    return rows(f"{TIMELINESS_PREFIX}{', '.join(columns)} between {EARLIEST} and now",
                 f"select * from {{batch}} where {outside}",
                 severity)


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
