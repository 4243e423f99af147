"""raw → staging → contracts → marts. Runs the dbt project through Astronomer
Cosmos (one `dbt build` task per layer, tests included), validates staging with the
Great Expectations checkpoint in `expectations/` (a failed critical expectation,
an open critical quarantined row among them, fails the run before any mart is
built), builds intermediate in place and the marts into `marts__shadow`,
checks them there and swaps them in atomically (a blocked run leaves the last
good marts in place), and writes the run report and its publish status
(`ops.publish_runs`). Scheduled on the raw Assets of the three extract DAGs."""

from shrinkwatch.airflow.dags import transform_dag

dag = transform_dag(doc_md=__doc__)
