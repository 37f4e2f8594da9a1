"""The HTTP service: a thin FastAPI layer over the same ledger, log and views as the CLI."""
