"""Marts as `dbt build` leaves them in the shadow schema, and as the publish swap serves them."""

from __future__ import annotations

import psycopg

from shrinkwatch import publish

SHADOW = publish.SHADOW_SCHEMAS["marts"]


def build_shadow(conninfo: str, cases: list[str]) -> None:
    """What `dbt build` of the marts leaves: tables in the shadow schema."""
    publish.reset_shadow(conninfo)
    with psycopg.connect(conninfo) as conn:
        conn.execute(f"create schema {SHADOW}")
        conn.execute(f"create table {SHADOW}.fct_case (case_id text primary key)")
        for case_id in cases:
            conn.execute(f"insert into {SHADOW}.fct_case values (%s)", (case_id,))


def published_cases(conninfo: str, schema: str = "marts") -> list[str]:
    with psycopg.connect(conninfo) as conn:
        return [r[0] for r in conn.execute(f"select case_id from {schema}.fct_case order by 1")]
