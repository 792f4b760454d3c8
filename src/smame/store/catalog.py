"""The DuckDB catalog of a data directory: which versions and files make up the store.

The catalog is the commit point. A file on disk that no catalog row names is debris of
an interrupted write and is removed when the store is opened.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from smame.store.private import tighten

__all__ = ["CATALOG_FILE", "connect", "scalar"]

CATALOG_FILE = "catalog.duckdb"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    version BIGINT NOT NULL,
    kind VARCHAR NOT NULL,            -- ingest | estimate | edit | compact
    committed_at TIMESTAMPTZ NOT NULL,
    fingerprint VARCHAR,              -- content hash of an ingested batch
    source_name VARCHAR,
    rows_received BIGINT NOT NULL DEFAULT 0,
    rows_new BIGINT NOT NULL DEFAULT 0,
    rows_revised BIGINT NOT NULL DEFAULT 0,
    rows_dropped BIGINT NOT NULL DEFAULT 0,
    validated BOOLEAN NOT NULL DEFAULT FALSE,
    user_name VARCHAR,
    reason VARCHAR
);
CREATE TABLE IF NOT EXISTS files (
    path VARCHAR NOT NULL,            -- relative to the data directory
    kind VARCHAR NOT NULL,            -- imd | meas
    day DATE NOT NULL,
    version BIGINT NOT NULL,
    rows BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    min_t BIGINT NOT NULL,            -- POSIX seconds
    max_t BIGINT NOT NULL,
    min_meter BIGINT NOT NULL,
    max_meter BIGINT NOT NULL,
    channels USMALLINT[] NOT NULL
);
CREATE TABLE IF NOT EXISTS row_groups (
    path VARCHAR NOT NULL,
    rg INTEGER NOT NULL,
    rows BIGINT NOT NULL,
    min_meter BIGINT NOT NULL,
    max_meter BIGINT NOT NULL,
    min_t BIGINT NOT NULL,
    max_t BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS superseded (
    meter_id BIGINT NOT NULL,
    channel USMALLINT NOT NULL,
    interval_end TIMESTAMPTZ NOT NULL,
    version BIGINT NOT NULL,
    by_version BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS series_state (
    meter_id BIGINT NOT NULL,
    channel USMALLINT NOT NULL,
    n BIGINT NOT NULL,                -- validated values seen
    total DOUBLE NOT NULL,
    max_value BIGINT NOT NULL,
    min_value BIGINT NOT NULL,
    last_t BIGINT NOT NULL,           -- POSIX seconds of the newest value
    last_value BIGINT NOT NULL,
    zero_run BIGINT NOT NULL          -- consecutive zero values ending at last_t
);
CREATE TABLE IF NOT EXISTS meter_events (
    meter_id BIGINT NOT NULL,
    time TIMESTAMPTZ NOT NULL,
    kind UTINYINT NOT NULL,
    value BIGINT NOT NULL,
    reference BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS edits (
    version BIGINT NOT NULL,
    user_name VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    rows BIGINT NOT NULL,
    note VARCHAR,
    approver VARCHAR                  -- the second person, for edits above the threshold
);
ALTER TABLE edits ADD COLUMN IF NOT EXISTS note VARCHAR;
ALTER TABLE edits ADD COLUMN IF NOT EXISTS approver VARCHAR;
CREATE TABLE IF NOT EXISTS inferred_restores (
    meter_id BIGINT NOT NULL,
    time TIMESTAMPTZ NOT NULL,        -- where the outage span is closed
    outage_start TIMESTAMPTZ NOT NULL,
    reason VARCHAR NOT NULL,          -- inferred_energy | inferred_register | inferred_instant
    version BIGINT NOT NULL           -- the version whose reads showed supply
);
CREATE TABLE IF NOT EXISTS revee_queue (
    day DATE NOT NULL,                -- a closed day that received data after its close
    version BIGINT NOT NULL,          -- the version that brought it
    queued_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS edit_requests (
    request_id BIGINT NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL,
    user_name VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,          -- a code of smame.mdms.edit.EDIT_REASONS
    note VARCHAR,
    rows BIGINT NOT NULL,
    change_wh BIGINT NOT NULL,        -- energy the edit moves: sum of |new - current|
    status VARCHAR NOT NULL,          -- pending | applied | rejected
    approver VARCHAR,
    decided_at TIMESTAMPTZ,
    version BIGINT                    -- the edit's version once applied
);
CREATE TABLE IF NOT EXISTS edit_request_rows (
    request_id BIGINT NOT NULL,
    meter_id BIGINT NOT NULL,
    channel USMALLINT NOT NULL,
    interval_end TIMESTAMPTZ NOT NULL,
    value BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS closed_days (
    day DATE NOT NULL,
    version BIGINT NOT NULL,
    closed_at TIMESTAMPTZ NOT NULL
);
"""


def connect(root: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the catalog of the data directory ``root``."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)  # readings are personal data
    path = root / CATALOG_FILE
    con = duckdb.connect(str(path), read_only=read_only)
    if not read_only:  # the registry names customers: owner-only (S14)
        tighten(path)
        tighten(path.with_name(path.name + ".wal"))
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    con.execute("SET GLOBAL parquet_metadata_cache = true")
    if not read_only:
        con.execute(_SCHEMA)
    return con


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """The first column of the first row of a query, or None when it returns no rows."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None
