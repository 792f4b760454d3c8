"""The A-route head-end system: registry, keys, collection, gap fill, commands (SPEC S1–S3, S8,
S9, S14)."""
