"""ERP → raw. Reads every contract table of the ERP database (any SQLAlchemy
dialect, connection `shrinkwatch_erp`, extra `sqlalchemy_url`) incrementally by
`(cpudt, cputm)` / `changed_at` watermarks with a lookback, upserts into
`raw.erp_*`, and records each load in `ops.load_ledger`."""

from shrinkwatch.airflow.dags import extract_dag

dag = extract_dag("erp", doc_md=__doc__)
