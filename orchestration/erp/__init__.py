"""Hand-off of the published plan to the ERP: file schema, file writer, REST client, ledger.

Plain Python (pandas, pyarrow, duckdb, the standard library's ``http.client``); no Dagster. The
Dagster asset in ``orchestration.defs.export`` is thin glue around these modules. The contract an
ERP integrator builds against is documented in ``docs/erp-export.md``.
"""
