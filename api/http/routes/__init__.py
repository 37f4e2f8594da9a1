"""HTTP routes, one module per kind of user question."""
