"""MES → raw. Pages through the MES API (connection `shrinkwatch_mes`, type http,
password = bearer token) from each resource's `updated_since` watermark,
retrying 429/5xx, and upserts into `raw.mes_*` (the newest version of an item
wins)."""

from shrinkwatch.airflow.dags import extract_dag

dag = extract_dag("mes", doc_md=__doc__)
