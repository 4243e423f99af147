"""Time the extractors end to end on a generated demo plant; prints figures.

    python -m shrinkwatch.benchmark [--scale S] [--keep]

Generates a demo plant in a temporary directory, starts an embedded warehouse
and the demo MES server, then loads ERP, WMS and MES twice each: a first load
into an empty warehouse and an idempotent rerun. It reports what it measured
and asserts nothing; the figures depend on the machine and on whatever else
runs on it.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from shrinkwatch.demo import generate_plant
from shrinkwatch.demo.mes_server import MesServer
from shrinkwatch.extract import ensure_schemas, extract_erp, extract_mes, extract_wms
from shrinkwatch.extract.ledger import LoadResult
from shrinkwatch.postgres import EmbeddedPostgres

MES_TOKEN = "benchmark-token"


@dataclass(frozen=True)
class Timing:
    step: str
    rows_read: int | None
    seconds: float
    peak_rss_mb: float


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux: the peak of this process so far
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(step: str, action: Callable[[], Sequence[LoadResult] | None]) -> Timing:
    started = time.perf_counter()
    results = action()
    seconds = time.perf_counter() - started
    rows = None if results is None else sum(r.rows_read for r in results)
    timing = Timing(step, rows, seconds, peak_rss_mb())
    print(f"  done: {step} ({seconds:.1f} s)", file=sys.stderr, flush=True)
    return timing


def format_table(timings: Sequence[Timing]) -> str:
    lines = [
        f"{'step':<22} {'rows read':>10} {'seconds':>8} {'rows/s':>9} {'peak RSS MB':>12}",
        "-" * 65,
    ]
    for t in timings:
        rows = "" if t.rows_read is None else f"{t.rows_read:,}"
        rate = f"{t.rows_read / t.seconds:,.0f}" if t.rows_read and t.seconds > 0 else ""
        lines.append(
            f"{t.step:<22} {rows:>10} {t.seconds:>8.2f} {rate:>9} {t.peak_rss_mb:>12.0f}"
        )
    return "\n".join(lines)


def run(scale: float, workdir: Path) -> list[Timing]:
    plant_dir = workdir / "plant"

    def generate() -> None:
        generate_plant(plant_dir, scale=scale, days=90, plants=2)

    timings = [timed("generate plant", generate)]
    server = EmbeddedPostgres(workdir / "warehouse")
    try:
        conninfo = server.start().conninfo()
        with MesServer(plant_dir / "mes.sqlite", MES_TOKEN) as mes:
            loads: dict[str, Callable[[], list[LoadResult]]] = {
                "erp": lambda: extract_erp(conninfo, f"sqlite:///{plant_dir / 'erp.sqlite'}"),
                "wms": lambda: extract_wms(conninfo, plant_dir / "wms_landing"),
                "mes": lambda: extract_mes(conninfo, mes.base_url, MES_TOKEN),
            }

            def create_schemas() -> None:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    ensure_schemas(conn)

            timings.append(timed("ensure_schemas", create_schemas))
            for run_name in ("first load", "rerun"):
                for system, load in loads.items():
                    timings.append(timed(f"{system} {run_name}", load))
    finally:
        server.stop()
    return timings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.04,
                        help="demo plant scale, 0 < S <= 1 (default 0.04)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the plant and the stopped warehouse; print where")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    # Not a 0700 temp dir: the embedded server may run as its own system user.
    workdir = Path(tempfile.mkdtemp(prefix="sw-bench-", dir="/tmp"))
    workdir.chmod(0o755)
    try:
        timings = run(args.scale, workdir)
    finally:
        if args.keep:
            print(f"kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"shrinkwatch extract benchmark: scale {args.scale}, 90 days, 2 plants")
    print(format_table(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
