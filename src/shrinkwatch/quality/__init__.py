"""Great Expectations: the data-quality contracts on staging and marts.

`checks` builds one expectation per kind of rule, `suites` lists them per
validated model (`SUITES`, where the contracts are authored), `context`
writes them into the committed GX context and opens it, `results` flattens a
checkpoint run, records it in `ops.dq_results` and describes its failures.
Each expectation carries `meta.severity` (`critical` or `warning`).
"""
