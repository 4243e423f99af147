"""shrinkwatch: where stock and records diverge across ERP, WMS and MES."""
