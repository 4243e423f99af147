-- The Airflow metadata database lives beside the warehouse on the same server.
create database airflow owner shrinkwatch;
