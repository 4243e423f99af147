"""A checkpoint run's results: flattened (`outcomes`), stored in
`ops.dq_results` (`record_results`) and, on failure, described
(`failure_message`) for the on-call engineer.

What a result is about (its table, system, severity and quality dimension) is
read from the meta that context.py wrote into the suite and the expectation,
not derived from names: a result means what the committed context says.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from shrinkwatch.ops import DQ_RESULTS

RESULTS_TABLE = DQ_RESULTS
SAMPLE_SIZE = 10


@dataclass(frozen=True)
class Outcome:
    """One expectation's result, flattened for the failure message and `ops.dq_results`."""

    suite: str
    table_name: str
    validated_schema: str  # where the table was read (a mart's shadow)
    system: str
    expectation: str
    description: str | None  # what a SQL expectation checks
    column_name: str | None
    severity: str
    dimension: str
    success: bool
    observed_value: str | None
    unexpected_count: int | None
    element_count: int | None
    sample: list
    query: str | None  # an UnexpectedRowsExpectation's SQL

    def describe(self) -> str:
        column = f" column {self.column_name}" if self.column_name else ""
        counts = f" ({self.unexpected_count} of {self.element_count} rows)" if self.unexpected_count else ""
        observed = f" observed {self.observed_value}" if self.observed_value is not None else ""
        description = f" ({self.description})" if self.description else ""
        return (f"{self.table_name} [{self.suite}]: {self.expectation}{description}{column}{counts}{observed}; "
                f"sample {self.sample}")


def outcomes(checkpoint_result) -> list[Outcome]:
    """Every expectation result of a checkpoint run (SUMMARY result format)."""
    # a suite's validation result does not carry the suite's meta: its checkpoint's definitions do
    suite_meta = {d.suite.name: d.suite.meta for d in checkpoint_result.checkpoint_config.validation_definitions}
    rows = []
    for run in checkpoint_result.run_results.values():
        meta = suite_meta[run.suite_name]
        for result in run.results:
            config = result.expectation_config
            details = result.result or {}
            # UnexpectedRowsExpectation reports its rows under details, the others a value sample
            sample = details.get("partial_unexpected_list") or (details.get("details") or {}).get("unexpected_rows")
            observed = details.get("observed_value")
            if observed is None:
                observed = _exception_message(result.exception_info)
            rows.append(Outcome(
                suite=run.suite_name,
                table_name=meta["table"],
                validated_schema=meta["validated_schema"],
                system=meta["system"],
                expectation=config.type,
                description=config.description,
                column_name=config.kwargs.get("column"),
                severity=meta["severity"],
                dimension=config.meta["dimension"],
                success=bool(result.success),
                observed_value=None if observed is None else str(observed),
                unexpected_count=details.get("unexpected_count"),
                element_count=details.get("element_count"),
                sample=list(sample or [])[:SAMPLE_SIZE],
                query=config.kwargs.get("unexpected_rows_query"),
            ))
    return rows


def _exception_message(exception_info: dict) -> str | None:
    """An expectation that could not be evaluated (a broken query) fails: say why."""
    infos = [exception_info, *exception_info.values()] if exception_info else []
    messages = [i["exception_message"] for i in infos if isinstance(i, dict) and i.get("exception_message")]
    return messages[0].splitlines()[0] if messages else None


def failure_message(checkpoint_name: str, checkpoint_result, conninfo: str | None = None) -> str:
    """Names, per failed expectation, the table, the expectation, its column
    and a sample of the offending values: what an on-call engineer needs.
    With a conninfo, a failed SQL expectation's sample rows are fetched too."""
    failed = [o for o in outcomes(checkpoint_result) if not o.success]
    if conninfo:
        failed = [replace(o, sample=_sample_rows(o, conninfo)) if o.query and not o.sample else o for o in failed]
    lines = [f"GX checkpoint {checkpoint_name}: {len(failed)} expectation(s) failed"]
    lines += [f"  - {o.describe()}" for o in failed]
    return "\n".join(lines)


def _sample_rows(outcome: Outcome, conninfo: str) -> list:
    """GX's SUMMARY format keeps no rows of an UnexpectedRowsExpectation (and
    COMPLETE would keep every unexpected value of every expectation): rerun
    its query for a few rows, substituting `{batch}` the way GX does."""
    import psycopg

    table = f"{outcome.validated_schema}.{outcome.table_name}"
    query = outcome.query.format(batch=f"(select * from {table}) as subselect")
    try:
        with psycopg.connect(conninfo) as conn:
            return [tuple(row) for row in conn.execute(f"select * from ({query}) as unexpected limit {SAMPLE_SIZE}")]
    except psycopg.Error as error:  # the failure itself may be the broken query
        return [f"query failed: {error}".splitlines()[0]]


def record_results(checkpoint_name: str, checkpoint_result, conninfo: str) -> int:
    """Append one `ops.dq_results` row per expectation of the run (the BI
    history of data quality); returns the number of rows written."""
    import psycopg

    run_at = checkpoint_result.run_id.run_time
    run_id = str(checkpoint_result.run_id.run_name or run_at.isoformat())
    rows = [
        (run_id, run_at, checkpoint_name, o.suite, o.table_name, o.system, o.expectation, o.description,
         o.column_name, o.severity, o.dimension, o.success, o.observed_value, o.unexpected_count, o.element_count)
        for o in outcomes(checkpoint_result)
    ]
    with psycopg.connect(conninfo) as conn, conn.cursor() as cursor:
        cursor.executemany(
            f"""insert into {RESULTS_TABLE} (run_id, run_at, checkpoint, suite, table_name, system, expectation,
                description, column_name, severity, dimension, success, observed_value, unexpected_count,
                element_count)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            rows,
        )
    return len(rows)
