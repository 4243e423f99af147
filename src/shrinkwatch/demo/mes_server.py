"""The demo plant's MES API: `mes.sqlite` served over HTTP as the contract describes.

`GET /api/v1/{resource}?updated_since=<epoch ms>&cursor=<opaque>&limit=<n>` with a
bearer token. Items come ordered by (updated_at, id); the cursor is the last
(updated_at, id) served, base64-encoded, so pages never skip or repeat a row
however many rows share one updated_at. With `fault_every=N` the N-th, 2N-th…
request gets 429 and the request half-way between gets 503, so extractors can be
tested against a flaky server deterministically.

Three more knobs make it misbehave the way real MES servers do (the fault
matrix, tests/test_fault_matrix.py, uses them):

- `burst=Burst(first, count, status)`: requests `first` … `first + count - 1`
  (counted from the server's start) all answer `status` (429 with
  `Retry-After: 1`, or a 5xx), then the server recovers: an outage longer than
  a client's retry budget;
- `loop_cursor=True`: from a read's third page on, `next_cursor` points back
  at the second page, so a client that only follows cursors pages for ever;
- `delay=seconds`: every answer is that much late (a slow server).
"""

from __future__ import annotations

import argparse
import base64
import hmac
import ipaddress
import json
import os
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from shrinkwatch.contracts import MES_TABLES

RESOURCES = {t.source_name: t for t in MES_TABLES}
MAX_LIMIT = 10000
DEFAULT_LIMIT = 1000


class BadRequest(ValueError):
    pass


@dataclass(frozen=True)
class Burst:
    """Requests `first` … `first + count - 1` of the server's life all fail with `status`."""

    first: int
    count: int
    status: int = 503

    def covers(self, number: int) -> bool:
        return self.first <= number < self.first + self.count

    @classmethod
    def parse(cls, text: str) -> Burst:
        """`FIRST:COUNT[:STATUS]`, as the command line gives it."""
        first, count, *status = (int(part) for part in text.split(":"))
        return cls(first, count, *status)


def encode_cursor(updated_at: int, item_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([updated_at, item_id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        updated_at, item_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as error:
        raise BadRequest("cursor is not one this server issued") from error
    if not isinstance(updated_at, int) or not isinstance(item_id, str):
        raise BadRequest("cursor is not one this server issued")
    return updated_at, item_id


def _int_parameter(query: dict[str, list[str]], name: str, default: int) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        return int(values[-1])
    except ValueError as error:
        raise BadRequest(f"{name} must be an integer") from error


def read_page(data_path: Path, resource: str, query: dict[str, list[str]]) -> dict:
    table = RESOURCES[resource]
    id_column = table.key[0]
    updated_since = _int_parameter(query, "updated_since", 0)
    limit = _int_parameter(query, "limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    unknown = set(query) - {"updated_since", "cursor", "limit"}
    if unknown:
        raise BadRequest(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    where, arguments = "updated_at >= ?", [updated_since]
    if query.get("cursor"):
        after_updated, after_id = decode_cursor(query["cursor"][-1])
        where += f" AND (updated_at > ? OR (updated_at = ? AND {id_column} > ?))"
        arguments += [after_updated, after_updated, after_id]
    columns = ", ".join(table.column_names)
    connection = sqlite3.connect(f"file:{data_path}?mode=ro", uri=True)
    try:
        connection.row_factory = sqlite3.Row
        rows = connection.execute(
            f"SELECT {columns} FROM {table.name} WHERE {where} "
            f"ORDER BY updated_at, {id_column} LIMIT ?", [*arguments, limit + 1]).fetchall()
    finally:
        connection.close()
    items = [dict(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(last["updated_at"], last[id_column])
    return {"items": items, "next_cursor": next_cursor}


class _Handler(BaseHTTPRequestHandler):
    server: _MesHttpServer

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        """Quiet: tests and the demo command would drown in access lines."""

    def _send(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        owner = self.server.owner
        fault = owner.next_fault()
        if owner.delay:
            time.sleep(owner.delay)
        if fault == 429:
            self._send(429, {"error": "too many requests"}, {"Retry-After": "1"})
            return
        if fault:
            self._send(fault, {"error": "service unavailable"})
            return
        expected = f"Bearer {owner.token}"
        if not hmac.compare_digest(self.headers.get("Authorization", ""), expected):
            self._send(401, {"error": "missing or wrong bearer token"},
                       {"WWW-Authenticate": "Bearer"})
            return
        url = urlsplit(self.path)
        prefix = "/api/v1/"
        resource = url.path[len(prefix):] if url.path.startswith(prefix) else None
        if resource not in RESOURCES:
            self._send(404, {"error": f"unknown resource; known: {sorted(RESOURCES)}"})
            return
        try:
            page = read_page(owner.data_path, resource, parse_qs(url.query))
        except BadRequest as error:
            self._send(400, {"error": str(error)})
            return
        if owner.loop_cursor:
            page["next_cursor"] = owner.looped_cursor(resource, parse_qs(url.query), page["next_cursor"])
        self._send(200, page)


class _MesHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: MesServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MesServer:
    """The demo MES API on a background thread."""

    def __init__(self, data_path: Path | str, token: str, *, host: str = "127.0.0.1",
                 port: int = 0, fault_every: int = 0, burst: Burst | None = None,
                 loop_cursor: bool = False, delay: float = 0.0, allow_remote: bool = False) -> None:
        if not _is_loopback(host) and not allow_remote:
            raise ValueError(f"refusing to bind {host}: not loopback (pass allow_remote=True)")
        if not Path(data_path).is_file():
            raise FileNotFoundError(data_path)
        self.data_path = Path(data_path).resolve()
        self.token = token
        self.fault_every = fault_every
        self.burst = burst
        self.loop_cursor = loop_cursor
        self.delay = delay
        # resource -> the cursor the first page of its current read handed out
        self._second_page_cursors: dict[str, str] = {}
        self.requests_served = 0
        self.faults_served = 0
        self._lock = threading.Lock()
        self._httpd = _MesHttpServer((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def next_fault(self) -> int | None:
        """Count one request; the status it must fail with, if it is a faulty one."""
        with self._lock:
            self.requests_served += 1
            number = self.requests_served
            fault = None
            if self.fault_every > 0:
                if number % self.fault_every == 0:
                    fault = 429
                elif self.fault_every > 1 and number % self.fault_every == self.fault_every // 2:
                    fault = 503
            if self.burst and self.burst.covers(number):
                fault = self.burst.status
            if fault:
                self.faults_served += 1
            return fault

    def looped_cursor(self, resource: str, query: dict[str, list[str]], next_cursor: str | None) -> str | None:
        """`loop_cursor`: the next cursor of a page, but from the third page of
        a read on the cursor that leads to its second page again."""
        cursor = (query.get("cursor") or [None])[-1]
        with self._lock:
            if cursor is None:  # a new read
                if next_cursor is not None:
                    self._second_page_cursors[resource] = next_cursor
                return next_cursor
            second = self._second_page_cursors.get(resource)
            if next_cursor is None or cursor == second:
                return next_cursor
            return second

    def start(self) -> MesServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="mes-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join()

    def __enter__(self) -> MesServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="the demo plant's mes.sqlite")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", type=Path, help="write the chosen port here")
    parser.add_argument("--fault-every", type=int, default=0)
    parser.add_argument("--burst", type=Burst.parse, metavar="FIRST:COUNT[:STATUS]",
                        help="requests FIRST .. FIRST+COUNT-1 all answer STATUS (default 503)")
    parser.add_argument("--loop-cursor", action="store_true",
                        help="from a read's third page on, next_cursor leads back to its second page")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds every answer is late")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow binding a non-loopback host")
    args = parser.parse_args(argv)
    # from the environment, not argv: every user of the machine can read a
    # process's command line (`ps`), only its owner its environment
    token = os.environ.get("SHRINKWATCH_MES_TOKEN", "").strip()
    if not token:
        parser.error("SHRINKWATCH_MES_TOKEN must hold the bearer token to accept")
    server = MesServer(args.data, token, host=args.host, port=args.port, fault_every=args.fault_every,
                       burst=args.burst, loop_cursor=args.loop_cursor, delay=args.delay,
                       allow_remote=args.allow_remote)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    server.start()
    if args.port_file:
        temporary = args.port_file.with_suffix(".tmp")
        temporary.write_text(str(server._httpd.server_address[1]))
        temporary.replace(args.port_file)
    print(f"MES demo server on {server.base_url}", flush=True)
    stopping.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
