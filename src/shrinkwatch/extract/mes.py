"""MES extraction: the paged HTTP JSON API, per resource.

Each resource is read from the last successful watermark minus a lookback
(like the ERP's), so an item committed late with an `updated_at` older than
items already read (a lagging node, a slow transaction) still arrives; the
re-read items upsert as unchanged. `updated_since` is inclusive. Pages follow
`next_cursor` until it is null. 429 and 5xx answers are retried by
urllib3 (honouring `Retry-After`, else exponential backoff); the retries are
counted into the ledger. A correction (same id, later `updated_at`) replaces
the earlier version; within one read the newest version wins.

Pages are streamed straight into the load, so memory stays bounded by the
loader's chunk size, not by the size of the resource. The items each page
brings are counted as they arrive: the load's rows_read.

A resource whose read or load fails keeps its `failed` ledger row and its
watermark, and the resources after it are still read; `extract_mes` raises
`LoadsFailed` naming it at the end. Only an MES that cannot be reached, or
still answers 429, 502, 503 or 504 once the retries are spent
(`MesUnavailable`), ends the run there: the other resources would only wait
out the same retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError
from urllib3.util import Retry

from shrinkwatch import locks
from shrinkwatch.contracts import MES_TABLES, SourceTable
from shrinkwatch.extract.ledger import LoadResult, last_watermark, load_each
from shrinkwatch.extract.loader import RejectedRow, SourceRow, load_table
from shrinkwatch.extract.validation import DEFAULT_CLOCK_SKEW
from shrinkwatch.extract.warehouse import ensure_schemas

RETRIED_STATUSES = (429, 500, 502, 503, 504)
BACKOFF_FACTOR = 0.25  # seconds; doubles per consecutive retry when no Retry-After is given
BACKOFF_MAX = 30.0
REQUEST_TIMEOUT = (10, 60)  # connect, read


class MesError(RuntimeError):
    """The MES API could not deliver a resource (after retries)."""


class MesUnavailable(MesError):
    """The MES as a whole did not answer: not reachable, or busy or down (429,
    502, 503, 504) after every retry."""


# a 500 is the resource's own failure; these say the whole MES is unavailable
UNAVAILABLE_STATUSES = (429, 502, 503, 504)


class MesClient:
    """A session against one MES API; counts the retries it needed."""

    def __init__(self, base_url: str, token: str, *, page_size: int, max_retries: int):
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.max_retries = max_retries
        self.retries = 0
        self.items_received = 0
        retry = Retry(
            total=max_retries,
            status_forcelist=RETRIED_STATUSES,
            allowed_methods=frozenset({"GET"}),
            backoff_factor=BACKOFF_FACTOR,
            backoff_max=BACKOFF_MAX,
            respect_retry_after_header=True,
            # hand back the last 429/5xx instead of raising, so the error can name it
            raise_on_status=False,
        )
        self.session = requests.Session()
        self.session.mount(self.base_url, HTTPAdapter(max_retries=retry))
        self.session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.session.close()

    def _get_page(self, resource: str, params: dict[str, object]) -> dict:
        url = f"{self.base_url}/api/v1/{resource}"
        try:
            response = self.session.get(url, params=params, timeout=REQUEST_TIMEOUT)
        except requests.RequestException as error:
            unreachable = isinstance(error, requests.ConnectTimeout) or isinstance(
                getattr(error.args[0] if error.args else None, "reason", None), NewConnectionError
            )
            raise (MesUnavailable if unreachable else MesError)(
                f"MES {resource}: request failed after up to {self.max_retries} retries: {error}"
            ) from error
        history = getattr(getattr(response.raw, "retries", None), "history", ())
        self.retries += len(history)
        if response.status_code in RETRIED_STATUSES:
            raise (MesUnavailable if response.status_code in UNAVAILABLE_STATUSES else MesError)(
                f"MES {resource}: HTTP {response.status_code} still after "
                f"{self.max_retries} retries"
            )
        if response.status_code != 200:
            raise MesError(
                f"MES {resource}: HTTP {response.status_code}: {response.text[:200]}"
            )
        try:
            page = response.json()
            page["items"]  # noqa: B018 - the contract requires it
        except (ValueError, KeyError, TypeError) as error:
            raise MesError(f"MES {resource}: not a page of items: {response.text[:200]}") from error
        return page

    def items(self, resource: str, updated_since: int) -> Iterator[object]:
        cursor = None
        while True:
            params: dict[str, object] = {"updated_since": updated_since, "limit": self.page_size}
            if cursor is not None:
                params["cursor"] = cursor
            page = self._get_page(resource, params)
            self.items_received += len(page["items"])
            yield from page["items"]
            next_cursor = page.get("next_cursor")
            if next_cursor is None:
                return
            if next_cursor == cursor:
                raise MesError(f"MES {resource}: cursor {cursor!r} does not advance")
            cursor = next_cursor


def _rows(table: SourceTable, items: Iterator[object]) -> Iterator[SourceRow | RejectedRow]:
    columns = table.column_names
    for position, item in enumerate(items, start=1):
        if isinstance(item, dict):
            # an absent field is a null: JSON APIs commonly omit nulls
            yield SourceRow([item.get(c) for c in columns])
        else:
            yield RejectedRow(
                f"{table.source_name} item {position}", "not_an_object",
                f"item is a {type(item).__name__}, not a JSON object", item,
            )


def extract_mes(
    warehouse_conninfo: str,
    base_url: str,
    token: str,
    *,
    page_size: int = 1000,
    max_retries: int = 8,
    chunk_rows: int = 50000,
    lookback_hours: float = 24,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    lock_timeout: timedelta = locks.DEFAULT_TIMEOUT,
) -> list[LoadResult]:
    """Load every MES resource from its last watermark minus `lookback_hours`; one load each.
    Raises `LoadsFailed` once the resources are done when one failed (see the module docstring)."""
    with psycopg.connect(warehouse_conninfo, autocommit=True) as conn:
        ensure_schemas(conn)

    def load(table: SourceTable) -> LoadResult:
        with psycopg.connect(warehouse_conninfo, autocommit=True) as conn:
            previous = last_watermark(conn, table)
        client = MesClient(base_url, token, page_size=page_size, max_retries=max_retries)
        try:
            updated_since = 0
            if previous is not None:
                updated_since = max(0, int(previous) - int(lookback_hours * 3_600_000))
            return load_table(
                warehouse_conninfo,
                table,
                _rows(table, client.items(table.source_name, updated_since)),
                chunk_rows=chunk_rows,
                watermark_from=str(updated_since) if previous is not None else None,
                previous_watermark=previous,
                retries=lambda: client.retries,
                clock_skew=clock_skew,
                rows_read=lambda: client.items_received,
                lock_timeout=lock_timeout,
            )
        finally:
            client.close()

    return load_each(
        "mes", MES_TABLES, load, lambda table: table.name,
        stops_all=lambda error: isinstance(error, MesUnavailable),
    )
