"""The registry: meters, service points, topology, retailers, balancing groups, contracts,
tenancies (which customer holds the supply at a service point when), sub-meters and joint
(gas/water) meters. One schema on DuckDB (embedded) or PostgreSQL.

Contract, group and tenancy periods are ``[from, to)`` in JST days; ``valid_to`` NULL
means open-ended. Service points carry the 22-digit 供給地点特定番号.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import date
from typing import Any, Protocol

import duckdb
import pyarrow as pa

__all__ = [
    "REGISTRY_TABLES",
    "Registry",
    "RegistryError",
    "check_service_point",
    "service_point_id",
]


class RegistryError(ValueError):
    """A registry row is invalid."""


REGISTRY_TABLES: dict[str, str] = {
    "feeders": "feeder_id INTEGER PRIMARY KEY, name VARCHAR",
    "transformers": "transformer_id INTEGER PRIMARY KEY, feeder_id INTEGER NOT NULL, "
                    "capacity_kva DOUBLE PRECISION",
    "service_points": "sp_id VARCHAR PRIMARY KEY, transformer_id INTEGER, voltage SMALLINT, "
                      "contract_amps SMALLINT",
    "meters": "meter_id BIGINT PRIMARY KEY, sp_id VARCHAR, kind VARCHAR NOT NULL, "
              "unit_exponent SMALLINT NOT NULL DEFAULT -2, installed DATE, "
              "rated_amps SMALLINT, removed DATE, state VARCHAR",
    "retailers": "retailer_id VARCHAR PRIMARY KEY, name VARCHAR",
    "balancing_groups": "bg_id VARCHAR PRIMARY KEY, name VARCHAR",
    "retailer_groups": "retailer_id VARCHAR NOT NULL, bg_id VARCHAR NOT NULL, "
                       "valid_from DATE NOT NULL, valid_to DATE",
    "supply_contracts": "sp_id VARCHAR NOT NULL, retailer_id VARCHAR NOT NULL, "
                        "valid_from DATE NOT NULL, valid_to DATE",
    "tenancies": "sp_id VARCHAR NOT NULL, customer_id VARCHAR NOT NULL, "
                 "move_in DATE NOT NULL, move_out DATE",
    "sub_meters": "sub_meter_id BIGINT PRIMARY KEY, main_meter_id BIGINT NOT NULL, "
                  "kind VARCHAR NOT NULL",
    "utility_companies": "company_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, name VARCHAR",
    "joint_meters": "meter_id BIGINT PRIMARY KEY, kind VARCHAR NOT NULL, "
                    "host_meter_id BIGINT NOT NULL, company_id VARCHAR",
}
"""Registry tables and their columns (portable SQL for DuckDB and PostgreSQL)."""

_ADDED_COLUMNS = (("meters", "rated_amps SMALLINT"), ("meters", "removed DATE"),
                  ("meters", "state VARCHAR"))
"""Columns added after a table's first release: added to registries created before."""

_GENERATING = "'pv', 'battery', 'fuel_cell', 'wind', 'v2h'"
"""Sub-meter kinds that generate (or store and give back) energy behind a meter."""

_SP_PATTERN = re.compile(r"^(0[1-9]|10)\d{20}$")


def check_service_point(sp_id: str) -> str:
    """Return ``sp_id`` if it is a 22-digit 供給地点特定番号 with a known area (01–10)."""
    if not isinstance(sp_id, str) or not _SP_PATTERN.match(sp_id):
        raise RegistryError(f"service point {sp_id!r} is not 22 digits with area code 01–10")
    return sp_id


def service_point_id(area: int, number: int) -> str:
    """A 22-digit service point id: 2-digit area code (01–10), 20-digit number."""
    if not 1 <= area <= 10 or not 0 <= number < 10**20:
        raise RegistryError(f"no service point id for area {area}, number {number}")
    return f"{area:02d}{number:020d}"


class _Backend(Protocol):
    dialect: str

    def execute(self, sql: str, params: list | tuple = ()) -> None: ...

    def query(self, sql: str, params: list | tuple = ()) -> pa.Table: ...

    def insert(self, table: str, rows: pa.Table) -> None: ...

    def transaction(self) -> contextlib.AbstractContextManager[None]: ...


class _DuckDB:
    dialect = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def execute(self, sql: str, params: list | tuple = ()) -> None:
        self.con.execute(sql, list(params))

    def query(self, sql: str, params: list | tuple = ()) -> pa.Table:
        result = self.con.sql(sql, params=list(params)).to_arrow_table()
        return result.read_all() if isinstance(result, pa.RecordBatchReader) else result

    def insert(self, table: str, rows: pa.Table) -> None:
        self.con.register("_registry_rows", rows)
        try:
            self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _registry_rows")
        finally:
            self.con.unregister("_registry_rows")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")


_PG_TYPES = {16: pa.bool_(), 20: pa.int64(), 21: pa.int64(), 23: pa.int64(),
             25: pa.string(), 1043: pa.string(), 700: pa.float64(), 701: pa.float64(),
             1082: pa.date32(), 1114: pa.timestamp("us"), 1184: pa.timestamp("us", "UTC")}
"""Arrow types of PostgreSQL type OIDs, for columns whose values alone do not say."""


def _column(values: list, oid: int) -> pa.Array:
    """A result column; one of only NULLs takes its declared type, not Arrow's null type
    (which no compute kernel takes), as the embedded registry's would."""
    column = pa.array(values)
    if column.type == pa.null() and oid in _PG_TYPES:
        return pa.nulls(len(values), _PG_TYPES[oid])
    return column


class _Postgres:
    dialect = "postgres"

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._depth = 0

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def execute(self, sql: str, params: list | tuple = ()) -> None:
        with self.conn.cursor() as cur:
            cur.execute(self._sql(sql), list(params))
        if not self._depth:
            self.conn.commit()

    def query(self, sql: str, params: list | tuple = ()) -> pa.Table:
        with self.conn.cursor() as cur:
            cur.execute(self._sql(sql), list(params))
            described = [(d.name, d.type_code) for d in cur.description]
            rows = cur.fetchall()
        if not self._depth:
            self.conn.commit()
        return pa.table({name: _column([r[i] for r in rows], oid)
                         for i, (name, oid) in enumerate(described)})

    def insert(self, table: str, rows: pa.Table) -> None:
        names = rows.schema.names
        with self.conn.cursor() as cur, cur.copy(
            f"COPY {table} ({', '.join(names)}) FROM STDIN"
        ) as copy:
            for row in zip(*(rows.column(n).to_pylist() for n in names), strict=True):
                copy.write_row(row)
        if not self._depth:
            self.conn.commit()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            self.conn.rollback()
            raise
        self._depth -= 1
        if not self._depth:
            self.conn.commit()


class Registry:
    """Registry operations over a DuckDB or PostgreSQL connection."""

    def __init__(self, backend: _Backend) -> None:
        self.backend = backend
        for name, columns in REGISTRY_TABLES.items():
            backend.execute(f"CREATE TABLE IF NOT EXISTS {name} ({columns})")
        for name, column in _ADDED_COLUMNS:
            backend.execute(f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS {column}")

    @classmethod
    def duckdb(cls, con: duckdb.DuckDBPyConnection) -> Registry:
        return cls(_DuckDB(con))

    @classmethod
    def postgres(cls, conninfo: str) -> Registry:
        """Registry in a PostgreSQL database (``conninfo`` as psycopg takes it)."""
        import psycopg

        return cls(_Postgres(psycopg.connect(conninfo)))

    def close(self) -> None:
        conn = getattr(self.backend, "conn", None)
        if conn is not None:
            conn.close()

    # ------------------------------------------------------------------ writing

    def load(self, table: str, rows: pa.Table | dict) -> int:
        """Insert rows (an Arrow table or a dict of columns) into a registry table."""
        if table not in REGISTRY_TABLES:
            raise RegistryError(f"no registry table {table!r}")
        rows = rows if isinstance(rows, pa.Table) else pa.table(rows)
        if table == "service_points" and rows.num_rows:
            for sp_id in rows.column("sp_id").to_pylist():
                check_service_point(sp_id)
        self.backend.insert(table, rows)
        return rows.num_rows

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return self.backend.transaction()

    def copy_into(self, target: Registry) -> dict[str, int]:
        """Copy every table into ``target`` (e.g. an embedded registry into PostgreSQL), in
        one transaction there; a target that already holds rows is refused. Rows per table."""
        full = [name for name in REGISTRY_TABLES if target.table_count(name)]
        if full:
            raise RegistryError(f"the target registry is not empty ({', '.join(full)})")
        copied = {}
        with target.transaction():
            for name in REGISTRY_TABLES:
                rows = self.table(name)
                if rows.num_rows:
                    target.backend.insert(name, rows)
                copied[name] = rows.num_rows
        return copied

    def set_retailer(self, sp_id: str, retailer_id: str, valid_from: date) -> None:
        """Switch a service point's retailer from ``valid_from`` on (スイッチング)."""
        check_service_point(sp_id)
        with self.backend.transaction():
            self.backend.execute(
                "UPDATE supply_contracts SET valid_to = ? WHERE sp_id = ? AND valid_from < ? "
                "AND (valid_to IS NULL OR valid_to > ?)", [valid_from, sp_id, valid_from,
                                                           valid_from])
            self.backend.execute(
                "DELETE FROM supply_contracts WHERE sp_id = ? AND valid_from >= ?",
                [sp_id, valid_from])
            self.backend.execute(
                "INSERT INTO supply_contracts (sp_id, retailer_id, valid_from, valid_to) "
                "VALUES (?, ?, ?, NULL)", [sp_id, retailer_id, valid_from])

    def move_in(self, sp_id: str, customer_id: str, day: date) -> None:
        """A new customer takes the supply at ``sp_id`` from ``day`` (転居・入居): whoever
        held it before moves out that day. Consents follow the customer, not the place."""
        check_service_point(sp_id)
        if not customer_id:
            raise RegistryError("a tenancy needs a customer id")
        with self.backend.transaction():
            self.move_out(sp_id, day)
            self.backend.execute(
                "INSERT INTO tenancies (sp_id, customer_id, move_in, move_out) "
                "VALUES (?, ?, ?, NULL)", [sp_id, customer_id, day])

    def move_out(self, sp_id: str, day: date) -> None:
        """The customer at ``sp_id`` leaves on ``day`` (its tenancy ends before it)."""
        check_service_point(sp_id)
        self.backend.execute(
            "UPDATE tenancies SET move_out = ? WHERE sp_id = ? AND move_in < ? "
            "AND (move_out IS NULL OR move_out > ?)", [day, sp_id, day, day])

    # ------------------------------------------------------------------ reading

    def table(self, name: str) -> pa.Table:
        if name not in REGISTRY_TABLES:
            raise RegistryError(f"no registry table {name!r}")
        return self.backend.query(f"SELECT * FROM {name}")

    def count(self, name: str) -> int:
        return int(self.table_count(name))

    def table_count(self, name: str) -> int:
        if name not in REGISTRY_TABLES:
            raise RegistryError(f"no registry table {name!r}")
        return int(self.backend.query(f"SELECT count(*) AS n FROM {name}").column(0)[0].as_py())

    def assignments(self, day: date) -> pa.Table:
        """Electricity meters with their service point, retailer and balancing group on ``day``.

        Columns: meter_id, sp_id, retailer_id, bg_id (NULL when the retailer has no group).
        """
        return self.backend.query(
            "SELECT m.meter_id, m.sp_id, c.retailer_id, g.bg_id FROM meters m "
            "JOIN supply_contracts c ON c.sp_id = m.sp_id AND c.valid_from <= ? "
            "AND (c.valid_to IS NULL OR c.valid_to > ?) "
            "LEFT JOIN retailer_groups g ON g.retailer_id = c.retailer_id "
            "AND g.valid_from <= ? AND (g.valid_to IS NULL OR g.valid_to > ?) "
            "WHERE m.kind = 'electric' ORDER BY m.meter_id", [day, day, day, day])

    def retailer_of(self, sp_id: str, day: date) -> str | None:
        table = self.backend.query(
            "SELECT retailer_id FROM supply_contracts WHERE sp_id = ? AND valid_from <= ? "
            "AND (valid_to IS NULL OR valid_to > ?)", [sp_id, day, day])
        return table.column(0)[0].as_py() if table.num_rows else None

    def meters_of_feeder(self, feeder_id: int) -> list[int]:
        table = self.backend.query(
            "SELECT m.meter_id FROM meters m JOIN service_points s ON s.sp_id = m.sp_id "
            "JOIN transformers t ON t.transformer_id = s.transformer_id "
            "WHERE t.feeder_id = ? ORDER BY m.meter_id", [feeder_id])
        return [int(x) for x in table.column(0).to_pylist()]

    def physical_facts(self, meter_lo: int, meter_hi: int) -> pa.Table:
        """What bounds the energy of each registered meter in ``[meter_lo, meter_hi]``:
        meter_id, kind (``electric``, a sub-meter's kind, or ``joint``), voltage,
        contract_amps, rated_amps (NULL where unknown), installed, removed, state, whether
        generation (PV, battery...) is registered behind it."""
        return self.backend.query(
            "SELECT m.meter_id, m.kind, s.voltage, s.contract_amps, m.rated_amps, m.installed, "
            "m.removed, m.state, EXISTS (SELECT 1 FROM sub_meters g "
            f"WHERE g.main_meter_id = m.meter_id AND g.kind IN ({_GENERATING})) AS generation "
            "FROM meters m LEFT JOIN service_points s ON s.sp_id = m.sp_id "
            "WHERE m.meter_id BETWEEN ? AND ? "
            "UNION ALL SELECT sub_meter_id, kind, NULL, NULL, NULL, NULL, NULL, NULL, TRUE "
            "FROM sub_meters WHERE sub_meter_id BETWEEN ? AND ? "
            "UNION ALL SELECT meter_id, 'joint', NULL, NULL, NULL, NULL, NULL, NULL, FALSE "
            "FROM joint_meters WHERE meter_id BETWEEN ? AND ? ORDER BY 1",
            [int(meter_lo), int(meter_hi)] * 3)

    def has_meters(self) -> bool:
        """Whether any meter is registered (a store without master data checks none)."""
        return self.backend.query("SELECT count(*) AS n FROM (SELECT 1 FROM meters LIMIT 1) x"
                                  ).column(0)[0].as_py() > 0

    def sub_meters(self) -> pa.Table:
        return self.backend.query("SELECT * FROM sub_meters ORDER BY sub_meter_id")

    def joint_meters(self, company_id: str | None = None) -> pa.Table:
        """Gas and water meters (of one company when given) and the meter relaying them."""
        if company_id is None:
            return self.backend.query("SELECT * FROM joint_meters ORDER BY meter_id")
        return self.backend.query(
            "SELECT * FROM joint_meters WHERE company_id = ? ORDER BY meter_id", [company_id])
