"""`shrinkwatch airflow up` / `down`: the real Airflow scheduler, locally.

Starts Airflow's api-server (UI and REST API on 127.0.0.1), scheduler,
dag-processor and triggerer on the warehouse's PostgreSQL with the
LocalExecutor, or with the CeleryExecutor and N Celery workers (and a Redis
broker on 127.0.0.1 with a password, unless a broker is configured). Every
process runs detached in a process group of its own, its pid recorded in
`$SHRINKWATCH_HOME/airflow/services/`, so that `down` stops exactly those.

The Airflow settings the services share with docker-compose.yml (executor,
broker URL, result backend, execution API URL) are built by the functions
below; tests/test_configuration.py checks that the compose file says the same.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from shrinkwatch.settings import BIN_DIR, Settings

log = logging.getLogger(__name__)

EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
DEFAULT_PORT = 8080
UI_USER = "admin"
HEALTH_TIMEOUT = 180.0  # seconds: a cold start of every component on a busy 2-core machine
STOP_TIMEOUT = 30.0

# Set for each Celery worker `up` starts, read by `worker_hostname`: the name
# its tasks report as their hostname (the REST API's task instance `hostname`).
WORKER_NAME_VARIABLE = "SHRINKWATCH_WORKER_NAME"
WORKER_HOSTNAME_CALLABLE = "shrinkwatch.scheduler.worker_hostname"


# --- the settings compose and the local services share ----------------------------


def execution_api_url(api_host: str, api_port: int) -> str:
    """Where task workers reach the api-server's Execution API."""
    return f"http://{api_host}:{api_port}/execution/"


def redis_broker_url(host: str, port: int, password: str) -> str:
    return f"redis://:{quote(password, safe='')}@{host}:{port}/0"


def celery_env(broker_url: str, metadata_url: str) -> dict[str, str]:
    """The CeleryExecutor with its results in the Airflow metadata database."""
    return {
        "AIRFLOW__CORE__EXECUTOR": EXECUTORS["celery"],
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url,
    }


def redis_config(port: int, password: str, directory: Path) -> str:
    """redis-server's configuration, handed over on its stdin (a password on
    its command line would show in `ps` to every user): loopback only, no
    persistence (the broker only carries queued task messages)."""
    return "\n".join([
        "bind 127.0.0.1",
        "protected-mode yes",
        f"port {port}",
        f"requirepass {password}",
        f"dir {directory}",
        'save ""',
        "appendonly no",
        "daemonize no",
        "",
    ])


def worker_hostname() -> str:
    """Airflow's `hostname_callable` for the Celery workers `up` starts: on one
    machine every worker has the same host name, so each reports its own name."""
    name = os.environ.get(WORKER_NAME_VARIABLE, "").strip()
    return f"{name}@{socket.gethostname()}" if name else socket.getfqdn()


# --- processes ---------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    env: dict[str, str]
    stdin: str | None = None  # written to the process's stdin, then closed


def services_dir(settings: Settings) -> Path:
    return settings.home / "airflow" / "services"


def _record(settings: Settings, name: str) -> Path:
    return services_dir(settings) / f"{name}.json"


def _started_at(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat):
    with the pid, it names one process (a pid is reused once its process is
    gone, and its title changes as Airflow's components rename themselves)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _alive(pid: int, started_at: str) -> bool:
    return _started_at(pid) == started_at and _state(pid) not in ("Z", None)


def running_services(settings: Settings) -> dict[str, int]:
    """name -> pid of every recorded service still running."""
    found = {}
    for record in sorted(services_dir(settings).glob("*.json")):
        info = json.loads(record.read_text())
        if _alive(info["pid"], info["started_at"]):
            found[record.stem] = info["pid"]
    return found


def _start(settings: Settings, service: Service) -> subprocess.Popen:
    directory = services_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    log = (directory / f"{service.name}.log").open("ab")
    executable = service.command[0]
    command = [executable if executable.startswith("/") else str(BIN_DIR / executable), *service.command[1:]]
    process = subprocess.Popen(
        command,
        env={**os.environ, **service.env, "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}"},
        stdin=subprocess.PIPE if service.stdin is not None else subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        # its own process group: `down` stops it with all the workers it forks
        start_new_session=True,
        cwd=settings.home,
    )
    log.close()
    if service.stdin is not None:
        process.stdin.write(service.stdin.encode())
        process.stdin.close()
    _record(settings, service.name).write_text(json.dumps({
        "pid": process.pid,
        "started_at": _started_at(process.pid),
        "command": service.command,
        "log": str(directory / f"{service.name}.log"),
    }))
    return process


def stop_services(settings: Settings, timeout: float = STOP_TIMEOUT) -> list[str]:
    """SIGTERM to each recorded service's process group, SIGKILL to what is left
    after `timeout`; returns the names of the services it stopped."""
    records = sorted(services_dir(settings).glob("*.json"))
    groups = {}
    for record in records:
        info = json.loads(record.read_text())
        if _alive(info["pid"], info["started_at"]):
            groups[record.stem] = info["pid"]
            try:
                os.killpg(info["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for pid in groups.values():
        while time.monotonic() < deadline and _group_alive(pid):
            time.sleep(0.2)
        if _group_alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap(pid)
    for record in records:
        record.unlink(missing_ok=True)
    return sorted(groups)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie leader still counts until reaped; a group of zombies is gone
    return any(_state(pid) not in ("Z", None) for pid in _group_members(pgid))


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def _state(pid: int) -> str | None:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split() or [None])[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_is_free(port: int) -> bool:
    """Free for a server: another listener holds it, not the TIME_WAIT
    connections of an api-server just stopped (uvicorn binds with
    SO_REUSEADDR too, so `down` then `up` at once works)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait(condition: Callable[[], bool], what: str, timeout: float, settings: Settings,
          processes: dict[str, subprocess.Popen]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode} while waiting for {what}:\n"
                                   + _log_tail(settings, name))
        if condition():
            return
        time.sleep(1)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s; see {services_dir(settings)}")


def _log_tail(settings: Settings, name: str, lines: int = 30) -> str:
    from shrinkwatch.settings import mask_secrets

    log = services_dir(settings) / f"{name}.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return mask_secrets("\n".join(text.splitlines()[-lines:]))


# --- up / down -----------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    url: str  # the UI and REST API
    executor: str
    services: dict[str, int]  # name -> pid
    password_file: Path  # the UI user's password, mode 0600
    logs: Path


def _ui_password_file(settings: Settings, env: dict[str, str]) -> Path:
    """The simple auth manager's password file with a generated password for
    the UI user, mode 0600. Written before the api-server starts, so that the
    api-server finds the user and prints no password into its log."""
    configured = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    default = Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    path = Path(configured) if configured else default
    path.parent.mkdir(parents=True, exist_ok=True)
    passwords = json.loads(path.read_text() or "{}") if path.exists() else {}
    if UI_USER not in passwords:
        passwords[UI_USER] = secrets.token_urlsafe(12)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(json.dumps(passwords) + "\n")
    os.chmod(path, 0o600)
    return path


def ui_password(password_file: Path) -> str:
    return json.loads(password_file.read_text())[UI_USER]


def _demo_mes(settings: Settings, processes: dict[str, subprocess.Popen]) -> str:
    """Serve the demo plant's MES on 127.0.0.1 for as long as the services run."""
    data = settings.demo_dir / "mes.sqlite"
    if not data.is_file():
        raise FileNotFoundError(
            f"SHRINKWATCH_MES_BASE_URL is not set and there is no demo plant in {settings.demo_dir}: "
            "generate one (`shrinkwatch plant generate`, or `make demo`) or configure the sources"
        )
    port_file = services_dir(settings) / "mes.port"
    port_file.unlink(missing_ok=True)
    processes["mes"] = _start(settings, Service(
        "mes",
        [sys.executable, "-m", "shrinkwatch.demo.mes_server", "--data", str(data), "--port-file", str(port_file)],
        {"SHRINKWATCH_MES_TOKEN": settings.mes_token},
    ))
    _wait(port_file.exists, "the demo MES server", 30, settings, processes)
    return f"http://127.0.0.1:{port_file.read_text().strip()}"


def _redis(settings: Settings, processes: dict[str, subprocess.Popen]) -> str:
    """A Redis broker on 127.0.0.1, on a free port, with a new password."""
    import shutil

    import redis

    binary = shutil.which("redis-server")
    if not binary:
        raise FileNotFoundError("redis-server is not installed (Debian package redis-server; `make test-tools` "
                                "installs it), or set AIRFLOW__CELERY__BROKER_URL to a broker of your own")
    port, password = free_port(), secrets.token_urlsafe(24)
    directory = services_dir(settings)
    processes["redis"] = _start(settings, Service(
        "redis", [binary, "-"], {}, stdin=redis_config(port, password, directory)
    ))

    def answers() -> bool:
        try:
            return redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=1).ping()
        except redis.exceptions.RedisError:
            return False

    _wait(answers, "Redis", 30, settings, processes)
    return redis_broker_url("127.0.0.1", port, password)


def _healthy(url: str, components: tuple[str, ...]) -> bool:
    import requests

    try:
        health = requests.get(f"{url}/api/v2/monitor/health", timeout=5).json()
    except (requests.RequestException, ValueError):
        return False
    return all((health.get(c) or {}).get("status") == "healthy" for c in ("metadatabase", *components))


def _workers_answer(broker_url: str, names: set[str]) -> bool:
    """Every worker answers a ping through the broker: ready to take tasks."""
    from celery import Celery

    replies = Celery(broker=broker_url).control.ping(timeout=1.0)
    return {name for reply in replies for name in reply} >= names


def up(settings: Settings, *, executor: str = "local", workers: int = 2, concurrency: int = 1,
       port: int = DEFAULT_PORT) -> Stack:
    """Start the services and return once the api-server answers and the
    scheduler and dag-processor report healthy. On failure, stop what started."""
    from shrinkwatch.runtime import Runtime

    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {sorted(EXECUTORS)}, not {executor!r}")
    if running := running_services(settings):
        raise RuntimeError(f"Airflow services already running ({running}): `shrinkwatch airflow down` first")
    if not _port_is_free(port):
        raise RuntimeError(f"127.0.0.1:{port} is in use: pick another with --port")
    stop_services(settings)  # records of processes that are gone
    services_dir(settings).mkdir(parents=True, exist_ok=True)
    runtime = Runtime(settings)
    processes: dict[str, subprocess.Popen] = {}
    warehouse_was_running = runtime.embedded is None or runtime.embedded.pid() is not None
    try:
        warehouse = runtime.start_warehouse()
        if not warehouse_was_running:
            # `down` stops the embedded warehouse again only when `up` started it
            (services_dir(settings) / "warehouse.started").touch()
        mes_base_url = settings.mes_base_url or _demo_mes(settings, processes)
        env = runtime.airflow_env(warehouse, mes_base_url, api_port=port)
        env.update(runtime.dbt_env(warehouse))
        if executor == "celery":
            broker = os.environ.get("AIRFLOW__CELERY__BROKER_URL") or _redis(settings, processes)
            env.update({k: os.environ.get(k) or v for k, v in
                        celery_env(broker, env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).items()})
        started = time.monotonic()
        log.info("migrating Airflow's metadata database and parsing the dbt project")
        runtime.prepare_airflow(env)
        log.info("ready to start the services after %.0fs", time.monotonic() - started)
        password_file = _ui_password_file(settings, env)
        url = f"http://127.0.0.1:{port}"
        services = [
            Service("api-server", ["airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)], env),
            # no log server: it would listen on every interface, and every
            # component here reads the task logs from the same directory
            Service("scheduler", ["airflow", "scheduler", "--skip-serve-logs"], env),
            Service("dag-processor", ["airflow", "dag-processor"], env),
            Service("triggerer", ["airflow", "triggerer", "--skip-serve-logs"], env),
        ]
        worker_nodes = set()
        if executor == "celery":
            for number in range(1, workers + 1):
                name = f"worker-{number}"
                worker_nodes.add(node := f"{name}@{socket.gethostname()}")  # as worker_hostname() names it
                services.append(Service(name, [
                    "airflow", "celery", "worker", "--celery-hostname", node,
                    "--concurrency", str(concurrency), "--skip-serve-logs", "--without-mingle", "--without-gossip",
                ], {**env, WORKER_NAME_VARIABLE: name, "AIRFLOW__CORE__HOSTNAME_CALLABLE": WORKER_HOSTNAME_CALLABLE}))
        for service in services:
            processes[service.name] = _start(settings, service)
        log.info("started %s; waiting for them to report healthy", ", ".join(s.name for s in services))
        _wait(lambda: _healthy(url, ("scheduler", "dag_processor", "triggerer")),
              "the api-server, scheduler, dag-processor and triggerer", HEALTH_TIMEOUT, settings, processes)
        if executor == "celery":
            _wait(lambda: _workers_answer(env["AIRFLOW__CELERY__BROKER_URL"], worker_nodes),
                  "the Celery workers", HEALTH_TIMEOUT, settings, processes)
    except BaseException:
        down(settings)
        raise
    return Stack(url, EXECUTORS[executor], running_services(settings), password_file, services_dir(settings))


def down(settings: Settings) -> list[str]:
    """Stop every service `up` started (and the embedded warehouse if `up` started it)."""
    from shrinkwatch.runtime import Runtime

    stopped = stop_services(settings)
    marker = services_dir(settings) / "warehouse.started"
    if marker.exists():
        Runtime(settings).stop_warehouse()
        marker.unlink()
        stopped.append("warehouse")
    return stopped
