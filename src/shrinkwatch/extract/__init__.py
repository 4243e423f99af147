"""Extraction: ERP, WMS and MES into the warehouse's `raw` schema.

Plain Python, no Airflow: the DAGs only call these functions. Each source read
is validated against contracts.py, COPYed and merged into raw in one
transaction with its `ops.load_ledger` row; rows that break their contract go
to `quarantine.<table>`, so rows_read = rows_loaded + rows_quarantined always
(each counted on its own, so a lost row would show). A load that fails does
not stop the extractor's other loads: it raises `LoadsFailed` at the end.

    ensure_schemas(conn)                                   warehouse.py
    extract_erp(conninfo, erp_url, ...)  -> [LoadResult]   erp.py
    extract_wms(conninfo, landing_dir, ...) -> [LoadResult] wms.py
    extract_mes(conninfo, base_url, token, ...) -> [LoadResult] mes.py

Shared machinery: validation.py (per-type parsing and the row rules), gs1.py
(GS1 barcode parsing, pure), loader.py (COPY + merge, and resolving the
quarantine rows a load makes good), ledger.py (the ledger rows and
LoadResult), quarantine.py (reading `ops.quarantine`, releasing rows by hand);
barcodes.py loads every newly scanned barcode, parsed, into `raw.gs1_barcodes`.
"""

from shrinkwatch.extract.erp import extract_erp
from shrinkwatch.extract.ledger import LoadResult, LoadsFailed, unconserved_loads
from shrinkwatch.extract.mes import MesError, MesUnavailable, extract_mes
from shrinkwatch.extract.warehouse import ensure_schemas
from shrinkwatch.extract.wms import extract_wms

__all__ = [
    "LoadResult",
    "LoadsFailed",
    "MesError",
    "MesUnavailable",
    "ensure_schemas",
    "extract_erp",
    "extract_mes",
    "extract_wms",
    "unconserved_loads",
]
