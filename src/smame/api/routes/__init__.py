"""The routers of the data-provision API, one module per group of resources (SPEC S7)."""
