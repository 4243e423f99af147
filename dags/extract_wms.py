"""WMS → raw. Loads every new CSV export in the landing directory (connection
`shrinkwatch_wms`, type fs, extra `path`): a file seen before is skipped, a
later `_<seq>` replaces its day's earlier export, undecodable or malformed rows
go to `quarantine.wms_*` with their reason."""

from shrinkwatch.airflow.dags import extract_dag

dag = extract_dag("wms", doc_md=__doc__)
