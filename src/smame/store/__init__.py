"""Storage of smame: DuckDB + Parquet measurement store (embedded default) and the
registry on DuckDB or PostgreSQL (SPEC S4, S5)."""

from smame.store.layout import IMD, MEAS
from smame.store.measurements import FileInfo, MeasurementStore
from smame.store.registry import (
    Registry,
    RegistryError,
    check_service_point,
    service_point_id,
)

__all__ = [
    "IMD",
    "MEAS",
    "FileInfo",
    "MeasurementStore",
    "Registry",
    "RegistryError",
    "check_service_point",
    "service_point_id",
]
