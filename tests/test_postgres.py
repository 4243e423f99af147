import psycopg

from shrinkwatch.postgres import PgTarget


def test_embedded_server_serves_a_fresh_database_over_a_socket(warehouse: PgTarget):
    assert warehouse.is_socket
    with psycopg.connect(warehouse.conninfo()) as conn:
        assert conn.execute("select current_database()").fetchone()[0] == warehouse.dbname
        # unix socket only: the server listens on no TCP address at all
        assert conn.execute("show listen_addresses").fetchone()[0] == ""


def test_urls_round_trip_for_socket_hosts():
    target = PgTarget.from_url("postgresql://postgres:pw@localhost/shrinkwatch?host=/tmp/x")
    assert target.host == "/tmp/x" and target.dbname == "shrinkwatch"
    assert PgTarget.from_url(target.sqlalchemy_url()) == target
