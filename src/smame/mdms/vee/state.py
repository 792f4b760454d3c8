"""Per-series history that validation compares new values with (one row per meter+channel).

Kept in memory as arrays sorted by series key and persisted in the catalog's
``series_state`` table in the same transaction as the measurements it reflects.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

__all__ = ["STATE_COLUMNS", "SeriesState", "series_key", "split_key"]

STATE_COLUMNS = ("n", "total", "max_value", "min_value", "last_t", "last_value", "zero_run")
_CHANNEL_BITS = 11


def series_key(meter_id: np.ndarray, channel: np.ndarray) -> np.ndarray:
    """One int64 per (meter, channel): ``meter_id * 2048 + channel``; sorts like the pair."""
    return (np.asarray(meter_id, np.int64) << _CHANNEL_BITS) | np.asarray(channel, np.int64)


def split_key(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return key >> _CHANNEL_BITS, (key & ((1 << _CHANNEL_BITS) - 1)).astype(np.uint16)


@dataclass
class SeriesState:
    key: np.ndarray  # sorted, unique
    n: np.ndarray
    total: np.ndarray
    max_value: np.ndarray
    min_value: np.ndarray
    last_t: np.ndarray
    last_value: np.ndarray
    zero_run: np.ndarray

    @classmethod
    def empty(cls) -> SeriesState:
        i = np.empty(0, np.int64)
        return cls(i, i, np.empty(0, np.float64), i, i, i, i, i)

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> SeriesState:
        table = con.sql(
            "SELECT meter_id, channel, n, total, max_value, min_value, last_t, last_value, "
            "zero_run FROM series_state ORDER BY meter_id, channel").to_arrow_table()
        if table.num_rows == 0:
            return cls.empty()
        cols = {name: table.column(name).to_numpy() for name in table.schema.names}
        return cls(series_key(cols["meter_id"], cols["channel"]),
                   *(cols[c].astype(np.float64 if c == "total" else np.int64)
                     for c in STATE_COLUMNS))

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of each key in the state, and whether it is there."""
        pos = np.searchsorted(self.key, keys)
        clipped = np.minimum(pos, max(self.key.size - 1, 0))
        found = (pos < self.key.size) & (self.key[clipped] == keys) if self.key.size else (
            np.zeros(keys.size, np.bool_))
        return clipped, found

    def get(self, name: str, pos: np.ndarray, found: np.ndarray, default: float | int
            ) -> np.ndarray:
        """Column ``name`` at ``pos`` where ``found``, else ``default``."""
        column = getattr(self, name)
        if not column.size:
            return np.full(pos.size, default, column.dtype)
        return np.where(found, column[pos], default)

    def merged(self, update: SeriesState) -> SeriesState:
        """A new state with ``update``'s series replacing or added to these."""
        pos, found = self.find(update.key)
        keep = np.ones(self.key.size, np.bool_)
        keep[pos[found]] = False
        key = np.concatenate((self.key[keep], update.key))
        order = np.argsort(key, kind="stable")
        parts = {}
        for name in ("key", *STATE_COLUMNS):
            parts[name] = np.concatenate((getattr(self, name)[keep], getattr(update, name)))[order]
        return SeriesState(**parts)

    def table(self) -> pa.Table:
        meter, channel = split_key(self.key)
        return pa.table({"meter_id": meter, "channel": channel,
                         **{name: getattr(self, name) for name in STATE_COLUMNS}})

    @staticmethod
    def persist(con: duckdb.DuckDBPyConnection, update: SeriesState) -> None:
        """Write ``update``'s rows to the catalog (inside the caller's transaction)."""
        if update.key.size == 0:
            return
        rows = update.table()
        con.register("_state_update", rows)
        try:
            # In place for the series already there (most of them, batch after batch):
            # measured faster than deleting them all and inserting them again.
            con.execute("UPDATE series_state s SET "
                        + ", ".join(f"{name} = u.{name}" for name in STATE_COLUMNS)
                        + " FROM _state_update u "
                        "WHERE s.meter_id = u.meter_id AND s.channel = u.channel")
            con.execute("INSERT INTO series_state SELECT * FROM _state_update u WHERE NOT EXISTS "
                        "(SELECT 1 FROM series_state s "
                        "WHERE s.meter_id = u.meter_id AND s.channel = u.channel)")
        finally:
            con.unregister("_state_update")
