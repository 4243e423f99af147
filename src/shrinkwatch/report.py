"""The run report: what was loaded, what was quarantined, what the marts hold.

Read straight from the warehouse, so the demo, the transform DAG's last task
and a user's `shrinkwatch report` all print the same figures.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg

from shrinkwatch.extract.warehouse import QUARANTINE_VIEW
from shrinkwatch.settings import mask_secrets

LEDGER_TOTALS = """
select system,
       -- a replay is a load too, and its rows are in the sums below
       count(*) filter (where status in ('loaded', 'replayed')) as loads,
       count(*) filter (where status like 'skipped%%')       as skipped,
       count(*) filter (where status = 'refused_empty')      as refused,
       count(*) filter (where status = 'failed')             as failed,
       coalesce(sum(rows_read), 0)                          as rows_read,
       coalesce(sum(rows_loaded), 0)                        as rows_loaded,
       coalesce(sum(rows_quarantined), 0)                   as rows_quarantined,
       coalesce(sum(retries), 0)                            as retries
from ops.load_ledger
group by system
order by system
"""

# Empty reads refused because they would have erased rows (an ERP snapshot
# table, a WMS day): the rows kept may be stale, so a person should look.
REFUSED_LOADS = """
select system, table_name, file_name, count(*) as loads, max(finished_at) as last_at,
       (array_agg(message order by load_id desc))[1] as message
from ops.load_ledger
where status = 'refused_empty'
group by system, table_name, file_name
order by system, table_name, file_name
"""

# The newest transform run: were its marts published, or blocked and why.
LAST_PUBLISH_RUN = """
select run_id, started_at, finished_at, status, reason
from ops.publish_runs
order by finished_at desc
limit 1
"""

# Open quarantined rows per severity: open critical ones block the publish.
OPEN_QUARANTINE = f"""
select severity, count(*)
from {QUARANTINE_VIEW}
where resolved_at is null
group by severity
"""

# The unification holes of the published marts: movements no master data or
# map attaches, per system, table, attachment and reason.
UNATTACHED = """
select source_system, source_table, attachment, reason, movement_count, movement_total, example_keys
from marts.fct_unattached_movements
order by source_system, source_table, attachment, reason
"""

# Cases and findings per case type in the published marts.
CASES_BY_TYPE = """
select case_type, count(*) filter (where is_material) as cases, count(*) as findings,
       coalesce(round(sum(value_at_risk) filter (where is_material), 2), 0) as value_at_risk
from marts.fct_finding
group by case_type
order by case_type
"""

RELATION_COUNTS = """
select table_schema, table_name
from information_schema.tables
where table_schema = any(%s)
order by table_schema, table_name
"""


def _jsonable(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def collect(conninfo: str, schemas: tuple[str, ...] = ("raw", "quarantine", "staging", "marts")) -> dict:
    with psycopg.connect(conninfo) as conn:
        ledger = _rows(conn, LEDGER_TOTALS)
        refused = _rows(conn, REFUSED_LOADS)
        relations: dict[str, dict[str, int]] = {}
        for schema, table in conn.execute(RELATION_COUNTS, (list(schemas),)).fetchall():
            count = conn.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
            relations.setdefault(schema, {})[table] = count
        unconserved = conn.execute("select count(*) from ops.load_conservation").fetchone()[0]
        open_quarantine = {"critical": 0, "warning": 0} | dict(conn.execute(OPEN_QUARANTINE).fetchall())
        publish = next(iter(_rows(conn, LAST_PUBLISH_RUN)), None)
        published = relations.get("marts", {})
        unattached = _rows(conn, UNATTACHED) if "fct_unattached_movements" in published else None
        cases = _rows(conn, CASES_BY_TYPE) if "fct_finding" in published else None
    return {
        "ledger": ledger,
        "refused_loads": refused,
        "relations": relations,
        "unconserved_loads": unconserved,
        "open_quarantine": open_quarantine,
        "publish": publish,
        "cases_by_type": cases,
        "unattached_movements": unattached,
    }


def _rows(conn: psycopg.Connection, query: str) -> list[dict]:
    cur = conn.execute(query)
    names = [c.name for c in cur.description]
    return [{n: _jsonable(v) for n, v in zip(names, row, strict=True)} for row in cur]


def write(summary: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # a blocked run's reason or a failed load's error may quote a source URL
    path.write_text(mask_secrets(json.dumps(summary, indent=2, sort_keys=True)) + "\n")
    return path


def format_text(summary: dict) -> str:
    lines = ["Loads (ops.load_ledger):"]
    lines.append(f"  {'system':6} {'loads':>6} {'skipped':>7} {'refused':>7} {'failed':>6} {'read':>9} "
                 f"{'loaded':>9} {'quarant.':>8} {'retries':>7}")
    for row in summary["ledger"]:
        lines.append(
            f"  {row['system']:6} {row['loads']:>6} {row['skipped']:>7} {row['refused']:>7} {row['failed']:>6} "
            f"{row['rows_read']:>9} {row['rows_loaded']:>9} {row['rows_quarantined']:>8} {row['retries']:>7}"
        )
    refused = summary.get("refused_loads") or []
    if refused:
        lines.append("  Refused empty reads (WARNING: the previous rows were kept; check the source):")
        lines.extend(
            f"    {r['system']} {r['table_name']}{' ' + r['file_name'] if r['file_name'] else ''}: "
            f"{r['loads']}x, last at {r['last_at']}: {r['message']}"
            for r in refused
        )
    verdict = "holds" if summary["unconserved_loads"] == 0 else f"BROKEN in {summary['unconserved_loads']} loads"
    lines.append(f"  row conservation (read = loaded + quarantined): {verdict}")
    open_rows = summary["open_quarantine"]
    lines.append(
        f"  open quarantined rows: {open_rows['critical']} critical (block the publish), {open_rows['warning']} warning"
        + ("; see `shrinkwatch quarantine list --open`" if open_rows["critical"] or open_rows["warning"] else "")
    )
    publish = summary.get("publish")
    if publish is None:
        lines.append("Marts: no transform run recorded yet (ops.publish_runs)")
    elif publish["status"] == "published":
        lines.append(f"Marts: published by run {publish['run_id']} at {publish['finished_at']}")
    else:
        lines.append(f"Marts: run {publish['run_id']} BLOCKED: {publish['reason']}")
    cases = summary.get("cases_by_type")
    if cases is not None:
        lines.append("Cases (marts.fct_case; findings below materiality stay in marts.fct_finding):")
        lines.append(f"  {'case type':22} {'cases':>6} {'findings':>8} {'value at risk':>14}")
        lines.extend(f"  {c['case_type']:22} {c['cases']:>6} {c['findings']:>8} {c['value_at_risk']:>14}"
                     for c in cases)
        if not cases:
            lines.append("  no finding")
    unattached = summary.get("unattached_movements")
    if unattached is not None:
        lines.append("Unattached movements (marts.fct_unattached_movements):")
        lines.extend(
            f"  {u['source_system']} {u['source_table']}: {u['movement_count']} of {u['movement_total']} "
            f"without {u['attachment']} ({u['reason']}), e.g. {u['example_keys']}"
            for u in unattached
        )
        if not unattached:
            lines.append("  none: every movement is attached to its material, unit, location, order and batch")
    for schema, tables in summary["relations"].items():
        if schema == "quarantine":
            tables = {t: n for t, n in tables.items() if n}
            if not tables:
                lines.append("Quarantine: empty")
                continue
        lines.append(f"{schema.capitalize()}:")
        lines.extend(f"  {schema}.{table}: {count} rows" for table, count in tables.items())
    return mask_secrets("\n".join(lines))
