"""The warehouse schemas the extractors write into: raw, quarantine and ops.

`raw` holds an honest typed copy of every source table (DDL from contracts.py),
`quarantine` one table per source table for rows that failed their contract,
`ops.load_ledger` one row per load attempt, `ops.dq_results` one row per
validated expectation and `ops.publish_runs` one row per transform run. Two
derived raw inputs of the
dbt unification have fixed DDL here: `raw.gs1_barcodes` (every barcode seen in
MES and WMS, parsed) and `raw.location_map` (the plant's location map). Everything is `if not exists`,
so each extractor calls `ensure_schemas` before it loads.
"""

from __future__ import annotations

import psycopg

from shrinkwatch.contracts import (
    LOCATION_MAP,
    OPS_SCHEMA,
    QUARANTINE_SCHEMA,
    RAW_SCHEMA,
    TABLES,
    raw_table_ddl,
)

LEDGER = f"{OPS_SCHEMA}.load_ledger"
LOAD_STATUSES = ("loaded", "skipped_duplicate", "skipped_superseded", "failed")
PUBLISH_RUNS = f"{OPS_SCHEMA}.publish_runs"
PUBLISH_STATUSES = ("published", "blocked")

_LEDGER_DDL = f"""
create table if not exists {LEDGER} (
    load_id bigserial primary key,
    system text not null,
    table_name text,
    file_name text,
    file_checksum text,
    watermark_from text,
    watermark_to text,
    status text not null check (status in ({", ".join(f"'{s}'" for s in LOAD_STATUSES)})),
    rows_read bigint not null default 0,
    rows_loaded bigint not null default 0,
    rows_quarantined bigint not null default 0,
    rows_inserted bigint not null default 0,
    rows_updated bigint not null default 0,
    rows_unchanged bigint not null default 0,
    rows_deleted bigint not null default 0,
    retries int not null default 0,
    started_at timestamptz not null,
    finished_at timestamptz,
    duration_s numeric,
    message text
);
create index if not exists load_ledger__table on {LEDGER} (system, table_name, status);
create index if not exists load_ledger__checksum on {LEDGER} (file_checksum);
-- One row per expectation per GX checkpoint run (shrinkwatch.quality.record_results):
-- the history a BI tool charts data quality from.
create table if not exists {OPS_SCHEMA}.dq_results (
    run_id text not null,
    run_at timestamptz not null,
    checkpoint text not null,
    suite text not null,
    table_name text not null,
    system text not null,
    expectation text not null, -- GX type, e.g. expect_column_values_to_be_unique
    description text,          -- what a SQL expectation (unexpected_rows_expectation) checks
    column_name text,
    severity text not null check (severity in ('critical', 'warning')),
    success boolean not null,
    observed_value text,
    unexpected_count bigint,
    element_count bigint
);
create index if not exists dq_results__run_at on {OPS_SCHEMA}.dq_results (run_at);
-- Every row read is either loaded or quarantined: this view must stay empty.
create or replace view {OPS_SCHEMA}.load_conservation as
select * from {LEDGER}
where rows_read <> rows_loaded + rows_quarantined;
-- One row per transform run: were its marts published, or blocked and why
-- (shrinkwatch/publish.py).
create table if not exists {PUBLISH_RUNS} (
    run_id text primary key,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    status text not null check (status in ({", ".join(f"'{s}'" for s in PUBLISH_STATUSES)})),
    reason text
);
"""


# Fixed DDL: the dbt models are written against exactly these two tables.
_DERIVED_RAW_DDL = f"""
create table if not exists {RAW_SCHEMA}.gs1_barcodes (
    barcode text primary key,  -- exactly as the source gave it (bracketed, or raw with ASCII 29 as FNC1)
    is_valid boolean not null, -- parsed, and every GTIN check digit valid
    gtin text,                 -- AI (01) as 14 digits
    batch text,                -- AI (10) as printed
    quantity numeric,          -- AI (30) or (37) count, when present
    error text,                -- why parsing or validation failed (null when valid)
    _load_id bigint
);
create table if not exists {RAW_SCHEMA}.{LOCATION_MAP.name} (
    werks text, lgort text, warehouse text, zone text, mes_line text, mes_work_center text, description text,
    _load_id bigint
)"""


def quarantine_table(table_name: str) -> str:
    return f"{QUARANTINE_SCHEMA}.{table_name}"


def _quarantine_ddl(table_name: str) -> str:
    return f"""
create table if not exists {quarantine_table(table_name)} (
    load_id bigint not null,
    source_ref text,
    rule text not null,
    reason text not null,
    raw_record jsonb,
    quarantined_at timestamptz not null default now()
);
create index if not exists {table_name}__load on {quarantine_table(table_name)} (load_id)"""


def ensure_schemas(conn: psycopg.Connection) -> None:
    """Create every schema, table and view the extractors need; commits."""
    with conn.transaction():
        # Concurrent extractors (one DAG task per system) must not race on DDL.
        conn.execute("select pg_advisory_xact_lock(hashtext('shrinkwatch.ensure_schemas'))")
        for schema in (RAW_SCHEMA, QUARANTINE_SCHEMA, OPS_SCHEMA):
            conn.execute(f"create schema if not exists {schema}")
        for table in TABLES:
            for statement in raw_table_ddl(table).split(";\n"):
                conn.execute(statement)
            for statement in _quarantine_ddl(table.name).split(";\n"):
                conn.execute(statement)
        for statement in _DERIVED_RAW_DDL.split(";\n"):
            conn.execute(statement)
        for statement in _quarantine_ddl(LOCATION_MAP.name).split(";\n"):
            conn.execute(statement)
        for statement in _LEDGER_DDL.split(";\n"):
            if statement.strip():
                conn.execute(statement)
