"""The ops schema: what shrinkwatch records about its own runs.

`ops.load_ledger` holds one row per load attempt (written by
extract/ledger.py), `ops.dq_results` one row per validated expectation
(quality/results.py), `ops.publish_runs` one row per transform run
(publish.py) and `ops.transform_leases` one row per transform run that held
raw, at most one of them unreleased (locks.py); the view `ops.load_conservation` must stay empty. The view
`ops.quarantine` is not here: it is the union of the quarantine tables and
lives with them (extract/warehouse.py).

`ensure_ops_tables` creates them `if not exists` and upgrades in place a
`dq_results` created before `dimension` existed and a `load_ledger` whose
status check predates a status or that lacks `replay_of`.
"""

from __future__ import annotations

import logging

import psycopg

from shrinkwatch.contracts import OPS_SCHEMA

logger = logging.getLogger(__name__)

LEDGER = f"{OPS_SCHEMA}.load_ledger"
# refused_empty: a read with no row that would have erased rows (a WMS day, an
# ERP full table) was not applied; the previous rows stay. replayed: the
# quarantined records of an earlier load judged again (`shrinkwatch quarantine
# replay`); not a read of the source, so no watermark moves and no file counts as seen
LOAD_STATUSES = ("loaded", "skipped_duplicate", "skipped_superseded", "refused_empty", "replayed", "failed")
_STATUS_CHECK = "check (status in ({}))".format(", ".join(f"'{s}'" for s in LOAD_STATUSES))
PUBLISH_RUNS = f"{OPS_SCHEMA}.publish_runs"
DQ_RESULTS = f"{OPS_SCHEMA}.dq_results"
TRANSFORM_LEASES = f"{OPS_SCHEMA}.transform_leases"
PUBLISH_STATUSES = ("published", "blocked")
# What a data-quality check judges (the meta.dimension of every GX expectation)
DIMENSIONS = ("completeness", "validity", "uniqueness", "timeliness", "consistency")
_DIMENSION_CHECK = "check (dimension in ({}))".format(", ".join(f"'{d}'" for d in DIMENSIONS))

# Every row read is either loaded or quarantined: this view must stay empty. The
# loader counts each side on its own (extract/loader.py), so a lost row shows here.
_CONSERVATION_VIEW = f"""create or replace view {OPS_SCHEMA}.load_conservation as
select * from {LEDGER}
where rows_read <> rows_loaded + rows_quarantined"""

_DDL = f"""
create table if not exists {LEDGER} (
    load_id bigserial primary key,
    system text not null,
    table_name text,
    file_name text,
    file_checksum text,
    watermark_from text,
    watermark_to text,
    status text not null {_STATUS_CHECK},
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
    message text,
    -- a replay (status replayed): the load that first read the records it read again
    replay_of bigint
);
create index if not exists load_ledger__table on {LEDGER} (system, table_name, status);
create index if not exists load_ledger__checksum on {LEDGER} (file_checksum);
-- One row per expectation per GX checkpoint run (shrinkwatch.quality.results.record_results):
-- the history a BI tool charts data quality from.
create table if not exists {DQ_RESULTS} (
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
    dimension text not null {_DIMENSION_CHECK}, -- the expectation's meta.dimension
    success boolean not null,
    observed_value text,
    unexpected_count bigint,
    element_count bigint
);
create index if not exists dq_results__run_at on {DQ_RESULTS} (run_at);
{_CONSERVATION_VIEW};
-- One row per transform run: were its marts published, or blocked and why
-- (shrinkwatch/publish.py).
create table if not exists {PUBLISH_RUNS} (
    run_id text primary key,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    status text not null check (status in ({", ".join(f"'{s}'" for s in PUBLISH_STATUSES)})),
    reason text
);
-- One row per transform run that held raw (shrinkwatch/locks.py): loads wait
-- while a lease is unreleased and unexpired; at most one is unreleased.
create table if not exists {TRANSFORM_LEASES} (
    run_id text primary key,
    acquired_at timestamptz not null,
    renewed_at timestamptz not null,
    expires_at timestamptz not null,
    released_at timestamptz,  -- null while the run holds raw
    release text              -- by its report, or broken by a load once expired
);
create unique index if not exists transform_leases__one_holder on {TRANSFORM_LEASES} ((true))
where released_at is null;
"""

# How the rows written before `dimension` existed are classified: as
# fct_daily_data_quality classified them then, from the expectation type and a
# SQL expectation's description.
_DIMENSION_OF_OLD_ROWS = """
case
    when expectation = 'expect_column_values_to_not_be_null' then 'completeness'
    when expectation in ('expect_column_values_to_be_unique', 'expect_compound_columns_to_be_unique')
        then 'uniqueness'
    when expectation = 'unexpected_rows_expectation' and description like 'time window:%' then 'timeliness'
    when expectation = 'unexpected_rows_expectation' then 'consistency'
    else 'validity'
end"""


def _has_column(conn: psycopg.Connection, table: str, column: str) -> bool:
    """Read from the catalog, so that an up-to-date table is not locked."""
    return conn.execute(
        """select exists (select from pg_attribute
                          where attrelid = %s::regclass and attname = %s and not attisdropped)""",
        (table, column),
    ).fetchone()[0]


def _upgrade_dq_results(conn: psycopg.Connection) -> None:
    """Give a dq_results created before `dimension` existed the column, its
    rows classified by one update."""
    if _has_column(conn, DQ_RESULTS, "dimension"):
        return
    logger.info("upgrading %s: dimension", DQ_RESULTS)
    conn.execute(f"alter table {DQ_RESULTS} add column dimension text {_DIMENSION_CHECK}")
    conn.execute(f"update {DQ_RESULTS} set dimension = {_DIMENSION_OF_OLD_ROWS}")
    conn.execute(f"alter table {DQ_RESULTS} alter column dimension set not null")


def _upgrade_load_statuses(conn: psycopg.Connection) -> None:
    """Let a ledger created before a status existed accept every one of
    LOAD_STATUSES; reads the catalog first, so an up-to-date table is not locked."""
    definition = conn.execute(
        """select pg_get_constraintdef(oid) from pg_constraint
           where conrelid = %s::regclass and conname = 'load_ledger_status_check'""",
        (LEDGER,),
    ).fetchone()
    if definition and all(f"'{s}'" in definition[0] for s in LOAD_STATUSES):
        return
    logger.info("upgrading %s: statuses %s", LEDGER, ", ".join(LOAD_STATUSES))
    conn.execute(
        f"alter table {LEDGER} drop constraint if exists load_ledger_status_check, "
        f"add constraint load_ledger_status_check {_STATUS_CHECK}"
    )


def _upgrade_load_ledger_columns(conn: psycopg.Connection) -> None:
    """Give a ledger created before replays existed its `replay_of` column."""
    if _has_column(conn, LEDGER, "replay_of"):
        return
    logger.info("upgrading %s: replay_of", LEDGER)
    conn.execute(f"alter table {LEDGER} add column replay_of bigint")
    conn.execute(_CONSERVATION_VIEW)  # its `select *` was expanded without the column


def ensure_ops_tables(conn: psycopg.Connection) -> None:
    """Create (or upgrade) the ops schema's tables and views, in the caller's transaction."""
    conn.execute(f"create schema if not exists {OPS_SCHEMA}")
    for statement in _DDL.split(";\n"):
        if statement.strip():
            conn.execute(statement)
    _upgrade_dq_results(conn)
    _upgrade_load_statuses(conn)
    _upgrade_load_ledger_columns(conn)
