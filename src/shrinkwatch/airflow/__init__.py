"""The Airflow adapters: the DAG definitions (`dags`), what their tasks do
(`tasks`), the recorded GX checkpoint operator (`gx_operator`), and the id of
every DAG and task (`ids`). Everything below this package knows nothing of
Airflow and is tested without it."""
