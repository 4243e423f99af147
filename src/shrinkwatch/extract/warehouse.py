"""The warehouse schemas the extractors write into: raw and quarantine, and
the ops tables beside them (their DDL is `shrinkwatch.ops`).

`raw` holds an honest typed copy of every source table (DDL from contracts.py),
`quarantine` one table per source table for rows that failed their contract.
Two derived raw inputs of the dbt unification have fixed DDL here:
`raw.gs1_barcodes` (every barcode seen in MES and WMS, parsed) and
`raw.location_map` (the plant's location map). Everything is `if not exists`,
so each extractor calls `ensure_schemas` before it loads.

A quarantined row carries its `severity` (`contracts.rule_severity`) and stays
open until `resolved_at` and `resolution` are set, by a later load (loader.py)
or by hand (quarantine.py). `ops.quarantine` is the union of every quarantine
table with its system and table name, the one relation readers (dbt, the CLI)
use. `ensure_schemas` upgrades quarantine tables created before severity
existed: it adds the columns and back-fills severity from the rule.
"""

from __future__ import annotations

import hashlib
import logging

import psycopg

from shrinkwatch import ops
from shrinkwatch.contracts import (
    LOCATION_MAP,
    OPS_SCHEMA,
    QUARANTINE_SCHEMA,
    RAW_SCHEMA,
    SEVERITIES,
    TABLES,
    WARNING_RULES,
    SourceTable,
    raw_table_ddl,
)

logger = logging.getLogger(__name__)

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


# Every table with a quarantine table: the contract tables and the location map.
QUARANTINED_TABLES: tuple[SourceTable, ...] = (*TABLES, LOCATION_MAP)
QUARANTINE_VIEW = f"{OPS_SCHEMA}.quarantine"
# The columns of ops.quarantine, in order: a dbt source reads them, keep them stable.
QUARANTINE_VIEW_COLUMNS = (
    "system", "table_name", "load_id", "source_ref", "rule", "severity", "reason", "raw_record",
    "quarantined_at", "resolved_at", "resolution",
)
_SEVERITY_CHECK = "check (severity in ({}))".format(", ".join(f"'{s}'" for s in SEVERITIES))


def quarantine_table(table_name: str) -> str:
    return f"{QUARANTINE_SCHEMA}.{table_name}"


def severity_sql(rule_column: str = "rule") -> str:
    """contracts.rule_severity as a SQL expression over a rule column."""
    warnings = ", ".join(f"'{kind}'" for kind in sorted(WARNING_RULES))
    return f"case when split_part({rule_column}, ':', 1) in ({warnings}) then 'warning' else 'critical' end"


def _quarantine_ddl(table_name: str) -> str:
    return f"""
create table if not exists {quarantine_table(table_name)} (
    load_id bigint not null,
    source_ref text,
    rule text not null,
    severity text not null {_SEVERITY_CHECK},
    reason text not null,
    raw_record jsonb,
    quarantined_at timestamptz not null default now(),
    resolved_at timestamptz,  -- set when a later load or a person resolved the row
    resolution text           -- who or what resolved it
)"""


def _quarantine_index_ddl(table_name: str) -> str:
    return f"""
create index if not exists {table_name}__load on {quarantine_table(table_name)} (load_id);
create index if not exists {table_name}__open on {quarantine_table(table_name)} (source_ref)
    where resolved_at is null"""


def _upgrade_quarantine_table(conn: psycopg.Connection, table_name: str) -> None:
    """Give a quarantine table created before severity existed its new columns,
    severity back-filled from the rule by one update. Checks the catalog first,
    so an up-to-date table is not locked."""
    table = quarantine_table(table_name)
    present = dict(conn.execute(
        """select attname, attnotnull from pg_attribute
           where attrelid = %s::regclass and attnum > 0 and not attisdropped""",
        (table,),
    ).fetchall())
    if {"severity", "resolved_at", "resolution"} <= present.keys() and present["severity"]:
        return
    logger.info("upgrading %s: severity, resolved_at, resolution", table)
    conn.execute(
        f"""alter table {table}
                add column if not exists severity text {_SEVERITY_CHECK},
                add column if not exists resolved_at timestamptz,
                add column if not exists resolution text"""
    )
    conn.execute(f"update {table} set severity = {severity_sql()} where severity is null")
    conn.execute(f"alter table {table} alter column severity set not null")


def _quarantine_view_sql() -> str:
    data = ", ".join(QUARANTINE_VIEW_COLUMNS[2:])
    selects = "\nunion all\n".join(
        f"select '{t.system}'::text as system, '{t.name}'::text as table_name, {data}\n"
        f"from {quarantine_table(t.name)}"
        for t in QUARANTINED_TABLES
    )
    return f"create or replace view {QUARANTINE_VIEW} as\n{selects}"


def _ensure_quarantine_view(conn: psycopg.Connection) -> None:
    """(Re)create ops.quarantine unless it is already this definition (its
    comment carries a hash of the SQL, so readers are not locked out on every
    load). `create or replace` keeps dependent views (the dbt staging model)
    but cannot rename or retype columns; then the view is dropped (with its
    dependants, which the next dbt run rebuilds) and created."""
    sql = _quarantine_view_sql()
    signature = f"shrinkwatch {hashlib.sha256(sql.encode()).hexdigest()[:16]}"
    current = conn.execute("select obj_description(to_regclass(%s), 'pg_class')", (QUARANTINE_VIEW,)).fetchone()
    if current[0] == signature:
        return
    try:
        with conn.transaction():  # a savepoint: a refusal must not abort the DDL transaction
            conn.execute(sql)
    except (psycopg.errors.InvalidTableDefinition, psycopg.errors.FeatureNotSupported) as error:
        logger.warning("%s changed shape (%s): dropping and recreating it", QUARANTINE_VIEW, error)
        conn.execute(f"drop view {QUARANTINE_VIEW} cascade")
        conn.execute(sql)
    conn.execute(f"comment on view {QUARANTINE_VIEW} is '{signature}'")


def ensure_schemas(conn: psycopg.Connection) -> None:
    """Create (or upgrade) every schema, table and view the extractors need,
    the ops tables among them; commits."""
    with conn.transaction():
        # Concurrent extractors (one DAG task per system) must not race on DDL.
        conn.execute("select pg_advisory_xact_lock(hashtext('shrinkwatch.ensure_schemas'))")
        fingerprint = _schema_fingerprint()
        if _schemas_current(conn, fingerprint):
            # The DDL below locks the tables it touches even when there is
            # nothing to do (`create index if not exists` takes a share lock):
            # run beside another extractor's load, it queued behind it or
            # deadlocked with it. A warehouse at this version is left alone.
            return
        for schema in (RAW_SCHEMA, QUARANTINE_SCHEMA, OPS_SCHEMA):
            conn.execute(f"create schema if not exists {schema}")
        for table in TABLES:
            for statement in raw_table_ddl(table).split(";\n"):
                conn.execute(statement)
        for statement in _DERIVED_RAW_DDL.split(";\n"):
            conn.execute(statement)
        for table in QUARANTINED_TABLES:
            conn.execute(_quarantine_ddl(table.name))
            _upgrade_quarantine_table(conn, table.name)
            for statement in _quarantine_index_ddl(table.name).split(";\n"):
                conn.execute(statement)
        ops.ensure_ops_tables(conn)
        _ensure_quarantine_view(conn)
        _record_schema_version(conn, fingerprint)


# What ensure_schemas last built: a digest of the code that defines the DDL
# and the relations it made. The check reads only the catalog and this table.
_SCHEMA_VERSION_DDL = f"""create table if not exists {OPS_SCHEMA}.schema_version (
    fingerprint text not null,
    relations text[] not null,
    applied_at timestamptz not null default now()
)"""


def _schema_fingerprint() -> str:
    """Changes whenever the code that defines the schemas does (the contracts,
    this module, the ops DDL): a warehouse made by other code is upgraded."""
    from pathlib import Path

    from shrinkwatch import contracts

    digest = hashlib.sha256()
    for module in (contracts, ops):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


def _schemas_current(conn: psycopg.Connection, fingerprint: str) -> bool:
    """At this fingerprint, and every relation it made still there (one dropped
    by hand is made again)."""
    if conn.execute(f"select to_regclass('{OPS_SCHEMA}.schema_version')").fetchone()[0] is None:
        return False
    row = conn.execute(f"select fingerprint, relations from {OPS_SCHEMA}.schema_version").fetchone()
    if row is None or row[0] != fingerprint:
        return False
    missing = conn.execute("select count(*) from unnest(%s::text[]) as r where to_regclass(r) is null",
                           (row[1],)).fetchone()[0]
    return missing == 0


def _record_schema_version(conn: psycopg.Connection, fingerprint: str) -> None:
    conn.execute(_SCHEMA_VERSION_DDL)
    conn.execute(f"delete from {OPS_SCHEMA}.schema_version")
    conn.execute(
        f"""insert into {OPS_SCHEMA}.schema_version (fingerprint, relations)
            select %s, array_agg(quote_ident(n.nspname) || '.' || quote_ident(c.relname))
            from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
            where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm')""",
        (fingerprint, [RAW_SCHEMA, QUARANTINE_SCHEMA, OPS_SCHEMA]),
    )
